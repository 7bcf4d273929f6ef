package main

import (
	"context"
	"crypto/md5"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
		return clamdtest.DescribeAndScan(ctx, t, sc, doc)
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

// The snapshot copies custom signature files (written in place by editors
// and `>>`), so a change to the folder never reaches a running clamd's
// files, and keeps their modification times (custom signatures are dated
// by them); official databases, which freshclam replaces by rename, are
// linked; what is not a signature file stays behind.
func TestSnapshotSignatures(t *testing.T) {
	dir, snap := t.TempDir(), filepath.Join(t.TempDir(), "snap")
	old := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	for name, body := range map[string]string{"private.hdb": "a:1:One\n", "daily.cvd": "not really a cvd", "freshclam.dat": "state"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := snapshotSignatures(dir, snap); err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(filepath.Join(dir, "private.hdb"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(fh, "b:2:Two")
	fh.Close()
	if b, err := os.ReadFile(filepath.Join(snap, "private.hdb")); err != nil || string(b) != "a:1:One\n" {
		t.Errorf("snapshot private.hdb = %q, %v; want the content at snapshot time", b, err)
	}
	if fi, err := os.Stat(filepath.Join(snap, "private.hdb")); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("snapshot private.hdb modified %v (%v), want %v", fi.ModTime(), err, old)
	}
	src, _ := os.Stat(filepath.Join(dir, "daily.cvd"))
	cp, err := os.Stat(filepath.Join(snap, "daily.cvd"))
	if err != nil || !os.SameFile(src, cp) {
		t.Errorf("daily.cvd was not linked into the snapshot (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(snap, "freshclam.dat")); !os.IsNotExist(err) {
		t.Errorf("freshclam.dat in the snapshot: %v", err)
	}
}
