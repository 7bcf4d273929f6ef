package sigset_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/sigset"
	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/objects/s3obj"
)

// backend opens a fresh, empty signatures bucket.
type backend struct {
	name string
	open func(t *testing.T) (objects.Driver, string)
}

var bucketSeq atomic.Int64

// backends are the local bucket driver and the S3 driver against
// versitygw, a real S3 stand-in (one gateway per top-level test).
func backends(t *testing.T) []backend {
	t.Helper()
	top := t // the gateway lives as long as the top-level test
	var gw *testsvc.S3
	return []backend{
		{"localdir", func(t *testing.T) (objects.Driver, string) {
			d, err := localdir.Open(t.TempDir(), &localdir.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d, "signatures"
		}},
		{"s3-versitygw", func(t *testing.T) (objects.Driver, string) {
			if gw == nil {
				gw = testsvc.VersityGW(top, nil)
			}
			c := gw.Client(t)
			name := "sigs" + strconv.FormatInt(bucketSeq.Add(1), 10)
			gw.CreateBucket(t, c, name, true)
			d, err := s3obj.New(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			return d, name
		}},
	}
}

// writeCVD writes an official-style database file: a 512-byte header
// that engine.ReadDatabase dates, then some bytes.
func writeCVD(t *testing.T, dir, name string, version int, built time.Time) {
	t.Helper()
	hdr := fmt.Sprintf("ClamAV-VDB:%s:%d:2000000:90:0123456789abcdef0123456789abcdef:sig:builder:%d",
		built.UTC().Format("02 Jan 2006 15-04 -0700"), version, built.Unix())
	buf := bytes.Repeat([]byte{' '}, 512)
	copy(buf, hdr)
	buf = append(buf, []byte(fmt.Sprintf("body of %s version %d\n", name, version))...)
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

var (
	day1 = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	day2 = day1.Add(26 * time.Hour)
)

// database writes a directory as freshclam leaves it: official files of
// the given daily build, a custom signature file with an old mtime, and
// freshclam.dat, which is not a signature file.
func database(t *testing.T, daily time.Time) string {
	t.Helper()
	dir := t.TempDir()
	writeCVD(t, dir, "main.cvd", 62, day1.Add(-400*24*time.Hour))
	writeCVD(t, dir, "daily.cld", int(daily.Unix()/3600), daily)
	custom := filepath.Join(dir, "local.ndb")
	if err := os.WriteFile(custom, []byte("Local.Test:0:*:deadbeefcafe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := day1.Add(-72 * time.Hour)
	if err := os.Chtimes(custom, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "freshclam.dat"), []byte(daily.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func publish(t *testing.T, d objects.Driver, bucket, dir string) sigset.Result {
	t.Helper()
	res, err := sigset.Publish(t.Context(), d, bucket, dir, sigset.Options{})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res
}

// sameDatabase fails unless got holds the signature files of want, byte
// for byte, and the engine describes both alike (version, build time:
// the staleness guard's input).
func sameDatabase(t *testing.T, want, got string) {
	t.Helper()
	dw, err := engine.ReadDatabase(want)
	if err != nil {
		t.Fatal(err)
	}
	dg, err := engine.ReadDatabase(got)
	if err != nil {
		t.Fatalf("loaded database: %v", err)
	}
	if dw.Version != dg.Version || !dw.BuiltAt.Equal(dg.BuiltAt) {
		t.Errorf("loaded database is %q built %s, want %q built %s", dg.Version, dg.BuiltAt, dw.Version, dw.BuiltAt)
	}
	for _, name := range dw.Files {
		a, _ := os.ReadFile(filepath.Join(want, name))
		b, err := os.ReadFile(filepath.Join(got, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: loaded bytes differ (%v)", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(got, "freshclam.dat")); err == nil {
		t.Error("freshclam.dat travelled with the set")
	}
}

func TestPublishThenLoad(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			d, bucket := b.open(t)
			src := database(t, day1)
			res := publish(t, d, bucket, src)
			if !res.Published || len(res.Manifest.Files) != 3 {
				t.Fatalf("Publish = %+v, want a published set of 3 files", res)
			}
			dst := filepath.Join(t.TempDir(), "db")
			m, err := sigset.Load(t.Context(), d, bucket, dst)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if m.ID != res.Manifest.ID {
				t.Errorf("loaded set %s, published %s", m.ID, res.Manifest.ID)
			}
			// The custom file keeps its mtime, so its age still counts.
			sameDatabase(t, src, dst)
			fi, err := os.Stat(filepath.Join(dst, "local.ndb"))
			if err != nil || !fi.ModTime().Equal(day1.Add(-72*time.Hour)) {
				t.Errorf("local.ndb mtime = %v (%v), want the published one", fi.ModTime(), err)
			}
		})
	}
}

// counting counts writes, to show that a second Publish writes nothing.
type counting struct {
	objects.Driver
	puts atomic.Int64
}

func (c *counting) Put(ctx context.Context, bucket, key string, r io.Reader, opts objects.PutOptions) (domain.ObjectRef, error) {
	c.puts.Add(1)
	return c.Driver.Put(ctx, bucket, key, r, opts)
}

func TestPublishTwiceIsIdempotent(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			d, bucket := b.open(t)
			c := &counting{Driver: d}
			src := database(t, day1)
			first := publish(t, c, bucket, src)
			wrote := c.puts.Load()
			if wrote != 5 { // 3 files, the manifest, the pointer
				t.Errorf("first Publish wrote %d objects, want 5", wrote)
			}
			before, err := sigset.ReadPointer(t.Context(), d, bucket)
			if err != nil {
				t.Fatal(err)
			}
			// freshclam.dat changes on every run; the set must not.
			if err := os.WriteFile(filepath.Join(src, "freshclam.dat"), []byte("another run"), 0o644); err != nil {
				t.Fatal(err)
			}
			second := publish(t, c, bucket, src)
			if second.Published || second.Manifest.ID != first.Manifest.ID {
				t.Errorf("second Publish = published %v set %s, want unpublished %s", second.Published, second.Manifest.ID, first.Manifest.ID)
			}
			if n := c.puts.Load() - wrote; n != 0 {
				t.Errorf("second Publish wrote %d objects, want none", n)
			}
			after, err := sigset.ReadPointer(t.Context(), d, bucket)
			if err != nil || after != before {
				t.Errorf("pointer changed: %+v -> %+v (%v)", before, after, err)
			}
		})
	}
}

// A newer set replaces the older at the next load (the next cold start);
// a directory loaded before keeps the older one; and an older database
// never replaces a newer current set.
func TestNewerSetReplacesOlder(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			d, bucket := b.open(t)
			old, newer := database(t, day1), database(t, day2)
			publish(t, d, bucket, old)
			warm := filepath.Join(t.TempDir(), "db")
			if _, err := sigset.Load(t.Context(), d, bucket, warm); err != nil {
				t.Fatal(err)
			}
			res := publish(t, d, bucket, newer)
			if !res.Published {
				t.Fatal("the newer set was not published")
			}
			cold := filepath.Join(t.TempDir(), "db")
			m, err := sigset.Load(t.Context(), d, bucket, cold)
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != res.Manifest.ID || !m.BuiltAt.Equal(day2) {
				t.Errorf("cold start loaded %s built %s, want %s built %s", m.ID, m.BuiltAt, res.Manifest.ID, day2)
			}
			sameDatabase(t, newer, cold)
			sameDatabase(t, old, warm)

			_, err = sigset.Publish(t.Context(), d, bucket, old, sigset.Options{})
			if !errors.Is(err, sigset.ErrOlder) {
				t.Errorf("publishing the older database again: err = %v, want ErrOlder", err)
			}
			if p, _ := sigset.ReadPointer(t.Context(), d, bucket); p.Set != res.Manifest.ID {
				t.Errorf("current set = %s after the refused publish, want %s", p.Set, res.Manifest.ID)
			}
		})
	}
}

// putJSON writes v as JSON at key and returns the bytes' SHA-256 and the
// version written.
func putJSON(t *testing.T, d objects.Driver, bucket, key string, v any) (string, string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := d.Put(t.Context(), bucket, key, bytes.NewReader(b), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), ref.VersionID
}

// repoint writes manifest m under a set of its own and a pointer to it,
// consistent with each other: what a broken or malicious publisher could
// leave. It returns the pointer.
func repoint(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) sigset.Pointer {
	t.Helper()
	key := "sets/" + m.ID + "/manifest.json"
	sum, ver := putJSON(t, d, bucket, key, m)
	p := sigset.Pointer{Set: m.ID, Manifest: key, ManifestVersionID: ver, ManifestSHA256: sum, Version: m.Version, BuiltAt: m.BuiltAt}
	putJSON(t, d, bucket, sigset.PointerKey, p)
	return p
}

// A torn or tampered set never loads: Load fails with ErrCorrupt (or
// ErrNoSet), and the target directory is left without a database for
// clamd to start on.
func TestTornSetFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		// tear breaks the published set m in bucket.
		tear func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest)
		want error
	}{
		{"no set", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			if err := d.Delete(t.Context(), domain.ObjectRef{Bucket: bucket, Key: sigset.PointerKey}); err != nil {
				t.Fatal(err)
			}
		}, sigset.ErrNoSet},
		{"pointer is not JSON", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			if _, err := d.Put(t.Context(), bucket, sigset.PointerKey, bytes.NewReader([]byte("{garbage")), objects.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}, sigset.ErrCorrupt},
		{"pointer to a missing manifest", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			putJSON(t, d, bucket, sigset.PointerKey, sigset.Pointer{Set: "never", Manifest: "sets/never/manifest.json", ManifestSHA256: "00"})
		}, sigset.ErrCorrupt},
		{"manifest changed after the pointer", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			p, err := sigset.ReadPointer(t.Context(), d, bucket)
			if err != nil {
				t.Fatal(err)
			}
			// A custom file's mtime is its age for the guard; only the
			// manifest's hash notices that it was made younger.
			for i := range m.Files {
				if m.Files[i].Name == "local.ndb" {
					m.Files[i].ModTime = time.Now().UTC()
				}
			}
			_, ver := putJSON(t, d, bucket, p.Manifest, m)
			p.ManifestVersionID = ver // the pointer names the new version, but not its hash
			putJSON(t, d, bucket, sigset.PointerKey, p)
		}, sigset.ErrCorrupt},
		{"manifest names a file that is not a signature", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			m.ID += "n"
			for _, f := range m.Files {
				putRaw(t, d, bucket, m, f)
			}
			m = withVersions(t, d, bucket, m)
			extra := m.Files[len(m.Files)-1]
			extra.Name = "extra.txt"
			ref, err := d.Put(t.Context(), bucket, "sets/"+m.ID+"/extra.txt", readAll(t, d, bucket, m, m.Files[len(m.Files)-1]), objects.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			extra.VersionID = ref.VersionID
			m.Files = append(m.Files, extra)
			repoint(t, d, bucket, m)
		}, sigset.ErrCorrupt},
		{"file missing", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			f := m.Files[0]
			if err := d.Delete(t.Context(), domain.ObjectRef{Bucket: bucket, Key: "sets/" + m.ID + "/" + f.Name, VersionID: f.VersionID}); err != nil {
				t.Fatal(err)
			}
		}, sigset.ErrCorrupt},
		{"file corrupted", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			m.ID += "x"
			m.Files[1].SHA256 = hex.EncodeToString(make([]byte, 32))
			for _, f := range m.Files { // copy the files under the new ID
				putRaw(t, d, bucket, m, f)
			}
			m = withVersions(t, d, bucket, m)
			repoint(t, d, bucket, m)
		}, sigset.ErrCorrupt},
		{"file overwritten on an unversioned bucket", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			m.ID += "u"
			for _, f := range m.Files {
				putRaw(t, d, bucket, m, f)
			}
			for i := range m.Files {
				m.Files[i].VersionID = ""
			}
			key := "sets/" + m.ID + "/" + m.Files[2].Name
			if _, err := d.Put(t.Context(), bucket, key, bytes.NewReader([]byte("Other:0:*:00\n")), objects.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			repoint(t, d, bucket, m)
		}, sigset.ErrCorrupt},
		{"file longer than the manifest says", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			m.ID += "l"
			for _, f := range m.Files {
				putRaw(t, d, bucket, m, f)
			}
			m = withVersions(t, d, bucket, m)
			m.Files[0].Size--
			repoint(t, d, bucket, m)
		}, sigset.ErrCorrupt},
		{"file name escapes the directory", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			m.Files[0].Name = "../escape.ndb"
			repoint(t, d, bucket, m)
		}, sigset.ErrCorrupt},
		{"manifest describes another database", func(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) {
			m.BuiltAt = m.BuiltAt.Add(48 * time.Hour) // younger than its files: would fool the guard
			repoint(t, d, bucket, m)
		}, sigset.ErrCorrupt},
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					d, bucket := b.open(t)
					res := publish(t, d, bucket, database(t, day1))
					tt.tear(t, d, bucket, res.Manifest)
					dst := filepath.Join(t.TempDir(), "db")
					_, err := sigset.Load(t.Context(), d, bucket, dst)
					if !errors.Is(err, tt.want) {
						t.Fatalf("Load = %v, want %v", err, tt.want)
					}
					if ents, _ := os.ReadDir(dst); len(ents) > 0 {
						t.Errorf("Load failed but left %d files in %s", len(ents), dst)
					}
					if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape.ndb")); err == nil {
						t.Error("a file was written outside the target directory")
					}
				})
			}
		})
	}
}

// putRaw copies the published bytes of f into m's set.
func putRaw(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest, f sigset.File) {
	t.Helper()
	orig := m.ID[:len(m.ID)-1]
	rc, _, err := d.Open(t.Context(), domain.ObjectRef{Bucket: bucket, Key: "sets/" + orig + "/" + f.Name, VersionID: f.VersionID})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := d.Put(t.Context(), bucket, "sets/"+m.ID+"/"+f.Name, rc, objects.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest, f sigset.File) io.Reader {
	t.Helper()
	rc, _, err := d.Open(t.Context(), domain.ObjectRef{Bucket: bucket, Key: "sets/" + m.ID + "/" + f.Name, VersionID: f.VersionID})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// escaping serves the bytes of a real file for any key ending in
// "/../escape.ndb", as a store that does not refuse such keys would.
type escaping struct {
	objects.Driver
	real string
}

func (e escaping) Open(ctx context.Context, ref domain.ObjectRef) (io.ReadCloser, objects.Info, error) {
	if strings.HasSuffix(ref.Key, "/../escape.ndb") {
		ref.Key, ref.VersionID = e.real, ""
	}
	return e.Driver.Open(ctx, ref)
}

// A manifest's file names never reach outside the target directory, even
// when the store serves the key.
func TestLoadRefusesEscapingNames(t *testing.T) {
	d, err := localdir.Open(t.TempDir(), &localdir.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res := publish(t, d, "signatures", database(t, day1))
	m := res.Manifest
	for i, f := range m.Files {
		if f.Name == "local.ndb" {
			m.Files[i].Name = "../escape.ndb"
		}
	}
	repoint(t, d, "signatures", m)
	dst := filepath.Join(t.TempDir(), "db")
	_, err = sigset.Load(t.Context(), escaping{d, "sets/" + m.ID + "/local.ndb"}, "signatures", dst)
	if !errors.Is(err, sigset.ErrCorrupt) {
		t.Errorf("Load = %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape.ndb")); err == nil {
		t.Error("a file was written outside the target directory")
	}
}

// withVersions fills m's version IDs with the latest version of each file.
func withVersions(t *testing.T, d objects.Driver, bucket string, m sigset.Manifest) sigset.Manifest {
	t.Helper()
	files := append([]sigset.File(nil), m.Files...)
	for i, f := range files {
		info, err := d.Head(t.Context(), domain.ObjectRef{Bucket: bucket, Key: "sets/" + m.ID + "/" + f.Name})
		if err != nil {
			t.Fatal(err)
		}
		files[i].VersionID = info.Ref.VersionID
	}
	m.Files = files
	return m
}

// Load refuses a directory holding files it did not write (it never
// mixes two databases, nor deletes what is not its own), and replaces a
// set it loaded before: a restarted process finds its own /tmp.
func TestLoadDirectory(t *testing.T) {
	d, err := localdir.Open(t.TempDir(), &localdir.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first := publish(t, d, "signatures", database(t, day1))
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "other.ndb"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sigset.Load(t.Context(), d, "signatures", foreign); err == nil {
		t.Error("Load into a directory of foreign files succeeded")
	}
	if _, err := os.Stat(filepath.Join(foreign, "other.ndb")); err != nil {
		t.Errorf("the foreign file is gone: %v", err)
	}
	dir := t.TempDir() // empty
	if _, err := sigset.Load(t.Context(), d, "signatures", dir); err != nil {
		t.Fatalf("Load into an empty directory: %v", err)
	}
	var loaded sigset.Manifest
	b, err := os.ReadFile(filepath.Join(dir, sigset.LoadedManifest))
	if err != nil || json.Unmarshal(b, &loaded) != nil || loaded.ID != first.Manifest.ID {
		t.Errorf("%s names %q (%v), want %s", sigset.LoadedManifest, loaded.ID, err, first.Manifest.ID)
	}
	newer := database(t, day2)
	second := publish(t, d, "signatures", newer)
	if _, err := sigset.Load(t.Context(), d, "signatures", dir); err != nil {
		t.Fatalf("Load over an earlier load: %v", err)
	}
	sameDatabase(t, newer, dir)
	if db, _ := engine.ReadDatabase(dir); !db.BuiltAt.Equal(second.Manifest.BuiltAt) {
		t.Errorf("reloaded database built %s, want %s", db.BuiltAt, second.Manifest.BuiltAt)
	}
}

// Refresh starts freshclam from the current set (so it fetches only
// what changed), and publishes only a changed database.
func TestRefresh(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			d, bucket := b.open(t)
			src := database(t, day1)
			var seen []string
			copyFrom := func(from string) func(context.Context, string) error {
				return func(_ context.Context, dir string) error {
					ents, _ := os.ReadDir(dir)
					seen = seen[:0]
					for _, e := range ents {
						if engine.IsSignatureFile(e.Name()) {
							seen = append(seen, e.Name())
						}
					}
					for _, name := range []string{"main.cvd", "daily.cld", "local.ndb"} {
						in, err := os.ReadFile(filepath.Join(from, name))
						if err != nil {
							return err
						}
						fi, _ := os.Stat(filepath.Join(from, name))
						if err := os.WriteFile(filepath.Join(dir, name), in, 0o644); err != nil {
							return err
						}
						os.Chtimes(filepath.Join(dir, name), fi.ModTime(), fi.ModTime())
					}
					return nil
				}
			}
			res, err := sigset.Refresh(t.Context(), d, bucket, t.TempDir(), copyFrom(src), sigset.Options{})
			if err != nil || !res.Published {
				t.Fatalf("first Refresh = %+v, %v; want published", res, err)
			}
			if len(seen) != 0 {
				t.Errorf("first update started from %v, want an empty directory", seen)
			}
			res, err = sigset.Refresh(t.Context(), d, bucket, t.TempDir(), copyFrom(src), sigset.Options{})
			if err != nil || res.Published {
				t.Fatalf("unchanged Refresh = %+v, %v; want nothing published", res, err)
			}
			if len(seen) != 3 {
				t.Errorf("second update started from %v, want the current set's 3 files", seen)
			}
			res, err = sigset.Refresh(t.Context(), d, bucket, t.TempDir(), copyFrom(database(t, day2)), sigset.Options{})
			if err != nil || !res.Published || !res.Manifest.BuiltAt.Equal(day2) {
				t.Fatalf("newer Refresh = %+v, %v; want day2 published", res, err)
			}
			failed := errors.New("freshclam failed")
			if _, err := sigset.Refresh(t.Context(), d, bucket, t.TempDir(), func(context.Context, string) error { return failed }, sigset.Options{}); !errors.Is(err, failed) {
				t.Errorf("Refresh with a failing update = %v, want it wrapped", err)
			}
			if p, _ := sigset.ReadPointer(t.Context(), d, bucket); !p.BuiltAt.Equal(day2) {
				t.Errorf("a failed update moved the pointer to %s", p.Set)
			}
		})
	}
}
