// Package store keeps scangate's records: one per object version, plus the
// allowlist, the review queue and the verdict cache.
//
// The portable *Store holds the lifecycle rules once, for every driver: each
// transition becomes one conditional write whose condition is the source
// states from package statemachine plus the record's version or lease.
// Drivers (the embedded bbolt driver, the DynamoDB driver) only need to
// perform that write atomically; the shared suite in storetest proves they
// do.
//
// # Errors
//
// Every error carries an errcode.Code: NotFound, AlreadyExists,
// ConditionFailed, Throttled, Unavailable or Invalid.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/statemachine"
)

// Options configure a Store. The zero value is the default.
type Options struct {
	// Now returns the current time; nil means time.Now. Tests move it to
	// expire leases.
	Now func() time.Time
	// MaxHistory bounds the history kept per record (0 means 200). Older
	// entries are not dropped by drivers; a record that reaches the bound
	// refuses further transitions with code Invalid, which keeps a rescan loop
	// from growing an item without limit.
	MaxHistory int
	// PasswordCost is the bcrypt cost of password hashes (0 means
	// DefaultPasswordCost). Tests lower it to bcrypt.MinCost for speed;
	// out-of-range values are clamped to bcrypt's bounds.
	PasswordCost int
}

// Store is the portable store.
type Store struct {
	d            Driver
	now          func() time.Time
	maxHistory   int
	passwordCost int
	dummy        dummy
}

// New returns a Store over d.
func New(d Driver, opts *Options) *Store {
	s := &Store{d: d, now: time.Now, maxHistory: 200, passwordCost: DefaultPasswordCost}
	if opts != nil {
		if opts.PasswordCost != 0 {
			s.passwordCost = min(max(opts.PasswordCost, bcrypt.MinCost), bcrypt.MaxCost)
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
		if opts.MaxHistory > 0 {
			s.maxHistory = opts.MaxHistory
		}
	}
	return s
}

// Driver returns the underlying driver, for tests and tools.
func (s *Store) Driver() Driver { return s.d }

// Now returns the store's clock reading.
func (s *Store) Now() time.Time { return s.now().UTC() }

// Close closes the driver.
func (s *Store) Close() error { return s.d.Close() }

// Ingest records ref as pending. It reports created=false, with the stored
// record, when the version is already known: a re-delivered event is a no-op.
func (s *Store) Ingest(ctx context.Context, ref domain.ObjectRef, actor, detail string) (*domain.Record, bool, error) {
	return s.IngestExecution(ctx, ref, actor, detail, "")
}

// IngestExecution is Ingest for a record whose workflow execution is known
// before it starts (its name is derived from the record): a new record is
// created with it, in the same write, which spares the separate
// SetExecution write and its race with the workflow's Claim. A known
// record is returned as it is stored.
func (s *Store) IngestExecution(ctx context.Context, ref domain.ObjectRef, actor, detail, executionARN string) (*domain.Record, bool, error) {
	if ref.Bucket == "" || ref.Key == "" {
		return nil, false, errcode.Errorf(errcode.Invalid, "store: ingest", ref.ID(), "object reference needs a bucket and a key")
	}
	now := s.Now()
	rec := &domain.Record{
		ID:           ref.ID(),
		Object:       ref,
		State:        domain.StatusPending,
		Version:      1,
		CreatedAt:    now,
		UpdatedAt:    now,
		ExecutionARN: executionARN,
		History: []domain.HistoryEntry{{
			At: now, Event: "ingest", To: domain.StatusPending, Actor: actor, Detail: detail,
		}},
	}
	return s.createOrGet(ctx, rec)
}

// IngestClaimed is IngestExecution for a record that the execution about
// to be started will scan: a new record is created already claimed by it,
// under a lease for owner valid for ttl, in the one conditional create.
// Its history holds both transitions, ingest to pending and claim to
// scanning, as if Claim had run; the execution then holds the lease by its
// token and Claim has nothing to write (one write per object fewer). A
// known record is returned as it is stored, and never claimed here.
func (s *Store) IngestClaimed(ctx context.Context, ref domain.ObjectRef, actor, detail, executionARN, owner string, ttl time.Duration) (*domain.Record, bool, error) {
	if ref.Bucket == "" || ref.Key == "" {
		return nil, false, errcode.Errorf(errcode.Invalid, "store: ingest", ref.ID(), "object reference needs a bucket and a key")
	}
	if owner == "" || ttl <= 0 {
		return nil, false, errcode.Errorf(errcode.Invalid, "store: ingest", ref.ID(), "a claim needs an owner and a lease time")
	}
	to, err := statemachine.Next(domain.StatusPending, statemachine.Claim)
	if err != nil {
		return nil, false, &errcode.Error{Code: errcode.Invalid, Op: "store: ingest", ID: ref.ID(), Err: err}
	}
	now := s.Now()
	lease := &domain.Lease{Owner: owner, Token: newToken(), Expires: now.Add(ttl)}
	rec := &domain.Record{
		ID:           ref.ID(),
		Object:       ref,
		State:        to,
		Version:      1,
		Attempts:     1,
		Lease:        lease,
		CreatedAt:    now,
		UpdatedAt:    now,
		ExecutionARN: executionARN,
		History: []domain.HistoryEntry{
			{At: now, Event: "ingest", To: domain.StatusPending, Actor: actor, Detail: detail},
			{At: now, Event: string(statemachine.Claim), From: domain.StatusPending, To: to, Actor: owner,
				Detail: "attempt 1 at ingest, lease " + ttl.String()},
		},
	}
	return s.createOrGet(ctx, rec)
}

// Get returns the record with the given ID.
func (s *Store) Get(ctx context.Context, id string) (*domain.Record, error) {
	return s.d.Get(ctx, id)
}

// ListByState pages through records in one state, oldest update first
// (clean records in no particular order: see ListedInOrder).
func (s *Store) ListByState(ctx context.Context, state domain.Status, page Page) ([]*domain.Record, string, error) {
	if !state.Valid() {
		return nil, "", errcode.Errorf(errcode.Invalid, "store: list", "", "unknown state %q", state)
	}
	return s.d.ListByState(ctx, state, page)
}

// Transition describes one lifecycle event applied to a record.
type Transition struct {
	Event  statemachine.Event
	Actor  string
	Reason string
	Detail string
	// LeaseToken must be the current lease's token for events a scanner
	// sends from StatusScanning; it is what stops a late verdict.
	LeaseToken string
	// Verdict, when set, replaces the record's verdict.
	Verdict *domain.Verdict
	// Quarantine, when set, records where the bytes now are;
	// ClearQuarantine records that they are back at the object's key.
	Quarantine      *domain.ObjectRef
	ClearQuarantine bool
	// CacheVerdict asks for Verdict, when CacheVerdict would cache it, to
	// be cached in the transition's own write. Only a driver that can
	// (see CachesWithTransition) does; with any other the field is ignored
	// and the caller caches separately.
	CacheVerdict bool
	// ReadFrom, with Finish, is the version the verdict's bytes were read
	// from: Finish refuses (ConditionFailed) a record that does not name
	// it (its object, or its quarantined copy), so that a lease token
	// alone cannot put one object's verdict on another's record.
	ReadFrom *domain.ObjectRef
}

// Apply performs t on rec, which must be the record as last read: the write
// is conditional on rec.Version, on the event's source states, and on
// t.LeaseToken when given. A concurrent change gives ConditionFailed.
func (s *Store) Apply(ctx context.Context, rec *domain.Record, t Transition) (*domain.Record, error) {
	to, err := statemachine.Next(rec.State, t.Event)
	if err != nil {
		return nil, &errcode.Error{Code: errcode.ConditionFailed, Op: "store: " + string(t.Event), ID: rec.ID, Err: err}
	}
	if t.Event == statemachine.Claim || t.Event == statemachine.Reclaim {
		// A claim needs a lease and an attempt count: only Claim makes one.
		return nil, errcode.Errorf(errcode.Invalid, "store: "+string(t.Event), rec.ID, "use Store.Claim to claim a record")
	}
	if len(rec.History) >= s.maxHistory {
		return nil, errcode.Errorf(errcode.Invalid, "store: "+string(t.Event), rec.ID, "history holds %d entries, the most a record may have", len(rec.History))
	}
	now := s.Now()
	m := Mutation{
		State:        to,
		Reason:       t.Reason,
		Attempts:     rec.Attempts,
		Lease:        nil, // leaving or re-entering scanning always drops the old lease
		Verdict:      rec.Verdict,
		Quarantine:   rec.Quarantine,
		ExecutionARN: rec.ExecutionARN,
		UpdatedAt:    now,
		History: &domain.HistoryEntry{
			At: now, Event: string(t.Event), From: rec.State, To: to,
			Actor: t.Actor, Reason: t.Reason, Detail: t.Detail,
		},
	}
	if t.Verdict != nil {
		m.Verdict = t.Verdict
		m.Verdicts = AppendVerdict(rec.Verdicts, *t.Verdict)
	}
	if t.Quarantine != nil {
		m.Quarantine = t.Quarantine
	}
	if t.ClearQuarantine {
		m.Quarantine = nil
	}
	if t.Event == statemachine.Rescan {
		// A rescan starts a fresh verdict; the old one stays in History.
		m.Verdict = nil
		m.Attempts = 0
	}
	cond := Condition{
		States:     statemachine.Sources(t.Event),
		Version:    rec.Version,
		LeaseToken: t.LeaseToken,
	}
	if cd, ok := s.d.(VerdictCachingDriver); ok && t.CacheVerdict && cacheable(t.Verdict) {
		if sum, err := NormalizeSHA256(t.Verdict.SHA256); err == nil {
			return cd.UpdateCachingVerdict(ctx, rec.ID, cond, m, sum, t.Verdict.DBVersion, t.Verdict)
		}
	}
	return s.d.Update(ctx, rec.ID, cond, m)
}

// CachesWithTransition reports whether a Transition's CacheVerdict is
// honoured: the driver caches a clean verdict in the transition's write.
func (s *Store) CachesWithTransition() bool {
	_, ok := s.d.(VerdictCachingDriver)
	return ok
}

// cacheable says whether a verdict may be cached: only clean verdicts with
// a known database version, not themselves reused, are; anything else
// could hide a detection.
func cacheable(v *domain.Verdict) bool {
	return v != nil && v.Outcome == domain.OutcomeClean && v.DBVersion != "" && !v.Reused
}

// AppendVerdict returns hist with v appended, bounded to
// domain.MaxVerdicts: the first verdict (when a version was first judged)
// and the latest ones are kept.
func AppendVerdict(hist []domain.Verdict, v domain.Verdict) []domain.Verdict {
	out := append(slices.Clone(hist), v)
	if n := len(out); n > domain.MaxVerdicts {
		out = append(out[:1], out[n-domain.MaxVerdicts+1:]...)
	}
	return out
}

// ErrLeased is returned, wrapped with code ConditionFailed, by Claim when
// another scanner holds a live lease.
var ErrLeased = errors.New("record is leased by another scanner")

// Claim takes the record under a new lease for owner, valid for ttl. A
// pending record is claimed; a scanning record whose lease has expired is
// reclaimed. Any other state gives ConditionFailed, and so does losing a
// race with another claimer: exactly one claimer wins.
func (s *Store) Claim(ctx context.Context, id, owner string, ttl time.Duration) (*domain.Record, error) {
	// A bookkeeping write (the execution link) may bump the version of a
	// pending record between our read and our write; that is no rival
	// claim, so read again. A rival claim leaves the record scanning under
	// a live lease, which ends the loop with ErrLeased.
	var err error
	for range 8 {
		var rec *domain.Record
		rec, err = s.claimOnce(ctx, id, owner, ttl)
		if errcode.Of(err) != errcode.ConditionFailed || errors.Is(err, ErrLeased) || errors.Is(err, statemachine.ErrIllegal) {
			return rec, err
		}
	}
	return nil, err
}

func (s *Store) claimOnce(ctx context.Context, id, owner string, ttl time.Duration) (*domain.Record, error) {
	rec, err := s.d.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	ev := statemachine.Claim
	cond := Condition{States: statemachine.Sources(statemachine.Claim), Version: rec.Version}
	if rec.State == domain.StatusScanning {
		if !rec.Lease.Expired(now) {
			return nil, &errcode.Error{Code: errcode.ConditionFailed, Op: "store: claim", ID: id, Err: ErrLeased}
		}
		ev = statemachine.Reclaim
		cond = Condition{States: statemachine.Sources(statemachine.Reclaim), Version: rec.Version, LeaseExpiredBy: now}
	}
	to, err := statemachine.Next(rec.State, ev)
	if err != nil {
		return nil, &errcode.Error{Code: errcode.ConditionFailed, Op: "store: claim", ID: id, Err: err}
	}
	if len(rec.History) >= s.maxHistory {
		return nil, errcode.Errorf(errcode.Invalid, "store: claim", id, "history holds %d entries, the most a record may have", len(rec.History))
	}
	lease := &domain.Lease{Owner: owner, Token: newToken(), Expires: now.Add(ttl)}
	m := Mutation{
		State:        to,
		Reason:       "",
		Attempts:     rec.Attempts + 1,
		Lease:        lease,
		Verdict:      rec.Verdict,
		Quarantine:   rec.Quarantine,
		ExecutionARN: rec.ExecutionARN,
		UpdatedAt:    now,
		History: &domain.HistoryEntry{
			At: now, Event: string(ev), From: rec.State, To: to, Actor: owner,
			Detail: fmt.Sprintf("attempt %d, lease until %s", rec.Attempts+1, lease.Expires.Format(time.RFC3339Nano)),
		},
	}
	return s.d.Update(ctx, id, cond, m)
}

// Finish applies a scanner's event (Pass, Detect, Allow, Refuse, Fail or
// Vanish from StatusScanning) under its lease. A scanner whose lease was
// taken over gets ConditionFailed and changes nothing. The guard is the
// token, not the clock: a lease that expired but was not yet reclaimed
// still lets its holder record, since nobody else has scanned meanwhile.
func (s *Store) Finish(ctx context.Context, id, leaseToken string, t Transition) (*domain.Record, error) {
	if leaseToken == "" {
		return nil, errcode.Errorf(errcode.Invalid, "store: "+string(t.Event), id, "a lease token is required")
	}
	// Bookkeeping writes (SetExecution, Relocate) may bump the version
	// under a live lease; while the lease is still ours, read and retry.
	var err error
	for range 8 {
		var rec *domain.Record
		rec, err = s.d.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec.State != domain.StatusScanning || rec.Lease == nil || rec.Lease.Token != leaseToken {
			return nil, errcode.Errorf(errcode.ConditionFailed, "store: "+string(t.Event), id, "lease %s is not held (state %s)", leaseToken, rec.State)
		}
		if t.ReadFrom != nil && !SameVersion(rec.Location(), *t.ReadFrom) {
			return nil, errcode.Errorf(errcode.ConditionFailed, "store: "+string(t.Event), id, "the verdict was read from %s, the record names %s", *t.ReadFrom, rec.Location())
		}
		t.LeaseToken = leaseToken
		var got *domain.Record
		got, err = s.Apply(ctx, rec, t)
		if errcode.Of(err) != errcode.ConditionFailed {
			return got, err
		}
	}
	return nil, err
}

// ApplyFresh applies t to the record as it is now: it reads the record,
// checks guard (nil: no check; an error from it is returned as is) and
// applies t, and when the write meets a conflict it reads again and
// retries, a few times. Bookkeeping writes (SetExecution, Relocate) bump the
// version without changing the state, and may land between a step's read
// and its write: the step must not fail on them. A change of state that
// makes t illegal ends the retries with ConditionFailed.
func (s *Store) ApplyFresh(ctx context.Context, id string, t Transition, guard func(*domain.Record) error) (*domain.Record, error) {
	var err error
	for range 8 {
		var rec *domain.Record
		if rec, err = s.d.Get(ctx, id); err != nil {
			return nil, err
		}
		if guard != nil {
			if err := guard(rec); err != nil {
				return rec, err
			}
		}
		var got *domain.Record
		got, err = s.Apply(ctx, rec, t)
		if errcode.Of(err) != errcode.ConditionFailed || !statemachine.Can(rec.State, t.Event) {
			return got, err
		}
	}
	return nil, err
}

// SetExecution stores the workflow execution that drives the record, so an
// operator can go from an object to its trace. It is not a transition.
func (s *Store) SetExecution(ctx context.Context, id, arn string) (*domain.Record, error) {
	// The record may move on concurrently (a fast scanner claims it); the
	// link is retried on the fresh version rather than lost.
	var lastErr error
	for range 8 {
		rec, err := s.d.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec.ExecutionARN == arn {
			return rec, nil
		}
		m := Mutation{
			State: rec.State, Reason: rec.Reason, Attempts: rec.Attempts, Lease: rec.Lease,
			Verdict: rec.Verdict, Quarantine: rec.Quarantine, ExecutionARN: arn, UpdatedAt: rec.UpdatedAt,
		}
		got, err := s.d.Update(ctx, id, Condition{States: []domain.Status{rec.State}, Version: rec.Version}, m)
		if errcode.Of(err) != errcode.ConditionFailed {
			return got, err
		}
		lastErr = err
	}
	return nil, lastErr
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NormalizeSHA256 lower-cases a hex SHA-256 and checks its form.
func NormalizeSHA256(sum string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(sum))
	if !sha256Hex.MatchString(s) {
		return "", errcode.Errorf(errcode.Invalid, "store: sha256", sum, "not a hex SHA-256")
	}
	return s, nil
}

// AddAllowlist creates or replaces an allowlist entry.
func (s *Store) AddAllowlist(ctx context.Context, e domain.AllowlistEntry) (*domain.AllowlistEntry, error) {
	sum, err := NormalizeSHA256(e.SHA256)
	if err != nil {
		return nil, err
	}
	e.SHA256 = sum
	if e.AddedBy == "" || strings.TrimSpace(e.Reason) == "" {
		return nil, errcode.Errorf(errcode.Invalid, "store: allowlist", sum, "an allowlist entry needs who and why")
	}
	if e.AddedAt.IsZero() {
		e.AddedAt = s.Now()
	}
	if err := s.d.PutAllowlist(ctx, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Allowlisted returns the active entry for sum, or nil when the hash is not
// allowlisted or its entry has expired.
func (s *Store) Allowlisted(ctx context.Context, sum string) (*domain.AllowlistEntry, error) {
	n, err := NormalizeSHA256(sum)
	if err != nil {
		return nil, err
	}
	e, err := s.d.GetAllowlist(ctx, n)
	if errcode.Of(err) == errcode.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !e.Active(s.Now()) {
		return nil, nil
	}
	return e, nil
}

// RemoveAllowlist deletes an entry.
func (s *Store) RemoveAllowlist(ctx context.Context, sum string) error {
	n, err := NormalizeSHA256(sum)
	if err != nil {
		return err
	}
	return s.d.DeleteAllowlist(ctx, n)
}

// ListAllowlist pages through entries by hash.
func (s *Store) ListAllowlist(ctx context.Context, page Page) ([]*domain.AllowlistEntry, string, error) {
	return s.d.ListAllowlist(ctx, page)
}

// OpenReview opens a review item for rec. Opening an item that is already
// open is a no-op that returns the open item.
func (s *Store) OpenReview(ctx context.Context, rec *domain.Record) (*domain.ReviewItem, error) {
	item := &domain.ReviewItem{ID: rec.ID, Object: rec.Object, Reason: rec.Reason, OpenedAt: s.Now()}
	if rec.Verdict != nil {
		item.Signatures = slices.Clone(rec.Verdict.Signatures)
		item.SHA256 = rec.Verdict.SHA256
		if item.Reason == "" {
			item.Reason = rec.Verdict.Reason
		}
		if rec.Verdict.Outcome == domain.OutcomeInfected {
			// Found clean before, infected now (a newer signature
			// database): the bytes may already have been read.
			for _, v := range rec.Verdicts {
				if v.Outcome == domain.OutcomeClean {
					item.RetroDetected, item.FirstCleanAt = true, v.ScannedAt
					break
				}
			}
		}
	}
	err := s.d.CreateReview(ctx, item)
	if errcode.Of(err) == errcode.AlreadyExists {
		return s.d.GetReview(ctx, rec.ID)
	}
	if err != nil {
		return nil, err
	}
	return item, nil
}

// Review returns a review item.
func (s *Store) Review(ctx context.Context, id string) (*domain.ReviewItem, error) {
	return s.d.GetReview(ctx, id)
}

// DecideReview records a decision; a second decision gives ConditionFailed.
func (s *Store) DecideReview(ctx context.Context, id string, d ReviewDecision) (*domain.ReviewItem, error) {
	switch d.Decision {
	case domain.DecisionRelease, domain.DecisionConfirm, domain.DecisionAllowlist, domain.DecisionRescan:
	default:
		return nil, errcode.Errorf(errcode.Invalid, "store: decide", id, "unknown decision %q", d.Decision)
	}
	if strings.TrimSpace(d.Reviewer) == "" {
		return nil, errcode.Errorf(errcode.Invalid, "store: decide", id, "a decision needs a reviewer")
	}
	if d.DecidedAt.IsZero() {
		d.DecidedAt = s.Now()
	}
	return s.d.DecideReview(ctx, id, d)
}

// SetReviewToken stores the task token that resumes the waiting workflow.
func (s *Store) SetReviewToken(ctx context.Context, id, token string) error {
	return s.d.SetReviewToken(ctx, id, token)
}

// OpenReviews pages through open review items, oldest first.
func (s *Store) OpenReviews(ctx context.Context, page Page) ([]*domain.ReviewItem, string, error) {
	return s.d.ListOpenReviews(ctx, page)
}

// CacheVerdict remembers a clean verdict so identical bytes scanned with the
// same signature database are not scanned again. Only clean verdicts with a
// known database version are cached: anything else could hide a detection.
func (s *Store) CacheVerdict(ctx context.Context, v *domain.Verdict) error {
	if !cacheable(v) {
		return nil
	}
	sum, err := NormalizeSHA256(v.SHA256)
	if err != nil {
		return err
	}
	return s.d.PutCachedVerdict(ctx, sum, v.DBVersion, v)
}

// CachedVerdict returns the cached clean verdict for (sum, dbVersion), or
// nil.
func (s *Store) CachedVerdict(ctx context.Context, sum, dbVersion string) (*domain.Verdict, error) {
	n, err := NormalizeSHA256(sum)
	if err != nil || dbVersion == "" {
		return nil, err
	}
	v, err := s.d.GetCachedVerdict(ctx, n, dbVersion)
	if errcode.Of(err) == errcode.NotFound {
		return nil, nil
	}
	return v, err
}

func newToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Relocate records where the record's bytes are now (nil: back at the
// object's key) without a lifecycle transition. It is bookkeeping, like
// SetExecution, and conditional on the record's version.
func (s *Store) Relocate(ctx context.Context, id string, q *domain.ObjectRef) (*domain.Record, error) {
	rec, err := s.d.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	m := Mutation{
		State: rec.State, Reason: rec.Reason, Attempts: rec.Attempts, Lease: rec.Lease,
		Verdict: rec.Verdict, Quarantine: q, ExecutionARN: rec.ExecutionARN, UpdatedAt: s.Now(),
	}
	return s.d.Update(ctx, id, Condition{States: []domain.Status{rec.State}, Version: rec.Version}, m)
}

// createOrGet creates rec, or returns the record that already has its ID
// (created false): the ingest of a version already known.
func (s *Store) createOrGet(ctx context.Context, rec *domain.Record) (*domain.Record, bool, error) {
	err := s.d.Create(ctx, rec)
	if errcode.Of(err) == errcode.AlreadyExists {
		got, gerr := s.d.Get(ctx, rec.ID)
		if gerr != nil {
			return nil, false, gerr
		}
		return got, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return rec, true, nil
}

// SameVersion reports whether read is the version want names: the same
// bucket and key, the same version ID when want has one of its own (not
// S3's "null", which drivers report as none), and the same ETag when both
// carry one.
func SameVersion(want, read domain.ObjectRef) bool {
	if want.Bucket != read.Bucket || want.Key != read.Key {
		return false
	}
	if want.VersionID != "" && want.VersionID != "null" && want.VersionID != read.VersionID {
		return false
	}
	if want.ETag != "" && read.ETag != "" && strings.Trim(want.ETag, `"`) != strings.Trim(read.ETag, `"`) {
		return false
	}
	return true
}
