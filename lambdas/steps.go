package lambdas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/scangate/scangate/asl"
	"strings"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/statemachine"
	"github.com/scangate/scangate/store"
)

// Claim takes the record under this execution's lease. A record that is
// already decided comes back with Skip set, so a duplicate execution ends
// without a second effect. A record leased by a live scanner fails with
// ErrLeased, which the workflow retries until that lease expires.
func (h *Handlers) Claim(ctx context.Context, st asl.Document) (asl.Document, error) {
	if st.DetailType != "" {
		var done bool
		var err error
		if st, done, err = h.fromEventBridge(ctx, st); err != nil || done {
			return st, err
		}
	}
	if err := checkDoc(st); err != nil {
		return st, err
	}
	// Record trusts a read only from this execution's own Scan step.
	st.Read = nil
	large := h.cfg.MaxScanBytes > 0 && st.Object.Size > h.cfg.MaxScanBytes
	if large && !st.Offloaded && h.cfg.Offloader != nil {
		// The large-object path claims for itself; taking the lease here
		// would only make it wait for this one to expire. A lease from
		// the ingest (an ingest whose stream limit differs from this
		// function's) is not handed on: the offloaded claim waits for it
		// to expire, and its failure must not look like the holder's.
		st.Skip, st.Next, st.LeaseToken = false, asl.RouteOffload, ""
		return st, nil
	}
	if st.LeaseToken != "" && !st.Offloaded && st.Location == nil {
		// Ingest created the record claimed for this execution and
		// handed it the lease (ClaimStarter): there is nothing to write,
		// nor to read, since only the token's holder can move a record
		// out of scanning before the lease expires, and Record's write is
		// conditional on the token. Should the sweep have reclaimed it
		// meanwhile, that write fails and this execution records nothing.
		loc := st.Object
		st.Status, st.Location, st.Verdict, st.Retro = domain.StatusScanning, &loc, nil, false
		st.Skip, st.Next = false, asl.RouteScan
		return st, nil
	}
	rec, err := h.cfg.Store.Claim(ctx, st.ID, h.cfg.Owner, h.cfg.LeaseTTL)
	if err != nil {
		if errors.Is(err, store.ErrLeased) {
			return st, stepErr(ErrLeased, "", err)
		}
		if errcode.Of(err) == errcode.ConditionFailed {
			cur, gerr := h.cfg.Store.Get(ctx, st.ID)
			if gerr != nil {
				return st, fromBackend(gerr)
			}
			if !statemachine.Can(cur.State, statemachine.Claim) && !statemachine.Can(cur.State, statemachine.Reclaim) {
				st.Status, st.Verdict = cur.State, cur.Verdict
				loc := cur.Location()
				st.Location = &loc
				// A verdict whose quarantine (or block) did not finish
				// resumes there; anything else is decided.
				switch next := h.routeFor(cur.State, cur.Verdict); next {
				case asl.RouteDone:
					st.Skip, st.Next = true, asl.RouteDone
					h.logFor(st).Info("already decided; skipping", "state", cur.State)
				default:
					st.Skip, st.Next = false, next
					h.logFor(st).Info("resuming unfinished verdict", "state", cur.State, "next", next)
				}
				return st, nil
			}
			// Lost a race with another claimer, whose lease is now live.
			return st, stepErr(ErrLeased, "", err)
		}
		if errcode.Of(err) == errcode.NotFound {
			return st, stepErr(ErrInvalidInput, domain.ReasonInternal, err)
		}
		return st, fromBackend(err)
	}
	st.Object = rec.Object
	st.Status = rec.State
	st.LeaseToken = rec.Lease.Token
	loc := rec.Location()
	st.Location = &loc
	st.Verdict = nil
	st.Retro, st.RetroFrom = retroRescan(rec), ""
	if st.Retro && len(rec.Verdicts) > 0 {
		st.RetroFrom = rec.Verdicts[len(rec.Verdicts)-1].DBVersion
	}
	st.Skip, st.Next = false, asl.RouteScan
	if large && st.Offloaded && h.cfg.LargeScanner != nil {
		st.Next = asl.RouteScanLarge
	}
	return st, nil
}

// Offload hands the object to the large-object path (see Offloader) and
// ends this execution: the offloaded one records the verdict. A failure to
// offload is retried by the workflow, then recorded as a failure, so the
// object never waits unseen.
func (h *Handlers) Offload(ctx context.Context, st asl.Document) (asl.Document, error) {
	if err := checkDoc(st); err != nil {
		return st, err
	}
	if h.cfg.Offloader == nil {
		return st, &StepError{Type: ErrInvalidInput, Reason: domain.ReasonInternal, Msg: "no large-object path configured"}
	}
	rec, err := h.cfg.Store.Get(ctx, st.ID)
	if err != nil {
		return st, fromBackend(err)
	}
	off := st
	off.Offloaded, off.Next, off.Skip, off.Error = true, asl.RouteScan, false, nil
	if err := h.cfg.Offloader.Offload(ctx, off, rec.Version); err != nil {
		// Starting a task fails for passing reasons (capacity, throttling):
		// retried, then recorded as a failure that names it.
		return st, stepErr(ErrUnavailable, domain.ReasonOffloadFailed, fmt.Errorf("offload %s: %w", st.Object, err))
	}
	h.logFor(st).Info("offloaded to the large-object path", "size", st.Object.Size, "limit", h.cfg.MaxScanBytes)
	st.Next = asl.RouteDone
	return st, nil
}

var outcomeEvent = map[domain.Outcome]statemachine.Event{
	domain.OutcomeClean:       statemachine.Pass,
	domain.OutcomeInfected:    statemachine.Detect,
	domain.OutcomeAllowlisted: statemachine.Allow,
	domain.OutcomeUnscannable: statemachine.Refuse,
}

// Record writes the scan's verdict under the lease, then tags a clean
// object. Infected and unscannable objects are routed on (Next) to
// quarantine or blocking. Repeating Record after a crash is safe: a verdict
// already written by this lease is recognised and only the tagging is
// redone.
func (h *Handlers) Record(ctx context.Context, st asl.Document) (asl.Document, error) {
	if err := checkDoc(st); err != nil {
		return st, err
	}
	if st.Verdict == nil || st.LeaseToken == "" {
		return st, &StepError{Type: ErrInvalidInput, Reason: domain.ReasonInternal, Msg: "record needs a verdict and a lease"}
	}
	v := *st.Verdict
	v.Retro = st.Retro
	if v.SHA256 != "" && v.Outcome != domain.OutcomeClean {
		// Only a verdict that is not clean can become allowlisted: a clean
		// one needs no lookup (a read per object saved).
		e, err := h.cfg.Store.Allowlisted(ctx, v.SHA256)
		if err != nil {
			return st, fromBackend(err)
		}
		if e != nil && v.PolicyRule == "" && !denylisted(&v) {
			// A human vouched for exactly these bytes. The verdict keeps
			// clamd's signatures so the record shows what was overridden.
			// The allowlist answers signatures: a policy violation (what
			// may be stored where) and the denylist stand.
			v.Outcome, v.AllowlistedBy = domain.OutcomeAllowlisted, e.AddedBy
		}
	}
	ev, ok := outcomeEvent[v.Outcome]
	if !ok {
		return st, &StepError{Type: ErrInvalidInput, Reason: domain.ReasonInternal, Msg: fmt.Sprintf("unknown outcome %q", v.Outcome)}
	}
	// Where the store can, a clean verdict is cached by the verdict's own
	// write: one write fewer per clean object.
	cacheWith := !h.cfg.DisableVerdictCache && h.cfg.Store.CachesWithTransition()
	var readFrom *domain.ObjectRef
	if st.Read != nil {
		readFrom = &st.Read.Object
	}
	rec, err := h.cfg.Store.Finish(ctx, st.ID, st.LeaseToken, store.Transition{
		Event: ev, Actor: h.cfg.Owner, Reason: v.Reason, Verdict: &v,
		Detail: verdictDetail(&v), CacheVerdict: cacheWith, ReadFrom: readFrom,
	})
	if err != nil {
		if errcode.Of(err) != errcode.ConditionFailed {
			return st, fromBackend(err)
		}
		cur, gerr := h.cfg.Store.Get(ctx, st.ID)
		if gerr != nil {
			return st, fromBackend(gerr)
		}
		if !recordedBy(cur, ev, &v) {
			return st, stepErr(ErrLeaseLost, "", err)
		}
		rec = cur
	}
	st.Status, st.Verdict = rec.State, rec.Verdict
	if rec.State == domain.StatusClean || rec.State == domain.StatusAllowlisted {
		if rec.Quarantine != nil {
			// A rescan of quarantined bytes came back clean: put them back.
			if rec, err = h.restore(ctx, rec, restoreClean, h.cfg.Owner, ""); err != nil {
				return st, err
			}
		} else if err := objects.MergeTagsRead(ctx, h.cfg.Objects, rec.Object, readInfo(st.Read), verdictTags(rec)); err != nil {
			return st, h.objectErr(err)
		}
		if rec.State == domain.StatusClean && !h.cfg.DisableVerdictCache && !cacheWith {
			if err := h.cfg.Store.CacheVerdict(ctx, rec.Verdict); err != nil {
				h.logFor(st).Warn("verdict cache write failed", "err", err)
			}
		}
	}
	st.Next = h.routeFor(rec.State, rec.Verdict)
	st.Status = rec.State
	if st.Next == "done" || st.Next == "block" {
		// Infected and quarantined unscannable objects are told once
		// quarantined, with their review.
		h.emitResult(ctx, rec, string(rec.State), false)
	}
	h.logFor(st).Info("verdict recorded", "state", rec.State, "next", st.Next)
	return st, nil
}

// readInfo is what the Scan step's read established, as
// objects.MergeTagsRead takes it; the zero Info, which proves nothing,
// when there was none.
func readInfo(r *asl.Read) objects.Info {
	if r == nil {
		return objects.Info{}
	}
	info := objects.Info{Ref: r.Object}
	if r.TagCount != nil {
		info.TagCount, info.TagCountKnown = *r.TagCount, true
	}
	return info
}

// recordedBy reports whether cur already holds the verdict v written by
// event ev: the replay of a Record that crashed after its write.
func recordedBy(cur *domain.Record, ev statemachine.Event, v *domain.Verdict) bool {
	if cur.Verdict == nil || len(cur.History) == 0 {
		return false
	}
	last := cur.History[len(cur.History)-1]
	for i := len(cur.History) - 1; i >= 0; i-- {
		if cur.History[i].From == domain.StatusScanning {
			last = cur.History[i]
			break
		}
	}
	return last.Event == string(ev) && cur.Verdict.ScannedAt.Equal(v.ScannedAt) && cur.Verdict.SHA256 == v.SHA256
}

func verdictDetail(v *domain.Verdict) string {
	d := fmt.Sprintf("%s by %s db %s, %d bytes in %s", v.Outcome, v.Engine, v.DBVersion, v.BytesScanned, v.Duration.Round(time.Millisecond))
	if len(v.Signatures) > 0 {
		d += fmt.Sprintf(", signatures %v", v.Signatures)
	}
	if v.Reason != "" {
		d += ", reason " + v.Reason
	}
	return d
}

// verdictTags are the result tags. Tag values may hold only letters,
// digits, spaces and + - = . _ : / @, so they are sanitised.
func verdictTags(rec *domain.Record) map[string]string {
	t := map[string]string{objects.TagStatus: string(rec.State)}
	if v := rec.Verdict; v != nil {
		if !v.ScannedAt.IsZero() {
			t[objects.TagScannedAt] = v.ScannedAt.UTC().Format(time.RFC3339)
		}
		if v.Engine != "" {
			t[objects.TagEngine] = tagValue(v.Engine)
		}
		if v.DBVersion != "" {
			t[objects.TagDB] = tagValue(v.DBVersion)
		}
	}
	return t
}

func tagValue(s string) string {
	b := []rune{}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == ' ', r == '+', r == '-', r == '=', r == '.', r == '_', r == ':', r == '/', r == '@':
			b = append(b, r)
		default:
			b = append(b, '_')
		}
		if len(b) == 256 {
			break
		}
	}
	return string(b)
}

func (h *Handlers) objectErr(err error) *StepError {
	switch errcode.Of(err) {
	case errcode.NotFound:
		return stepErr(ErrObjectGone, domain.ReasonObjectGone, err)
	case errcode.Changed:
		return stepErr(ErrObjectGone, domain.ReasonVersionMismatch, err)
	}
	return fromBackend(err)
}

// quarantineKey is where a record's bytes go: derived from the record ID,
// never from the uploader's key, so no key can collide or escape.
func (h *Handlers) quarantineKey(id string) string {
	return h.cfg.QuarantinePrefix + id
}

// Quarantine moves an infected (or, by policy, unscannable) version to the
// quarantine and opens its review item. It is idempotent: a record already
// under review only has its review item ensured.
func (h *Handlers) Quarantine(ctx context.Context, st asl.Document) (asl.Document, error) {
	if err := checkDoc(st); err != nil {
		return st, err
	}
	rec, err := h.cfg.Store.Get(ctx, st.ID)
	if err != nil {
		return st, fromBackend(err)
	}
	if rec.State != domain.StatusReviewing {
		if !statemachine.Can(rec.State, statemachine.Quarantine) {
			return st, &StepError{Type: ErrInvalidInput, Reason: domain.ReasonInternal,
				Msg: fmt.Sprintf("record %s is %s, which is not quarantined (only %v are)", rec.ID, rec.State, statemachine.Sources(statemachine.Quarantine))}
		}
		q := rec.Quarantine
		if inPlaceReview(rec.Verdict) {
			// The policy asks for a review where the version is: tagged
			// with its verdict, which the bucket policy keeps unreadable.
			if err := objects.MergeTags(ctx, h.cfg.Objects, rec.Object, verdictTags(rec)); err != nil {
				return st, h.objectErr(err)
			}
		} else if q == nil {
			moved, err := h.moveToQuarantine(ctx, rec)
			if err != nil {
				return st, err
			}
			q = &moved
		}
		// The review item comes first, so that a record under review
		// always has one; opening it twice is a no-op.
		item, err := h.cfg.Store.OpenReview(ctx, rec)
		if err != nil {
			return st, fromBackend(err)
		}
		if item.RetroDetected {
			// Before the transition: a failure here retries the step,
			// which emits again; after it, nothing would.
			if err := h.emitRetro(ctx, rec, item); err != nil {
				return st, err
			}
		}
		// Fresh: the ingest's SetExecution may have bumped the version
		// since the read above.
		detail := "under review in place"
		if q != nil {
			detail = "moved to s3://" + q.Bucket + "/" + q.Key
		}
		rec, err = h.cfg.Store.ApplyFresh(ctx, rec.ID, store.Transition{
			Event: statemachine.Quarantine, Actor: h.cfg.Owner, Reason: rec.Reason,
			Quarantine: q, Detail: detail,
		}, nil)
		if errcode.Of(err) == errcode.ConditionFailed {
			// Another execution may have quarantined it meanwhile.
			if cur, gerr := h.cfg.Store.Get(ctx, st.ID); gerr == nil && cur.State == domain.StatusReviewing {
				rec, err = cur, nil
			}
		}
		if err != nil {
			return st, fromBackend(err)
		}
		outcome := string(domain.OutcomeInfected)
		if rec.Verdict != nil {
			outcome = string(rec.Verdict.Outcome)
		}
		h.emitResult(ctx, rec, outcome, true)
	} else if _, err := h.cfg.Store.Review(ctx, rec.ID); errcode.Of(err) == errcode.NotFound {
		// A record under review always has its item: it is opened before
		// the transition. An existing item is never opened again: that
		// would replace a decision an admin made since the transition.
		if _, err := h.cfg.Store.OpenReview(ctx, rec); err != nil {
			return st, fromBackend(err)
		}
	} else if err != nil {
		return st, fromBackend(err)
	}
	if h.cfg.Reviews != nil {
		if err := h.cfg.Reviews.StartReview(ctx, rec); err != nil {
			return st, fromBackend(err)
		}
	}
	st.Status = rec.State
	loc := rec.Location()
	st.Location = &loc
	h.logFor(st).Warn("quarantined for review", "quarantine", loc.String())
	return st, nil
}

// emitRetro sends the retro-detected result event for rec, whose review
// item says when it was first found clean. It runs before the quarantine
// is recorded, so the event goes out at least once.
func (h *Handlers) emitRetro(ctx context.Context, rec *domain.Record, item *domain.ReviewItem) error {
	ev := resultEvent(rec, EventRetroDetected, true)
	ev.FirstCleanAt = item.FirstCleanAt
	h.logFor(asl.Document{ID: rec.ID, Object: rec.Object}).Warn("retro-detected: found clean before, infected now",
		"firstCleanAt", ev.FirstCleanAt, "signatures", ev.Signatures, "db", ev.DBVersion)
	h.retro.detected.Add(1)
	if h.cfg.Results != nil {
		h.cfg.Results.Emit(context.WithoutCancel(ctx), ev)
	}
	return nil
}

func (h *Handlers) moveToQuarantine(ctx context.Context, rec *domain.Record) (domain.ObjectRef, error) {
	meta := map[string]string{"scangate-record": rec.ID}
	if rec.Verdict != nil {
		meta["scangate-signatures"] = tagValue(fmt.Sprint(rec.Verdict.Signatures))
		if rec.Verdict.Reason != "" {
			meta["scangate-reason"] = tagValue(rec.Verdict.Reason)
		}
	}
	q, err := objects.Quarantine(ctx, h.cfg.Objects, rec.Object, h.cfg.QuarantineBucket, h.quarantineKey(rec.ID), meta)
	if err == nil {
		return q, nil
	}
	if errcode.Of(err) != errcode.NotFound {
		return domain.ObjectRef{}, h.objectErr(err)
	}
	// The source is gone. Either an earlier attempt moved it and crashed
	// before recording that, or someone deleted it: look for our copy.
	qi, herr := h.cfg.Objects.Head(ctx, domain.ObjectRef{Bucket: h.cfg.QuarantineBucket, Key: h.quarantineKey(rec.ID)})
	if herr == nil && qi.Metadata[objects.MetaOriginalVersion] == rec.Object.VersionID &&
		qi.Metadata[objects.MetaOriginalETag] == strings.Trim(rec.Object.ETag, `"`) {
		return qi.Ref, nil
	}
	return domain.ObjectRef{}, h.objectErr(err)
}

// Block leaves an unscannable object in place, tagged so that the bucket
// policy keeps it unreadable. It is the "block" unscannable policy.
func (h *Handlers) Block(ctx context.Context, st asl.Document) (asl.Document, error) {
	if err := checkDoc(st); err != nil {
		return st, err
	}
	rec, err := h.cfg.Store.Get(ctx, st.ID)
	if err != nil {
		return st, fromBackend(err)
	}
	if err := objects.MergeTags(ctx, h.cfg.Objects, rec.Object, verdictTags(rec)); err != nil {
		return st, h.objectErr(err)
	}
	st.Status = rec.State
	return st, nil
}

// Fail is the workflow's failure-recording step: whatever went wrong, the
// record leaves pending or scanning for a visible state with a reason. An
// ObjectGone error records the terminal gone state instead. A lease lost
// to another execution records nothing: that execution owns the outcome.
func (h *Handlers) Fail(ctx context.Context, st asl.Document) (asl.Document, error) {
	if err := checkDoc(st); err != nil {
		return st, err
	}
	typ, cause, reason := ErrInternal, "", domain.ReasonInternal
	if st.Error != nil {
		typ, cause = st.Error.Error, st.Error.Cause
		reason = reasonFor(typ, cause)
	}
	ev := statemachine.Fail
	if typ == ErrObjectGone {
		ev = statemachine.Vanish
	}
	// Checked on every fresh read: a bookkeeping write (SetExecution) may
	// bump the version meanwhile, and must not make the failure go
	// unrecorded, while a real move by someone else stands.
	errNothing := errors.New("nothing to record")
	seen := st.Status
	if seen == domain.StatusInfected || seen == domain.StatusUnscannable {
		// This execution recorded the verdict; its quarantine or block is
		// what failed. The error type and cause stay in the detail.
		reason = domain.ReasonQuarantineFailed
	}
	guard := func(rec *domain.Record) error {
		st.Status = rec.State
		if typ == ErrLeaseLost || !statemachine.Can(rec.State, ev) || !holds(st, seen, rec) {
			h.logFor(st).Info("nothing to record", "state", rec.State, "error", typ)
			return errNothing
		}
		return nil
	}
	t := store.Transition{Event: ev, Actor: h.cfg.Owner, Reason: reason, Detail: truncate(typ+": "+cause, 1024)}
	rec, err := h.cfg.Store.ApplyFresh(ctx, st.ID, t, guard)
	if err != nil {
		if errors.Is(err, errNothing) || errcode.Of(err) == errcode.ConditionFailed {
			// Someone else moved it on; that write stands.
			return st, nil
		}
		return st, fromBackend(err)
	}
	st.Status = rec.State
	h.emitResult(ctx, rec, string(rec.State), false)
	h.logFor(st).Warn("recorded failure", "state", rec.State, "reason", reason, "error", typ, "cause", truncate(cause, 1024))
	return st, nil
}

// holds reports whether a failing execution may record its failure on
// rec, which it last saw as seen: a pending record (its Claim failed, and
// nobody holds it), a scanning record under this execution's own lease, or
// a verdict this execution recorded or resumed and whose quarantine or
// block failed. A scanning record under another lease is that lease's,
// also once it expired: the sweep reclaims it and the scan can still
// succeed, where failing it would end an object that nothing is wrong with.
// A verdict another execution recorded is that execution's to carry out.
func holds(st asl.Document, seen domain.Status, rec *domain.Record) bool {
	switch rec.State {
	case domain.StatusScanning:
		return rec.Lease != nil && st.LeaseToken != "" && rec.Lease.Token == st.LeaseToken
	case domain.StatusInfected, domain.StatusUnscannable:
		return seen == rec.State
	}
	return true
}

// reasonFor maps an error type and its cause onto a reason code.
func reasonFor(typ, cause string) string {
	// A Lambda error's cause is its error response; the local runner's is
	// the StepError itself. Both carry the reason.
	var resp struct {
		Reason  string `json:"reason"`
		Message string `json:"errorMessage"`
	}
	if err := jsonUnmarshal([]byte(cause), &resp); err == nil {
		if resp.Reason != "" {
			return resp.Reason
		}
		if r := reasonFromMessage(resp.Message); r != "" {
			return r
		}
	}
	// Some runners give the cause as "<Type>: <message>".
	if _, msg, ok := strings.Cut(cause, ": "); ok {
		if r := reasonFromMessage(msg); r != "" {
			return r
		}
	}
	switch typ {
	case ErrClamdUnavailable:
		return domain.ReasonClamdUnavailable
	case ErrScanTimeout, "States.Timeout":
		return domain.ReasonTimeout
	case ErrObjectGone:
		return domain.ReasonObjectGone
	case ErrStaleSignatures:
		return domain.ReasonStaleSignatures
	case ErrSourceError:
		return domain.ReasonSourceError
	case ErrScanError:
		return domain.ReasonScanError
	case ErrUnavailable:
		return domain.ReasonBackendUnavailable
	}
	if strings.HasPrefix(typ, "Lambda.") {
		// Lambda's own service errors (throttling, a service exception)
		// after the definition's retries: the function never ran.
		return domain.ReasonBackendUnavailable
	}
	return domain.ReasonInternal
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// fromEventBridge turns an EventBridge event given directly to the state
// machine into the record it names, recording it as ingest would. An event
// that creates no object version (or only scangate's own copy) ends the
// execution: done is true and Skip is set.
func (h *Handlers) fromEventBridge(ctx context.Context, ev asl.Document) (asl.Document, bool, error) {
	doc, err := json.Marshal(map[string]any{
		"version": ev.EventVersion, "detail-type": ev.DetailType, "source": ev.Source,
		"time": ev.Time, "detail": ev.Detail,
	})
	if err != nil {
		return ev, false, &StepError{Type: ErrInvalidInput, Msg: err.Error(), Err: err}
	}
	b, err := intake.Decode(doc)
	if err != nil {
		return ev, false, &StepError{Type: ErrInvalidInput, Msg: err.Error(), Err: err}
	}
	b = h.filter().Apply(b)
	if len(b.Refs) != 1 {
		return asl.Document{Skip: true, Next: "done"}, true, nil
	}
	ref := b.Refs[0].ObjectRef
	if ref.VersionID == "" && ref.ETag != "" {
		ref = h.resolveVersion(ctx, ref)
	}
	rec, _, err := h.cfg.Store.Ingest(ctx, ref, "ingest", "eventbridge "+b.Refs[0].EventName+" to the state machine")
	if err != nil {
		return ev, false, fromBackend(err)
	}
	return asl.Document{ID: rec.ID, Object: rec.Object, Next: "scan"}, false, nil
}
