package lambdas

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// Backfill: versions that are already in a bucket, which no upload event
// announced, are brought under the gate by the same call an event makes
// (ingestOne): a conditional create of the pending record and a start of
// its workflow. A version that already has a record is counted and left
// alone, so a backfill run twice, or alongside live uploads, changes
// nothing twice.

// BackfillOutcome is what backfilling one version did.
type BackfillOutcome string

// The outcomes.
const (
	// BackfillQueued: the version had no record; it has a pending one and
	// its scan was started (or, in a dry run, would have).
	BackfillQueued BackfillOutcome = "queued"
	// BackfillKnown: the version already has a record.
	BackfillKnown BackfillOutcome = "known"
)

// BackfillOne records ref as its upload event would have, or, when
// dryRun, only looks whether it has a record.
func (h *Handlers) BackfillOne(ctx context.Context, ref domain.ObjectRef, dryRun bool) (BackfillOutcome, error) {
	if dryRun {
		_, err := h.cfg.Store.Get(ctx, ref.ID())
		if err == nil {
			return BackfillKnown, nil
		}
		if errcode.Of(err) == errcode.NotFound {
			return BackfillQueued, nil
		}
		return "", fromBackend(err)
	}
	_, created, _, err := h.ingestOne(ctx, ref, "backfill")
	if err != nil {
		return "", err
	}
	if created {
		return BackfillQueued, nil
	}
	return BackfillKnown, nil
}

// BackfillBatch is what a Distributed Map's ItemBatcher hands the
// backfill function: the items its ItemReader read, and the BatchInput
// the definition adds.
type BackfillBatch struct {
	BatchInput BackfillInput  `json:"BatchInput"`
	Items      []BackfillItem `json:"Items"`
}

// BackfillInput is the part of a batch that the definition sets.
type BackfillInput struct {
	// Bucket is the listed bucket, for items that do not name theirs
	// (ListObjectsV2 items).
	Bucket string `json:"bucket"`
	DryRun bool   `json:"dryRun"`
	// AllVersions keeps versions that are not their key's latest; by
	// default an inventory's older versions are left out.
	AllVersions bool `json:"allVersions"`
	// KeysURLEncoded says the items' keys are URL-encoded, as S3
	// Inventory writes them in CSV.
	KeysURLEncoded bool `json:"keysUrlEncoded"`
}

// BackfillItem is one item as an ItemReader gives it: an S3 ListObjectsV2
// entry (Key, Etag, Size as a number) or an S3 Inventory row (Bucket,
// Key, VersionId, IsLatest, IsDeleteMarker, Size and ETag as strings).
// Field names are matched without regard to case.
type BackfillItem struct {
	Bucket, Key, VersionID, ETag string
	Size                         int64
	// NotLatest and DeleteMarker are set from an inventory's IsLatest
	// "false" and IsDeleteMarker "true".
	NotLatest, DeleteMarker bool
}

// UnmarshalJSON reads either item shape.
func (it *BackfillItem) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return err
	}
	str := func(name string) (string, error) {
		for k, v := range m {
			if !strings.EqualFold(k, name) {
				continue
			}
			var s any
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(&s); err != nil {
				return "", err
			}
			switch t := s.(type) {
			case string:
				return t, nil
			case json.Number:
				return t.String(), nil
			case bool:
				return strconv.FormatBool(t), nil
			case nil:
				return "", nil
			}
			return "", fmt.Errorf("item field %s is not a string or number", k)
		}
		return "", nil
	}
	var err error
	get := func(name string) string {
		s, e := str(name)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	it.Bucket, it.Key, it.VersionID, it.ETag = get("Bucket"), get("Key"), get("VersionId"), get("ETag")
	if it.VersionID == "null" {
		it.VersionID = ""
	}
	if s := get("Size"); s != "" {
		n, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil || n < 0 {
			return fmt.Errorf("item size %q is not a byte count", s)
		}
		it.Size = n
	}
	it.NotLatest = strings.EqualFold(get("IsLatest"), "false")
	it.DeleteMarker = strings.EqualFold(get("IsDeleteMarker"), "true")
	return err
}

// BackfillResult counts what a batch did. Listed counts the items given;
// skipped ones (delete markers, older versions) are in none of the
// others.
type BackfillResult struct {
	Listed int `json:"listed"`
	Known  int `json:"known"`
	Queued int `json:"queued"`
	Failed int `json:"failed"`
}

// Backfill ingests a batch. Every item is tried; if any failed, the batch
// fails (after counting) with an error the definition retries: the items
// that succeeded are then found known, so a retry changes nothing twice.
func (h *Handlers) Backfill(ctx context.Context, b BackfillBatch) (BackfillResult, error) {
	var res BackfillResult
	var firstErr error
	for _, it := range b.Items {
		res.Listed++
		if it.DeleteMarker || (it.NotLatest && !b.BatchInput.AllVersions) {
			continue
		}
		ref := domain.ObjectRef{Bucket: it.Bucket, Key: it.Key, VersionID: it.VersionID, ETag: it.ETag, Size: it.Size}
		if ref.Bucket == "" {
			ref.Bucket = b.BatchInput.Bucket
		}
		if b.BatchInput.KeysURLEncoded {
			k, err := url.QueryUnescape(ref.Key)
			if err != nil {
				res.Failed++
				firstErr = cmpErr(firstErr, stepErr(ErrInvalidInput, "", fmt.Errorf("backfill: key %q is not URL-encoded: %w", domain.DisplayKey(ref.Key), err)))
				continue
			}
			ref.Key = k
		}
		if ref.Bucket == "" || ref.Key == "" {
			res.Failed++
			firstErr = cmpErr(firstErr, stepErr(ErrInvalidInput, "", fmt.Errorf("backfill: an item without a bucket or key")))
			continue
		}
		out, err := h.BackfillOne(ctx, ref, b.BatchInput.DryRun)
		switch {
		case err != nil:
			h.log.Warn("backfill failed", "bucket", ref.Bucket, "key", domain.DisplayKey(ref.Key), "versionId", ref.VersionID, "err", err)
			res.Failed++
			firstErr = cmpErr(firstErr, err)
		case out == BackfillQueued:
			res.Queued++
		default:
			res.Known++
		}
	}
	if firstErr != nil {
		return res, fmt.Errorf("backfill: %d of %d items failed: %w", res.Failed, res.Listed, firstErr)
	}
	return res, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// IngestOrBackfill is the ingest function's entry point on AWS: the
// backfill state machine invokes the same function with its batches
// (a document with Items), every other caller with an event.
func (h *Handlers) IngestOrBackfill(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Items json.RawMessage `json:"Items"`
	}
	if json.Unmarshal(raw, &probe) == nil && len(probe.Items) > 0 && probe.Items[0] == '[' {
		var b BackfillBatch
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, &StepError{Type: ErrInvalidInput, Reason: domain.ReasonInternal, Msg: "backfill batch: " + err.Error(), Err: err}
		}
		return h.Backfill(ctx, b)
	}
	return h.Ingest(ctx, raw)
}
