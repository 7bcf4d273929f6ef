package s3obj_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/objectstest"
	"github.com/scangate/scangate/objects/s3obj"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bucketSeq makes bucket names unique within the test binary; every
// gateway is fresh, so they need not be unique across runs.
var bucketSeq atomic.Int64

// gateway is one versitygw with a client, shared by a top-level test's
// subtests.
type gateway struct {
	svc    *testsvc.S3
	client *s3.Client
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	svc := testsvc.VersityGW(t, nil)
	return &gateway{svc: svc, client: svc.Client(t)}
}

// bucket creates a fresh bucket.
func (g *gateway) bucket(t *testing.T, versioned bool) string {
	t.Helper()
	name := fmt.Sprintf("b%d-%s", bucketSeq.Add(1), map[bool]string{true: "ver", false: "unver"}[versioned])
	g.svc.CreateBucket(t, g.client, name, versioned)
	return name
}

func (g *gateway) driver(t *testing.T, opts *s3obj.Options) *s3obj.Driver {
	t.Helper()
	d, err := s3obj.New(g.client, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func TestConformance(t *testing.T) {
	g := startGateway(t)
	for _, versioned := range []bool{true, false} {
		name := "s3/unversioned"
		if versioned {
			name = "s3/versioned"
		}
		t.Run(name, func(t *testing.T) {
			objectstest.RunConformanceTests(t, objectstest.Harness{
				New: func(t *testing.T) (objects.Driver, objectstest.Buckets) {
					b := objectstest.Buckets{Main: g.bucket(t, versioned), Quarantine: g.bucket(t, versioned)}
					return &posixKeys{Driver: g.driver(t, nil)}, b
				},
				Versioned: versioned,
			})
		})
	}
}

// posixKeys adapts the driver to limits of versitygw's posix backend,
// which stores every key as a file path. It refuses a path segment longer
// than 255 bytes (KeyTooLongError) and a key ending in "/" that has data
// (DirectoryObjectContainsData), and it reads "a//b" as the path a/b,
// which is a folder once "a/b/c" exists; real S3 takes all of these as
// distinct keys. The suite's KeysKeepTheirNames uses five such keys. This
// wrapper gives them stand-in names on the wire and restores the real key
// in every ref and Info it returns. All other keys, including those with
// spaces, '%', '+', '?', '#', backslashes and non-ASCII text, reach the
// gateway as they are. TestVersityGWKeyLimits shows the driver's error for
// the raw keys.
type posixKeys struct {
	*s3obj.Driver
	mu    sync.Mutex
	names map[string]string // stand-in → real key
}

func posixUnsafe(key string) bool {
	if objects.ValidateKey(key) != nil {
		return false // the driver must see it, to refuse it
	}
	if strings.HasSuffix(key, "/") || strings.Contains(key, "//") {
		return true
	}
	for _, seg := range strings.Split(key, "/") {
		if len(seg) > 255 {
			return true
		}
	}
	return false
}

func (p *posixKeys) wire(key string) string {
	if !posixUnsafe(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	w := "posix-stand-in/" + hex.EncodeToString(sum[:16])
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.names == nil {
		p.names = map[string]string{}
	}
	p.names[w] = key
	return w
}

func (p *posixKeys) real(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.names[key]; ok {
		return k
	}
	return key
}

func (p *posixKeys) in(ref domain.ObjectRef) domain.ObjectRef {
	ref.Key = p.wire(ref.Key)
	return ref
}

func (p *posixKeys) out(ref domain.ObjectRef) domain.ObjectRef {
	ref.Key = p.real(ref.Key)
	return ref
}

func (p *posixKeys) Open(ctx context.Context, ref domain.ObjectRef) (io.ReadCloser, objects.Info, error) {
	rc, info, err := p.Driver.Open(ctx, p.in(ref))
	info.Ref = p.out(info.Ref)
	return rc, info, err
}

func (p *posixKeys) Head(ctx context.Context, ref domain.ObjectRef) (objects.Info, error) {
	info, err := p.Driver.Head(ctx, p.in(ref))
	info.Ref = p.out(info.Ref)
	return info, err
}

func (p *posixKeys) Put(ctx context.Context, bucket, key string, r io.Reader, opts objects.PutOptions) (domain.ObjectRef, error) {
	ref, err := p.Driver.Put(ctx, bucket, p.wire(key), r, opts)
	return p.out(ref), err
}

func (p *posixKeys) Tags(ctx context.Context, ref domain.ObjectRef) (map[string]string, error) {
	return p.Driver.Tags(ctx, p.in(ref))
}

func (p *posixKeys) SetTags(ctx context.Context, ref domain.ObjectRef, tags map[string]string) error {
	return p.Driver.SetTags(ctx, p.in(ref), tags)
}

func (p *posixKeys) Copy(ctx context.Context, src domain.ObjectRef, dstBucket, dstKey string, opts objects.PutOptions) (domain.ObjectRef, error) {
	ref, err := p.Driver.Copy(ctx, p.in(src), dstBucket, p.wire(dstKey), opts)
	return p.out(ref), err
}

func (p *posixKeys) Delete(ctx context.Context, ref domain.ObjectRef) error {
	return p.Driver.Delete(ctx, p.in(ref))
}

// TestVersityGWKeyLimits pins down what posixKeys works around: versitygw
// refuses keys real S3 takes, and the driver reports that as Invalid, with
// nothing stored.
func TestVersityGWKeyLimits(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, nil)
	b := g.bucket(t, true)
	for _, key := range []string{strings.Repeat("k", objects.MaxKeyLen), "dir/"} {
		_, err := d.Put(t.Context(), b, key, strings.NewReader("x"), objects.PutOptions{})
		if got := errcode.Of(err); got != errcode.Invalid {
			t.Errorf("Put(%.20q…) on versitygw: error %v has code %v, want Invalid", key, err, got)
		}
	}
}

func kind(versioned bool) string {
	if versioned {
		return "versioned"
	}
	return "unversioned"
}

// stream returns n deterministic pseudo-random bytes, made as they are read.
func stream(seed uint64, n int64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// content returns n deterministic pseudo-random bytes.
func content(seed uint64, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(stream(seed, int64(n)), b); err != nil {
		panic(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func mustPut(t *testing.T, d objects.Driver, bucket, key string, data []byte, opts objects.PutOptions) domain.ObjectRef {
	t.Helper()
	ref, err := d.Put(t.Context(), bucket, key, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Put(%s/%s): %v", bucket, key, err)
	}
	return ref
}

func mustHead(t *testing.T, d objects.Driver, ref domain.ObjectRef) objects.Info {
	t.Helper()
	info, err := d.Head(t.Context(), ref)
	if err != nil {
		t.Fatalf("Head(%v): %v", ref, err)
	}
	return info
}

func mustRead(t *testing.T, d objects.Driver, ref domain.ObjectRef) ([]byte, objects.Info) {
	t.Helper()
	rc, info, err := d.Open(t.Context(), ref)
	if err != nil {
		t.Fatalf("Open(%v): %v", ref, err)
	}
	defer rc.Close()
	b, err := readAll(rc, info.Ref.Size)
	if err != nil {
		t.Fatalf("reading %v: %v", ref, err)
	}
	return b, info
}

// readAll reads r to its end, expecting about size bytes. Unlike
// io.ReadAll it allocates once, which matters under -race.
func readAll(r io.Reader, size int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(size) + bytes.MinRead)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func mustTags(t *testing.T, d objects.Driver, ref domain.ObjectRef) map[string]string {
	t.Helper()
	tags, err := d.Tags(t.Context(), ref)
	if err != nil {
		t.Fatalf("Tags(%v): %v", ref, err)
	}
	return tags
}

func wantCode(t *testing.T, err error, want errcode.Code, what string) {
	t.Helper()
	if got := errcode.Of(err); got != want || err == nil {
		t.Errorf("%s: error %v has code %v, want %v", what, err, got, want)
	}
}

// TestMultipartCopy quarantines and restores an object above a small
// MultipartCopyThreshold, so that both copies go part by part, and checks
// that bytes, Content-Type, metadata and tags survive and that exactly one
// version moves.
func TestMultipartCopy(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, &s3obj.Options{MultipartCopyThreshold: 8 << 20, PartSize: 5 << 20})
	for _, versioned := range []bool{true, false} {
		t.Run(kind(versioned), func(t *testing.T) {
			ctx := t.Context()
			main, quarantine := g.bucket(t, versioned), g.bucket(t, versioned)
			key := "uploads/big résumé.bin"
			var v1 domain.ObjectRef
			if versioned {
				v1 = mustPut(t, d, main, key, []byte("clean"), objects.PutOptions{})
			}
			data := content(11, 20<<20)
			owner := map[string]string{"owner": "zoë", "dept": "r&d"}
			ref := mustPut(t, d, main, key, data, objects.PutOptions{
				ContentType: "application/x-big",
				Metadata:    owner,
				Tags:        map[string]string{"owner": "zoë"},
			})

			q, err := objects.Quarantine(ctx, d, ref, quarantine, "q/"+ref.ID(), map[string]string{"scangate-record": ref.ID()})
			if err != nil {
				t.Fatalf("Quarantine: %v", err)
			}
			// 20 MiB in 5 MiB parts: a multipart ETag of 4 parts.
			if !strings.HasSuffix(q.ETag, `-4"`) {
				t.Errorf("quarantined copy ETag %s, want one of a 4-part multipart copy", q.ETag)
			}
			got, qi := mustRead(t, d, q)
			if !bytes.Equal(got, data) {
				t.Errorf("quarantined copy read %d bytes that differ from the %d uploaded", len(got), len(data))
			}
			wantMeta := map[string]string{
				"owner": "zoë", "dept": "r&d", "scangate-record": ref.ID(),
				objects.MetaOriginalBucket: main, objects.MetaOriginalKey: url.PathEscape(key),
				objects.MetaOriginalVersion: ref.VersionID, objects.MetaOriginalETag: strings.Trim(ref.ETag, `"`),
			}
			if diff := cmp.Diff(qi.Metadata, wantMeta); diff != "" {
				t.Errorf("quarantined copy metadata (-got +want):\n%s", diff)
			}
			if qi.ContentType != "application/x-big" || qi.SHA256 != "" {
				t.Errorf("quarantined copy: content type %q, SHA256 %q; want application/x-big and none (multipart)", qi.ContentType, qi.SHA256)
			}
			if diff := cmp.Diff(mustTags(t, d, q), map[string]string{"owner": "zoë", objects.TagStatus: "quarantined"}); diff != "" {
				t.Errorf("quarantined copy tags (-got +want):\n%s", diff)
			}
			// Exactly one version left the key.
			_, err = d.Head(ctx, ref)
			wantCode(t, err, errcode.NotFound, "Head of the quarantined version")
			if versioned {
				if b, info := mustRead(t, d, domain.ObjectRef{Bucket: main, Key: key}); string(b) != "clean" || info.Ref.VersionID != v1.VersionID {
					t.Errorf("latest after quarantine is %q (version %s), want v1 %q", b, info.Ref.VersionID, v1.VersionID)
				}
			}

			r, err := objects.Restore(ctx, d, q, main, key, map[string]string{objects.TagStatus: "released"}, nil, nil)
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			got, ri := mustRead(t, d, r)
			if !bytes.Equal(got, data) {
				t.Errorf("restored object differs from the upload")
			}
			if diff := cmp.Diff(ri.Metadata, owner); diff != "" || ri.ContentType != "application/x-big" {
				t.Errorf("restored content type %q, metadata (-got +want):\n%s", ri.ContentType, diff)
			}
			if diff := cmp.Diff(mustTags(t, d, r), map[string]string{"owner": "zoë", objects.TagStatus: "released"}); diff != "" {
				t.Errorf("restored tags (-got +want):\n%s", diff)
			}
			_, err = d.Head(ctx, q)
			wantCode(t, err, errcode.NotFound, "Head of the quarantined copy after Restore")
			if versioned {
				if b, _ := mustRead(t, d, v1); string(b) != "clean" {
					t.Errorf("v1 reads %q after restore", b)
				}
			}
		})
	}
}

// TestCopyOntoItself checks that a copy onto its own key in a versioned
// bucket makes a new version and leaves the source version as it was
// (versitygw would rewrite it in place with CopyObject).
func TestCopyOntoItself(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, nil)
	b := g.bucket(t, true)
	for _, size := range []int{0, 1 << 20} {
		key := fmt.Sprintf("self-%d", size)
		data := content(3, size)
		src := mustPut(t, d, b, key, data, objects.PutOptions{ContentType: "text/a", Metadata: map[string]string{"v": "1"}})
		dst, err := d.Copy(t.Context(), src, b, key, objects.PutOptions{Metadata: map[string]string{"v": "2"}})
		if err != nil {
			t.Fatalf("Copy onto itself: %v", err)
		}
		if dst.VersionID == src.VersionID || dst.Size != int64(size) {
			t.Errorf("copy onto itself = %+v, want a new version of %d bytes", dst, size)
		}
		si := mustHead(t, d, src)
		if si.Metadata["v"] != "1" || si.ContentType != "text/a" || si.Ref.ETag != src.ETag {
			t.Errorf("source version changed by the copy: %+v", si)
		}
		got, di := mustRead(t, d, dst)
		if !bytes.Equal(got, data) || di.Metadata["v"] != "2" || di.ContentType != "text/a" {
			t.Errorf("copy reads %d bytes, metadata %v, content type %q", len(got), di.Metadata, di.ContentType)
		}
	}
}

// TestOverwriteWhileReading: a stream opened on v1 keeps yielding v1's
// bytes while v2 is written; afterwards v1's ref still names v1 (versioned)
// or is refused as Changed (unversioned).
func TestOverwriteWhileReading(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, nil)
	for _, versioned := range []bool{true, false} {
		t.Run(kind(versioned), func(t *testing.T) {
			ctx := t.Context()
			b := g.bucket(t, versioned)
			key := "race/doc.bin"
			one, two := content(21, 24<<20), content(22, 24<<20)
			v1 := mustPut(t, d, b, key, one, objects.PutOptions{Metadata: map[string]string{"n": "1"}})
			rc, info, err := d.Open(ctx, v1)
			if err != nil {
				t.Fatalf("Open(v1): %v", err)
			}
			defer rc.Close()
			head := make([]byte, 1<<20)
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatalf("reading v1's first MiB: %v", err)
			}
			v2 := mustPut(t, d, b, key, two, objects.PutOptions{Metadata: map[string]string{"n": "2"}})
			rest, err := readAll(rc, info.Ref.Size)
			if err != nil {
				t.Fatalf("reading the rest of v1 after v2 was written: %v", err)
			}
			if got := append(head, rest...); !bytes.Equal(got, one) {
				t.Errorf("the stream opened on v1 read %d bytes that are not v1's", len(got))
			}
			if info.Ref.ETag != v1.ETag {
				t.Errorf("Open(v1) Info ETag %s, want %s", info.Ref.ETag, v1.ETag)
			}
			if latest := mustHead(t, d, domain.ObjectRef{Bucket: b, Key: key}); latest.Ref.ETag != v2.ETag {
				t.Errorf("latest has ETag %s, want v2's %s", latest.Ref.ETag, v2.ETag)
			}

			if versioned {
				hi := mustHead(t, d, v1)
				if hi.Ref.VersionID != v1.VersionID || hi.Ref.ETag != v1.ETag || hi.Metadata["n"] != "1" {
					t.Errorf("Head(v1) after v2 = %+v, want v1", hi)
				}
				if got, _ := mustRead(t, d, v1); !bytes.Equal(got, one) {
					t.Errorf("Open(v1) after v2 read other bytes")
				}
				return
			}
			stale := domain.ObjectRef{Bucket: b, Key: key, ETag: v1.ETag}
			_, _, err = d.Open(ctx, stale)
			wantCode(t, err, errcode.Changed, "Open with v1's ETag after v2")
			_, err = d.Head(ctx, stale)
			wantCode(t, err, errcode.Changed, "Head with v1's ETag after v2")
			if got, _ := mustRead(t, d, v2); !bytes.Equal(got, two) {
				t.Errorf("Open(v2) read other bytes")
			}
		})
	}
}

// memWatch samples the heap while an operation runs.
type memWatch struct {
	start runtime.MemStats
	peak  atomic.Uint64
	stop  chan struct{}
	done  chan struct{}
}

func watchMemory() *memWatch {
	w := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.GC()
	runtime.ReadMemStats(&w.start)
	w.peak.Store(w.start.HeapAlloc)
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > w.peak.Load() {
					w.peak.Store(m.HeapAlloc)
				}
			}
		}
	}()
	return w
}

// end returns the bytes allocated since the start and the peak growth of
// the live heap.
func (w *memWatch) end() (total, peak int64) {
	close(w.stop)
	<-w.done
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	p := max(w.peak.Load(), m.HeapAlloc)
	return int64(m.TotalAlloc - w.start.TotalAlloc), int64(p) - int64(w.start.HeapAlloc)
}

// TestLargeObjectStreaming stores and reads a 256 MiB object that is never
// in memory: made as it is uploaded, hashed as it is read. Heap use stays
// near one upload part.
func TestLargeObjectStreaming(t *testing.T) {
	const (
		size  = 256 << 20
		limit = 32 << 20
	)
	g := startGateway(t)
	d := g.driver(t, nil)
	b := g.bucket(t, true)
	ctx := t.Context()

	want := sha256.New()
	start := time.Now()
	w := watchMemory()
	ref, err := d.Put(ctx, b, "large.bin", io.TeeReader(stream(31, size), want), objects.PutOptions{})
	total, peak := w.end()
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	t.Logf("Put of %d MiB: %.1fs, allocated %.1f MiB in all, live heap grew at most %.1f MiB",
		size>>20, time.Since(start).Seconds(), float64(total)/(1<<20), float64(peak)/(1<<20))
	if total > limit || peak > limit {
		t.Errorf("Put allocated %d bytes, heap peak +%d, want both under %d", total, peak, limit)
	}
	if ref.Size != size {
		t.Errorf("Put returned size %d, want %d", ref.Size, size)
	}

	got := sha256.New()
	start = time.Now()
	w = watchMemory()
	rc, info, err := d.Open(ctx, ref)
	if err != nil {
		w.end()
		t.Fatalf("Open: %v", err)
	}
	n, err := io.Copy(got, rc)
	rc.Close()
	total, peak = w.end()
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	t.Logf("Open and read of %d MiB: %.1fs, allocated %.1f MiB in all, live heap grew at most %.1f MiB",
		size>>20, time.Since(start).Seconds(), float64(total)/(1<<20), float64(peak)/(1<<20))
	if total > limit || peak > limit {
		t.Errorf("reading allocated %d bytes, heap peak +%d, want both under %d", total, peak, limit)
	}
	if n != size || info.Ref.Size != size {
		t.Errorf("read %d bytes, Info says %d, want %d", n, info.Ref.Size, size)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("the bytes read differ from the bytes written")
	}
}

// TestSHA256 checks that Info.SHA256 is reported exactly when S3 vouches
// for the whole object's SHA-256.
func TestSHA256(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, &s3obj.Options{UploadPartSize: 5 << 20})
	b := g.bucket(t, true)
	ctx := t.Context()

	// One PutObject, including a stream of exactly one part (read ahead
	// by a byte to learn that it ends there), and a CopyObject: S3 stores
	// a FULL_OBJECT SHA-256.
	for _, size := range []int{0, 13, 5 << 20} {
		data := content(41, size)
		ref, err := d.Put(ctx, b, fmt.Sprintf("single-%d", size), io.MultiReader(bytes.NewReader(data)), objects.PutOptions{})
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if strings.Contains(ref.ETag, "-") {
			t.Errorf("%d bytes were uploaded in parts (ETag %s), want one PutObject", size, ref.ETag)
		}
		if got := mustHead(t, d, ref).SHA256; got != sha256Hex(data) {
			t.Errorf("Head of a %d-byte PutObject: SHA256 %q, want %q", size, got, sha256Hex(data))
		}
		if _, info := mustRead(t, d, ref); info.SHA256 != sha256Hex(data) {
			t.Errorf("Open of a %d-byte PutObject: SHA256 %q, want %q", size, info.SHA256, sha256Hex(data))
		}
		c, err := d.Copy(ctx, ref, b, fmt.Sprintf("copy-%d", size), objects.PutOptions{})
		if err != nil {
			t.Fatalf("Copy: %v", err)
		}
		if got := mustHead(t, d, c).SHA256; got != sha256Hex(data) {
			t.Errorf("Head of a CopyObject copy: SHA256 %q, want %q", got, sha256Hex(data))
		}
	}

	// A multipart upload has a COMPOSITE SHA-256, a hash of the parts'
	// hashes: S3 returns it, and the driver must not pass it off as the
	// object's.
	data := content(42, 5<<20+1)
	ref := mustPut(t, d, b, "multipart", data, objects.PutOptions{})
	if !strings.HasSuffix(ref.ETag, `-2"`) {
		t.Errorf("5 MiB + 1 byte with 5 MiB parts gave ETag %s, want a 2-part upload", ref.ETag)
	}
	raw, err := g.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(b), Key: aws.String("multipart"), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatal(err)
	}
	if raw.ChecksumSHA256 == nil || raw.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("S3 answered SHA-256 %v of type %q for a multipart upload; the test expects a COMPOSITE one", aws.ToString(raw.ChecksumSHA256), raw.ChecksumType)
	}
	if got := mustHead(t, d, ref).SHA256; got != "" {
		t.Errorf("Head of a multipart upload: SHA256 %q, want none", got)
	}
	if _, info := mustRead(t, d, ref); info.SHA256 != "" {
		t.Errorf("Open of a multipart upload: SHA256 %q, want none", info.SHA256)
	}

	// A CopyObject of that multipart object asks for a SHA-256 of the
	// copy, and S3 computes a FULL_OBJECT one over the bytes: a
	// quarantined copy has the hash its original lacked.
	c, err := d.Copy(ctx, ref, b, "multipart-copy", objects.PutOptions{})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if got := mustHead(t, d, c).SHA256; got != sha256Hex(data) {
		t.Errorf("Head of a CopyObject of a multipart object: SHA256 %q, want the bytes' %q", got, sha256Hex(data))
	}

	// An upload by another client without a SHA-256 (S3 adds a CRC).
	if _, err := g.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b), Key: aws.String("crc"), Body: strings.NewReader("crc only"),
	}); err != nil {
		t.Fatal(err)
	}
	if got := mustHead(t, d, domain.ObjectRef{Bucket: b, Key: "crc"}).SHA256; got != "" {
		t.Errorf("Head of an object with no SHA-256: SHA256 %q, want none", got)
	}
}

// TestMetadataRoundTrip stores metadata values that HTTP headers cannot
// carry as they are, and reads them back exactly, also through a copy.
func TestMetadataRoundTrip(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, nil)
	b := g.bucket(t, false)
	ctx := t.Context()
	md := map[string]string{
		"latin":     "naïve résumé",
		"cjk":       "報告書/文件.pdf",
		"emoji":     "😀 ok",
		"lead":      " leading",
		"trail":     "trailing ",
		"spaces":    "  ",
		"ascii":     "plain; a=b, c?d & 100%",
		"marker":    "a=?b",
		"long":      strings.Repeat("ü", 300),
		"mixedcase": "Ünïcödé",
	}
	ref := mustPut(t, d, b, "meta", []byte("x"), objects.PutOptions{Metadata: md})
	if diff := cmp.Diff(mustHead(t, d, ref).Metadata, md); diff != "" {
		t.Errorf("Head metadata (-got +want):\n%s", diff)
	}
	if _, info := mustRead(t, d, ref); !cmp.Equal(info.Metadata, md) {
		t.Errorf("Open metadata %v, want %v", info.Metadata, md)
	}
	c, err := d.Copy(ctx, ref, b, "meta-copy", objects.PutOptions{Metadata: md})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if diff := cmp.Diff(mustHead(t, d, c).Metadata, md); diff != "" {
		t.Errorf("copy metadata (-got +want):\n%s", diff)
	}
	// On the wire every value is printable US-ASCII.
	raw, err := g.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("meta")})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range raw.Metadata {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				t.Errorf("stored value of %s is not printable ASCII: %q", k, v)
				break
			}
		}
	}
	if raw.Metadata["ascii"] != md["ascii"] {
		t.Errorf("plain ASCII value stored as %q, want it unencoded", raw.Metadata["ascii"])
	}
	// Refused before anything is sent, as the local driver refuses them.
	for name, bad := range map[string]map[string]string{
		"control":   {"x": "a\nb"},
		"name":      {"bad name": "x"},
		"too large": {"big": strings.Repeat("x", 2048)},
	} {
		_, err := d.Put(ctx, b, "meta-bad", strings.NewReader("x"), objects.PutOptions{Metadata: bad})
		wantCode(t, err, errcode.Invalid, "Put with bad metadata: "+name)
	}
}

// TestCancelMultipartPut cancels a Put after it began a multipart upload:
// nothing is stored and the upload is aborted.
func TestCancelMultipartPut(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, &s3obj.Options{UploadPartSize: 5 << 20})
	b := g.bucket(t, true)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancelAfter{r: stream(51, 64<<20), n: 12 << 20, cancel: cancel}
	_, err := d.Put(ctx, b, "cancelled", r, objects.PutOptions{})
	if !errors.Is(err, context.Canceled) || errcode.Of(err) != errcode.Unavailable {
		t.Errorf("cancelled Put: error %v, want Unavailable wrapping context.Canceled", err)
	}
	if r.read > 20<<20 {
		t.Errorf("Put read %d bytes, more than a part past the cancellation", r.read)
	}
	_, err = d.Head(t.Context(), domain.ObjectRef{Bucket: b, Key: "cancelled"})
	wantCode(t, err, errcode.NotFound, "Head after a cancelled Put")
	ups, err := g.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left after a cancelled Put, want 0 (aborted)", len(ups.Uploads))
	}
}

type cancelAfter struct {
	r      io.Reader
	n      int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.read >= c.n {
		c.cancel()
	}
	return n, err
}

// TestVersityGWEvents checks the gateway's event webhook, which the
// pipeline's tests build on: the driver's uploads, tagging and deletes
// arrive as S3-notification-style records.
func TestVersityGWEvents(t *testing.T) {
	type record struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	}
	events := make(chan record, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Records []record }
		if err := json.NewDecoder(r.Body).Decode(&body); err == nil {
			for _, rec := range body.Records {
				select {
				case events <- rec:
				default:
				}
			}
		}
	}))
	defer hook.Close()
	// The webhook listens before the gateway starts, which sends it a test
	// event and exits if that fails.
	svc := testsvc.VersityGW(t, &testsvc.VersityGWOptions{EventWebhookURL: hook.URL})
	g := &gateway{svc: svc, client: svc.Client(t)}
	d := g.driver(t, nil)
	b := g.bucket(t, true)
	ref := mustPut(t, d, b, "events/doc.txt", []byte("x"), objects.PutOptions{})
	if err := d.SetTags(t.Context(), ref, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	// Unlike S3, versitygw 1.8.0 prefixes event names with "s3:", quotes
	// the eTag, sends "versionId": null in versioned buckets and a decimal
	// sequencer, and names the key in the bucket's ARN. A parser of S3
	// events sees none of that from S3.
	want := []string{"s3:ObjectCreated:Put", "s3:ObjectTagging:Put", "s3:ObjectRemoved:Delete"}
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case rec := <-events:
			if rec.S3.Bucket.Name == b && rec.S3.Object.Key == "events/doc.txt" {
				got = append(got, rec.EventName)
			}
		case <-timeout:
			t.Fatalf("events %v after 10s, want %v", got, want)
		}
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
}
