package lambdas

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/objects"
)

// IngestResult reports what an ingest call did. For an SQS batch its
// batchItemFailures field is the partial-batch response: only the failed
// messages are redelivered (and, after maxReceiveCount, dead-lettered).
type IngestResult struct {
	BatchItemFailures []events.SQSBatchItemFailure `json:"batchItemFailures"`
	Created           int                          `json:"created"`
	Known             int                          `json:"known"`
	Started           int                          `json:"started"`
	Ignored           int                          `json:"ignored"`
	IDs               []string                     `json:"ids,omitempty"`
}

// IngestSQS is Ingest answering as Lambda's SQS event source mapping
// expects: only the batch item failures.
func (h *Handlers) IngestSQS(ctx context.Context, raw json.RawMessage) (events.SQSEventResponse, error) {
	res, err := h.Ingest(ctx, raw)
	return events.SQSEventResponse{BatchItemFailures: res.BatchItemFailures}, err
}

// Ingest takes an upload event in any format intake understands (an S3
// notification, an EventBridge event, or an SQS batch of either), records
// each new object version as pending with a conditional create, and starts
// its workflow. A re-delivered event finds the record and changes nothing;
// if that record is still pending its workflow is started again, which the
// Starter makes a no-op when it already runs: a crash between record and
// start cannot strand an object.
func (h *Handlers) Ingest(ctx context.Context, raw json.RawMessage) (IngestResult, error) {
	var res IngestResult
	b, err := intake.Decode(raw)
	if err != nil {
		return res, &StepError{Type: ErrInvalidInput, Msg: err.Error(), Err: err}
	}
	b = h.filter().Apply(b)
	res.Ignored = len(b.Ignored)
	failed := map[string]bool{}
	for _, f := range b.Failures {
		h.log.Warn("malformed message", "messageId", f.MessageID, "err", f.Err)
		failed[f.MessageID] = true
	}
	for _, ref := range intake.Dedup(b.Refs) {
		id, created, started, err := h.ingestOne(ctx, ref.ObjectRef, fmt.Sprintf("%s %s", b.Kind, ref.EventName))
		if err != nil {
			if b.Kind != intake.KindSQS {
				return res, err
			}
			h.log.Warn("ingest failed", "messageId", ref.MessageID, "object", ref.ObjectRef.String(), "err", err)
			failed[ref.MessageID] = true
			continue
		}
		if h.cfg.Intents {
			h.linkIntent(ctx, ref.ObjectRef, id, ref.EventTime)
		}
		res.IDs = append(res.IDs, id)
		if created {
			res.Created++
		} else {
			res.Known++
		}
		if started {
			res.Started++
		}
	}
	ids := slices.Sorted(maps.Keys(failed))
	res.BatchItemFailures = intake.BatchResponse(ids).BatchItemFailures
	if res.BatchItemFailures == nil {
		res.BatchItemFailures = []events.SQSBatchItemFailure{}
	}
	return res, nil
}

func (h *Handlers) filter() intake.Filter {
	return intake.Filter{QuarantineBucket: h.cfg.QuarantineBucket, QuarantinePrefix: h.cfg.QuarantinePrefix, SelfPrincipals: h.cfg.SelfPrincipals}
}

func (h *Handlers) ingestOne(ctx context.Context, ref domain.ObjectRef, detail string) (id string, created, started bool, err error) {
	if ref.VersionID == "" && ref.ETag != "" {
		ref = h.resolveVersion(ctx, ref)
	}
	if ref.Size == 0 && ref.VersionID != "" {
		// Some S3-compatible servers (versitygw) report size 0 for
		// CompleteMultipartUpload and copies; the record keeps the real one.
		if info, err := h.cfg.Objects.Head(ctx, ref); err == nil {
			ref.Size = info.Ref.Size
		}
	}
	var planned string
	if n, ok := h.cfg.Starter.(ExecutionNamer); ok {
		planned = n.ExecutionID(&domain.Record{ID: ref.ID(), Object: ref})
	}
	// A new record is claimed for the execution started next when that
	// execution can be handed the lease, unless it is above the stream
	// limit: the large-object path claims in an execution of its own,
	// under its own lease time.
	cs, claim := h.cfg.Starter.(ClaimStarter)
	if h.cfg.MaxScanBytes > 0 && ref.Size > h.cfg.MaxScanBytes {
		claim = false
	}
	var rec *domain.Record
	if claim {
		rec, created, err = h.cfg.Store.IngestClaimed(ctx, ref, "ingest", detail, planned, h.cfg.Owner, h.cfg.LeaseTTL)
	} else {
		rec, created, err = h.cfg.Store.IngestExecution(ctx, ref, "ingest", detail, planned)
	}
	if err != nil {
		return "", false, false, fromBackend(err)
	}
	log := h.log.With("id", rec.ID, "bucket", ref.Bucket, "key", domain.DisplayKey(ref.Key), "versionId", ref.VersionID)
	if !created {
		log.Info("already known", "state", rec.State)
	}
	// A known record that is not pending is not started again: if it was
	// claimed here and its start was lost, the sweep re-drives it once
	// the lease expires (a second execution with the same lease would
	// scan it twice).
	claimed := created && claim
	if (rec.State != domain.StatusPending && !claimed) || h.cfg.Starter == nil {
		return rec.ID, created, false, nil
	}
	start := h.cfg.Starter.Start
	if claimed {
		start = cs.StartClaimed
	}
	exec, err := start(ctx, rec)
	if err != nil {
		return rec.ID, created, false, fromBackend(err)
	}
	if exec != "" && rec.ExecutionARN != exec {
		if _, err := h.cfg.Store.SetExecution(ctx, rec.ID, exec); err != nil {
			// The execution runs anyway; only the link is missing.
			log.Warn("could not store execution", "execution", exec, "err", err)
		}
	}
	log.Info("ingested", "created", created, "execution", exec)
	return rec.ID, created, true, nil
}

// resolveVersion fills in the version of an event that names none although
// its bucket is versioned (some S3-compatible servers, versitygw among them,
// send versionId null). The event's version is one whose ETag matches. It
// need not be the current one: such servers send their events
// asynchronously, so a later upload to the key may land before this event
// is ingested. With a driver that lists versions, every version of the key
// with the event's ETag is a candidate, oldest first, and the first one not
// yet recorded is taken: versions with the same bytes (the same ETag) are
// indistinguishable by their events, and each such event records one more
// of them. Without one, only the current version is checked. Real S3
// events carry the version; on an unversioned bucket the ref stays pinned
// by ETag and sequencer.
func (h *Handlers) resolveVersion(ctx context.Context, ref domain.ObjectRef) domain.ObjectRef {
	etag := strings.Trim(ref.ETag, `"`)
	var cands []domain.ObjectRef
	if vl, ok := h.cfg.Objects.(versionLister); ok {
		vs, err := vl.Versions(ctx, ref.Bucket, ref.Key)
		if err != nil {
			return ref
		}
		for _, v := range slices.Backward(vs) {
			if v.Ref.VersionID != "" && strings.Trim(v.Ref.ETag, `"`) == etag {
				cands = append(cands, v.Ref)
			}
		}
	} else if info, err := h.cfg.Objects.Head(ctx, ref); err == nil && info.Ref.VersionID != "" &&
		strings.Trim(info.Ref.ETag, `"`) == etag {
		cands = append(cands, info.Ref)
	}
	for i, c := range cands {
		r := ref
		r.VersionID = c.VersionID
		if r.Size == 0 {
			r.Size = c.Size
		}
		if i == len(cands)-1 {
			return r // every other candidate is recorded: a redelivery, or the newest
		}
		if _, err := h.cfg.Store.Get(ctx, r.ID()); errcode.Of(err) == errcode.NotFound {
			return r
		}
	}
	return ref
}

// versionLister is implemented by object drivers that list a key's
// versions, newest first (s3obj, localdir).
type versionLister interface {
	Versions(ctx context.Context, bucket, key string) ([]objects.Info, error)
}
