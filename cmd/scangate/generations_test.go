package main

import (
	"context"
	"crypto/md5"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/engine"
)

// The clamd `scangate run` starts scans a snapshot of the signature
// folder, so a change to the folder (a private signature appended in
// place) never changes the database a running clamd's verdicts name; a
// check then swaps in a clamd on the new database, while a scan that
// leased the old one finishes on it.
func TestRunScannerSnapshotsTheSignatureFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(clamdtest.SignaturesDir(t))); err != nil {
		t.Fatal(err)
	}
	f := engineFlags{clamavDB: dir, streamMax: 1 << 20, maxFileSize: 1 << 20, maxScanSize: 1 << 20,
		maxRecursion: 17, maxFiles: 100, maxDBAge: 24 * time.Hour, dev: true}
	g, stop, err := startScanner(t.Context(), f, nil, slog.New(slog.DiscardHandler), func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	const doc = "a tool that a private signature will name\n"
	scan := func(sc engine.Scanner) (engine.Info, clamd.Result) {
		t.Helper()
		info, err := sc.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := sc.Instream(ctx, strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		return info, res
	}
	old, release, err := g.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, res := scan(old)
	if res.Status != clamd.StatusClean {
		t.Fatalf("before: %+v, want clean", res)
	}

	// Appended in place, as `echo ... >> private.hdb` does.
	sum := md5.Sum([]byte(doc))
	fh, err := os.OpenFile(filepath.Join(dir, "private.hdb"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(fh, "%x:%d:Scangate.Test.Private\n", sum, len(doc))
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	if info, res := scan(old); info.DBVersion != before.DBVersion || res.Status != clamd.StatusClean {
		t.Fatalf("the running clamd now names %q (%+v); its database is still %q", info.DBVersion, res, before.DBVersion)
	}

	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	after, res := scan(g)
	if res.Status != clamd.StatusFound || after.DBVersion == before.DBVersion {
		t.Fatalf("after the swap: %+v with %q, want the private signature with a new database", res, after.DBVersion)
	}
	if info, res := scan(old); info.DBVersion != before.DBVersion || res.Status != clamd.StatusClean {
		t.Fatalf("the old lease: %+v with %q, want the old database's answer", res, info.DBVersion)
	}
	release()
	// Nothing changed since: a check keeps the generation.
	cur := g.Current()
	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if g.Current() != cur {
		t.Error("a check with an unchanged folder swapped generations")
	}
}
