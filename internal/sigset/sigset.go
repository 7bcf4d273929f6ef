// Package sigset publishes signature databases to a bucket as versioned
// sets, and loads the current set into a local directory for clamd.
//
// Functions that scan start with an empty /tmp and no VPC or EFS, so the
// database they load has to come from S3; and the updater that writes it
// runs while they read. A reader must therefore never see a half-published
// set. Publish writes, in this order:
//
//	sets/ID/NAME            each signature file (.cvd, .cld, .ndb, ...)
//	sets/ID/manifest.json   every file's name, size, SHA-256, mtime and version ID
//	current.json            the pointer: the set ID and the manifest's SHA-256
//
// The pointer is written last, in one PUT, so it names only a set whose
// files are all in place. Load follows it and checks the manifest against
// the pointer's hash and every file against the manifest, so a set that is
// torn anyway (a file deleted or overwritten by hand, a partial upload)
// fails to load: the scanner then fails closed instead of scanning with
// whatever arrived.
//
// A set's ID is its build time and a hash of its files, so publishing the
// same database again is a no-op, and listing sets/ sorts them by age.
package sigset

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
	"slices"
	"strings"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/objects"
)

// Keys in the signatures bucket.
const (
	// PointerKey names the current set. It is the only key a reader
	// starts from, and the last one Publish writes.
	PointerKey   = "current.json"
	setsPrefix   = "sets/"
	manifestName = "manifest.json"
)

// LoadedManifest is the file Load leaves in the directory it fills: the
// manifest of the set it holds, for people (which set is this?) and as
// the mark that Load may replace the directory's contents next time.
// clamd and the engine ignore it: it is not a signature file.
const LoadedManifest = ".sigset.json"

// maxManifestBytes bounds what Load reads as JSON: a database has a few
// dozen files at most.
const maxManifestBytes = 1 << 20

var (
	// ErrNoSet: nothing has been published yet.
	ErrNoSet = errors.New("sigset: no signature set published")
	// ErrCorrupt: the pointer, the manifest or a file does not match what
	// it should; the set cannot be trusted.
	ErrCorrupt = errors.New("sigset: signature set does not match its manifest")
	// ErrOlder: Publish was asked to replace the current set with an older
	// database (a stale mirror); it refuses, so the scanners keep the
	// newer one.
	ErrOlder = errors.New("sigset: database is older than the current set")
)

// File is one signature file of a set.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// ModTime is restored on load: the engine dates custom signature
	// files (.ndb, .yar, ...) by their modification time, so a load must
	// not make old custom signatures look new.
	ModTime time.Time `json:"modTime"`
	// VersionID pins the object version written (empty on an unversioned
	// bucket), so a later overwrite of the key cannot change the set.
	VersionID string `json:"versionId,omitempty"`
}

// Manifest describes a published set.
type Manifest struct {
	ID string `json:"id"`
	// Version and BuiltAt are engine.ReadDatabase's description of the
	// files, for people and for the updater's ordering check.
	Version     string    `json:"version"`
	BuiltAt     time.Time `json:"builtAt"`
	PublishedAt time.Time `json:"publishedAt"`
	Files       []File    `json:"files"`
}

// Pointer is the content of PointerKey.
type Pointer struct {
	Set               string    `json:"set"`
	Manifest          string    `json:"manifest"`
	ManifestVersionID string    `json:"manifestVersionId,omitempty"`
	ManifestSHA256    string    `json:"manifestSha256"`
	Version           string    `json:"version"`
	BuiltAt           time.Time `json:"builtAt"`
	PublishedAt       time.Time `json:"publishedAt"`
}

// Result is what Publish did.
type Result struct {
	Manifest Manifest
	// Published is false when the set was already current.
	Published bool
}

// Options are Publish's knobs; the zero value is the default.
type Options struct {
	// Now is the clock for PublishedAt; nil means time.Now.
	Now func() time.Time
}

// setID names a set by its database's build time and its files, so the
// same files always make the same ID.
func setID(builtAt time.Time, files []File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00%s\n", f.Name, f.Size, f.SHA256)
	}
	return builtAt.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

func fileKey(id, name string) string { return setsPrefix + id + "/" + name }

// describe reads the signature files of dir: engine.ReadDatabase's view of
// it, and each file's size, hash and mtime.
func describe(dir string) (engine.Database, []File, error) {
	db, err := engine.ReadDatabase(dir)
	if err != nil {
		return engine.Database{}, nil, fmt.Errorf("sigset: %w", err)
	}
	var files []File
	for _, name := range slices.Sorted(slices.Values(db.Files)) {
		f, err := hashFile(filepath.Join(dir, name))
		if err != nil {
			return engine.Database{}, nil, err
		}
		f.Name = name
		files = append(files, f)
	}
	return db, files, nil
}

func hashFile(path string) (File, error) {
	in, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("sigset: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return File{}, fmt.Errorf("sigset: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, in)
	if err != nil {
		return File{}, fmt.Errorf("sigset: read %s: %w", path, err)
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), ModTime: fi.ModTime().UTC()}, nil
}

// Publish makes the signature files in dir the current set of bucket. It
// does nothing when they already are (Result.Published false), and refuses
// with ErrOlder a database built before the current set's.
func Publish(ctx context.Context, d objects.Driver, bucket, dir string, opts Options) (Result, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	db, files, err := describe(dir)
	if err != nil {
		return Result{}, err
	}
	m := Manifest{ID: setID(db.BuiltAt, files), Version: db.Version, BuiltAt: db.BuiltAt, Files: files}
	cur, err := ReadPointer(ctx, d, bucket)
	switch {
	case errors.Is(err, ErrNoSet), errors.Is(err, ErrCorrupt):
		// Nothing usable is current: publishing repairs it.
	case err != nil:
		return Result{}, err
	case cur.Set == m.ID:
		m.PublishedAt = cur.PublishedAt
		return Result{Manifest: m}, nil
	case cur.BuiltAt.After(m.BuiltAt):
		return Result{Manifest: m}, fmt.Errorf("%w: %s (built %s) would replace %s (built %s)",
			ErrOlder, m.ID, m.BuiltAt.Format(time.RFC3339), cur.Set, cur.BuiltAt.Format(time.RFC3339))
	}
	for i, f := range m.Files {
		ref, err := putFile(ctx, d, bucket, fileKey(m.ID, f.Name), filepath.Join(dir, f.Name))
		if err != nil {
			return Result{}, err
		}
		if ref.Size != f.Size {
			// The file changed between hashing and upload (freshclam
			// still running?): never publish bytes the manifest does
			// not describe.
			return Result{}, fmt.Errorf("sigset: %s changed while it was published (%d bytes hashed, %d written)", f.Name, f.Size, ref.Size)
		}
		m.Files[i].VersionID = ref.VersionID
	}
	m.PublishedAt = now().UTC()
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("sigset: %w", err)
	}
	mkey := fileKey(m.ID, manifestName)
	mref, err := d.Put(ctx, bucket, mkey, bytes.NewReader(mb), objects.PutOptions{ContentType: "application/json"})
	if err != nil {
		return Result{}, fmt.Errorf("sigset: publish %s: %w", mkey, err)
	}
	sum := sha256.Sum256(mb)
	p := Pointer{
		Set: m.ID, Manifest: mkey, ManifestVersionID: mref.VersionID, ManifestSHA256: hex.EncodeToString(sum[:]),
		Version: m.Version, BuiltAt: m.BuiltAt, PublishedAt: m.PublishedAt,
	}
	pb, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("sigset: %w", err)
	}
	// Last: until this PUT, readers keep loading the previous set.
	if _, err := d.Put(ctx, bucket, PointerKey, bytes.NewReader(pb), objects.PutOptions{ContentType: "application/json"}); err != nil {
		return Result{}, fmt.Errorf("sigset: publish %s: %w", PointerKey, err)
	}
	return Result{Manifest: m, Published: true}, nil
}

func putFile(ctx context.Context, d objects.Driver, bucket, key, path string) (domain.ObjectRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return domain.ObjectRef{}, fmt.Errorf("sigset: %w", err)
	}
	defer f.Close()
	ref, err := d.Put(ctx, bucket, key, f, objects.PutOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return domain.ObjectRef{}, fmt.Errorf("sigset: publish %s: %w", key, err)
	}
	return ref, nil
}

// ReadPointer returns the current set's pointer: ErrNoSet when there is
// none, ErrCorrupt when it cannot be read as one.
func ReadPointer(ctx context.Context, d objects.Driver, bucket string) (Pointer, error) {
	b, err := readSmall(ctx, d, domain.ObjectRef{Bucket: bucket, Key: PointerKey})
	if errcode.Of(err) == errcode.NotFound {
		return Pointer{}, fmt.Errorf("%w in bucket %s", ErrNoSet, bucket)
	}
	if err != nil {
		return Pointer{}, err
	}
	var p Pointer
	if err := json.Unmarshal(b, &p); err != nil || p.Set == "" || p.Manifest == "" || p.ManifestSHA256 == "" {
		return Pointer{}, fmt.Errorf("%w: %s/%s is not a set pointer (%v)", ErrCorrupt, bucket, PointerKey, err)
	}
	return p, nil
}

func readSmall(ctx context.Context, d objects.Driver, ref domain.ObjectRef) ([]byte, error) {
	rc, _, err := d.Open(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("sigset: read %s: %w", ref.Key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("sigset: read %s: %w", ref.Key, err)
	}
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, ref.Key, maxManifestBytes)
	}
	return b, nil
}

// ReadManifest returns the manifest the pointer p names, checked against
// the hash p records.
func ReadManifest(ctx context.Context, d objects.Driver, bucket string, p Pointer) (Manifest, error) {
	b, err := readSmall(ctx, d, domain.ObjectRef{Bucket: bucket, Key: p.Manifest, VersionID: p.ManifestVersionID})
	if errcode.Of(err) == errcode.NotFound {
		return Manifest{}, fmt.Errorf("%w: set %s: %w", ErrCorrupt, p.Set, err)
	}
	if err != nil {
		return Manifest{}, err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != p.ManifestSHA256 {
		return Manifest{}, fmt.Errorf("%w: set %s: %s has SHA-256 %x, the pointer says %s", ErrCorrupt, p.Set, p.Manifest, sum, p.ManifestSHA256)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: set %s: %s: %w", ErrCorrupt, p.Set, p.Manifest, err)
	}
	if m.ID != p.Set || len(m.Files) == 0 {
		return Manifest{}, fmt.Errorf("%w: set %s: manifest names set %q with %d files", ErrCorrupt, p.Set, m.ID, len(m.Files))
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		// Names become paths under the target directory: only plain
		// signature file names, each once.
		if f.Name != filepath.Base(f.Name) || strings.ContainsAny(f.Name, `/\`) || f.Name == "." || f.Name == ".." ||
			!engine.IsSignatureFile(f.Name) || seen[f.Name] || f.Size < 0 || len(f.SHA256) != 64 {
			return Manifest{}, fmt.Errorf("%w: set %s: bad file entry %q", ErrCorrupt, p.Set, f.Name)
		}
		seen[f.Name] = true
	}
	return m, nil
}

// Load writes the current set of bucket into dir and returns its
// manifest. dir must be missing, empty, or hold a set an earlier Load
// wrote (a restarted process finds its own /tmp): anything else is
// refused rather than mixed with or deleted. Every file is checked
// against the manifest's size and SHA-256 before dir changes: on any
// error dir is left as it was, and the caller must not start clamd on
// a directory Load did not fill.
func Load(ctx context.Context, d objects.Driver, bucket, dir string) (Manifest, error) {
	p, err := ReadPointer(ctx, d, bucket)
	if err != nil {
		return Manifest{}, err
	}
	m, err := ReadManifest(ctx, d, bucket, p)
	if err != nil {
		return Manifest{}, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Manifest{}, fmt.Errorf("sigset: load set %s: %w", m.ID, err)
	}
	if len(ents) > 0 {
		if _, err := os.Stat(filepath.Join(dir, LoadedManifest)); err != nil {
			return Manifest{}, fmt.Errorf("sigset: load set %s: %s holds files that no earlier load wrote", m.ID, dir)
		}
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("sigset: load set %s: %w", m.ID, err)
	}
	stage, err := os.MkdirTemp(parent, ".sigset-load-*")
	if err != nil {
		return Manifest{}, fmt.Errorf("sigset: load set %s: %w", m.ID, err)
	}
	defer os.RemoveAll(stage) // after the rename, a no-op
	for _, f := range m.Files {
		if err := loadFile(ctx, d, bucket, m.ID, f, filepath.Join(stage, f.Name)); err != nil {
			return Manifest{}, err
		}
	}
	// The engine must read the same database the manifest describes: the
	// staleness guard judges what clamd will load.
	db, err := engine.ReadDatabase(stage)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: set %s: %w", ErrCorrupt, m.ID, err)
	}
	if db.Version != m.Version || !db.BuiltAt.Equal(m.BuiltAt) {
		return Manifest{}, fmt.Errorf("%w: set %s: files describe %q built %s, the manifest %q built %s",
			ErrCorrupt, m.ID, db.Version, db.BuiltAt.Format(time.RFC3339), m.Version, m.BuiltAt.Format(time.RFC3339))
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, fmt.Errorf("sigset: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stage, LoadedManifest), mb, 0o644); err != nil {
		return Manifest{}, fmt.Errorf("sigset: load set %s: %w", m.ID, err)
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("sigset: load set %s: %w", m.ID, err)
	}
	// os.Rename refuses an existing directory, even an empty one: remove
	// it (empty, or an earlier load's, as checked above) first.
	if err := os.RemoveAll(dir); err != nil {
		return Manifest{}, fmt.Errorf("sigset: load set %s: %w", m.ID, err)
	}
	if err := os.Rename(stage, dir); err != nil {
		return Manifest{}, fmt.Errorf("sigset: load set %s: %w", m.ID, err)
	}
	return m, nil
}

func loadFile(ctx context.Context, d objects.Driver, bucket, id string, f File, path string) error {
	key := fileKey(id, f.Name)
	rc, _, err := d.Open(ctx, domain.ObjectRef{Bucket: bucket, Key: key, VersionID: f.VersionID})
	if errcode.Of(err) == errcode.NotFound {
		return fmt.Errorf("%w: set %s: %s is missing: %w", ErrCorrupt, id, key, err)
	}
	if err != nil {
		return fmt.Errorf("sigset: load %s: %w", key, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("sigset: load %s: %w", key, err)
	}
	h := sha256.New()
	// One byte more than the manifest says, to notice a longer object.
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(rc, f.Size+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sigset: load %s: %w", key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != f.Size || got != f.SHA256 {
		return fmt.Errorf("%w: set %s: %s has %d bytes with SHA-256 %s, the manifest says %d bytes with %s",
			ErrCorrupt, id, key, n, got, f.Size, f.SHA256)
	}
	if err := os.Chtimes(path, f.ModTime, f.ModTime); err != nil {
		return fmt.Errorf("sigset: load %s: %w", key, err)
	}
	return nil
}

// Refresh brings bucket's current set up to date. It loads the current
// set into work/db (so that freshclam fetches only what changed, as
// .cdiff updates, rather than the whole database from the mirror every
// time), runs update on that directory, and publishes the result. A
// missing or torn current set starts update from an empty directory, and
// the set it publishes replaces the torn one.
func Refresh(ctx context.Context, d objects.Driver, bucket, work string, update func(ctx context.Context, dir string) error, opts Options) (Result, error) {
	dir := filepath.Join(work, "db")
	if _, err := Load(ctx, d, bucket, dir); err != nil {
		if !errors.Is(err, ErrNoSet) && !errors.Is(err, ErrCorrupt) {
			return Result{}, err
		}
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Result{}, fmt.Errorf("sigset: %w", err)
		}
	}
	if err := update(ctx, dir); err != nil {
		return Result{}, fmt.Errorf("sigset: update: %w", err)
	}
	return Publish(ctx, d, bucket, dir, opts)
}
