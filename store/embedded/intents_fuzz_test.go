package embedded_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// FuzzIntentCursor feeds arbitrary cursors, as GET /v1/uploads passes them
// on from its query, to the intent listings: each call either is refused
// as Invalid or returns only intents of the listing asked for, and never
// panics.
func FuzzIntentCursor(f *testing.F) {
	ctx := context.Background()
	d, err := embedded.Open(filepath.Join(f.TempDir(), "scangate.db"), &embedded.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		key := fmt.Sprintf("k%d", i%2)
		in := &domain.UploadIntent{
			ID: fmt.Sprintf("%032x", i), Bucket: "uploads", Key: key, Requester: domain.Anonymous, Method: "PUT",
			IssuedAt: t0.Add(time.Duration(i) * time.Second), ExpiresAt: t0.Add(time.Hour), State: domain.IntentExpected,
		}
		if err := d.CreateIntent(ctx, in); err != nil {
			f.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := d.ResolveIntent(ctx, in.ID, store.IntentResolution{State: domain.IntentExpired, At: t0, By: "sweep"}); err != nil {
				f.Fatal(err)
			}
		}
	}
	// Seeds: real cursors of both listings, and near misses.
	_, c1, _ := d.ListIntents(ctx, domain.IntentExpected, time.Time{}, store.Page{Limit: 1})
	_, c2, _ := d.ListKeyIntents(ctx, "uploads", "k0", time.Time{}, store.Page{Limit: 1})
	for _, seed := range []string{c1, c2, c1 + "A", c2[:len(c2)/2], "", "AA", "ZXhwZWN0ZWQA", "!!"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		if cursor == "" {
			return // the first page, not a cursor
		}
		ins, _, err := d.ListIntents(ctx, domain.IntentExpected, time.Time{}, store.Page{Cursor: cursor, Limit: 3})
		if err != nil && errcode.Of(err) != errcode.Invalid {
			t.Fatalf("ListIntents(cursor %q): %v, want Invalid or a page", cursor, err)
		}
		for _, in := range ins {
			if in.State != domain.IntentExpected {
				t.Fatalf("ListIntents expected (cursor %q) returned a %s intent", cursor, in.State)
			}
		}
		ins, _, err = d.ListKeyIntents(ctx, "uploads", "k0", time.Time{}, store.Page{Cursor: cursor, Limit: 3})
		if err != nil && errcode.Of(err) != errcode.Invalid {
			t.Fatalf("ListKeyIntents(cursor %q): %v, want Invalid or a page", cursor, err)
		}
		for _, in := range ins {
			if in.Key != "k0" {
				t.Fatalf("ListKeyIntents k0 (cursor %q) returned an intent of %q", cursor, in.Key)
			}
		}
	})
}
