package store

import (
	"context"
	"net/http"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// NewIntentID returns a random upload intent ID: 128 bits from
// crypto/rand in hex. It is random rather than derived from the key so
// that an ID in a URL or a log says nothing about what is uploaded, and
// one caller cannot name another's intent.
func NewIntentID() string { return newToken() }

// RecordIntent stores an expected upload intent. An empty ID gets
// NewIntentID, a zero IssuedAt the store's clock, an empty Requester
// domain.Anonymous and an empty Method "PUT". Recording the same intent
// again (a retried call) returns the stored one; a different intent under
// an existing ID gives code AlreadyExists.
func (s *Store) RecordIntent(ctx context.Context, in domain.UploadIntent) (*domain.UploadIntent, error) {
	const op = "store: record intent"
	if in.ID == "" {
		in.ID = NewIntentID()
	}
	if in.IssuedAt.IsZero() {
		in.IssuedAt = s.Now()
	}
	if in.Requester == "" {
		in.Requester = domain.Anonymous
	}
	if in.Method == "" {
		in.Method = http.MethodPut
	}
	if in.State == "" {
		in.State = domain.IntentExpected
	}
	if err := checkNewIntent(op, &in); err != nil {
		return nil, err
	}
	err := s.d.CreateIntent(ctx, &in)
	if errcode.Of(err) == errcode.AlreadyExists {
		got, gerr := s.d.GetIntent(ctx, in.ID)
		if gerr != nil {
			return nil, gerr
		}
		if sameIntent(got, &in) {
			return got, nil
		}
		return nil, errcode.Errorf(errcode.AlreadyExists, op, in.ID, "another intent of s3://%s/%s has this id", got.Bucket, got.Key)
	}
	if err != nil {
		return nil, err
	}
	return &in, nil
}

// checkNewIntent validates what RecordIntent stores.
func checkNewIntent(op string, in *domain.UploadIntent) error {
	bad := func(format string, args ...any) error {
		return errcode.Errorf(errcode.Invalid, op, in.ID, format, args...)
	}
	switch {
	case in.Bucket == "" || in.Key == "":
		return bad("an upload intent needs a bucket and a key")
	case in.State != domain.IntentExpected || in.RecordID != "" || !in.ResolvedAt.IsZero() || in.ResolvedBy != "":
		return bad("a new upload intent is expected and unresolved, not %s", in.State)
	case in.Method != http.MethodPut && in.Method != http.MethodPost:
		return bad("method %q is neither PUT nor POST", in.Method)
	case !in.ExpiresAt.After(in.IssuedAt):
		return bad("expiry %s is not after issue %s", in.ExpiresAt, in.IssuedAt)
	case in.MinBytes < 0 || in.MaxBytes < 0 || (in.MaxBytes > 0 && in.MinBytes > in.MaxBytes):
		return bad("length range [%d, %d] is empty or negative", in.MinBytes, in.MaxBytes)
	}
	if in.SHA256 != "" {
		sum, err := NormalizeSHA256(in.SHA256)
		if err != nil {
			return err
		}
		in.SHA256 = sum
	}
	return nil
}

// sameIntent reports whether two intents are the same, times compared at
// the millisecond precision every driver keeps.
func sameIntent(a, b *domain.UploadIntent) bool {
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	return a.ID == b.ID && a.Bucket == b.Bucket && a.Key == b.Key && a.Requester == b.Requester &&
		a.Method == b.Method && ms(a.IssuedAt) == ms(b.IssuedAt) && ms(a.ExpiresAt) == ms(b.ExpiresAt) &&
		a.SHA256 == b.SHA256 && a.MinBytes == b.MinBytes && a.MaxBytes == b.MaxBytes
}

// Intent returns the upload intent with the given ID.
func (s *Store) Intent(ctx context.Context, id string) (*domain.UploadIntent, error) {
	return s.d.GetIntent(ctx, id)
}

// MarkIntentArrived links an expected intent to the record of the version
// that fulfilled it, by one write conditional on the intent still being
// expected. Marking it again with the same record (a re-delivered event, a
// retried sweep) returns the intent unchanged; an intent already resolved
// otherwise gives ConditionFailed, so no intent is ever linked twice.
func (s *Store) MarkIntentArrived(ctx context.Context, id, recordID, by string) (*domain.UploadIntent, error) {
	if recordID == "" {
		return nil, errcode.Errorf(errcode.Invalid, "store: intent arrived", id, "an arrived intent needs a record id")
	}
	return s.resolveIntent(ctx, id, IntentResolution{State: domain.IntentArrived, RecordID: recordID, At: s.Now(), By: by})
}

// MarkIntentExpired records that an expected intent's URL expired with no
// version arriving, conditional on the intent still being expected.
// Expiring an expired intent again returns it unchanged.
func (s *Store) MarkIntentExpired(ctx context.Context, id, by string) (*domain.UploadIntent, error) {
	return s.resolveIntent(ctx, id, IntentResolution{State: domain.IntentExpired, At: s.Now(), By: by})
}

func (s *Store) resolveIntent(ctx context.Context, id string, r IntentResolution) (*domain.UploadIntent, error) {
	got, err := s.d.ResolveIntent(ctx, id, r)
	if errcode.Of(err) != errcode.ConditionFailed {
		return got, err
	}
	cur, gerr := s.d.GetIntent(ctx, id)
	if gerr != nil {
		if errcode.Of(gerr) == errcode.NotFound {
			return nil, gerr
		}
		return nil, err
	}
	if cur.State == r.State && cur.RecordID == r.RecordID {
		return cur, nil
	}
	return nil, err
}

// ListIntents pages through the intents in one state, soonest expiry
// first.
func (s *Store) ListIntents(ctx context.Context, state domain.IntentState, page Page) ([]*domain.UploadIntent, string, error) {
	if !state.Valid() {
		return nil, "", errcode.Errorf(errcode.Invalid, "store: list intents", "", "unknown intent state %q", state)
	}
	return s.d.ListIntents(ctx, state, time.Time{}, page)
}

// ExpiredIntents pages through the expected intents whose URL expired by
// before (ExpiresAt <= before), oldest expiry first: what the sweep
// settles.
func (s *Store) ExpiredIntents(ctx context.Context, before time.Time, page Page) ([]*domain.UploadIntent, string, error) {
	if before.IsZero() {
		return nil, "", errcode.Errorf(errcode.Invalid, "store: expired intents", "", "a cutoff time is required")
	}
	return s.d.ListIntents(ctx, domain.IntentExpected, before, page)
}

// KeyIntents pages through the intents of (bucket, key) issued at or after
// since, in every state, oldest first.
func (s *Store) KeyIntents(ctx context.Context, bucket, key string, since time.Time, page Page) ([]*domain.UploadIntent, string, error) {
	return s.d.ListKeyIntents(ctx, bucket, key, since, page)
}

// CheckIntentResolution validates a resolution for a driver: an arrival
// names its record, an expiry none. op and id name the call in the error.
func CheckIntentResolution(op, id string, r IntentResolution) error {
	switch r.State {
	case domain.IntentArrived:
		if r.RecordID == "" {
			return errcode.Errorf(errcode.Invalid, op, id, "an arrived intent needs a record id")
		}
	case domain.IntentExpired:
		if r.RecordID != "" {
			return errcode.Errorf(errcode.Invalid, op, id, "an expired intent has no record")
		}
	default:
		return errcode.Errorf(errcode.Invalid, op, id, "an intent resolves to arrived or expired, not %q", r.State)
	}
	return nil
}
