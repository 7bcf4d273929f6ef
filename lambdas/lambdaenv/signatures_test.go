package lambdaenv

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/sigset"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects/localdir"
)

// sigBucket is a local signatures bucket: its driver, and the URL a
// function is given (SCANGATE_SIGNATURES_BUCKET).
func sigBucket(t *testing.T) (*localdir.Driver, string) {
	t.Helper()
	root := t.TempDir()
	d, err := localdir.Open(root, &localdir.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, "file://" + root + "?bucket=sigs"
}

// testSignatures copies the test signatures, dated age ago (custom
// signatures are dated by their mtime).
func testSignatures(t *testing.T, age time.Duration) string {
	t.Helper()
	src := clamdtest.SignaturesDir(t)
	dir := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	for _, e := range ents {
		if !engine.IsSignatureFile(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, e.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// publishKnowing publishes the set in first with a private signature for
// doc added, Scangate.Test.Retro, as a newer set.
func publishKnowing(t *testing.T, d *localdir.Driver, first, doc string) {
	t.Helper()
	second := t.TempDir()
	if err := os.CopyFS(second, os.DirFS(first)); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(doc))
	hdb := fmt.Sprintf("%x:%d:Scangate.Test.Retro\n", sum, len(doc))
	if err := os.WriteFile(filepath.Join(second, "retro.hdb"), []byte(hdb), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sigset.Publish(t.Context(), d, "sigs", second, sigset.Options{}); err != nil {
		t.Fatal(err)
	}
}

// scanner builds a scan function's configuration on the signatures
// bucket at url, and returns its scanner.
func scanner(t *testing.T, url string) *engine.Generations {
	t.Helper()
	s, _ := scannerIn(t, url)
	return s
}

// scannerIn is scanner, and the folder its first set is loaded into;
// swap, when given, is VarSignaturesSwap.
func scannerIn(t *testing.T, url string, swap ...string) (*engine.Generations, string) {
	t.Helper()
	env := baseEnv(t)
	if len(swap) > 0 {
		env[VarSignaturesSwap] = swap[0]
	}
	env[VarClamAVDB] = filepath.Join(t.TempDir(), "signatures") // as in AWS: under /tmp, empty
	env[VarClamdDir] = shortDir(t) + "/c"
	env[VarSignaturesBucket] = url
	env[VarSignaturesCheck] = "1h" // the tests ask for checks themselves
	cfg, stop, err := Config(t.Context(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	s, ok := cfg.Scanner.(*engine.Generations)
	if !ok {
		t.Fatalf("scanner is %T, want the clamd started here on the current set", cfg.Scanner)
	}
	return s, env[VarClamAVDB]
}

// The scan function loads the current set before clamd starts, and
// scans with it.
func TestScannerLoadsTheCurrentSet(t *testing.T) {
	t.Parallel()
	d, url := sigBucket(t)
	if _, err := sigset.Publish(t.Context(), d, "sigs", testSignatures(t, time.Hour), sigset.Options{}); err != nil {
		t.Fatal(err)
	}
	s := scanner(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := s.Instream(ctx, strings.NewReader(clamdtest.EICAR))
	if err != nil || res.Status != clamd.StatusFound {
		t.Fatalf("Instream = %+v, %v; want EICAR found with the loaded set", res, err)
	}
	res, err = s.Instream(ctx, strings.NewReader("quarterly numbers"))
	if err != nil || res.Status != clamd.StatusClean {
		t.Fatalf("Instream = %+v, %v; want clean", res, err)
	}
}

// Without a loadable set, clamd is never started and every scan fails
// as unavailable (retried, then recorded failed): never clean. A set
// that loads but is older than the guard's limit is refused as stale.
func TestScannerFailsClosedWithoutASet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, d *localdir.Driver)
		want    error
		cause   error // what the set's loader said, when it failed
		started bool
	}{
		{"nothing published", func(t *testing.T, d *localdir.Driver) {}, engine.ErrUnavailable, sigset.ErrNoSet, false},
		{"torn set", func(t *testing.T, d *localdir.Driver) {
			res, err := sigset.Publish(t.Context(), d, "sigs", testSignatures(t, time.Hour), sigset.Options{})
			if err != nil {
				t.Fatal(err)
			}
			f := res.Manifest.Files[0]
			ref := domain.ObjectRef{Bucket: "sigs", Key: "sets/" + res.Manifest.ID + "/" + f.Name, VersionID: f.VersionID}
			if err := d.Delete(t.Context(), ref); err != nil {
				t.Fatal(err)
			}
		}, engine.ErrUnavailable, sigset.ErrCorrupt, false},
		{"stale set", func(t *testing.T, d *localdir.Driver) {
			if _, err := sigset.Publish(t.Context(), d, "sigs", testSignatures(t, 72*time.Hour), sigset.Options{}); err != nil {
				t.Fatal(err)
			}
		}, engine.ErrStale, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, url := sigBucket(t)
			tt.prepare(t, d)
			s := scanner(t, url)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err := s.Describe(ctx)
			if !errors.Is(err, tt.want) || (tt.cause != nil && !errors.Is(err, tt.cause)) {
				t.Errorf("Describe = %v, want %v (%v)", err, tt.want, tt.cause)
			}
			if tt.want == engine.ErrUnavailable {
				res, err := s.Instream(ctx, strings.NewReader("quarterly numbers"))
				if !errors.Is(err, engine.ErrUnavailable) || res.Status == clamd.StatusClean {
					t.Errorf("Instream = %+v, %v; want ErrUnavailable", res, err)
				}
			}
			if started := s.Current().Scanner.(*startingScanner).d != nil; started != tt.started {
				t.Errorf("clamd started = %v, want %v", started, tt.started)
			}
		})
	}
}

// A clamd at an address loads its own database: a signatures bucket
// there is a configuration error, not a silent no-op.
func TestSignaturesNeedOwnClamd(t *testing.T) {
	env := baseEnv(t)
	env[VarClamd] = "unix:///nonexistent/clamd.sock"
	env[VarSignaturesBucket] = "s3://sigs"
	_, stop, err := Config(t.Context(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	stop()
	if err == nil || !strings.Contains(err.Error(), VarSignaturesBucket) {
		t.Errorf("Config = %v, want an error naming %s", err, VarSignaturesBucket)
	}
}

// fakeUpdate installs a stand-in for `scangate update` that records its
// arguments in log and runs body (shell) with $DB the database directory.
func fakeUpdate(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" >> " + log + "\nDB=$3\n" + body + "\n"
	p := filepath.Join(dir, "scangate")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	old := updateCommand
	updateCommand = p
	t.Cleanup(func() { updateCommand = old })
	return log
}

// The updater publishes what `scangate update` leaves, once; passes the
// mirror on; and changes nothing when the update fails.
func TestSignatureUpdater(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	d, url := sigBucket(t)
	src := testSignatures(t, time.Hour)
	args := fakeUpdate(t, "cp -p "+src+"/* \"$DB\"/ && echo freshclam-state > \"$DB\"/freshclam.dat")
	env := map[string]string{VarSignaturesBucket: url, VarSignaturesMirror: "https://mirror.example/clamav"}
	run, err := SignatureUpdater(t.Context(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	first, err := run(t.Context())
	if err != nil || !first.Published {
		t.Fatalf("first run = %+v, %v; want a published set", first, err)
	}
	second, err := run(t.Context())
	if err != nil || second.Published || second.Set != first.Set {
		t.Fatalf("second run = %+v, %v; want set %s unchanged", second, err, first.Set)
	}
	b, _ := os.ReadFile(args)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "update --clamav-db ") || !strings.HasSuffix(lines[0], " --mirror https://mirror.example/clamav") {
		t.Errorf("scangate update ran as %q", lines)
	}

	fakeUpdate(t, "exit 1")
	if _, err := run(t.Context()); err == nil {
		t.Error("a failed update did not fail the run")
	}
	p, err := sigset.ReadPointer(t.Context(), d, "sigs")
	if err != nil || p.Set != first.Set {
		t.Errorf("current set after a failed update = %q (%v), want %s", p.Set, err, first.Set)
	}
	if ents, _ := os.ReadDir(tmp); slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), "sigupdate-") }) {
		t.Error("the updater left its work folder in the temporary directory")
	}
	if _, err := SignatureUpdater(t.Context(), func(string) string { return "" }, slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("SignatureUpdater without %s succeeded", VarSignaturesBucket)
	}
}

// A warm scan function picks up a set published after it started: a
// second clamd loads it while the first answers, new scans lease the new
// one, and the old one stops, its folder removed, once its last scan
// ends. Each verdict names the database that answered it.
func TestScannerSwapsInANewerSet(t *testing.T) {
	t.Parallel()
	d, url := sigBucket(t)
	first := testSignatures(t, time.Hour)
	if _, err := sigset.Publish(t.Context(), d, "sigs", first, sigset.Options{}); err != nil {
		t.Fatal(err)
	}
	s, oldDir := scannerIn(t, url, SwapSideBySide)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const doc = "a report found clean today, known bad tomorrow"
	scan := func(sc lambdas.Scanner) (engine.Info, clamd.Result) {
		t.Helper()
		return clamdtest.DescribeAndScan(ctx, t, sc, doc)
	}
	old, release, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, res := scan(old)
	if res.Status != clamd.StatusClean {
		t.Fatalf("first set: %+v, want clean", res)
	}
	gen0 := s.Current()

	// Nothing new: a check keeps the generation.
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Current() != gen0 {
		t.Fatal("a check with no new set swapped generations")
	}

	// A private signature for the document, published as a new set.
	publishKnowing(t, d, first, doc)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	now, release2, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, res := scan(now)
	release2()
	if res.Status != clamd.StatusFound || !slices.Contains(res.Signatures, "Scangate.Test.Retro.UNOFFICIAL") {
		t.Fatalf("new set: %+v, want the private signature found", res)
	}
	if after.DBVersion == before.DBVersion {
		t.Fatalf("both sets named %q: the new database must have its own identity", after.DBVersion)
	}
	// The sweep hunts with the pointer's name for the database: it must be
	// the name the scanners' verdicts carry.
	src, err := openSignatures(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := src.Current(ctx); err != nil || cur != after.DBVersion {
		t.Fatalf("the pointer names %q (%v), the scanner %q", cur, err, after.DBVersion)
	}

	// The scan that leased the old generation still finishes on it, and
	// names the old database.
	info, res := scan(old)
	if res.Status != clamd.StatusClean || info.DBVersion != before.DBVersion {
		t.Fatalf("old lease: %+v with %q, want clean with %q", res, info.DBVersion, before.DBVersion)
	}
	if _, err := os.Stat(oldDir); err != nil {
		t.Fatalf("the old set's folder went while a scan held it: %v", err)
	}
	release()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(oldDir); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old set's folder %s is still there after its last scan ended", oldDir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// One at a time (the default): the swap waits for the scan that holds the
// old clamd, stops it and removes its set before the new set's folder
// exists, so that only one database is ever loaded; the scan that waited
// then finds what the new set detects.
func TestScannerSwapsOneAtATime(t *testing.T) {
	t.Parallel()
	d, url := sigBucket(t)
	first := testSignatures(t, time.Hour)
	if _, err := sigset.Publish(t.Context(), d, "sigs", first, sigset.Options{}); err != nil {
		t.Fatal(err)
	}
	s, oldDir := scannerIn(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const doc = "a document that a newer set knows"
	old, release, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	before, res := clamdtest.DescribeAndScan(ctx, t, old, doc)
	if res.Status != clamd.StatusClean {
		t.Fatalf("first set: %+v, want clean", res)
	}

	publishKnowing(t, d, first, doc)
	refreshed := make(chan error, 1)
	go func() { refreshed <- s.Refresh(ctx) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-refreshed:
		t.Fatalf("the swap ended (%v) while a scan held the old clamd", err)
	default:
	}
	if _, err := os.Stat(oldDir + ".1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the new set's folder exists while the old clamd runs: %v", err)
	}
	// The held scan still answers with the old set.
	if info, res := clamdtest.DescribeAndScan(ctx, t, old, doc); res.Status != clamd.StatusClean || info.DBVersion != before.DBVersion {
		t.Fatalf("old lease: %+v with %q, want clean with %q", res, info.DBVersion, before.DBVersion)
	}
	release()
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(oldDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old set's folder is still there after the swap: %v", err)
	}
	now, release2, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	after, res := clamdtest.DescribeAndScan(ctx, t, now, doc)
	if res.Status != clamd.StatusFound || !slices.Contains(res.Signatures, "Scangate.Test.Retro.UNOFFICIAL") {
		t.Fatalf("new set: %+v, want the private signature found", res)
	}
	if after.DBVersion == before.DBVersion {
		t.Fatalf("both sets named %q", after.DBVersion)
	}
}

// A swap setting that is neither value fails the function's start.
func TestSignaturesSwapSetting(t *testing.T) {
	env := baseEnv(t)
	env[VarSignaturesSwap] = "both"
	_, stop, err := Config(t.Context(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	stop()
	if err == nil || !strings.Contains(err.Error(), VarSignaturesSwap) {
		t.Errorf("Config with %s=both: %v, want an error naming it", VarSignaturesSwap, err)
	}
}

// An environment that started before any set was published fails closed,
// then scans once a set is published and its check comes round: it is
// not stuck with its failed start until Lambda recycles it.
func TestScannerRecoversWhenASetIsPublished(t *testing.T) {
	t.Parallel()
	d, url := sigBucket(t)
	s := scanner(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := s.Describe(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("Describe with no set = %v, want ErrUnavailable", err)
	}
	if _, err := sigset.Publish(t.Context(), d, "sigs", testSignatures(t, time.Hour), sigset.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.Instream(ctx, strings.NewReader(clamdtest.EICAR))
	if err != nil || res.Status != clamd.StatusFound {
		t.Fatalf("Instream after the set was published = %+v, %v; want EICAR found", res, err)
	}
}

// The scan function logs its clamd's resident memory at every load: the
// real database's figure, against the proxy it was sized from.
func TestScannerLogsClamdMemory(t *testing.T) {
	t.Parallel()
	d, url := sigBucket(t)
	if _, err := sigset.Publish(t.Context(), d, "sigs", testSignatures(t, time.Hour), sigset.Options{}); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(t)
	env[VarClamAVDB] = filepath.Join(t.TempDir(), "signatures")
	env[VarClamdDir] = shortDir(t) + "/c"
	env[VarSignaturesBucket] = url
	var mu sync.Mutex
	var out bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cfg, stop, err := Config(t.Context(), func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(w, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if _, err := cfg.Scanner.Describe(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for line := range strings.Lines(out.String()) {
		var m struct {
			Msg    string
			RSSMiB int64 `json:"rssMiB"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "clamd ready" {
			if m.RSSMiB < 1 {
				t.Errorf("clamd ready with rssMiB %d: %s", m.RSSMiB, line)
			}
			return
		}
	}
	t.Errorf("no clamd ready line:\n%s", out.String())
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
