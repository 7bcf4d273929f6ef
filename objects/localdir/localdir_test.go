package localdir

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/objectstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	mainBucket       = "uploads"
	quarantineBucket = "scangate-quarantine"
)

// newDriver opens a driver on a fresh root inside its own temporary folder,
// so that tests can look at what lies beside the root.
func newDriver(t *testing.T, opts *Options) (*Driver, string) {
	t.Helper()
	base := t.TempDir()
	d, err := Open(filepath.Join(base, "root"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d, base
}

func TestConformance(t *testing.T) {
	t.Run("localdir", func(t *testing.T) {
		objectstest.RunConformanceTests(t, objectstest.Harness{
			New: func(t *testing.T) (objects.Driver, objectstest.Buckets) {
				d, _ := newDriver(t, nil)
				return d, objectstest.Buckets{Main: mainBucket, Quarantine: quarantineBucket}
			},
			Versioned: true,
		})
	})
	// The driver is always versioned. Behind a wrapper that keeps only the
	// latest version and hides VersionIDs, it stands in for an unversioned
	// S3 bucket, so that the suite's unversioned paths are exercised
	// before the S3 driver runs them.
	t.Run("localdir-unversioned", func(t *testing.T) {
		objectstest.RunConformanceTests(t, objectstest.Harness{
			New: func(t *testing.T) (objects.Driver, objectstest.Buckets) {
				d, _ := newDriver(t, &Options{NoSync: true})
				return unversioned{d}, objectstest.Buckets{Main: mainBucket, Quarantine: quarantineBucket}
			},
			LargeSize: 16 << 20,
		})
	})
}

// unversioned makes a Driver behave like an unversioned bucket: a write
// replaces older versions, and refs carry no VersionID.
type unversioned struct{ *Driver }

func (u unversioned) Open(ctx context.Context, ref domain.ObjectRef) (io.ReadCloser, objects.Info, error) {
	rc, info, err := u.Driver.Open(ctx, ref)
	info.Ref.VersionID = ""
	return rc, info, err
}

func (u unversioned) Head(ctx context.Context, ref domain.ObjectRef) (objects.Info, error) {
	info, err := u.Driver.Head(ctx, ref)
	info.Ref.VersionID = ""
	return info, err
}

func (u unversioned) Put(ctx context.Context, bucket, key string, r io.Reader, opts objects.PutOptions) (domain.ObjectRef, error) {
	ref, err := u.Driver.Put(ctx, bucket, key, r, opts)
	return u.replace(ctx, ref, err)
}

func (u unversioned) Copy(ctx context.Context, src domain.ObjectRef, bucket, key string, opts objects.PutOptions) (domain.ObjectRef, error) {
	ref, err := u.Driver.Copy(ctx, src, bucket, key, opts)
	return u.replace(ctx, ref, err)
}

// replace deletes the versions older than ref, the one just written.
func (u unversioned) replace(ctx context.Context, ref domain.ObjectRef, err error) (domain.ObjectRef, error) {
	if err != nil {
		return domain.ObjectRef{}, err
	}
	vs, err := u.Versions(ctx, ref.Bucket, ref.Key)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	for _, v := range vs {
		if v.Ref.VersionID < ref.VersionID {
			if err := u.Driver.Delete(ctx, v.Ref); err != nil {
				return domain.ObjectRef{}, err
			}
		}
	}
	ref.VersionID = ""
	return ref, nil
}

func TestETagIsQuotedMD5(t *testing.T) {
	d, _ := newDriver(t, nil)
	ctx := t.Context()
	ref, err := d.Put(ctx, mainBucket, "fox.txt", strings.NewReader("The quick brown fox jumps over the lazy dog"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"9e107d9d372bb6826bd81d3542a419d6"`; ref.ETag != want {
		t.Errorf("ETag = %s, want %s", ref.ETag, want)
	}
	if !isHex(ref.VersionID, 40) {
		t.Errorf("VersionID = %q, want 40 lowercase hex digits", ref.VersionID)
	}
	for _, etag := range []string{"9e107d9d372bb6826bd81d3542a419d6", `"9E107D9D372BB6826BD81D3542A419D6"`} {
		if _, err := d.Head(ctx, domain.ObjectRef{Bucket: mainBucket, Key: "fox.txt", ETag: etag}); err != nil {
			t.Errorf("Head with ETag %s: %v", etag, err)
		}
	}
}

// layout matches every path the driver may create under its root.
var layout = regexp.MustCompile(`^[a-z0-9.-]{3,63}(/(objects(/[0-9a-f]{64}(/[0-9a-f]{40}(/(meta\.json|data|tags\.log))?)?)?|tmp(/(put|delete)-[0-9a-f]{24}(/.*)?)?))?$`)

// checkConfined fails unless base holds only root, and root holds only what
// the layout allows: no name under it comes from a key.
func checkConfined(t *testing.T, base string) {
	t.Helper()
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "root" {
			t.Errorf("%s was written beside the root", e.Name())
		}
	}
	root := filepath.Join(base, "root")
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if e.Type()&fs.ModeSymlink != 0 || !layout.MatchString(filepath.ToSlash(rel)) {
			t.Errorf("unexpected entry %q under the root", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNothingEscapesRoot(t *testing.T) {
	d, base := newDriver(t, nil)
	ctx := t.Context()
	src, err := d.Put(ctx, mainBucket, "src", strings.NewReader("src"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evil := []string{
		"../x", "../../x", "a/../../b", "/abs", "/etc/passwd", `..\x`, `a\..\..\b`,
		"a\x00b", "", ".", "..", strings.Repeat("k", objects.MaxKeyLen+1),
	}
	for _, key := range evil {
		_, err := d.Put(ctx, mainBucket, key, strings.NewReader("evil"), objects.PutOptions{})
		if errcode.Of(err) != errcode.Invalid {
			t.Errorf("Put(%q): error %v, want code Invalid", key, err)
		}
		_, err = d.Copy(ctx, src, quarantineBucket, key, objects.PutOptions{})
		if errcode.Of(err) != errcode.Invalid {
			t.Errorf("Copy to %q: error %v, want code Invalid", key, err)
		}
		// Reads and deletes hash the key, so they cannot escape either.
		ref := domain.ObjectRef{Bucket: mainBucket, Key: key}
		if _, err := d.Head(ctx, ref); errcode.Of(err) != errcode.NotFound {
			t.Errorf("Head(%q): error %v, want code NotFound", key, err)
		}
		if err := d.Delete(ctx, ref); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
	}
	odd := []string{
		"..../x", "a/..b", strings.Repeat("k", objects.MaxKeyLen), strings.Repeat("a/", 512),
		"con", "nul.txt", "a:b", "*?<>|", "trailing.", "-rf", "~user", "$HOME", "%2e%2e/x",
	}
	for _, key := range odd {
		if _, err := d.Put(ctx, mainBucket, key, strings.NewReader(key), objects.PutOptions{}); err != nil {
			t.Errorf("Put(%q): %v", key, err)
		}
	}
	// Bucket names are path components, so a bad one never reaches the disk.
	ref := domain.ObjectRef{Key: "k"}
	for _, bucket := range []string{"", "..", "...", "../x", "a/b", `a\b`, "ab", "UPPER", ".dot", "dot.", "a..b", "-ab", "ab-", "a b", "ab\x00", strings.Repeat("b", 64)} {
		ref.Bucket = bucket
		_, err := d.Put(ctx, bucket, "k", strings.NewReader("x"), objects.PutOptions{})
		_, _, err2 := d.Open(ctx, ref)
		_, err3 := d.Head(ctx, ref)
		_, err4 := d.Tags(ctx, ref)
		err5 := d.SetTags(ctx, ref, nil)
		_, err6 := d.Copy(ctx, src, bucket, "k", objects.PutOptions{})
		_, err7 := d.Copy(ctx, ref, mainBucket, "k", objects.PutOptions{})
		err8 := d.Delete(ctx, ref)
		_, err9 := d.List(ctx, bucket, "")
		_, err10 := d.Versions(ctx, bucket, "k")
		for i, err := range []error{err, err2, err3, err4, err5, err6, err7, err8, err9, err10} {
			if errcode.Of(err) != errcode.Invalid {
				t.Errorf("bucket %q, call %d: error %v, want code Invalid", bucket, i+1, err)
			}
		}
	}
	checkConfined(t, base)
}

func TestErrorsNameNoPaths(t *testing.T) {
	d, _ := newDriver(t, nil)
	ctx := t.Context()
	errs := []error{}
	_, _, err := d.Open(ctx, domain.ObjectRef{Bucket: mainBucket, Key: "missing"})
	errs = append(errs, err)
	_, err = d.List(ctx, "no-such-bucket", "")
	errs = append(errs, err)
	_, err = d.Put(ctx, mainBucket, "k", iotestErrReader{}, objects.PutOptions{})
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		if strings.Contains(err.Error(), d.Root()) || strings.Contains(err.Error(), string(filepath.Separator)+"objects") {
			t.Errorf("error %q names a path", err)
		}
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: "/secret/other-bucket/file", Err: errors.New("boom")}
}

func TestFailedPutLeavesNothing(t *testing.T) {
	d, base := newDriver(t, nil)
	ctx := t.Context()
	boom := errors.New("boom")
	r := io.MultiReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), 3<<20), errReader{boom})
	_, err := d.Put(ctx, mainBucket, "failed", r, objects.PutOptions{})
	if !errors.Is(err, boom) {
		t.Errorf("Put: error %v, want one wrapping the reader's", err)
	}
	if _, err := d.Head(ctx, domain.ObjectRef{Bucket: mainBucket, Key: "failed"}); errcode.Of(err) != errcode.NotFound {
		t.Errorf("Head after a failed Put: error %v, want NotFound", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Put(cctx, mainBucket, "cancelled", strings.NewReader("x"), objects.PutOptions{}); !errors.Is(err, context.Canceled) || errcode.Of(err) != errcode.Unavailable {
		t.Errorf("Put with a cancelled ctx: error %v, want code Unavailable wrapping context.Canceled", err)
	}
	tmp, err := os.ReadDir(filepath.Join(d.Root(), mainBucket, tmpDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmp) != 0 {
		t.Errorf("tmp holds %d entries after failed Puts, want none", len(tmp))
	}
	checkConfined(t, base)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestLeftoversAreIgnored(t *testing.T) {
	d, base := newDriver(t, nil)
	ctx := t.Context()
	key := "crash/doc.txt"
	v1, err := d.Put(ctx, mainBucket, key, strings.NewReader("one"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What a crash may leave: a half-written staging folder, a half-deleted
	// version in the trash, and a metadata file SetTags never renamed.
	root := d.Root()
	staging := filepath.Join(root, mainBucket, tmpDir, "put-"+strings.Repeat("ab", 12))
	mustWrite(t, filepath.Join(staging, dataFile), "half an upload")
	trash := filepath.Join(root, mainBucket, tmpDir, "delete-"+strings.Repeat("cd", 12))
	mustWrite(t, filepath.Join(trash, metaFile), `{"key":"crash/doc.txt"}`)
	vdir := filepath.Join(root, keyPath(mainBucket, key), v1.VersionID)
	mustWrite(t, filepath.Join(vdir, ".meta-"+strings.Repeat("ef", 8)+".tmp"), `{"key":`)

	vs, err := d.Versions(ctx, mainBucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Ref != v1 {
		t.Errorf("Versions = %+v, want only %v", vs, v1)
	}
	list, err := d.List(ctx, mainBucket, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Ref != v1 {
		t.Errorf("List = %+v, want only %v", list, v1)
	}
	v2, err := d.Put(ctx, mainBucket, key, strings.NewReader("two"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := d.Head(ctx, domain.ObjectRef{Bucket: mainBucket, Key: key}); err != nil || info.Ref != v2 {
		t.Errorf("Head(latest) = %v, %v; want %v", info.Ref, err, v2)
	}
	if err := d.Delete(ctx, v1); err != nil {
		t.Errorf("Delete(v1) with a stray file in its folder: %v", err)
	}
	checkConfined(t, base)
}

func mustWrite(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReopenSeesVersions(t *testing.T) {
	d1, base := newDriver(t, nil)
	ctx := t.Context()
	key := "reopen/doc.txt"
	opts := objects.PutOptions{ContentType: "text/plain", Metadata: map[string]string{"a": "1"}, Tags: map[string]string{"t": "1"}}
	v1, err := d1.Put(ctx, mainBucket, key, strings.NewReader("one"), opts)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := d1.Put(ctx, mainBucket, key, strings.NewReader("two"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := d1.Versions(ctx, mainBucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}

	d2, err := Open(filepath.Join(base, "root"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	after, err := d2.Versions(ctx, mainBucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(after, before); diff != "" {
		t.Errorf("Versions after reopening (-got +want):\n%s", diff)
	}
	if len(after) != 2 || after[0].Ref != v2 || after[1].Ref != v1 {
		t.Errorf("Versions = %v, want v2 then v1", after)
	}
	tags, err := d2.Tags(ctx, v1)
	if err != nil || tags["t"] != "1" {
		t.Errorf("Tags(v1) = %v, %v; want t=1", tags, err)
	}

	// A clock that went back an hour still makes the next version the latest.
	d2.now = func() time.Time { return time.Now().Add(-time.Hour) }
	v3, err := d2.Put(ctx, mainBucket, key, strings.NewReader("three"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v3.VersionID <= v2.VersionID {
		t.Errorf("VersionID %s after a clock step back does not sort after %s", v3.VersionID, v2.VersionID)
	}
	info, err := d2.Head(ctx, domain.ObjectRef{Bucket: mainBucket, Key: key})
	if err != nil || info.Ref != v3 {
		t.Errorf("Head(latest) = %v, %v; want %v", info.Ref, err, v3)
	}
}

func TestListAndVersions(t *testing.T) {
	d, _ := newDriver(t, &Options{NoSync: true})
	ctx := t.Context()
	put := func(key, data string) domain.ObjectRef {
		t.Helper()
		ref, err := d.Put(ctx, mainBucket, key, strings.NewReader(data), objects.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	a1 := put("a/1", "x")
	a1b := put("a/1", "y")
	a2 := put("a/2", "x")
	b1 := put("b/1", "x")
	gone := put("a/gone", "x")
	if err := d.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	refs := func(infos []objects.Info) []domain.ObjectRef {
		var out []domain.ObjectRef
		for _, i := range infos {
			out = append(out, i.Ref)
		}
		return out
	}
	for _, tc := range []struct {
		prefix string
		want   []domain.ObjectRef
	}{
		{"", []domain.ObjectRef{a1b, a2, b1}},
		{"a/", []domain.ObjectRef{a1b, a2}},
		{"b", []domain.ObjectRef{b1}},
		{"c", nil},
	} {
		got, err := d.List(ctx, mainBucket, tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(refs(got), tc.want, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("List(%q) mismatch (-got +want):\n%s", tc.prefix, diff)
		}
	}
	vs, err := d.Versions(ctx, mainBucket, "a/1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(refs(vs), []domain.ObjectRef{a1b, a1}); diff != "" {
		t.Errorf("Versions mismatch (-got +want):\n%s", diff)
	}
	if vs, err := d.Versions(ctx, mainBucket, "a/gone"); err != nil || len(vs) != 0 {
		t.Errorf("Versions of a deleted key = %v, %v; want none", vs, err)
	}
	if _, err := d.List(ctx, "no-such-bucket", ""); errcode.Of(err) != errcode.NotFound {
		t.Errorf("List of a missing bucket: error %v, want NotFound", err)
	}
	if _, err := d.Versions(ctx, "no-such-bucket", "k"); errcode.Of(err) != errcode.NotFound {
		t.Errorf("Versions in a missing bucket: error %v, want NotFound", err)
	}
}

func TestMetadataAndTagRules(t *testing.T) {
	d, _ := newDriver(t, &Options{NoSync: true})
	ctx := t.Context()
	ref, err := d.Put(ctx, mainBucket, "rules", strings.NewReader("x"), objects.PutOptions{
		Metadata: map[string]string{"Owner-Name": "Zoë"},
		Tags:     map[string]string{"scangate-scanned-at": "2026-11-05T10:00:00Z", "Über tag": "ünïcode value @ 1+1=2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.Head(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(info.Metadata, map[string]string{"owner-name": "Zoë"}); diff != "" {
		t.Errorf("metadata names are not lowercased as S3 does (-got +want):\n%s", diff)
	}

	bad := []objects.PutOptions{
		{ContentType: "text/plain\r\nX-Evil: 1"},
		{Metadata: map[string]string{"": "v"}},
		{Metadata: map[string]string{"has space": "v"}},
		{Metadata: map[string]string{"a": "line\nbreak"}},
		{Metadata: map[string]string{"A": "1", "a": "2"}},
		{Metadata: map[string]string{"big": strings.Repeat("v", 2046)}},
		{Tags: map[string]string{"": "v"}},
		{Tags: map[string]string{strings.Repeat("k", 129): "v"}},
		{Tags: map[string]string{"k": strings.Repeat("v", 257)}},
		{Tags: map[string]string{"k": "Win.Test{1}"}},
		{Tags: map[string]string{"k": "semi;colon"}},
		{Tags: map[string]string{"aws:reserved": "v"}},
	}
	for _, opts := range bad {
		_, err := d.Put(ctx, mainBucket, "rules-bad", strings.NewReader("x"), opts)
		if errcode.Of(err) != errcode.Invalid {
			t.Errorf("Put with %+v: error %v, want code Invalid", opts, err)
		}
		if opts.Tags != nil {
			if err := d.SetTags(ctx, ref, opts.Tags); errcode.Of(err) != errcode.Invalid {
				t.Errorf("SetTags(%v): error %v, want code Invalid", opts.Tags, err)
			}
		}
	}
	if _, err := d.Head(ctx, domain.ObjectRef{Bucket: mainBucket, Key: "rules-bad"}); errcode.Of(err) != errcode.NotFound {
		t.Errorf("a refused Put left a version: %v", err)
	}
	ok := map[string]string{
		strings.Repeat("k", 128): strings.Repeat("v", 256),
		"unicode-ü":              strings.Repeat("ü", 256),
	}
	if err := d.SetTags(ctx, ref, ok); err != nil {
		t.Errorf("SetTags at the limits: %v", err)
	}
}

func TestOpenStreamsFromTheFile(t *testing.T) {
	d, _ := newDriver(t, nil)
	ctx := t.Context()
	data := make([]byte, 2<<20)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	ref, err := d.Put(ctx, mainBucket, "open/file.bin", bytes.NewReader(data), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := d.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File", rc)
	}
	head := make([]byte, 1000)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	// Deleting the version does not cut the stream already open.
	if err := d.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, data) {
		t.Errorf("read %d bytes across a Delete, want the %d written", len(got), len(data))
	}
	if _, _, err := d.Open(ctx, ref); errcode.Of(err) != errcode.NotFound {
		t.Errorf("Open after Delete: error %v, want NotFound", err)
	}
}

// TestCopySharesTheBytes checks that Copy links the source's data instead
// of writing the bytes again, and that the copy outlives its source and
// keeps the source's sums.
func TestCopySharesTheBytes(t *testing.T) {
	d, _ := newDriver(t, nil)
	ctx := t.Context()
	data := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{9}).Read(data)
	src, err := d.Put(ctx, mainBucket, "copy/src.bin", bytes.NewReader(data), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srcInfo, err := d.Head(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := d.Copy(ctx, src, quarantineBucket, "copy/dst.bin", objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, errA := os.Stat(filepath.Join(d.Root(), keyPath(mainBucket, src.Key), src.VersionID, dataFile))
	b, errB := os.Stat(filepath.Join(d.Root(), keyPath(quarantineBucket, dst.Key), dst.VersionID, dataFile))
	if errA != nil || errB != nil {
		t.Fatalf("stat data files: %v, %v", errA, errB)
	}
	if !os.SameFile(a, b) {
		t.Errorf("the copy's data is a file of its own; want a link to the source's")
	}
	if err := d.Delete(ctx, src); err != nil {
		t.Fatal(err)
	}
	info, err := d.Head(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	if info.Ref.ETag != srcInfo.Ref.ETag || info.SHA256 != srcInfo.SHA256 || info.Ref.Size != int64(len(data)) {
		t.Errorf("copy has ETag %s, SHA-256 %s, size %d; want the source's %s, %s, %d",
			info.Ref.ETag, info.SHA256, info.Ref.Size, srcInfo.Ref.ETag, srcInfo.SHA256, len(data))
	}
	rc, _, err := d.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("copy holds %d other bytes after the source was deleted", len(got))
	}
}

// TestTagLog checks how tags are read from a version's tag log, whatever a
// crash left in it, and that SetTags after any of it is what Tags reads.
func TestTagLog(t *testing.T) {
	putTags := map[string]string{"owner": "put"}
	tests := []struct {
		name string
		log  *string // nil: no tag log (a version stored by an older build)
		want map[string]string
	}{
		{"no log", nil, putTags},
		{"empty log", ptr(""), putTags},
		{"one set", ptr("\n{\"a\":\"1\"}\n"), map[string]string{"a": "1"}},
		{"the last set wins", ptr("\n{\"a\":\"1\"}\n\n{\"b\":\"2\"}\n"), map[string]string{"b": "2"}},
		{"cleared", ptr("\n{\"a\":\"1\"}\n\n{}\n"), map[string]string{}},
		{"torn last line", ptr("\n{\"a\":\"1\"}\n\n{\"b\":"), map[string]string{"a": "1"}},
		{"torn into zeros", ptr("\n{\"a\":\"1\"}\n\x00\x00\x00\x00"), map[string]string{"a": "1"}},
		{"only torn", ptr("\n{\"b\":\"2"), putTags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newDriver(t, nil)
			ctx := t.Context()
			ref, err := d.Put(ctx, mainBucket, "tags/obj", strings.NewReader("bytes"), objects.PutOptions{Tags: putTags})
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(d.Root(), keyPath(mainBucket, ref.Key), ref.VersionID, tagsFile)
			if tt.log == nil {
				err = os.Remove(name)
			} else {
				err = os.WriteFile(name, []byte(*tt.log), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Tags(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
			set := map[string]string{"scangate-status": "clean"}
			if err := d.SetTags(ctx, ref, set); err != nil {
				t.Fatal(err)
			}
			if got, err := d.Tags(ctx, ref); err != nil || !cmp.Equal(got, set) {
				t.Errorf("Tags after SetTags = %v, %v; want %v", got, err, set)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPutIsFlat checks that Put streams: storing 64 MiB allocates a small,
// fixed amount.
func TestPutIsFlat(t *testing.T) {
	d, _ := newDriver(t, nil)
	ctx := t.Context()
	const size = 64 << 20
	src := io.LimitReader(rand.NewChaCha8([32]byte{9}), size)
	h := md5.New()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ref, err := d.Put(ctx, mainBucket, "flat.bin", io.TeeReader(src, h), objects.PutOptions{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + hex.EncodeToString(h.Sum(nil)) + `"`; ref.Size != size || ref.ETag != want {
		t.Errorf("ref = %v, want size %d and ETag %s", ref, size, want)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Put of %d MiB allocated %d KiB", size>>20, alloc>>10)
	if alloc > 4<<20 {
		t.Errorf("Put of %d bytes allocated %d bytes: it buffers", size, alloc)
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	d, _ := newDriver(t, &Options{NoSync: true})
	ctx := t.Context()
	key := "busy/doc.txt"
	first, err := d.Put(ctx, mainBucket, key, strings.NewReader("v0"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		// The latest version always reads whole, whatever the writers do.
		for {
			select {
			case <-done:
				return
			default:
			}
			rc, info, err := d.Open(ctx, domain.ObjectRef{Bucket: mainBucket, Key: key})
			if err != nil {
				errc <- fmt.Errorf("Open(latest): %w", err)
				return
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || int64(len(b)) != info.Ref.Size || !strings.HasPrefix(string(b), "v") {
				errc <- fmt.Errorf("read %q, %v for %v", b, err, info.Ref)
				return
			}
		}
	}()
	for i := 1; i <= 50; i++ {
		ref, err := d.Put(ctx, mainBucket, key, strings.NewReader(fmt.Sprintf("v%d", i)), objects.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.SetTags(ctx, ref, map[string]string{"n": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := d.Delete(ctx, ref); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	if err := <-errc; err != nil {
		t.Error(err)
	}
	vs, err := d.Versions(ctx, mainBucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 26 || vs[len(vs)-1].Ref != first {
		t.Errorf("%d versions, oldest %v; want 26, oldest %v", len(vs), vs[len(vs)-1].Ref, first)
	}
}

// TestKeysCommitIndependently checks that one key's commit does not wait
// for another key's (a quarantine copy's syncs used to hold up every tag
// write), that one key's commits still wait for each other, and that
// version IDs stay unique across keys written at once.
func TestKeysCommitIndependently(t *testing.T) {
	d, _ := newDriver(t, &Options{NoSync: true})
	ctx := t.Context()
	a := "held/a.txt"
	b := ""
	for i := 0; b == "" && i < 1000; i++ {
		if k := fmt.Sprintf("free/b%d.txt", i); d.keyLock(mainBucket, k) != d.keyLock(mainBucket, a) {
			b = k
		}
	}
	if b == "" {
		t.Fatal("a thousand keys all share the lock of one")
	}
	refA, err := d.Put(ctx, mainBucket, a, strings.NewReader("a"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refB, err := d.Put(ctx, mainBucket, b, strings.NewReader("b"), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}

	held := d.keyLock(mainBucket, a)
	held.Lock()
	other := make(chan error, 1)
	go func() {
		if err := d.SetTags(ctx, refB, map[string]string{"k": "v"}); err != nil {
			other <- err
			return
		}
		ref, err := d.Put(ctx, mainBucket, b, strings.NewReader("b2"), objects.PutOptions{})
		if err == nil {
			err = d.Delete(ctx, ref)
		}
		other <- err
	}()
	select {
	case err := <-other:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		held.Unlock()
		t.Fatal("a commit of another key waited for a held key")
	}
	same := make(chan error, 1)
	go func() { same <- d.SetTags(ctx, refA, map[string]string{"k": "v"}) }()
	select {
	case err := <-same:
		t.Fatalf("a commit of the held key went ahead (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	held.Unlock()
	if err := <-same; err != nil {
		t.Fatal(err)
	}

	// Many keys at once: every version ID is new.
	var wg sync.WaitGroup
	ids := make(chan string, 8*20)
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				ref, err := d.Put(ctx, mainBucket, fmt.Sprintf("many/%d/%d", w, i%3), strings.NewReader("x"), objects.PutOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- ref.VersionID
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("version ID %s made twice", id)
		}
		seen[id] = true
	}
}

// TestMetaCache checks that openVersion's cache of parsed metadata never
// answers for a version whose folder is gone, whether Delete removed it or
// something else did, that a new version of the key is its own, and that
// the cache stays within maxMetas.
func TestMetaCache(t *testing.T) {
	d, _ := newDriver(t, nil)
	ctx := t.Context()
	put := func(body string) domain.ObjectRef {
		t.Helper()
		ref, err := d.Put(ctx, mainBucket, "cache/obj", strings.NewReader(body), objects.PutOptions{ContentType: "text/plain"})
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	read := func(ref domain.ObjectRef) (objects.Info, error) {
		t.Helper()
		rc, info, err := d.Open(ctx, ref)
		if err == nil {
			rc.Close()
		}
		return info, err
	}
	v1 := put("one")
	first, err := read(v1)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := read(v1); err != nil || !cmp.Equal(again, first) {
		t.Errorf("second Open of v1 = %+v, %v; want %+v", again, err, first)
	}
	if err := d.Delete(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := read(v1); errcode.Of(err) != errcode.NotFound {
		t.Errorf("Open of deleted v1 = %v, want NotFound", err)
	}

	v2 := put("two!")
	if info, err := read(v2); err != nil || info.Ref.Size != 4 || info.Ref.VersionID != v2.VersionID {
		t.Errorf("Open of v2 = %+v, %v", info, err)
	}
	// Removed behind the driver's back.
	if err := os.RemoveAll(filepath.Join(d.Root(), keyPath(v2.Bucket, v2.Key), v2.VersionID)); err != nil {
		t.Fatal(err)
	}
	if _, err := read(v2); errcode.Of(err) != errcode.NotFound {
		t.Errorf("Open of v2 after its folder went = %v, want NotFound", err)
	}

	d.metaMu.Lock()
	for i := range maxMetas {
		d.metas[fmt.Sprintf("x/%d", i)] = &meta{}
	}
	d.metaMu.Unlock()
	if _, err := read(put("three")); err != nil {
		t.Fatal(err)
	}
	d.metaMu.Lock()
	n := len(d.metas)
	d.metaMu.Unlock()
	if n > maxMetas {
		t.Errorf("%d cached metadata entries, want at most %d", n, maxMetas)
	}
}
