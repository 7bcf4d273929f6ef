package lambdas

import (
	"context"
	"errors"
	"fmt"
	"github.com/scangate/scangate/asl"
	"strings"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/statemachine"
	"github.com/scangate/scangate/store"
)

// ReviewRequest is what the admin UI sends to the review Lambda.
type ReviewRequest struct {
	// Action is "list", "get", "decide" or "rescan".
	Action   string          `json:"action"`
	ID       string          `json:"id,omitempty"`
	Decision domain.Decision `json:"decision,omitempty"`
	// Reviewer is never who decides: that is the authenticated principal.
	// A request that names anyone else here is refused, so that a client
	// that still sends a name learns it is not used.
	Reviewer string `json:"reviewer,omitempty"`
	Comment  string `json:"comment,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
	Limit    int    `json:"limit,omitempty"`
}

// ReviewResponse answers a ReviewRequest.
type ReviewResponse struct {
	Items  []*domain.ReviewItem `json:"items,omitempty"`
	Cursor string               `json:"cursor,omitempty"`
	Item   *domain.ReviewItem   `json:"item,omitempty"`
	Record *domain.Record       `json:"record,omitempty"`
	// AlreadyDecided is set when the same decision had been made before.
	AlreadyDecided bool `json:"alreadyDecided,omitempty"`
}

// Review is the review Lambda the admin UI calls: list the open reviews,
// read one, decide one (release, confirm, allowlist, rescan), or rescan any
// record that allows it. A decision is recorded once, by a conditional
// write; the waiting workflow is then resumed to carry it out.
//
// by is the authenticated caller, from the credential the request was
// checked against and never from its payload: reads need the viewer role,
// decisions and rescans the reviewer role, and every decision records
// by.Name.
func (h *Handlers) Review(ctx context.Context, by domain.Principal, req ReviewRequest) (ReviewResponse, error) {
	need := domain.RoleViewer
	if req.Action == "decide" || req.Action == "rescan" {
		need = domain.RoleReviewer
	}
	if !by.Can(need) {
		return ReviewResponse{}, &StepError{Type: ErrForbidden,
			Msg: fmt.Sprintf("%q (%s) may not %s: it needs the %s role", by.Name, by.Role, req.Action, need)}
	}
	if req.Reviewer != "" && req.Reviewer != by.Name {
		return ReviewResponse{}, &StepError{Type: ErrInvalidInput,
			Msg: fmt.Sprintf("the request names %q, but the caller is %q: a decision records who made it", req.Reviewer, by.Name)}
	}
	req.Reviewer = by.Name
	switch req.Action {
	case "list":
		items, cur, err := h.cfg.Store.OpenReviews(ctx, store.Page{Cursor: req.Cursor, Limit: req.Limit})
		if err != nil {
			return ReviewResponse{}, fromBackend(err)
		}
		return ReviewResponse{Items: items, Cursor: cur}, nil
	case "get":
		item, err := h.cfg.Store.Review(ctx, req.ID)
		if err != nil {
			return ReviewResponse{}, reviewErr(err)
		}
		rec, err := h.cfg.Store.Get(ctx, req.ID)
		if err != nil {
			return ReviewResponse{}, reviewErr(err)
		}
		return ReviewResponse{Item: item, Record: rec}, nil
	case "decide":
		return h.decide(ctx, req)
	case "rescan":
		rec, err := h.Rescan(ctx, req.ID, req.Reviewer, req.Comment)
		if err != nil {
			return ReviewResponse{}, err
		}
		return ReviewResponse{Record: rec}, nil
	}
	return ReviewResponse{}, &StepError{Type: ErrInvalidInput, Msg: fmt.Sprintf("unknown action %q", req.Action)}
}

func reviewErr(err error) error {
	if errcode.Of(err) == errcode.NotFound {
		return stepErr(ErrInvalidInput, "", err)
	}
	return fromBackend(err)
}

func (h *Handlers) decide(ctx context.Context, req ReviewRequest) (ReviewResponse, error) {
	if strings.TrimSpace(req.Reviewer) == "" {
		return ReviewResponse{}, &StepError{Type: ErrInvalidInput, Msg: "a decision needs a reviewer"}
	}
	if req.Decision == domain.DecisionAllowlist && strings.TrimSpace(req.Comment) == "" {
		return ReviewResponse{}, &StepError{Type: ErrInvalidInput, Msg: "allowlisting needs a comment saying why"}
	}
	rec, err := h.cfg.Store.Get(ctx, req.ID)
	if err != nil {
		return ReviewResponse{}, reviewErr(err)
	}
	if rec.State != domain.StatusReviewing {
		// The same decision, repeated after it was carried out, is
		// answered as it was: a double-submitted form changes nothing.
		if prev, gerr := h.cfg.Store.Review(ctx, req.ID); gerr == nil && !prev.Open() && prev.Decision == req.Decision {
			return ReviewResponse{Item: prev, Record: rec, AlreadyDecided: true}, nil
		}
		return ReviewResponse{}, &StepError{Type: ErrInvalidInput,
			Msg: fmt.Sprintf("record %s is %s, not under review", rec.ID, rec.State)}
	}
	item, err := h.cfg.Store.DecideReview(ctx, req.ID, store.ReviewDecision{
		Decision: req.Decision, Reviewer: req.Reviewer, Comment: req.Comment,
	})
	already := false
	if errcode.Of(err) == errcode.ConditionFailed {
		prev, gerr := h.cfg.Store.Review(ctx, req.ID)
		if gerr != nil {
			return ReviewResponse{}, reviewErr(gerr)
		}
		if prev.Decision != req.Decision {
			return ReviewResponse{}, &StepError{Type: ErrInvalidInput,
				Msg: fmt.Sprintf("review %s was already decided: %s by %s", req.ID, prev.Decision, prev.Reviewer)}
		}
		item, err, already = prev, nil, true
	}
	if err != nil {
		return ReviewResponse{}, reviewErr(err)
	}
	st := asl.Document{ID: rec.ID, Object: rec.Object, Status: rec.State,
		Decision: &asl.Decision{Decision: item.Decision, Reviewer: item.Reviewer, Comment: item.Comment}}
	switch {
	case h.cfg.Resumer != nil && item.TaskToken != "":
		if err := h.cfg.Resumer.Resume(ctx, item, st); err != nil {
			return ReviewResponse{}, fromBackend(err)
		}
	case h.cfg.Resumer != nil:
		// The review workflow has not stored its token yet; AwaitReview
		// finds the decision when it does, and resumes itself.
	default:
		if _, err := h.Decide(ctx, st); err != nil {
			return ReviewResponse{}, err
		}
	}
	rec, err = h.cfg.Store.Get(ctx, req.ID)
	if err != nil {
		return ReviewResponse{}, fromBackend(err)
	}
	return ReviewResponse{Item: item, Record: rec, AlreadyDecided: already}, nil
}

// Decide carries out an admin's decision on a record under review. It runs
// in the workflow once the review resumes it, and is idempotent: a record
// that already left reviewing is left alone.
func (h *Handlers) Decide(ctx context.Context, st asl.Document) (asl.Document, error) {
	if err := checkDoc(st); err != nil {
		return st, err
	}
	if st.Decision == nil {
		return st, &StepError{Type: ErrInvalidInput, Msg: "decide needs a decision"}
	}
	d := st.Decision
	rec, err := h.cfg.Store.Get(ctx, st.ID)
	if err != nil {
		return st, fromBackend(err)
	}
	if rec.State != domain.StatusReviewing {
		st.Status = rec.State
		return st, nil
	}
	actor := d.Reviewer
	switch d.Decision {
	case domain.DecisionConfirm:
		rec, err = h.cfg.Store.ApplyFresh(ctx, rec.ID, store.Transition{Event: statemachine.Confirm, Actor: actor, Detail: d.Comment}, nil)
	case domain.DecisionRelease, domain.DecisionAllowlist:
		kind := restoreRelease
		if d.Decision == domain.DecisionAllowlist {
			if rec.Verdict == nil || rec.Verdict.SHA256 == "" {
				return st, &StepError{Type: ErrInvalidInput, Msg: "the record has no SHA-256 to allowlist"}
			}
			if _, err := h.cfg.Store.AddAllowlist(ctx, domain.AllowlistEntry{
				SHA256: rec.Verdict.SHA256, AddedBy: d.Reviewer, Reason: d.Comment,
			}); err != nil {
				return st, fromBackend(err)
			}
			kind = restoreAllowlist
		}
		rec, err = h.restore(ctx, rec, kind, actor, d.Comment)
		if err != nil {
			return st, err
		}
	case domain.DecisionRescan:
		rec, err = h.rescan(ctx, rec, actor, d.Comment)
	default:
		return st, &StepError{Type: ErrInvalidInput, Msg: fmt.Sprintf("unknown decision %q", d.Decision)}
	}
	if err != nil {
		var se *StepError
		if errors.As(err, &se) {
			return st, se
		}
		return st, fromBackend(err)
	}
	st.Status = rec.State
	switch rec.State {
	case domain.StatusReleased, domain.StatusConfirmed, domain.StatusAllowlisted:
		// A rescan's outcome is told by its scan.
		h.emitResult(ctx, rec, string(rec.State), false)
	}
	return st, nil
}

// restoreKind says why quarantined bytes go back to their key.
type restoreKind int

const (
	// restoreRelease: a reviewer released them.
	restoreRelease restoreKind = iota
	// restoreAllowlist: a reviewer allowlisted their SHA-256.
	restoreAllowlist
	// restoreClean: a rescan found them clean (or allowlisted); the
	// record's state is already written.
	restoreClean
)

// restore copies quarantined bytes back to their key, tagged with how they
// came back, and records the transition that matches kind: Release or
// Allowlist from reviewing; for restoreClean only the location changes.
//
// A released or allowlisted copy is a new version, and its upload event
// comes like any other. Before the quarantined copy is deleted, restore
// records a release proof for exactly the version it wrote; the Scan step
// keeps the reviewer's decision for that version only through the proof,
// which only scangate writes. The metadata it also sets names the record
// for people and for the Scan step's wait; it proves nothing.
func (h *Handlers) restore(ctx context.Context, rec *domain.Record, kind restoreKind, by, comment string) (*domain.Record, error) {
	tags := map[string]string{objects.TagStatus: string(domain.StatusReleased)}
	ev, decision := statemachine.Release, domain.DecisionRelease
	switch kind {
	case restoreAllowlist:
		tags[objects.TagStatus] = string(domain.StatusAllowlisted)
		ev, decision = statemachine.Allowlist, domain.DecisionAllowlist
	case restoreClean:
		tags[objects.TagStatus] = string(rec.State)
	}
	if rec.Quarantine == nil {
		if kind == restoreClean || rec.State != domain.StatusReviewing {
			return rec, nil
		}
		// Reviewed in place (the policy action "review"): the decision
		// tags exactly the version that was reviewed; nothing is copied.
		if err := objects.MergeTags(ctx, h.cfg.Objects, rec.Object, tags); err != nil {
			return nil, h.objectErr(err)
		}
		detail := "released in place"
		if comment != "" {
			detail += ": " + comment
		}
		return h.cfg.Store.ApplyFresh(ctx, rec.ID, store.Transition{Event: ev, Actor: by, Detail: detail}, nil)
	}
	var copied func(domain.ObjectRef) error
	if kind != restoreClean {
		sum := ""
		if rec.Verdict != nil {
			sum = rec.Verdict.SHA256
		}
		copied = func(ref domain.ObjectRef) error {
			if ref.VersionID == "" {
				// An unversioned bucket: nothing exact to vouch for, so the
				// copy is scanned as an upload (and may come back to
				// review), which fails closed.
				h.log.Warn("released copy has no version; it will be scanned as an upload", "id", rec.ID)
				return nil
			}
			_, err := h.cfg.Store.RecordRelease(ctx, domain.ReleaseProof{
				Bucket: ref.Bucket, Key: ref.Key, VersionID: ref.VersionID, RecordID: rec.ID,
				SHA256: sum, Decision: decision, By: by, At: h.cfg.Store.Now(),
			})
			return err
		}
	}
	newRef, err := objects.Restore(ctx, h.cfg.Objects, *rec.Quarantine, rec.Object.Bucket, rec.Object.Key, tags,
		map[string]string{objects.MetaReleasedFrom: rec.ID}, copied)
	detail := "restored"
	switch {
	case err == nil:
		detail = "restored as version " + newRef.VersionID
	case errcode.Of(err) == errcode.NotFound:
		// An earlier attempt restored it and crashed before recording.
		detail = "restored by an earlier attempt"
	default:
		return nil, h.objectErr(err)
	}
	if kind == restoreClean || rec.State != domain.StatusReviewing {
		h.log.Info("restored after clean rescan", "id", rec.ID, "detail", detail)
		return h.cfg.Store.Relocate(ctx, rec.ID, nil)
	}
	if comment != "" {
		detail += ": " + comment
	}
	return h.cfg.Store.ApplyFresh(ctx, rec.ID, store.Transition{
		Event: ev, Actor: by, ClearQuarantine: true, Detail: detail,
	}, nil)
}

// Rescan sends a record back to pending and starts its workflow again, for
// example after a signature update or once clamd is back.
func (h *Handlers) Rescan(ctx context.Context, id, actor, comment string) (*domain.Record, error) {
	if strings.TrimSpace(actor) == "" {
		return nil, &StepError{Type: ErrInvalidInput, Msg: "a rescan needs an actor"}
	}
	rec, err := h.cfg.Store.Get(ctx, id)
	if err != nil {
		return nil, reviewErr(err)
	}
	if rec.State == domain.StatusReviewing {
		// A review decides through its workflow, which is waiting.
		resp, err := h.decide(ctx, ReviewRequest{ID: id, Decision: domain.DecisionRescan, Reviewer: actor, Comment: comment})
		return resp.Record, err
	}
	return h.rescan(ctx, rec, actor, comment)
}

func (h *Handlers) rescan(ctx context.Context, rec *domain.Record, actor, comment string) (*domain.Record, error) {
	if !statemachine.Can(rec.State, statemachine.Rescan) {
		return nil, &StepError{Type: ErrInvalidInput, Msg: fmt.Sprintf("record %s is %s and cannot be rescanned", rec.ID, rec.State)}
	}
	rec, err := h.cfg.Store.Apply(ctx, rec, store.Transition{Event: statemachine.Rescan, Actor: actor, Detail: comment})
	if err != nil {
		return nil, fromBackend(err)
	}
	if h.cfg.Starter != nil {
		if _, err := h.cfg.Starter.Start(ctx, rec); err != nil {
			return nil, fromBackend(err)
		}
	}
	return rec, nil
}

// AwaitInput is what the review workflow's waitForTaskToken task sends.
type AwaitInput struct {
	State     asl.Document `json:"state"`
	TaskToken string       `json:"taskToken"`
}

// AwaitReview stores the waiting workflow's task token on the review item.
// If the admin decided before the token arrived, it resumes the workflow
// at once, so a decision can never be stranded between the two writes.
func (h *Handlers) AwaitReview(ctx context.Context, in AwaitInput) (struct{}, error) {
	if err := checkDoc(in.State); err != nil {
		return struct{}{}, err
	}
	if in.TaskToken == "" {
		return struct{}{}, &StepError{Type: ErrInvalidInput, Msg: "await needs a task token"}
	}
	if err := h.cfg.Store.SetReviewToken(ctx, in.State.ID, in.TaskToken); err != nil {
		return struct{}{}, reviewErr(err)
	}
	item, err := h.cfg.Store.Review(ctx, in.State.ID)
	if err != nil {
		return struct{}{}, reviewErr(err)
	}
	if item.Open() || h.cfg.Resumer == nil {
		return struct{}{}, nil
	}
	st := in.State
	st.Decision = &asl.Decision{Decision: item.Decision, Reviewer: item.Reviewer, Comment: item.Comment}
	if err := h.cfg.Resumer.Resume(ctx, item, st); err != nil {
		return struct{}{}, fromBackend(err)
	}
	return struct{}{}, nil
}
