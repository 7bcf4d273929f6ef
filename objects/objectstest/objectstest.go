// Package objectstest is the conformance suite for objects.Driver. Every
// driver runs it through a small Harness, so that the local-directory driver
// of the embedded default cannot drift from the S3 driver in production.
//
//	func TestConformance(t *testing.T) {
//		t.Run("mydriver", func(t *testing.T) {
//			objectstest.RunConformanceTests(t, objectstest.Harness{
//				New:       newDriver,
//				Versioned: true,
//			})
//		})
//	}
//
// The suite covers both kinds of bucket. In a versioned bucket every Put
// returns a VersionID that pins the version. In an unversioned bucket refs
// carry no VersionID; the ETag identifies the content, and a newer Put
// replaces the object. Tests of version history run only when versioned.
//
// Beyond objects.Driver, the suite pins down two choices that the interface
// leaves open: an ETag in a ref matches with or without its double quotes
// (S3 event notifications carry it unquoted), and Copy keeps the source's
// Content-Type when the options name none. Metadata values, including
// non-ASCII ones such as the scangate-original-key of a Unicode key, must
// round-trip exactly; names are given in lowercase.
package objectstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
)

// Buckets names two buckets that exist when Harness.New returns.
type Buckets struct {
	// Main is where uploads land.
	Main string
	// Quarantine receives quarantined copies.
	Quarantine string
}

// Harness tells the suite how to test one driver. Zero values of the
// optional fields mean the defaults.
type Harness struct {
	// New returns a fresh driver and two empty buckets, and registers any
	// cleanup with t.Cleanup. It is called once per test, possibly from
	// parallel tests.
	New func(t *testing.T) (objects.Driver, Buckets)

	// Versioned says the buckets keep versions and Put returns VersionIDs.
	Versioned bool

	// LargeSize is the size of the object in the streaming test; 0 means
	// 64 MiB. A slow backend may use less, but it should stay well above
	// MaxStreamAlloc for the test to mean anything.
	LargeSize int64

	// MaxStreamAlloc bounds the bytes allocated while the large object is
	// opened and read; 0 means 8 MiB.
	MaxStreamAlloc int64
}

// RunConformanceTests runs the suite against the driver h makes.
//
// The streaming test measures allocation with runtime.ReadMemStats, so call
// RunConformanceTests from a test that is not parallel; the suite runs its
// other tests in parallel with each other, not with that one.
func RunConformanceTests(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("objectstest: Harness.New is nil")
	}
	if h.LargeSize == 0 {
		h.LargeSize = 64 << 20
	}
	if h.MaxStreamAlloc == 0 {
		h.MaxStreamAlloc = 8 << 20
	}
	tests := []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"PutOpen", testPutOpen},
		{"KeysKeepTheirNames", testKeysKeepTheirNames},
		{"RefusedKeys", testRefusedKeys},
		{"NotFound", testNotFound},
		{"Versions", testVersions},
		{"ETagPin", testETagPin},
		{"Tags", testTags},
		{"TagLimit", testTagLimit},
		{"TagCount", testTagCount},
		{"MergeTagsRead", testMergeTagsRead},
		{"Copy", testCopy},
		{"Delete", testDelete},
		{"Quarantine", testQuarantine},
		{"QuarantineRetry", testQuarantineRetry},
		{"CancelPut", testCancelPut},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ListVersions", testListVersions},
	}
	// Streaming runs first and alone: the others wait for this function
	// to return before they start in parallel.
	t.Run("Streaming", func(t *testing.T) { testStreaming(t, setup(t, h)) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, setup(t, h))
		})
	}
}

// fixture is one test's driver, buckets and settings.
type fixture struct {
	h   Harness
	d   objects.Driver
	b   Buckets
	ctx context.Context
}

func setup(t *testing.T, h Harness) *fixture {
	t.Helper()
	d, b := h.New(t)
	return &fixture{h: h, d: d, b: b, ctx: t.Context()}
}

// put stores data and checks the returned ref.
func (f *fixture) put(t *testing.T, bucket, key string, data []byte, opts objects.PutOptions) domain.ObjectRef {
	t.Helper()
	ref, err := f.d.Put(f.ctx, bucket, key, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Put(%q, %q): %v", bucket, key, err)
	}
	f.checkRef(t, ref, bucket, key, int64(len(data)))
	return ref
}

// checkRef checks what Put and Copy return.
func (f *fixture) checkRef(t *testing.T, ref domain.ObjectRef, bucket, key string, size int64) {
	t.Helper()
	if ref.Bucket != bucket || ref.Key != key || ref.Size != size || ref.ETag == "" {
		t.Errorf("ref = %+v, want bucket %q, key %q, size %d and an ETag", ref, bucket, key, size)
	}
	if f.h.Versioned && ref.VersionID == "" {
		t.Errorf("ref %v has no VersionID in a versioned bucket", ref)
	}
	if !f.h.Versioned && ref.VersionID != "" {
		t.Errorf("ref %v has a VersionID in an unversioned bucket", ref)
	}
}

// read returns ref's bytes and Info.
func (f *fixture) read(t *testing.T, ref domain.ObjectRef) ([]byte, objects.Info) {
	t.Helper()
	rc, info, err := f.d.Open(f.ctx, ref)
	if err != nil {
		t.Fatalf("Open(%v): %v", ref, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %v: %v", ref, err)
	}
	// A backend need not know the SHA-256, but one it reports must be
	// right: scans are skipped on its word.
	if sum := sha256.Sum256(b); info.SHA256 != "" && info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("Open(%v) reports SHA256 %s; the bytes hash to %x", ref, info.SHA256, sum)
	}
	return b, info
}

// wantBytes checks that ref reads as want.
func (f *fixture) wantBytes(t *testing.T, ref domain.ObjectRef, want []byte) {
	t.Helper()
	got, _ := f.read(t, ref)
	if !bytes.Equal(got, want) {
		t.Errorf("Open(%v) read %d bytes %q, want %d bytes %q", ref, len(got), abbrev(got), len(want), abbrev(want))
	}
}

func (f *fixture) tags(t *testing.T, ref domain.ObjectRef) map[string]string {
	t.Helper()
	tags, err := f.d.Tags(f.ctx, ref)
	if err != nil {
		t.Fatalf("Tags(%v): %v", ref, err)
	}
	return tags
}

func (f *fixture) wantTags(t *testing.T, ref domain.ObjectRef, want map[string]string) {
	t.Helper()
	if diff := cmp.Diff(f.tags(t, ref), want, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Tags(%v) mismatch (-got +want):\n%s", ref, diff)
	}
}

func (f *fixture) head(t *testing.T, ref domain.ObjectRef) objects.Info {
	t.Helper()
	info, err := f.d.Head(f.ctx, ref)
	if err != nil {
		t.Fatalf("Head(%v): %v", ref, err)
	}
	return info
}

// wantGone checks that ref names no version.
func (f *fixture) wantGone(t *testing.T, ref domain.ObjectRef) {
	t.Helper()
	_, err := f.d.Head(f.ctx, ref)
	wantCode(t, err, errcode.NotFound, fmt.Sprintf("Head(%v)", ref))
}

// latest is the ref of bucket/key's latest version, whatever it is.
func latest(bucket, key string) domain.ObjectRef {
	return domain.ObjectRef{Bucket: bucket, Key: key}
}

func wantCode(t *testing.T, err error, want errcode.Code, what string) {
	t.Helper()
	if got := errcode.Of(err); got != want || err == nil {
		t.Errorf("%s: error %v has code %v, want %v", what, err, got, want)
	}
}

// infoCmp compares Info values, leaving out what a backend may fill in its
// own way: the sequencer and the time of the write.
var infoCmp = []cmp.Option{
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreFields(domain.ObjectRef{}, "Sequencer"),
	cmpopts.IgnoreFields(objects.Info{}, "LastModified", "SHA256"),
}

// content returns n deterministic pseudo-random bytes.
func content(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = chacha(seed).Read(b)
	return b
}

// stream returns n deterministic pseudo-random bytes, made as they are read.
func stream(seed uint64, n int64) io.Reader {
	return io.LimitReader(chacha(seed), n)
}

func chacha(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

func abbrev(b []byte) []byte {
	if len(b) > 32 {
		return append(b[:32:32], "..."...)
	}
	return b
}

// flipQuotes flips an ETag between its quoted and unquoted forms.
func flipQuotes(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag[1 : len(etag)-1]
	}
	return `"` + etag + `"`
}

func testPutOpen(t *testing.T, f *fixture) {
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"small", []byte("hello, world\n")},
		{"multi-MiB", content(1, 3<<20+17)},
	}
	etags := map[string]string{}
	for _, tc := range cases {
		key := "put-open/" + tc.name
		opts := objects.PutOptions{
			ContentType: "text/plain; charset=utf-8",
			Metadata:    map[string]string{"owner": "alice", "purpose": "conformance"},
		}
		before := time.Now()
		ref := f.put(t, f.b.Main, key, tc.data, opts)
		if other, dup := etags[ref.ETag]; dup {
			t.Errorf("%s and %s have the same ETag %s", other, tc.name, ref.ETag)
		}
		etags[ref.ETag] = tc.name

		want := objects.Info{Ref: ref, ContentType: opts.ContentType, Metadata: opts.Metadata, TagCountKnown: true}
		for _, r := range []domain.ObjectRef{ref, latest(f.b.Main, key)} {
			got, info := f.read(t, r)
			if !bytes.Equal(got, tc.data) {
				t.Errorf("%s: Open(%v) read %d bytes, want %d", tc.name, r, len(got), len(tc.data))
			}
			if diff := cmp.Diff(info, want, infoCmp...); diff != "" {
				t.Errorf("%s: Open(%v) Info mismatch (-got +want):\n%s", tc.name, r, diff)
			}
			if d := info.LastModified.Sub(before); info.LastModified.IsZero() || d < -time.Hour || d > time.Hour {
				t.Errorf("%s: LastModified = %v, want about %v", tc.name, info.LastModified, before)
			}
			if diff := cmp.Diff(f.head(t, r), info, infoCmp...); diff != "" {
				t.Errorf("%s: Head(%v) differs from Open's Info (-got +want):\n%s", tc.name, r, diff)
			}
		}
		// An ETag pins the version in either form.
		r := ref
		r.ETag = flipQuotes(ref.ETag)
		f.wantBytes(t, r, tc.data)
	}
}

func testKeysKeepTheirNames(t *testing.T, f *fixture) {
	deep := "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z"
	keys := []string{
		"with space.txt",
		" leading and trailing ",
		"a+b=c.txt",
		"100%.txt",
		"%2e%2e%2fescaped",
		"hash#fragment",
		"query?x=1&y=2",
		"ünïcödé/文件/файл.pdf",
		"emoji-😀.png",
		"e\u0301-decomposed",
		"\u00e9-composed",
		"Case",
		"case",
		deep,
		deep + "/",
		"a//b",
		".hidden",
		"...",
		"a/..b/c..",
		`back\slash`,
		"semi;colon,comma'quote\"dq<lt>gt|pipe*star",
		strings.Repeat("k", objects.MaxKeyLen),
		strings.Repeat("€", objects.MaxKeyLen/3) + "x", // 1024 bytes, 342 runes
		strings.Repeat("dir/", objects.MaxKeyLen/4),
	}
	refs := make([]domain.ObjectRef, len(keys))
	for i, key := range keys {
		if err := objects.ValidateKey(key); err != nil {
			t.Fatalf("test key %q is not valid: %v", key, err)
		}
		refs[i] = f.put(t, f.b.Main, key, []byte(key), objects.PutOptions{})
	}
	// Read only after every Put, so that keys a backend confuses (by case,
	// Unicode normalisation or length) overwrite each other visibly.
	for i, key := range keys {
		for _, r := range []domain.ObjectRef{refs[i], latest(f.b.Main, key)} {
			got, info := f.read(t, r)
			if info.Ref.Key != key {
				t.Errorf("Open(%q) returned key %q", key, info.Ref.Key)
			}
			if string(got) != key {
				t.Errorf("Open(%q) read the bytes of %q", key, got)
			}
			if h := f.head(t, r); h.Ref.Key != key {
				t.Errorf("Head(%q) returned key %q", key, h.Ref.Key)
			}
		}
	}
}

func testRefusedKeys(t *testing.T, f *fixture) {
	src := f.put(t, f.b.Main, "refused-keys/source", []byte("x"), objects.PutOptions{})
	keys := []string{
		"",
		"../x",
		"a/../../b",
		"..",
		".",
		"./a",
		"a/./b",
		"a/..",
		`a\..\..\b`,
		"/abs",
		"/",
		"a\x00b",
		"tab\tkey",
		"new\nline",
		"del\x7f",
		"\xff\xfe",
		strings.Repeat("k", objects.MaxKeyLen+1),
	}
	for _, key := range keys {
		_, err := f.d.Put(f.ctx, f.b.Main, key, strings.NewReader("evil"), objects.PutOptions{})
		wantCode(t, err, errcode.Invalid, fmt.Sprintf("Put(%q)", key))
		_, err = f.d.Copy(f.ctx, src, f.b.Quarantine, key, objects.PutOptions{})
		wantCode(t, err, errcode.Invalid, fmt.Sprintf("Copy to %q", key))
	}
}

func testNotFound(t *testing.T, f *fixture) {
	missing := latest(f.b.Main, "not-found/never-written")
	_, _, err := f.d.Open(f.ctx, missing)
	wantCode(t, err, errcode.NotFound, "Open of a missing key")
	_, err = f.d.Head(f.ctx, missing)
	wantCode(t, err, errcode.NotFound, "Head of a missing key")
	_, err = f.d.Tags(f.ctx, missing)
	wantCode(t, err, errcode.NotFound, "Tags of a missing key")
	err = f.d.SetTags(f.ctx, missing, map[string]string{"a": "b"})
	wantCode(t, err, errcode.NotFound, "SetTags of a missing key")
	_, err = f.d.Copy(f.ctx, missing, f.b.Quarantine, "not-found/copy", objects.PutOptions{})
	wantCode(t, err, errcode.NotFound, "Copy of a missing key")
	f.wantGone(t, latest(f.b.Quarantine, "not-found/copy"))

	// A key in one bucket is not in the other.
	ref := f.put(t, f.b.Main, "not-found/main-only", []byte("x"), objects.PutOptions{})
	f.wantGone(t, latest(f.b.Quarantine, ref.Key))

	if !f.h.Versioned {
		return
	}
	// A version that existed: the key lives on in a newer version.
	old := f.put(t, f.b.Main, "not-found/versions", []byte("v1"), objects.PutOptions{})
	f.put(t, f.b.Main, "not-found/versions", []byte("v2"), objects.PutOptions{})
	if err := f.d.Delete(f.ctx, old); err != nil {
		t.Fatalf("Delete(%v): %v", old, err)
	}
	_, _, err = f.d.Open(f.ctx, old)
	wantCode(t, err, errcode.NotFound, "Open of a deleted version")
	_, err = f.d.Tags(f.ctx, old)
	wantCode(t, err, errcode.NotFound, "Tags of a deleted version")
	_, err = f.d.Copy(f.ctx, old, f.b.Quarantine, "not-found/copy", objects.PutOptions{})
	wantCode(t, err, errcode.NotFound, "Copy of a deleted version")
	// The version of one key does not name another key's version.
	other := ref
	other.Key, other.ETag = "not-found/versions", ""
	_, err = f.d.Head(f.ctx, other)
	wantCode(t, err, errcode.NotFound, "Head with another key's VersionID")
}

func testVersions(t *testing.T, f *fixture) {
	if !f.h.Versioned {
		t.Skip("unversioned buckets keep no history")
	}
	key := "versions/doc.txt"
	v1 := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{Metadata: map[string]string{"n": "1"}})
	v2 := f.put(t, f.b.Main, key, []byte("two"), objects.PutOptions{Metadata: map[string]string{"n": "2"}})
	if v1.VersionID == v2.VersionID {
		t.Fatalf("two Puts gave the same VersionID %q", v1.VersionID)
	}
	f.wantBytes(t, v1, []byte("one"))
	f.wantBytes(t, v2, []byte("two"))
	if got := f.head(t, v1).Metadata["n"]; got != "1" {
		t.Errorf("Head(v1) metadata n = %q, want 1", got)
	}
	_, info := f.read(t, latest(f.b.Main, key))
	if info.Ref.VersionID != v2.VersionID {
		t.Errorf("latest version is %q, want v2 %q", info.Ref.VersionID, v2.VersionID)
	}
	v3 := f.put(t, f.b.Main, key, []byte("three"), objects.PutOptions{})
	f.wantBytes(t, v1, []byte("one"))
	f.wantBytes(t, latest(f.b.Main, key), []byte("three"))
	if ids := map[string]bool{v1.VersionID: true, v2.VersionID: true, v3.VersionID: true}; len(ids) != 3 {
		t.Errorf("VersionIDs %q, %q, %q are not distinct", v1.VersionID, v2.VersionID, v3.VersionID)
	}
}

func testETagPin(t *testing.T, f *fixture) {
	key := "etag-pin/doc.txt"
	v1 := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{Tags: map[string]string{"v": "1"}})
	v2 := f.put(t, f.b.Main, key, []byte("two"), objects.PutOptions{Tags: map[string]string{"v": "2"}})
	if v1.ETag == v2.ETag {
		t.Fatalf("different bytes have the same ETag %s", v1.ETag)
	}

	// The latest version, pinned by a stale ETag.
	stale := domain.ObjectRef{Bucket: f.b.Main, Key: key, ETag: v1.ETag}
	refs := []domain.ObjectRef{stale, {Bucket: f.b.Main, Key: key, ETag: flipQuotes(v1.ETag)}}
	if f.h.Versioned {
		// The right version with the wrong ETag.
		wrong := v1
		wrong.ETag = v2.ETag
		refs = append(refs, wrong)
	}
	for _, r := range refs {
		_, _, err := f.d.Open(f.ctx, r)
		wantCode(t, err, errcode.Changed, fmt.Sprintf("Open(%v)", r))
		_, err = f.d.Head(f.ctx, r)
		wantCode(t, err, errcode.Changed, fmt.Sprintf("Head(%v)", r))
		_, err = f.d.Tags(f.ctx, r)
		wantCode(t, err, errcode.Changed, fmt.Sprintf("Tags(%v)", r))
		err = f.d.SetTags(f.ctx, r, map[string]string{"x": "y"})
		wantCode(t, err, errcode.Changed, fmt.Sprintf("SetTags(%v)", r))
		_, err = f.d.Copy(f.ctx, r, f.b.Quarantine, key, objects.PutOptions{})
		wantCode(t, err, errcode.Changed, fmt.Sprintf("Copy(%v)", r))
		err = f.d.Delete(f.ctx, r)
		wantCode(t, err, errcode.Changed, fmt.Sprintf("Delete(%v)", r))
	}
	f.wantGone(t, latest(f.b.Quarantine, key))
	f.wantBytes(t, v2, []byte("two"))
	f.wantTags(t, v2, map[string]string{"v": "2"})
	f.wantBytes(t, latest(f.b.Main, key), []byte("two"))
	if f.h.Versioned {
		f.wantBytes(t, v1, []byte("one"))
		f.wantTags(t, v1, map[string]string{"v": "1"})
	}
	// A matching ETag, in either form, pins nothing else.
	for _, etag := range []string{v2.ETag, flipQuotes(v2.ETag)} {
		f.wantBytes(t, domain.ObjectRef{Bucket: f.b.Main, Key: key, ETag: etag}, []byte("two"))
	}
}

func testTags(t *testing.T, f *fixture) {
	owner := map[string]string{"owner": "alice", "team": "web"}
	ref := f.put(t, f.b.Main, "tags/doc.txt", []byte("doc"), objects.PutOptions{Tags: owner})
	f.wantTags(t, ref, owner)

	plain := f.put(t, f.b.Main, "tags/untagged.txt", []byte("plain"), objects.PutOptions{})
	f.wantTags(t, plain, nil)

	// MergeTags keeps the owner's tags and overwrites only given keys.
	scan := map[string]string{
		objects.TagStatus:    "clean",
		objects.TagScannedAt: "2026-11-05T10:00:00Z",
		objects.TagEngine:    "ClamAV 1.4.6",
	}
	if err := objects.MergeTags(f.ctx, f.d, ref, scan); err != nil {
		t.Fatalf("MergeTags: %v", err)
	}
	want := maps.Clone(owner)
	maps.Copy(want, scan)
	f.wantTags(t, ref, want)
	if err := objects.MergeTags(f.ctx, f.d, ref, map[string]string{objects.TagStatus: "infected"}); err != nil {
		t.Fatalf("MergeTags: %v", err)
	}
	want[objects.TagStatus] = "infected"
	f.wantTags(t, ref, want)

	// The returned map is the caller's to change.
	got := f.tags(t, ref)
	got["owner"] = "mallory"
	f.wantTags(t, ref, want)

	// SetTags replaces the whole set.
	if err := f.d.SetTags(f.ctx, ref, map[string]string{"only": "this"}); err != nil {
		t.Fatalf("SetTags: %v", err)
	}
	f.wantTags(t, ref, map[string]string{"only": "this"})
	if err := f.d.SetTags(f.ctx, ref, nil); err != nil {
		t.Fatalf("SetTags(nil): %v", err)
	}
	f.wantTags(t, ref, nil)
	f.wantBytes(t, ref, []byte("doc"))

	if !f.h.Versioned {
		return
	}
	// Tags belong to one version.
	key := "tags/versions.txt"
	v1 := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{Tags: map[string]string{"v": "1"}})
	v2 := f.put(t, f.b.Main, key, []byte("two"), objects.PutOptions{})
	f.wantTags(t, v2, nil)
	if err := objects.MergeTags(f.ctx, f.d, v2, map[string]string{objects.TagStatus: "clean"}); err != nil {
		t.Fatalf("MergeTags(v2): %v", err)
	}
	f.wantTags(t, v1, map[string]string{"v": "1"})
	f.wantTags(t, v2, map[string]string{objects.TagStatus: "clean"})
	if err := f.d.SetTags(f.ctx, v1, map[string]string{objects.TagStatus: "infected"}); err != nil {
		t.Fatalf("SetTags(v1): %v", err)
	}
	f.wantTags(t, v1, map[string]string{objects.TagStatus: "infected"})
	f.wantTags(t, latest(f.b.Main, key), map[string]string{objects.TagStatus: "clean"})
}

// wantTagCount checks the tag count that Open and Head report for ref.
func (f *fixture) wantTagCount(t *testing.T, ref domain.ObjectRef, want int) {
	t.Helper()
	_, oi := f.read(t, ref)
	hi := f.head(t, ref)
	for _, c := range []struct {
		call string
		info objects.Info
	}{{"Open", oi}, {"Head", hi}} {
		if !c.info.TagCountKnown || c.info.TagCount != want {
			t.Errorf("%s(%v): TagCount %d (known: %v), want %d", c.call, ref, c.info.TagCount, c.info.TagCountKnown, want)
		}
	}
}

func testTagCount(t *testing.T, f *fixture) {
	plain := f.put(t, f.b.Main, "tag-count/plain.txt", []byte("plain"), objects.PutOptions{})
	f.wantTagCount(t, plain, 0)
	tagged := f.put(t, f.b.Main, "tag-count/tagged.txt", []byte("tagged"), objects.PutOptions{Tags: map[string]string{"a": "1", "b": "2"}})
	f.wantTagCount(t, tagged, 2)
	if err := f.d.SetTags(f.ctx, plain, map[string]string{"a": "1", "b": "2", "c": "3"}); err != nil {
		t.Fatalf("SetTags: %v", err)
	}
	f.wantTagCount(t, plain, 3)
	if err := f.d.SetTags(f.ctx, tagged, nil); err != nil {
		t.Fatalf("SetTags(nil): %v", err)
	}
	f.wantTagCount(t, tagged, 0)
}

// testMergeTagsRead tags versions that were read (Open) before, as the
// Record step tags what the Scan step read: owner tags survive when the
// read saw them, only the exact version read is trusted without a new
// check, and an ETag that the read did not match is still refused.
func testMergeTagsRead(t *testing.T, f *fixture) {
	scan := map[string]string{objects.TagStatus: "clean", objects.TagEngine: "e"}
	plus := func(m map[string]string) map[string]string {
		out := maps.Clone(m)
		maps.Copy(out, scan)
		return out
	}
	owner := map[string]string{"owner": "alice"}
	// setup stores what a case needs under key and returns the ref to
	// tag, the read it was given, the tags it should end with or the code
	// of the error it should fail with, and the tags other versions must
	// keep.
	type setup struct {
		ref  domain.ObjectRef
		read objects.Info
		want map[string]string
		code errcode.Code
		keep map[domain.ObjectRef]map[string]string
	}
	cases := []struct {
		name string
		// versioned: run only in a versioned bucket (true), only in an
		// unversioned one (false), or in both (nil).
		versioned *bool
		prepare   func(t *testing.T, key string) setup
	}{
		{name: "untagged when read", prepare: func(t *testing.T, key string) setup {
			ref := f.put(t, f.b.Main, key, []byte("doc"), objects.PutOptions{})
			_, read := f.read(t, ref)
			return setup{ref: ref, read: read, want: scan}
		}},
		{name: "tagged when read", prepare: func(t *testing.T, key string) setup {
			ref := f.put(t, f.b.Main, key, []byte("doc"), objects.PutOptions{Tags: owner})
			_, read := f.read(t, ref)
			return setup{ref: ref, read: read, want: plus(owner)}
		}},
		{name: "read with the ETag unquoted", prepare: func(t *testing.T, key string) setup {
			ref := f.put(t, f.b.Main, key, []byte("doc"), objects.PutOptions{Tags: owner})
			_, read := f.read(t, ref)
			ref.ETag = flipQuotes(ref.ETag)
			return setup{ref: ref, read: read, want: plus(owner)}
		}},
		{name: "no tag count", prepare: func(t *testing.T, key string) setup {
			// A driver that cannot count tags: they are read and merged.
			ref := f.put(t, f.b.Main, key, []byte("doc"), objects.PutOptions{Tags: owner})
			_, read := f.read(t, ref)
			read.TagCount, read.TagCountKnown = 0, false
			return setup{ref: ref, read: read, want: plus(owner)}
		}},
		{name: "tagged after the read", versioned: ptr(true), prepare: func(t *testing.T, key string) setup {
			// The documented race: the read said untagged, so the
			// version gets scangate's tags alone.
			ref := f.put(t, f.b.Main, key, []byte("doc"), objects.PutOptions{})
			_, read := f.read(t, ref)
			if err := f.d.SetTags(f.ctx, ref, owner); err != nil {
				t.Fatalf("SetTags: %v", err)
			}
			return setup{ref: ref, read: read, want: scan}
		}},
		{name: "tagged after the read, unversioned", versioned: ptr(false), prepare: func(t *testing.T, key string) setup {
			// No VersionID: the read proves nothing about the object
			// now, so its tags are read and merged.
			ref := f.put(t, f.b.Main, key, []byte("doc"), objects.PutOptions{})
			_, read := f.read(t, ref)
			if err := f.d.SetTags(f.ctx, ref, owner); err != nil {
				t.Fatalf("SetTags: %v", err)
			}
			return setup{ref: ref, read: read, want: plus(owner)}
		}},
		{name: "read of another version", versioned: ptr(true), prepare: func(t *testing.T, key string) setup {
			v1 := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{Tags: owner})
			v2 := f.put(t, f.b.Main, key, []byte("two"), objects.PutOptions{})
			_, read := f.read(t, v2)
			return setup{ref: v1, read: read, want: plus(owner), keep: map[domain.ObjectRef]map[string]string{v2: nil}}
		}},
		{name: "overwritten after the read", versioned: ptr(true), prepare: func(t *testing.T, key string) setup {
			// The version read is tagged, not the latest.
			v1 := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{})
			_, read := f.read(t, v1)
			v2 := f.put(t, f.b.Main, key, []byte("two"), objects.PutOptions{Tags: owner})
			return setup{ref: v1, read: read, want: scan, keep: map[domain.ObjectRef]map[string]string{v2: owner}}
		}},
		{name: "overwritten after the read, unversioned", versioned: ptr(false), prepare: func(t *testing.T, key string) setup {
			// The ETag is checked again: the object read is gone.
			v1 := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{})
			_, read := f.read(t, v1)
			v2 := f.put(t, f.b.Main, key, []byte("two"), objects.PutOptions{})
			return setup{ref: v1, read: read, code: errcode.Changed, keep: map[domain.ObjectRef]map[string]string{v2: nil}}
		}},
		{name: "ETag the read did not match", versioned: ptr(true), prepare: func(t *testing.T, key string) setup {
			// The right version with another version's ETag, and a read
			// of the right version: the ref's ETag is checked, and fails.
			v1 := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{})
			v2 := f.put(t, f.b.Main, key, []byte("two"), objects.PutOptions{})
			_, read := f.read(t, v1)
			wrong := v1
			wrong.ETag = v2.ETag
			return setup{ref: wrong, read: read, code: errcode.Changed,
				keep: map[domain.ObjectRef]map[string]string{v1: nil, v2: nil}}
		}},
	}
	for i, tc := range cases {
		if tc.versioned != nil && *tc.versioned != f.h.Versioned {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s := tc.prepare(t, fmt.Sprintf("merge-tags-read/%d.txt", i))
			err := objects.MergeTagsRead(f.ctx, f.d, s.ref, s.read, scan)
			if s.code != errcode.Unknown {
				wantCode(t, err, s.code, fmt.Sprintf("MergeTagsRead(%v)", s.ref))
			} else if err != nil {
				t.Fatalf("MergeTagsRead(%v): %v", s.ref, err)
			} else {
				f.wantTags(t, s.ref, s.want)
			}
			for ref, tags := range s.keep {
				f.wantTags(t, ref, tags)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func testTagLimit(t *testing.T, f *fixture) {
	owner := map[string]string{}
	for i := range 8 {
		owner[fmt.Sprintf("owner-%d", i)] = fmt.Sprint(i)
	}
	ref := f.put(t, f.b.Main, "tag-limit/doc.txt", []byte("doc"), objects.PutOptions{Tags: owner})

	three := map[string]string{objects.TagStatus: "clean", objects.TagEngine: "e", objects.TagDB: "d"}
	err := objects.MergeTags(f.ctx, f.d, ref, three)
	wantCode(t, err, errcode.Invalid, "MergeTags past 10 tags")
	f.wantTags(t, ref, owner)

	eleven := maps.Clone(owner)
	maps.Copy(eleven, three)
	err = f.d.SetTags(f.ctx, ref, eleven)
	wantCode(t, err, errcode.Invalid, "SetTags with 11 tags")
	f.wantTags(t, ref, owner)
	_, err = f.d.Put(f.ctx, f.b.Main, "tag-limit/eleven.txt", strings.NewReader("x"), objects.PutOptions{Tags: eleven})
	wantCode(t, err, errcode.Invalid, "Put with 11 tags")
	f.wantGone(t, latest(f.b.Main, "tag-limit/eleven.txt"))

	// Exactly 10 is fine, and overwriting an existing key adds none.
	two := map[string]string{objects.TagStatus: "clean", "owner-0": "zero"}
	if err := objects.MergeTags(f.ctx, f.d, ref, two); err != nil {
		t.Fatalf("MergeTags to 9 tags: %v", err)
	}
	if err := objects.MergeTags(f.ctx, f.d, ref, map[string]string{objects.TagEngine: "e"}); err != nil {
		t.Fatalf("MergeTags to 10 tags: %v", err)
	}
	if got := f.tags(t, ref); len(got) != 10 || got["owner-0"] != "zero" || got["owner-7"] != "7" {
		t.Errorf("Tags = %v, want the 8 owner tags (owner-0 overwritten) and 2 of scangate's", got)
	}
}

func testCopy(t *testing.T, f *fixture) {
	data := content(2, 1<<20+3)
	src := f.put(t, f.b.Main, "copy/src.pdf", data, objects.PutOptions{
		ContentType: "application/pdf",
		Metadata:    map[string]string{"owner": "alice"},
		Tags:        map[string]string{"owner": "alice"},
	})
	srcInfo := f.head(t, src)

	// To another bucket, with only the given metadata and tags.
	opts := objects.PutOptions{
		Metadata: map[string]string{"reason": "test"},
		Tags:     map[string]string{objects.TagStatus: "quarantined"},
	}
	dst, err := f.d.Copy(f.ctx, src, f.b.Quarantine, "copy/dst.pdf", opts)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	f.checkRef(t, dst, f.b.Quarantine, "copy/dst.pdf", int64(len(data)))
	got, info := f.read(t, dst)
	if !bytes.Equal(got, data) {
		t.Errorf("copy read %d bytes, want the source's %d", len(got), len(data))
	}
	want := objects.Info{Ref: dst, ContentType: "application/pdf", Metadata: opts.Metadata, TagCount: 1, TagCountKnown: true}
	if diff := cmp.Diff(info, want, infoCmp...); diff != "" {
		t.Errorf("copy Info mismatch (-got +want):\n%s", diff)
	}
	f.wantTags(t, dst, opts.Tags)

	// The source is untouched.
	if diff := cmp.Diff(f.head(t, src), srcInfo, infoCmp...); diff != "" {
		t.Errorf("source Info changed by Copy (-got +want):\n%s", diff)
	}
	f.wantTags(t, src, map[string]string{"owner": "alice"})

	// Within the bucket, with no options: no metadata, no tags, and the
	// source's Content-Type; and with a Content-Type of its own.
	bare, err := f.d.Copy(f.ctx, src, f.b.Main, "copy/bare.pdf", objects.PutOptions{})
	if err != nil {
		t.Fatalf("Copy with no options: %v", err)
	}
	if diff := cmp.Diff(f.head(t, bare), objects.Info{Ref: bare, ContentType: "application/pdf", TagCountKnown: true}, infoCmp...); diff != "" {
		t.Errorf("bare copy Info mismatch (-got +want):\n%s", diff)
	}
	f.wantTags(t, bare, nil)
	typed, err := f.d.Copy(f.ctx, src, f.b.Main, "copy/typed.bin", objects.PutOptions{ContentType: "application/octet-stream"})
	if err != nil {
		t.Fatalf("Copy with a Content-Type: %v", err)
	}
	if got := f.head(t, typed).ContentType; got != "application/octet-stream" {
		t.Errorf("Content-Type = %q, want the one in the options", got)
	}

	// Onto its own key: a new version (or, unversioned, the same bytes).
	self, err := f.d.Copy(f.ctx, src, src.Bucket, src.Key, objects.PutOptions{})
	if err != nil {
		t.Fatalf("Copy onto its own key: %v", err)
	}
	f.wantBytes(t, self, data)

	if !f.h.Versioned {
		return
	}
	if self.VersionID == src.VersionID {
		t.Errorf("Copy onto its own key kept VersionID %q", src.VersionID)
	}
	// An old version is copied, not the latest.
	f.put(t, f.b.Main, src.Key, []byte("newer"), objects.PutOptions{})
	old, err := f.d.Copy(f.ctx, src, f.b.Quarantine, "copy/old.pdf", objects.PutOptions{})
	if err != nil {
		t.Fatalf("Copy of an old version: %v", err)
	}
	f.wantBytes(t, old, data)
}

func testDelete(t *testing.T, f *fixture) {
	if err := f.d.Delete(f.ctx, latest(f.b.Main, "delete/never-written")); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if err := f.d.Delete(f.ctx, latest(f.b.Quarantine, "delete/never-written")); err != nil {
		t.Errorf("Delete of a missing key in the quarantine bucket: %v", err)
	}

	key := "delete/doc.txt"
	if !f.h.Versioned {
		ref := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{})
		other := f.put(t, f.b.Main, "delete/other.txt", []byte("other"), objects.PutOptions{})
		if err := f.d.Delete(f.ctx, ref); err != nil {
			t.Fatalf("Delete(%v): %v", ref, err)
		}
		f.wantGone(t, latest(f.b.Main, key))
		f.wantBytes(t, other, []byte("other"))
		if err := f.d.Delete(f.ctx, ref); err != nil {
			t.Errorf("second Delete(%v): %v", ref, err)
		}
		return
	}

	v1 := f.put(t, f.b.Main, key, []byte("one"), objects.PutOptions{})
	v2 := f.put(t, f.b.Main, key, []byte("two"), objects.PutOptions{})
	if err := f.d.Delete(f.ctx, v1); err != nil {
		t.Fatalf("Delete(v1): %v", err)
	}
	f.wantGone(t, v1)
	f.wantBytes(t, v2, []byte("two"))
	f.wantBytes(t, latest(f.b.Main, key), []byte("two"))
	if err := f.d.Delete(f.ctx, v1); err != nil {
		t.Errorf("second Delete(v1): %v", err)
	}

	// Deleting the latest version makes the one before it the latest.
	v3 := f.put(t, f.b.Main, key, []byte("three"), objects.PutOptions{})
	if err := f.d.Delete(f.ctx, v3); err != nil {
		t.Fatalf("Delete(v3): %v", err)
	}
	_, info := f.read(t, latest(f.b.Main, key))
	if info.Ref.VersionID != v2.VersionID {
		t.Errorf("latest after deleting v3 is %q, want v2 %q", info.Ref.VersionID, v2.VersionID)
	}
	if err := f.d.Delete(f.ctx, v2); err != nil {
		t.Fatalf("Delete(v2): %v", err)
	}
	f.wantGone(t, latest(f.b.Main, key))

	// A key whose versions are all gone takes new ones.
	f.put(t, f.b.Main, key, []byte("four"), objects.PutOptions{})
	f.wantBytes(t, latest(f.b.Main, key), []byte("four"))
	f.wantGone(t, v2)
}

func testQuarantine(t *testing.T, f *fixture) {
	key := "uploads/naïve résumé+1%.pdf"
	infected := []byte("X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
	var v1 domain.ObjectRef
	if f.h.Versioned {
		v1 = f.put(t, f.b.Main, key, []byte("clean"), objects.PutOptions{})
	}
	ref := f.put(t, f.b.Main, key, infected, objects.PutOptions{
		ContentType: "application/pdf",
		Metadata:    map[string]string{"owner": "alice"},
		Tags:        map[string]string{"owner": "alice"},
	})

	qKey := "quarantine/" + ref.ID()
	q, err := objects.Quarantine(f.ctx, f.d, ref, f.b.Quarantine, qKey, map[string]string{"scangate-record": ref.ID()})
	if err != nil {
		t.Fatalf("Quarantine: %v", err)
	}
	f.checkRef(t, q, f.b.Quarantine, qKey, int64(len(infected)))

	// Exactly that version left its key.
	f.wantGone(t, ref)
	if f.h.Versioned {
		f.wantBytes(t, v1, []byte("clean"))
		_, info := f.read(t, latest(f.b.Main, key))
		if info.Ref.VersionID != v1.VersionID {
			t.Errorf("latest after quarantine is %q, want v1 %q", info.Ref.VersionID, v1.VersionID)
		}
	} else {
		f.wantGone(t, latest(f.b.Main, key))
	}

	// The copy says where it came from.
	got, info := f.read(t, q)
	if !bytes.Equal(got, infected) {
		t.Errorf("quarantined copy read %q, want %q", got, infected)
	}
	wantMeta := map[string]string{
		"scangate-original-bucket":  f.b.Main,
		"scangate-original-key":     url.PathEscape(key),
		"scangate-original-version": ref.VersionID,
		"scangate-original-etag":    strings.Trim(ref.ETag, `"`),
		"scangate-record":           ref.ID(),
		"owner":                     "alice", // the owner's metadata travels with the copy
	}
	if diff := cmp.Diff(info.Metadata, wantMeta, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("quarantined copy metadata mismatch (-got +want):\n%s", diff)
	}
	if k, err := objects.OriginalKey(info.Metadata); err != nil || k != key {
		t.Errorf("OriginalKey = %q, %v; want %q", k, err, key)
	}
	f.wantTags(t, q, map[string]string{objects.TagStatus: "quarantined", "owner": "alice"})
	if info.ContentType != "application/pdf" {
		t.Errorf("quarantined copy content type %q; want application/pdf", info.ContentType)
	}

	// Restore brings the bytes back as a new version, with the owner's
	// metadata and tags and without scangate's quarantine marks, and drops
	// the copy.
	released := map[string]string{objects.TagStatus: "released"}
	var copied domain.ObjectRef
	r, err := objects.Restore(f.ctx, f.d, q, f.b.Main, key, released, nil, func(ref domain.ObjectRef) error {
		// The hook runs between the copy and the delete: the quarantined
		// copy must still be there.
		if _, err := f.d.Head(f.ctx, q); err != nil {
			t.Errorf("quarantined copy gone before the copied hook ran: %v", err)
		}
		copied = ref
		return nil
	})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if copied != r {
		t.Errorf("copied hook saw %v, Restore returned %v", copied, r)
	}
	f.checkRef(t, r, f.b.Main, key, int64(len(infected)))
	if f.h.Versioned && (r.VersionID == ref.VersionID || r.VersionID == v1.VersionID) {
		t.Errorf("restored version reuses VersionID %q", r.VersionID)
	}
	f.wantBytes(t, r, infected)
	f.wantBytes(t, latest(f.b.Main, key), infected)
	f.wantTags(t, r, map[string]string{objects.TagStatus: "released", "owner": "alice"})
	if _, ri := f.read(t, r); ri.ContentType != "application/pdf" || !cmp.Equal(ri.Metadata, map[string]string{"owner": "alice"}) {
		t.Errorf("restored content type %q, metadata %v; want application/pdf, the owner's metadata only", ri.ContentType, ri.Metadata)
	}
	f.wantGone(t, q)
	f.wantGone(t, latest(f.b.Quarantine, qKey))
	if f.h.Versioned {
		f.wantBytes(t, v1, []byte("clean"))
		f.wantGone(t, ref)
	}
}

// testQuarantineRetry repeats a quarantine that crashed between its copy and
// its delete.
func testQuarantineRetry(t *testing.T, f *fixture) {
	key := "uploads/retry.bin"
	ref := f.put(t, f.b.Main, key, []byte("infected"), objects.PutOptions{})
	qKey := "quarantine/" + ref.ID()
	if _, err := f.d.Copy(f.ctx, ref, f.b.Quarantine, qKey, objects.PutOptions{}); err != nil {
		t.Fatalf("first attempt's Copy: %v", err)
	}
	q, err := objects.Quarantine(f.ctx, f.d, ref, f.b.Quarantine, qKey, nil)
	if err != nil {
		t.Fatalf("Quarantine after a crash: %v", err)
	}
	f.wantGone(t, ref)
	f.wantBytes(t, q, []byte("infected"))
	f.wantBytes(t, latest(f.b.Quarantine, qKey), []byte("infected"))
}

func testCancelPut(t *testing.T, f *fixture) {
	// Cancelled before the Put starts.
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	_, err := f.d.Put(ctx, f.b.Main, "cancel/before", strings.NewReader("x"), objects.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled ctx: error %v, want one that is context.Canceled", err)
	}
	f.wantGone(t, latest(f.b.Main, "cancel/before"))

	// Cancelled while the bytes flow.
	ctx, cancel = context.WithCancel(f.ctx)
	defer cancel()
	r := &cancellingReader{t: t, r: chacha(3), cancelAt: 1 << 20, cancel: cancel, limit: 64 << 20}
	_, err = f.d.Put(ctx, f.b.Main, "cancel/during", r, objects.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put cancelled after %d bytes: error %v, want one that is context.Canceled", r.cancelAt, err)
	}
	f.wantGone(t, latest(f.b.Main, "cancel/during"))

	if f.h.Versioned {
		// A cancelled Put adds no version to a key that has one.
		ref := f.put(t, f.b.Main, "cancel/existing", []byte("kept"), objects.PutOptions{})
		ctx, cancel = context.WithCancel(f.ctx)
		defer cancel()
		r = &cancellingReader{t: t, r: chacha(4), cancelAt: 1 << 20, cancel: cancel, limit: 64 << 20}
		if _, err := f.d.Put(ctx, f.b.Main, "cancel/existing", r, objects.PutOptions{}); err == nil {
			t.Errorf("cancelled Put succeeded")
		}
		_, info := f.read(t, latest(f.b.Main, "cancel/existing"))
		if info.Ref.VersionID != ref.VersionID {
			t.Errorf("latest is %q after a cancelled Put, want %q", info.Ref.VersionID, ref.VersionID)
		}
	}
}

// cancellingReader streams bytes and cancels its Put's ctx after cancelAt
// of them. It keeps streaming, so a driver that ignores ctx would store the
// object; after limit more bytes it gives up and fails the test.
type cancellingReader struct {
	t        *testing.T
	r        io.Reader
	cancelAt int64
	cancel   context.CancelFunc
	limit    int64

	n int64
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.n >= c.cancelAt+c.limit {
		c.t.Errorf("driver read %d bytes after its ctx was cancelled", c.n-c.cancelAt)
		return 0, errors.New("objectstest: driver ignores cancellation")
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.cancelAt+c.limit-c.n)])
	c.n += int64(n)
	if c.n >= c.cancelAt {
		c.cancel()
	}
	return n, err
}

func testConcurrentPuts(t *testing.T, f *fixture) {
	const writers = 8
	key := "concurrent/doc.txt"
	refs := make([]domain.ObjectRef, writers)
	var failed atomic.Int32
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			data := fmt.Sprintf("writer %d", i)
			ref, err := f.d.Put(f.ctx, f.b.Main, key, strings.NewReader(data), objects.PutOptions{})
			if err != nil {
				t.Errorf("Put by writer %d: %v", i, err)
				failed.Add(1)
				return
			}
			refs[i] = ref
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		return
	}
	etags := map[string]int{}
	for i, ref := range refs {
		f.checkRef(t, ref, f.b.Main, key, int64(len(fmt.Sprintf("writer %d", i))))
		etags[ref.ETag] = i
	}
	got, info := f.read(t, latest(f.b.Main, key))
	i, ok := etags[info.Ref.ETag]
	if !ok || string(got) != fmt.Sprintf("writer %d", i) {
		t.Errorf("latest is %q with ETag %s, which no writer wrote", got, info.Ref.ETag)
	}
	if !f.h.Versioned {
		return
	}
	ids := map[string]bool{}
	for i, ref := range refs {
		ids[ref.VersionID] = true
		f.wantBytes(t, ref, []byte(fmt.Sprintf("writer %d", i)))
	}
	if len(ids) != writers {
		t.Errorf("%d concurrent Puts made %d distinct VersionIDs", writers, len(ids))
	}
}

// testStreaming checks that Open streams: reading a large object allocates
// far less than its size.
func testStreaming(t *testing.T, f *fixture) {
	size := f.h.LargeSize
	key := "streaming/large.bin"
	want := sha256.New()
	ref, err := f.d.Put(f.ctx, f.b.Main, key, io.TeeReader(stream(5, size), want), objects.PutOptions{})
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", size, err)
	}
	f.checkRef(t, ref, f.b.Main, key, size)

	got := sha256.New()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rc, info, err := f.d.Open(f.ctx, ref)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	n, err := io.Copy(got, rc)
	rc.Close()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if n != size || info.Ref.Size != size {
		t.Errorf("read %d bytes, Info says %d, want %d", n, info.Ref.Size, size)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("the bytes read differ from the bytes written")
	}
	alloc := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("reading %d MiB allocated %d KiB", size>>20, alloc>>10)
	if alloc > f.h.MaxStreamAlloc {
		t.Errorf("reading %d bytes allocated %d bytes, want at most %d: the object is buffered", size, alloc, f.h.MaxStreamAlloc)
	}
}
