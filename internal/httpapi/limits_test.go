package httpapi_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/clamd/daemon"
	"github.com/scangate/scangate/lambdas"
)

// The limits every test in this file gives clamd: small, so that small
// uploads cross them.
const (
	limitScanSize  = 2 << 20
	limitRecursion = 3
	limitFiles     = 10
)

func limitsClamd() *clamdtest.Options {
	return &clamdtest.Options{
		MaxScanSize: limitScanSize, MaxFileSize: limitScanSize,
		MaxRecursion: limitRecursion, MaxFiles: limitFiles,
	}
}

// zeros writes n zero bytes to w a chunk at a time, never holding n bytes.
func zeros(t *testing.T, w io.Writer, n int64) {
	t.Helper()
	chunk := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
}

// zipStream returns a zip with one deflated member: n zero bytes, then tail.
func zipStream(t *testing.T, name string, n int64, tail []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	zeros(t, w, n)
	if _, err := w.Write(tail); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarGz returns a tar.gz with one member: n zero bytes, then tail.
func tarGz(t *testing.T, name string, n int64, tail []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: n + int64(len(tail)), ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	zeros(t, tw, n)
	if _, err := tw.Write(tail); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipOf returns a plain .gz of n zero bytes, then tail.
func gzipOf(t *testing.T, n int64, tail []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	zeros(t, gz, n)
	if _, err := gz.Write(tail); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sevenZip returns a 7z archive built by 7-Zip (p7zip-full, which make
// deps installs) of the members files gives, each written to a temporary
// directory first: Go has no 7z writer. extra are more 7z flags, such as
// -p for a password.
func sevenZip(t *testing.T, files map[string]func(io.Writer), extra ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("7z")
	if err != nil {
		t.Fatalf("7z is missing (make deps installs p7zip-full): %v", err)
	}
	dir := t.TempDir()
	var names []string
	for name, write := range files {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		write(f)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	out := filepath.Join(t.TempDir(), "out.7z")
	args := append([]string{"a", "-t7z", "-mx=9", "-bd", "-y"}, extra...)
	args = append(args, out)
	args = append(args, names...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("7z %v: %v\n%s", args, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// zeros7z returns a 7z with one member: n zero bytes, then tail.
func zeros7z(t *testing.T, n int64, tail []byte, extra ...string) []byte {
	t.Helper()
	return sevenZip(t, map[string]func(io.Writer){"zeros.bin": func(w io.Writer) {
		zeros(t, w, n)
		if _, err := w.Write(tail); err != nil {
			t.Fatal(err)
		}
	}}, extra...)
}

// members7z returns a 7z of n small text members.
func members7z(t *testing.T, n int) []byte {
	t.Helper()
	files := map[string]func(io.Writer){}
	for i := range n {
		files[fmt.Sprintf("f%03d.txt", i)] = func(w io.Writer) { fmt.Fprintf(w, "member %d\n", i) }
	}
	return sevenZip(t, files)
}

// nestedZips wraps content in depth zips.
func nestedZips(t *testing.T, content []byte, depth int) []byte {
	t.Helper()
	data := zipOf(t, "bottom.txt", content)
	for i := 1; i < depth; i++ {
		data = zipOf(t, fmt.Sprintf("level%d.zip", i), data)
	}
	return data
}

// zipMembers returns a zip of n small text members.
func zipMembers(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		w, err := zw.Create(fmt.Sprintf("f%03d.txt", i))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "file %d\n", i)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encryptedZipOf returns a zip whose one member is flagged as encrypted
// (general purpose bit 0, traditional PKWARE encryption): all clamd looks
// at. archive/zip cannot encrypt, so the "ciphertext" is random.
func encryptedZipOf(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	cipher := make([]byte, 12+32) // the 12-byte encryption header, then data
	rand.Read(cipher)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               "secret.txt",
		Method:             zip.Store,
		Flags:              0x1,
		CRC32:              crc32.ChecksumIEEE(cipher),
		CompressedSize64:   uint64(len(cipher)),
		UncompressedSize64: uint64(len(cipher) - 12),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(cipher); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Archives clamd cannot scan in full end unscannable, naming the limit,
// and (by the default policy) quarantined.
func TestArchiveLimitsEndUnscannable(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{clamd: limitsClamd()})
	tests := []struct {
		key    string
		body   []byte
		reason string
	}{
		{"limits/nested.zip", nestedZips(t, []byte("deep and harmless"), 2*limitRecursion), "limit-exceeded:MaxRecursion"},
		{"limits/zeros.zip", zipStream(t, "zeros.bin", 8<<20, nil), "limit-exceeded:MaxScanSize"},
		{"limits/many.zip", zipMembers(t, 5*limitFiles), "limit-exceeded:MaxFiles"},
		{"limits/encrypted.zip", encryptedZipOf(t), domain.ReasonEncrypted},
		{"limits/zeros.tar.gz", tarGz(t, "zeros.bin", 8<<20, nil), "limit-exceeded:MaxScanSize"},
		{"limits/zeros.gz", gzipOf(t, 8<<20, nil), "limit-exceeded:MaxScanSize"},
		{"limits/zeros.7z", zeros7z(t, 8<<20, nil), "limit-exceeded:MaxScanSize"},
		{"limits/many.7z", members7z(t, 5*limitFiles), "limit-exceeded:MaxFiles"},
		// -mhe encrypts the headers too: clamd cannot even list the members.
		{"limits/encrypted.7z", zeros7z(t, 1<<10, nil, "-psecret", "-mhe=on"), domain.ReasonEncrypted},
		{"limits/encrypted-data.7z", zeros7z(t, 1<<10, nil, "-psecret"), domain.ReasonEncrypted},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		if len(tt.body) > 1<<20 {
			t.Fatalf("%s: %d bytes; the test files must pack small", tt.key, len(tt.body))
		}
		ids[tt.key] = e.upload(tt.key, tt.body).ID
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			rec := e.wait(ids[tt.key])
			if rec.State.Readable() {
				t.Fatalf("state %s: an archive scanned in part must not be readable", rec.State)
			}
			e.assertQuarantined(rec)
			if rec.Verdict == nil || rec.Verdict.Outcome != domain.OutcomeUnscannable || rec.Verdict.Reason != tt.reason {
				t.Errorf("verdict %+v; want unscannable, %s", rec.Verdict, tt.reason)
			}
			t.Logf("%s (%d bytes packed): reason %q, clamd alert %v", tt.key, len(tt.body), rec.Verdict.Reason, rec.Verdict.Signatures)
		})
	}
}

// A member over MaxFileSize that packs small, with EICAR at its end, is
// never clean: clamd either stops at a limit or finds EICAR.
func TestEICARPastFileSizeLimitNeverClean(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{clamd: limitsClamd()})
	const n = limitScanSize + 1<<20 // the member: 3 MiB of zeros, then EICAR
	tests := []struct {
		key  string
		body []byte
	}{
		{"late/eicar.zip", zipStream(t, "big.bin", n, clamdtest.EICARBytes())},
		{"late/eicar.tar.gz", tarGz(t, "big.bin", n, clamdtest.EICARBytes())},
		{"late/eicar.gz", gzipOf(t, n, clamdtest.EICARBytes())},
		{"late/eicar.7z", zeros7z(t, n, clamdtest.EICARBytes())},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		ids[tt.key] = e.upload(tt.key, tt.body).ID
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			rec := e.wait(ids[tt.key])
			if rec.State == domain.StatusClean || rec.State.Readable() {
				t.Fatalf("state %s (verdict %+v): EICAR past MaxFileSize must never be readable", rec.State, rec.Verdict)
			}
			e.assertQuarantined(rec)
			t.Logf("%s (%d bytes packed): state %s, outcome %s, reason %q, signatures %v",
				tt.key, len(tt.body), rec.State, rec.Verdict.Outcome, rec.Verdict.Reason, rec.Verdict.Signatures)
		})
	}
}

// killingScanner kills clamd with SIGKILL in the middle of its first
// stream, once after bytes have been read, and holds that stream until the
// supervisor's new clamd answers, so that the retry meets a working clamd.
type killingScanner struct {
	lambdas.Scanner
	t     *testing.T
	d     *daemon.Daemon
	after int64

	calls    atomic.Int64
	mu       sync.Mutex
	firstErr error
	firstRes clamd.Result
}

func (k *killingScanner) Instream(ctx context.Context, r io.Reader) (clamd.Result, error) {
	if k.calls.Add(1) > 1 {
		return k.Scanner.Instream(ctx, r)
	}
	res, err := k.Scanner.Instream(ctx, &killingReader{r: r, k: k})
	k.mu.Lock()
	k.firstRes, k.firstErr = res, err
	k.mu.Unlock()
	return res, err
}

type killingReader struct {
	r      io.Reader
	k      *killingScanner
	n      int64
	killed bool
}

func (kr *killingReader) Read(p []byte) (int, error) {
	if !kr.killed && kr.n >= kr.k.after {
		kr.killed = true
		done := make(chan error, 1)
		go func() { done <- kr.k.d.Kill() }()
		if err := <-done; err != nil {
			return 0, err
		}
		kr.k.awaitRestart()
	}
	n, err := kr.r.Read(p)
	kr.n += int64(n)
	return n, err
}

// awaitRestart waits until the supervisor restarted clamd and the new one
// answers PING.
func (k *killingScanner) awaitRestart() {
	c, err := clamd.New(k.d.Addr(), clamd.Options{DialTimeout: time.Second, IOTimeout: time.Second})
	if err != nil {
		k.t.Error(err)
		return
	}
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if k.d.Restarts() >= 1 && c.Ping(context.Background()) == nil {
			k.t.Logf("clamd answered PING %v after SIGKILL", time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	k.t.Errorf("clamd not back 30s after SIGKILL (restarts %d)", k.d.Restarts())
}

// clamd dies with SIGKILL mid-stream: the stream gives no verdict, the
// object is never clean meanwhile, the workflow retries the Scan step
// against the restarted clamd, and the verdict is the right one.
func TestClamdKilledMidStream(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		infected bool
	}{{"eicar at the end", true}, {"clean body", false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := clamdtest.Start(t, nil)
			e := setup(t, setupOpts{clamdAddr: d.Addr(), noCache: true})
			ks := &killingScanner{Scanner: e.scanner.Scanner, t: t, d: d, after: 1 << 20}
			// No scan runs yet: the workflows read the scanner only once an
			// upload starts one.
			e.scanner.Scanner = ks

			body := bytes.Repeat([]byte("scangate "), (4<<20)/9)
			if tt.infected {
				body = append(body, clamdtest.EICARBytes()...)
			}
			rec := e.upload("killed/"+strings.ReplaceAll(tt.name, " ", "-"), body)

			// Watch the record: nothing is clean before the retry's stream.
			stop := make(chan struct{})
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				for {
					select {
					case <-stop:
						return
					default:
					}
					calls := ks.calls.Load()
					got, err := e.st.Get(context.Background(), rec.ID)
					if err == nil && got.State == domain.StatusClean && (tt.infected || calls < 2) {
						t.Errorf("record clean during the killed stream (calls %d, verdict %+v)", calls, got.Verdict)
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
			}()
			final := e.wait(rec.ID)
			close(stop)
			<-watched

			ks.mu.Lock()
			firstRes, firstErr := ks.firstRes, ks.firstErr
			ks.mu.Unlock()
			if firstErr == nil || firstRes.Clean() {
				t.Errorf("killed stream: %+v, %v; want an error and no verdict", firstRes, firstErr)
			}
			if !errors.Is(firstErr, clamd.ErrUnavailable) {
				t.Errorf("killed stream's error %v; want clamd.ErrUnavailable", firstErr)
			}
			t.Logf("killed stream: %v", firstErr)
			if n := ks.calls.Load(); n < 2 {
				t.Errorf("clamd saw %d streams; want the Scan step retried", n)
			}
			if n := d.Restarts(); n < 1 {
				t.Errorf("restarts %d; want the supervisor to restart clamd", n)
			}
			if tt.infected {
				e.assertQuarantined(final)
				if !slices.Contains(final.Verdict.Signatures, clamdtest.EICARSignature) {
					t.Errorf("signatures %v; want %s", final.Verdict.Signatures, clamdtest.EICARSignature)
				}
			} else {
				e.assertClean(final)
			}
			if n := countEvents(final); n["fail"] != 0 {
				t.Errorf("history events %v; want no failure", n)
			}
			t.Logf("streams %d, restarts %d, history events %v", ks.calls.Load(), d.Restarts(), countEvents(final))
		})
	}
}

// Every clamav-testfiles file gets the same detection through the pipeline
// as from raw clamd.
func TestParityWithRawClamd(t *testing.T) {
	t.Parallel()
	d := clamdtest.Start(t, nil)
	e := setup(t, setupOpts{clamdAddr: d.Addr(), noCache: true})
	raw := clamdtest.Client(t, d, clamd.Options{})
	entries, err := os.ReadDir(clamdtest.TestFilesDir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	ids := map[string]string{}
	for _, ent := range entries {
		b, err := os.ReadFile(filepath.Join(clamdtest.TestFilesDir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		res, err := raw.Instream(context.Background(), bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: raw clamd: %v", ent.Name(), err)
		}
		if res.Status != clamd.StatusFound {
			t.Errorf("%s: raw clamd %q; want a detection", ent.Name(), res.Raw)
		}
		want[ent.Name()] = res.Signatures
		ids[ent.Name()] = e.upload("parity/"+ent.Name(), b).ID
	}
	if len(ids) == 0 {
		t.Fatal("no test files")
	}
	for name, id := range ids {
		rec := e.wait(id)
		if rec.Verdict == nil {
			t.Errorf("%s: no verdict; state %s", name, rec.State)
			continue
		}
		if !slices.Equal(rec.Verdict.Signatures, want[name]) {
			t.Errorf("%s: pipeline %v (%s), raw clamd %v", name, rec.Verdict.Signatures, rec.State, want[name])
		}
		if rec.State.Readable() {
			t.Errorf("%s: state %s; a detected file must not be readable", name, rec.State)
		}
	}
}
