package lambdas

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
)

const (
	// DefaultIntentGrace is Config.IntentGrace's default.
	DefaultIntentGrace = 15 * time.Minute
	// MaxIntentLifetime is the longest an upload URL can live: the upload
	// API's cap, which is also SigV4's limit for a presigned request.
	MaxIntentLifetime = 7 * 24 * time.Hour
	// clockSlack absorbs the difference between scangate's clock, which
	// dates an intent, and S3's, which dates an event and a version, and
	// the whole seconds of S3's Last-Modified.
	clockSlack = 2 * time.Second
	// maxKeyIntents bounds the intents of one key read to match one
	// version: a caller that issues URLs for one key in a loop must not
	// make every ingest of that key read without end.
	maxKeyIntents = 1000
)

// readKeyIntents reads the intents of (bucket, key) issued in [since,
// until], oldest first, at most maxKeyIntents of them.
func (h *Handlers) readKeyIntents(ctx context.Context, bucket, key string, since, until time.Time) ([]*domain.UploadIntent, error) {
	var out []*domain.UploadIntent
	cursor := ""
	for {
		page, next, err := h.cfg.Store.KeyIntents(ctx, bucket, key, since, store.Page{Cursor: cursor, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, in := range page {
			if in.IssuedAt.After(until) {
				return out, nil
			}
			out = append(out, in)
		}
		if next == "" {
			return out, nil
		}
		if len(out) >= maxKeyIntents {
			h.log.Warn("upload intents: too many intents for one key; matching against the oldest only",
				"bucket", bucket, "key", domain.DisplayKey(key), "read", len(out))
			return out, nil
		}
		cursor = next
	}
}

// linkedRecords maps the record IDs that the intents among ins link to
// those intents' IDs.
func linkedRecords(ins []*domain.UploadIntent) map[string]string {
	linked := map[string]string{}
	for _, in := range ins {
		if in.State == domain.IntentArrived {
			linked[in.RecordID] = in.ID
		}
	}
	return linked
}

// lookback is how long before a version's time an intent it fulfils, or
// that links it, may have been issued.
func (h *Handlers) lookback() time.Duration {
	return MaxIntentLifetime + h.cfg.IntentGrace + clockSlack
}

// linkIntent marks the intent that the version recorded as recordID
// fulfils as arrived: of the key's expected intents issued before the
// event, the oldest. It is best effort: the version is recorded and its
// scan started whatever happens here, and an intent left expected is
// settled by the sweep, which links it then. A version already linked
// (a re-delivered event) links nothing more.
func (h *Handlers) linkIntent(ctx context.Context, ref domain.ObjectRef, recordID string, eventTime time.Time) {
	log := h.log.With("id", recordID, "bucket", ref.Bucket, "key", domain.DisplayKey(ref.Key), "versionId", ref.VersionID)
	at := eventTime
	if at.IsZero() {
		at = h.cfg.Store.Now()
	}
	ins, err := h.readKeyIntents(ctx, ref.Bucket, ref.Key, at.Add(-h.lookback()), at.Add(clockSlack))
	if err != nil {
		log.Warn("upload intents: could not read the key's intents; the sweep will settle them", "err", err)
		return
	}
	if intent, ok := linkedRecords(ins)[recordID]; ok {
		log.Debug("upload intents: version already linked", "intent", intent)
		return
	}
	for _, in := range ins {
		// Issued before the event, and its URL not expired longer than the
		// grace before it.
		if in.State != domain.IntentExpected || at.After(in.ExpiresAt.Add(h.cfg.IntentGrace+clockSlack)) {
			continue
		}
		_, err := h.cfg.Store.MarkIntentArrived(ctx, in.ID, recordID, "ingest")
		switch {
		case err == nil:
			log.Info("upload intent arrived", "intent", in.ID, "issuedAt", in.IssuedAt, "requester", in.Requester)
			return
		case errcode.Of(err) == errcode.ConditionFailed:
			continue // another version of the key took it meanwhile
		default:
			log.Warn("upload intents: could not link the version; the sweep will", "intent", in.ID, "err", err)
			return
		}
	}
}

// sweepIntents settles the expected intents whose URL expired more than
// the grace ago. For each, a version of its key written since it was
// issued that no other intent links either has no record, and is then
// ingested now (its event was lost: the same path as an event, a pending
// record and a workflow start), or has one (its event came, but the link
// was missed); either way the intent arrived. With no such version it
// expired.
func (h *Handlers) sweepIntents(ctx context.Context, now time.Time, limit int, res *SweepResult) error {
	cutoff := now.Add(-h.cfg.IntentGrace)
	cursor, done := "", 0
	for {
		page, next, err := h.cfg.Store.ExpiredIntents(ctx, cutoff, store.Page{Cursor: cursor, Limit: 100})
		if err != nil {
			return fromBackend(err)
		}
		for _, in := range page {
			if done >= limit {
				return nil
			}
			done++
			if err := h.settleIntent(ctx, in, res); err != nil {
				if ctx.Err() != nil {
					return fromBackend(err)
				}
				res.IntentErrors++
				h.log.Warn("sweep: could not settle upload intent; next sweep retries", "intent", in.ID,
					"bucket", in.Bucket, "key", domain.DisplayKey(in.Key), "err", err)
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

func (h *Handlers) settleIntent(ctx context.Context, in *domain.UploadIntent, res *SweepResult) error {
	log := h.log.With("intent", in.ID, "bucket", in.Bucket, "key", domain.DisplayKey(in.Key), "issuedAt", in.IssuedAt, "expiresAt", in.ExpiresAt)
	versions, err := h.versionsSince(ctx, in.Bucket, in.Key, in.IssuedAt.Add(-clockSlack))
	if err != nil {
		return fmt.Errorf("versions of s3://%s/%s: %w", in.Bucket, in.Key, err)
	}
	var linked map[string]string
	if len(versions) > 0 {
		// Which of these versions other intents already link: those were
		// issued from the lookback before the oldest version on.
		ins, err := h.readKeyIntents(ctx, in.Bucket, in.Key, versions[0].LastModified.Add(-h.lookback()), h.cfg.Store.Now())
		if err != nil {
			return fmt.Errorf("intents of s3://%s/%s: %w", in.Bucket, in.Key, err)
		}
		linked = linkedRecords(ins)
	}
	for _, v := range versions {
		id := v.Ref.ID()
		if _, taken := linked[id]; taken {
			continue
		}
		recovered := false
		if _, err := h.cfg.Store.Get(ctx, id); errcode.Of(err) == errcode.NotFound {
			own, err := h.ownWrite(ctx, v.Ref)
			if err != nil {
				return fmt.Errorf("tags of %s: %w", v.Ref, err)
			}
			if own {
				// A released copy scangate wrote back: it has no record by
				// design, and scanning it again would undo the release.
				continue
			}
			// No event ever recorded this version: ingest it now, exactly
			// as its event would have.
			if id, _, _, err = h.ingestOne(ctx, v.Ref, "sweep: upload intent "+in.ID+" (no event arrived)"); err != nil {
				return fmt.Errorf("ingest %s: %w", v.Ref, err)
			}
			recovered = true
		} else if err != nil {
			return fmt.Errorf("record of %s: %w", v.Ref, err)
		}
		_, err := h.cfg.Store.MarkIntentArrived(ctx, in.ID, id, "sweep")
		if errcode.Of(err) == errcode.ConditionFailed {
			// Ingest linked it meanwhile; a recovered version is still
			// recorded and scanned.
			log.Info("sweep: upload intent settled meanwhile", "err", err)
			if recovered {
				res.Recovered = append(res.Recovered, id)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark arrived: %w", err)
		}
		res.IntentsArrived++
		if recovered {
			res.Recovered = append(res.Recovered, id)
			log.Warn("sweep: upload arrived without an event; ingested it", "id", id, "versionId", v.Ref.VersionID)
		} else {
			log.Info("sweep: upload intent arrived (its event was ingested unlinked)", "id", id)
		}
		return nil
	}
	_, err = h.cfg.Store.MarkIntentExpired(ctx, in.ID, "sweep")
	if errcode.Of(err) == errcode.ConditionFailed {
		log.Info("sweep: upload intent settled meanwhile", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark expired: %w", err)
	}
	res.IntentsExpired++
	log.Info("sweep: upload intent expired; nothing was uploaded", slog.String("requester", in.Requester))
	return nil
}

// ownWrite reports whether scangate wrote ref itself: a version that
// carries the status tag without a record is a released copy (Restore
// writes it with its tags). Only the scanner may set that tag: uploads
// with tags are refused, and the bucket policy denies tagging to everyone
// else. A version deleted meanwhile counts as scangate's too: there is
// nothing left to ingest.
func (h *Handlers) ownWrite(ctx context.Context, ref domain.ObjectRef) (bool, error) {
	tags, err := h.cfg.Objects.Tags(ctx, ref)
	if errcode.Of(err) == errcode.NotFound {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return tags[objects.TagStatus] != "", nil
}

// versionsSince returns the versions of bucket/key last modified at or
// after since, oldest first. With a driver that lists versions every one
// is seen; otherwise only the current version (a HEAD). A missing key (or
// bucket) has no versions.
func (h *Handlers) versionsSince(ctx context.Context, bucket, key string, since time.Time) ([]objects.Info, error) {
	var all []objects.Info
	if vl, ok := h.cfg.Objects.(versionLister); ok {
		vs, err := vl.Versions(ctx, bucket, key)
		if err != nil && errcode.Of(err) != errcode.NotFound {
			return nil, err
		}
		all = vs
	} else {
		info, err := h.cfg.Objects.Head(ctx, domain.ObjectRef{Bucket: bucket, Key: key})
		if err != nil && errcode.Of(err) != errcode.NotFound {
			return nil, err
		}
		if err == nil {
			all = []objects.Info{info}
		}
	}
	var out []objects.Info
	for _, v := range slices.Backward(all) { // newest first from the drivers
		if !v.LastModified.Before(since) {
			out = append(out, v)
		}
	}
	return out, nil
}
