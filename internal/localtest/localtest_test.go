package localtest

import (
	"context"
	"errors"
	"testing"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
)

// TestOpenAndSteps checks that Open gives a store and a bucket that work
// together, and that Steps runs steps in order and stops at the first
// error, returning the document that step was given.
func TestOpenAndSteps(t *testing.T) {
	ctx := context.Background()
	env := Open(t, nil)
	rec := Ingested(t, env.Store, env.Bucket, "uploads", "a.txt", "bytes")
	if got, err := env.Store.Get(ctx, rec.ID); err != nil || got.State != domain.StatusPending {
		t.Fatalf("recorded %v, %v; want a pending record", got, err)
	}
	var ran []string
	step := func(name string, err error) Step {
		return func(_ context.Context, doc asl.Document) (asl.Document, error) {
			ran = append(ran, name)
			if err != nil {
				return asl.Document{}, err
			}
			doc.Status = domain.Status(name)
			return doc, nil
		}
	}
	stop := errors.New("stop")
	doc, err := Steps(ctx, rec, step("one", nil), step("two", stop), step("three", nil))
	if !errors.Is(err, stop) || doc.Status != "one" || doc.ID != rec.ID {
		t.Errorf("Steps = %+v, %v; want the first step's document and the second's error", doc, err)
	}
	if len(ran) != 2 {
		t.Errorf("ran %v; want the steps up to the failing one", ran)
	}
}
