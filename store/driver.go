package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// Driver is what a storage backend implements. Error codes are those of
// package errcode. The portable *Store adds the
// lifecycle rules on top, once, for every driver. Drivers are tested by the
// shared conformance suite in package storetest.
//
// All methods must be safe for concurrent use by multiple goroutines and,
// where the backend is shared, by multiple processes.
//
// Further rules every driver keeps (storetest checks them):
//   - times round-trip with at least millisecond precision;
//   - a listing may return a short or even empty page with a non-empty
//     cursor (as DynamoDB's LastEvaluatedKey does); "" means the end;
//   - a context that is already done gives code Unavailable, wrapping
//     ctx.Err();
//   - an empty Condition.States, an empty ID or an unknown state gives
//     code Invalid.
type Driver interface {
	// Create stores rec if no record with rec.ID exists. If one exists it
	// must return an error for which errcode.Of returns AlreadyExists and leave
	// the stored record unchanged.
	Create(ctx context.Context, rec *domain.Record) error

	// Get returns the record, or an error with code NotFound.
	Get(ctx context.Context, id string) (*domain.Record, error)

	// Update applies m to the record id in one atomic, conditional write
	// and returns the record as written. When cond does not hold it must
	// return an error with code ConditionFailed and change nothing; when
	// the record does not exist, code NotFound (or ConditionFailed, where
	// the backend cannot tell the two apart in one write).
	Update(ctx context.Context, id string, cond Condition, m Mutation) (*domain.Record, error)

	// ListByState returns records in state ordered by UpdatedAt, oldest
	// first, then by ID; in a state for which ListedInOrder is false, in
	// any order the driver keeps across the pages of one listing. The
	// cursor is opaque; "" starts at the beginning and a returned "" means
	// there is no more.
	ListByState(ctx context.Context, state domain.Status, page Page) ([]*domain.Record, string, error)

	// PutAllowlist creates or replaces the entry for e.SHA256.
	PutAllowlist(ctx context.Context, e *domain.AllowlistEntry) error
	// GetAllowlist returns the entry, or an error with code NotFound.
	GetAllowlist(ctx context.Context, sha256 string) (*domain.AllowlistEntry, error)
	// DeleteAllowlist removes the entry; removing a missing entry is not an
	// error.
	DeleteAllowlist(ctx context.Context, sha256 string) error
	// ListAllowlist returns entries ordered by SHA256.
	ListAllowlist(ctx context.Context, page Page) ([]*domain.AllowlistEntry, string, error)

	// CreateReview stores item if no item with item.ID is open. An open
	// item with that ID must give code AlreadyExists; a decided one is
	// replaced (a rescanned object can be reviewed again).
	CreateReview(ctx context.Context, item *domain.ReviewItem) error
	// GetReview returns the item, or an error with code NotFound.
	GetReview(ctx context.Context, id string) (*domain.ReviewItem, error)
	// DecideReview records the decision on an open item in one conditional
	// write. An item that is already decided gives code ConditionFailed; a
	// missing one NotFound or ConditionFailed, and it is never created.
	DecideReview(ctx context.Context, id string, d ReviewDecision) (*domain.ReviewItem, error)
	// SetReviewToken stores the workflow's task token on an item, whether
	// open or not. A missing item gives NotFound or ConditionFailed and is
	// never created.
	SetReviewToken(ctx context.Context, id, token string) error
	// ListOpenReviews returns open items, oldest OpenedAt first, then by ID.
	ListOpenReviews(ctx context.Context, page Page) ([]*domain.ReviewItem, string, error)

	// PutCachedVerdict remembers a clean verdict for (sha256, dbVersion).
	PutCachedVerdict(ctx context.Context, sha256, dbVersion string, v *domain.Verdict) error
	// GetCachedVerdict returns the verdict, or an error with code NotFound.
	GetCachedVerdict(ctx context.Context, sha256, dbVersion string) (*domain.Verdict, error)

	// CreateIntent stores in if no intent with in.ID exists. If one
	// exists it must return code AlreadyExists and leave it unchanged.
	CreateIntent(ctx context.Context, in *domain.UploadIntent) error
	// GetIntent returns the intent, or an error with code NotFound.
	GetIntent(ctx context.Context, id string) (*domain.UploadIntent, error)
	// ResolveIntent moves an expected intent to r.State in one
	// conditional write whose condition is that the intent is still
	// expected, and returns the intent as written. An intent that is no
	// longer expected gives ConditionFailed and is not changed; a missing
	// one NotFound or ConditionFailed, and it is never created.
	ResolveIntent(ctx context.Context, id string, r IntentResolution) (*domain.UploadIntent, error)
	// ListIntents returns intents in state ordered by ExpiresAt, oldest
	// first, then by ID. A non-zero expiresBy leaves out intents with
	// ExpiresAt after it.
	ListIntents(ctx context.Context, state domain.IntentState, expiresBy time.Time, page Page) ([]*domain.UploadIntent, string, error)
	// ListKeyIntents returns the intents of exactly (bucket, key), in
	// every state, issued at or after since, ordered by IssuedAt, oldest
	// first, then by ID.
	ListKeyIntents(ctx context.Context, bucket, key string, since time.Time, page Page) ([]*domain.UploadIntent, string, error)

	// CreateAccount stores a if no account named a.Name exists; one that
	// exists gives code AlreadyExists and is left unchanged.
	CreateAccount(ctx context.Context, a *domain.Account) error
	// GetAccount returns the account, or an error with code NotFound.
	GetAccount(ctx context.Context, name string) (*domain.Account, error)
	// UpdateAccount replaces the account a.Name in one write conditional on
	// its stored UpdatedAt being prevUpdatedAt (compared exactly): a
	// concurrent change gives ConditionFailed and changes nothing; a
	// missing account gives NotFound and is never created. a.UpdatedAt
	// must differ from prevUpdatedAt (code Invalid otherwise), or two
	// writers of the same read could both win.
	UpdateAccount(ctx context.Context, a *domain.Account, prevUpdatedAt time.Time) error
	// ListAccounts returns accounts ordered by name (byte order).
	ListAccounts(ctx context.Context, page Page) ([]*domain.Account, string, error)

	// CreateToken stores t if no token with t.ID exists; one that exists
	// gives code AlreadyExists and is left unchanged.
	CreateToken(ctx context.Context, t *domain.APIToken) error
	// GetToken returns the token, or an error with code NotFound.
	GetToken(ctx context.Context, id string) (*domain.APIToken, error)
	// RevokeToken sets the token's RevokedAt to at in one write
	// conditional on it not being revoked yet: a revoked token gives
	// ConditionFailed and keeps its first RevokedAt; a missing one gives
	// NotFound and is never created.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// ListTokens returns every token, of every account, ordered by ID.
	ListTokens(ctx context.Context, page Page) ([]*domain.APIToken, string, error)

	// CreateReleaseProof stores p under p.ID() if no proof has that ID; one
	// that exists gives code AlreadyExists and is left unchanged. Proofs
	// are never changed or deleted.
	CreateReleaseProof(ctx context.Context, p *domain.ReleaseProof) error
	// GetReleaseProof returns the proof with ID id, or an error with code
	// NotFound.
	GetReleaseProof(ctx context.Context, id string) (*domain.ReleaseProof, error)

	// GetCheckpoint returns the checkpoint, or an error with code
	// NotFound.
	GetCheckpoint(ctx context.Context, id string) (*domain.Checkpoint, error)
	// PutCheckpoint writes c in one write conditional on the stored
	// checkpoint's Version being c.Version-1, or, for c.Version 1, on
	// there being none: a stale writer gets ConditionFailed and changes
	// nothing. c.Version below 1 or an empty ID gives code Invalid.
	PutCheckpoint(ctx context.Context, c *domain.Checkpoint) error

	// Close releases the driver's resources.
	Close() error
}

// ListedInOrder reports whether Driver.ListByState returns the records of
// state ordered by UpdatedAt. Clean records need not be: they are almost
// every record, and keeping them in an ordered index would cost the
// DynamoDB driver two more write units per object; their readers (the
// retro-hunt, counts and searches) do not depend on the order.
func ListedInOrder(state domain.Status) bool { return state != domain.StatusClean }

// Page asks for one page of a listing.
type Page struct {
	// Cursor is "" for the first page, else a value a previous call returned.
	Cursor string
	// Limit is the largest number of items to return; 0 means 100.
	Limit int
}

// Size returns the effective page size.
func (p Page) Size() int {
	if p.Limit <= 0 {
		return 100
	}
	return min(p.Limit, 1000)
}

// Condition is the compare-and-set guard of an Update. Every set field must
// hold for the write to happen.
type Condition struct {
	// States: the record's state must be one of these. Never empty; the
	// portable layer fills it from the statemachine table.
	States []domain.Status
	// Version: if non-zero, the record's Version must equal it.
	Version int64
	// LeaseToken: if non-empty, the record's lease token must equal it.
	LeaseToken string
	// LeaseExpiredBy: if non-zero, the record's lease must have expired at
	// this time (Lease.Expires <= LeaseExpiredBy), or be absent.
	LeaseExpiredBy time.Time
}

// Check validates c as Driver.Update requires, with code Invalid: it
// names states, and only known ones. Drivers call it, so that every
// backend refuses the same conditions.
func (c Condition) Check(op, id string) error {
	if len(c.States) == 0 {
		return errcode.Errorf(errcode.Invalid, op, id, "condition names no states")
	}
	for _, st := range c.States {
		if !st.Valid() {
			return errcode.Errorf(errcode.Invalid, op, id, "condition names unknown state %q", st)
		}
	}
	return nil
}

// Unmet says which part of c rec fails, or "" when rec satisfies it. A
// driver that evaluates c itself uses it as the condition; one whose
// backend evaluates c uses it to say why a write was refused. Lease
// expiry is compared in whole milliseconds, the precision every driver
// keeps, so that both kinds decide alike.
func (c Condition) Unmet(rec *domain.Record) string {
	if !slices.Contains(c.States, rec.State) {
		return fmt.Sprintf("state is %s, want one of %v", rec.State, c.States)
	}
	if c.Version != 0 && rec.Version != c.Version {
		return fmt.Sprintf("version is %d, want %d", rec.Version, c.Version)
	}
	if c.LeaseToken != "" {
		if rec.Lease == nil {
			return "lease token given but the record holds no lease"
		}
		if rec.Lease.Token != c.LeaseToken {
			return "lease token does not match the record's lease"
		}
	}
	if !c.LeaseExpiredBy.IsZero() && rec.Lease != nil && rec.Lease.Expires.UnixMilli() > c.LeaseExpiredBy.UnixMilli() {
		return fmt.Sprintf("lease held until %s, not expired by %s",
			rec.Lease.Expires.UTC().Format(time.RFC3339Nano), c.LeaseExpiredBy.UTC().Format(time.RFC3339Nano))
	}
	return ""
}

// CheckRecord validates, with code Invalid, what every driver builds a
// record's keys from: its ID and its state. Drivers call it on the record
// of a Create and on the new state of an Update.
func CheckRecord(op, id string, state domain.Status) error {
	if id == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "record has no id")
	}
	if !state.Valid() {
		return errcode.Errorf(errcode.Invalid, op, id, "unknown state %q", state)
	}
	return nil
}

// CheckIntent validates, with code Invalid, what every driver builds an
// upload intent's keys from: its ID, state, bucket and key.
func CheckIntent(op string, in *domain.UploadIntent) error {
	switch {
	case in.ID == "":
		return errcode.Errorf(errcode.Invalid, op, "", "intent has no id")
	case !in.State.Valid():
		return errcode.Errorf(errcode.Invalid, op, in.ID, "unknown intent state %q", in.State)
	case in.Bucket == "" || in.Key == "":
		return errcode.Errorf(errcode.Invalid, op, in.ID, "intent has no bucket or key")
	}
	return nil
}

// Mutation is the new value of every mutable field plus the history entry to
// append. Drivers write all of it, set Version to the stored Version plus
// one, and append History in the same write.
type Mutation struct {
	State        domain.Status
	Reason       string
	Attempts     int
	Lease        *domain.Lease
	Verdict      *domain.Verdict
	Quarantine   *domain.ObjectRef
	ExecutionARN string
	UpdatedAt    time.Time
	// History is appended when non-nil. Bookkeeping writes that are not
	// transitions (such as storing the execution ARN) leave it nil.
	History *domain.HistoryEntry
	// Verdicts, when non-nil, replaces the record's verdict history, in
	// the same conditional write; nil leaves it as it is.
	Verdicts []domain.Verdict
}

// ReviewDecision is an admin's decision on a review item.
type ReviewDecision struct {
	Decision  domain.Decision
	Reviewer  string
	Comment   string
	DecidedAt time.Time
}

// IntentResolution is how an expected upload intent ends.
type IntentResolution struct {
	// State is domain.IntentArrived or domain.IntentExpired.
	State domain.IntentState
	// RecordID names the arrived version's record; empty for an expired
	// intent.
	RecordID string
	At       time.Time
	// By names what resolved it ("ingest", "sweep").
	By string
}

// VerdictCachingDriver is a Driver that can write a clean verdict into the
// verdict cache in the same atomic write as a record's update, which spares
// a clean object its separate cache write. It is optional: the portable
// Store asks for it (Store.CachesWithTransition) and otherwise leaves the
// cache to a separate PutCachedVerdict.
type VerdictCachingDriver interface {
	Driver
	// UpdateCachingVerdict is Update that, when it writes, also stores v
	// as PutCachedVerdict(sha256, dbVersion, v) would, in the same atomic
	// write. A refused update stores nothing.
	UpdateCachingVerdict(ctx context.Context, id string, cond Condition, m Mutation, sha256, dbVersion string, v *domain.Verdict) (*domain.Record, error)
}
