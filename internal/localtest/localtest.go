// Package localtest opens the embedded default's store and bucket for
// tests: a bbolt file and a local bucket in a fresh temporary folder, both
// closed when the test ends. Tests across the handlers, the runtimes and
// the servers need the same pair; opening it here keeps them alike.
package localtest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scangate/scangate/asl"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// Env is an embedded store and a local bucket in Dir.
type Env struct {
	Dir    string
	Driver *embedded.Driver
	Store  *store.Store
	Bucket *localdir.Driver
}

// Options configure Open. The zero value is the test default.
type Options struct {
	// Sync makes the store fsync its commits, as `scangate run` does.
	// The bucket never syncs: no test here survives a machine crash.
	Sync bool
	// Store configures the store (its clock, for example); nil means
	// the defaults.
	Store *store.Options
}

// Open opens a store at Dir/scangate.db and a bucket at Dir/buckets, in a
// new temporary folder, and closes both when t ends. opts may be nil.
func Open(t testing.TB, opts *Options) *Env {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	dir := t.TempDir()
	drv, err := embedded.Open(filepath.Join(dir, "scangate.db"), &embedded.Options{NoSync: !opts.Sync})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(drv, opts.Store)
	t.Cleanup(func() { st.Close() })
	objs, err := localdir.Open(filepath.Join(dir, "buckets"), &localdir.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	return &Env{Dir: dir, Driver: drv, Store: st, Bucket: objs}
}

// Ingested uploads body as bucket/key to b and records the version in st,
// pending, with no execution driving it.
func Ingested(t testing.TB, st *store.Store, b objects.Driver, bucket, key, body string) *domain.Record {
	t.Helper()
	ctx := context.Background()
	ref, err := b.Put(ctx, bucket, key, strings.NewReader(body), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := st.Ingest(ctx, ref, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Step is one of the scan workflow's steps as the handlers implement it.
type Step func(context.Context, asl.Document) (asl.Document, error)

// Steps runs rec's scan steps in order, as the workflow would with no
// retry, and returns the last document, or the first error with the
// document that step was given.
func Steps(ctx context.Context, rec *domain.Record, steps ...Step) (asl.Document, error) {
	doc := asl.Document{ID: rec.ID, Object: rec.Object}
	for _, step := range steps {
		next, err := step(ctx, doc)
		if err != nil {
			return doc, err
		}
		doc = next
	}
	return doc, nil
}
