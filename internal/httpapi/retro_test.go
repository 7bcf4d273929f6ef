package httpapi_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/lambdas"
)

// copySignatures copies the test signatures into a directory the test may
// change.
func copySignatures(t *testing.T) string {
	t.Helper()
	src := clamdtest.SignaturesDir(t)
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// The retro-hunt end to end, with real clamd: a file scanned clean, a
// private signature for it added to the database directory, clamd
// reloaded; the retro-hunt rescans what was clean under the old database:
// the matching version ends quarantined, its review marked retro-detected
// with when it was first found clean, its event emitted; the file that
// is still clean stays clean with a second verdict.
func TestRetroHuntEndToEnd(t *testing.T) {
	sigDir := copySignatures(t)
	d := clamdtest.Start(t, &clamdtest.Options{DatabaseDir: sigDir})
	rec := &resultRecorder{}
	e := setup(t, setupOpts{clamdAddr: d.Addr(), sigDir: sigDir, results: rec})
	ctx := context.Background()
	eng := e.scanner.Scanner.(*engine.Engine)
	before, err := eng.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}

	target := []byte("a file that a signature published tomorrow will match\n")
	other := []byte("a file that stays clean\n")
	bad := e.wait(e.upload("shared/tool.bin", target).ID)
	good := e.wait(e.upload("shared/readme.txt", other).ID)
	e.assertClean(bad)
	e.assertClean(good)
	firstClean := bad.Verdict.ScannedAt

	// The retro-hunt runs all along; with the database unchanged it finds
	// nothing to do.
	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan error, 1)
	go func() {
		loopDone <- e.h.RetroLoop(loopCtx, lambdas.RetroOptions{Window: time.Hour, Every: 50 * time.Millisecond, Rate: 50})
	}()
	t.Cleanup(func() {
		stopLoop()
		if err := <-loopDone; err != nil {
			t.Errorf("RetroLoop: %v", err)
		}
	})
	time.Sleep(300 * time.Millisecond)
	if p := e.h.RetroProgress(); p.Started != 0 || p.DBVersion != before.DBVersion {
		t.Fatalf("before the update: progress %+v; want nothing started, db %s", p, before.DBVersion)
	}

	// A private signature for the target's bytes (an .hdb line: MD5,
	// size, name), then RELOAD, as `scangate update` does.
	sum := md5.Sum(target)
	line := fmt.Sprintf("%s:%d:Scangate.Test.Retro\n", hex.EncodeToString(sum[:]), len(target))
	if err := os.WriteFile(filepath.Join(sigDir, "private.hdb"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	client, err := clamd.New(d.Addr(), clamd.Options{IOTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitLoaded(t, client, target)
	eng.Invalidate()

	bad = e.waitVerdicts(bad.ID, 2)
	good = e.waitVerdicts(good.ID, 2)
	after, err := eng.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.DBVersion == before.DBVersion {
		t.Fatalf("database identity %s did not change with a private signature", after.DBVersion)
	}

	e.assertQuarantined(bad)
	if v := bad.Verdict; v.Outcome != domain.OutcomeInfected || len(v.Signatures) != 1 || v.Signatures[0] != "Scangate.Test.Retro.UNOFFICIAL" ||
		!v.Retro || v.DBVersion != after.DBVersion || v.Reused {
		t.Errorf("new verdict %+v; want a retro detection by Scangate.Test.Retro with %s, not reused", v, after.DBVersion)
	}
	if v := bad.Verdicts[0]; v.Outcome != domain.OutcomeClean || v.DBVersion != before.DBVersion {
		t.Errorf("first verdict %+v; want clean with %s", v, before.DBVersion)
	}
	item, err := e.st.Review(ctx, bad.ID)
	if err != nil || !item.RetroDetected || !item.FirstCleanAt.Equal(firstClean) {
		t.Errorf("review item %+v, %v; want retro-detected, first clean at %s", item, err, firstClean)
	}
	got := rec.outcome(lambdas.EventRetroDetected)
	if len(got) != 1 || got[0].RecordID != bad.ID || !got[0].FirstCleanAt.Equal(firstClean) {
		t.Errorf("events %+v; want one retro-detected for %s", got, bad.ID)
	}

	e.assertClean(good)
	if v := good.Verdict; !v.Retro || v.DBVersion != after.DBVersion || v.Reused {
		t.Errorf("still-clean verdict %+v; want a fresh retro scan with %s", v, after.DBVersion)
	}
	if p := e.h.RetroProgress(); p.Started != 2 || p.Detected != 1 || p.Pending != 0 || p.DBVersion != after.DBVersion {
		t.Errorf("progress %+v; want 2 started, 1 detected, none pending, db %s", p, after.DBVersion)
	}

	// Once hunted, the same database starts nothing more.
	time.Sleep(300 * time.Millisecond)
	if p := e.h.RetroProgress(); p.Started != 2 {
		t.Errorf("progress %+v after the pass; the hunt ran again", p)
	}
}

// Only clean verdicts made within the window are rescanned, and a
// window of 0 turns the retro-hunt off.
func TestRetroHuntWindow(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sigDir := copySignatures(t)
	e := setup(t, setupOpts{now: clock, sigDir: sigDir})
	rec := e.wait(e.upload("old/file.txt", []byte("scanned a while ago\n")).ID)
	e.assertClean(rec)
	ctx := context.Background()
	res, err := e.h.RetroHunt(ctx, lambdas.RetroRequest{Window: time.Hour})
	if err != nil || res.Candidates != 0 {
		t.Fatalf("RetroHunt with the same database = %+v, %v; want no candidates", res, err)
	}
	// Another database (a private signature for other bytes), two hours on.
	if err := os.WriteFile(filepath.Join(sigDir, "private.hdb"), []byte(strings.Repeat("0", 32)+":1:Scangate.Test.Other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.scanner.Scanner.(*engine.Engine).Invalidate()
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if err := e.h.RetroLoop(ctx, lambdas.RetroOptions{Window: 0}); err != nil {
		t.Fatalf("RetroLoop with window 0: %v", err)
	}
	if p := e.h.RetroProgress(); p.Started != 0 {
		t.Errorf("window 0 started rescans: %+v", p)
	}
	res, err = e.h.RetroHunt(ctx, lambdas.RetroRequest{Window: time.Hour})
	if err != nil || res.Candidates != 0 {
		t.Errorf("RetroHunt with the verdict past the window = %+v, %v; want no candidates", res, err)
	}
	res, err = e.h.RetroHunt(ctx, lambdas.RetroRequest{Window: 3 * time.Hour})
	if err != nil || res.Candidates != 1 || res.Started != 1 {
		t.Fatalf("RetroHunt with the verdict inside the window = %+v, %v; want it rescanned", res, err)
	}
	rec = e.waitVerdicts(rec.ID, 2)
	e.assertClean(rec)
}

// waitLoaded waits until clamd's reloaded database detects b.
func waitLoaded(t *testing.T, c *clamd.Client, b []byte) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := c.Instream(context.Background(), bytes.NewReader(b))
		if err == nil && res.Status == clamd.StatusFound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clamd did not load the new signature: %+v, %v", res, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitVerdicts waits until the record holds n verdicts and is settled.
func (e *env) waitVerdicts(id string, n int) *domain.Record {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rec, err := e.st.Get(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(rec.Verdicts) >= n && settled(rec, e.h.UnscannablePolicy()) {
			return rec
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("record %s: %d verdicts, state %s after 60s; history %+v", id, len(rec.Verdicts), rec.State, rec.History)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resultRecorder keeps the result events it is told.
type resultRecorder struct {
	mu     sync.Mutex
	events []lambdas.ResultEvent
}

func (r *resultRecorder) Emit(_ context.Context, ev lambdas.ResultEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// outcome returns the events of one outcome.
func (r *resultRecorder) outcome(o string) []lambdas.ResultEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []lambdas.ResultEvent
	for _, ev := range r.events {
		if ev.Outcome == o {
			out = append(out, ev)
		}
	}
	return out
}
