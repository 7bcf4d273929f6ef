// Package localdir is the local-directory driver of package objects. In
// scangate's embedded default, an "S3 bucket" is a folder on disk.
//
// # Layout
//
// Keys never become paths. An S3 key is up to 1024 bytes of almost anything,
// while a path component is limited to 255 bytes and a key such as "../x"
// must never escape. Each key is stored under the hex SHA-256 of the key,
// and the real key is kept in the version's metadata file:
//
//	<root>/<bucket>/objects/<sha256(key)>/<versionID>/meta.json
//	<root>/<bucket>/objects/<sha256(key)>/<versionID>/data
//	<root>/<bucket>/objects/<sha256(key)>/<versionID>/tags.log
//	<root>/<bucket>/tmp/      staging for new versions, trash for deleted ones
//
// Every file operation also goes through an [os.Root], so even a bug in the
// name checks cannot reach a file outside root.
//
// # Versions
//
// Buckets are always versioned. Every Put and Copy creates a version with a
// fresh VersionID: 40 lowercase hex digits, a big-endian nanosecond
// timestamp followed by 12 random bytes. Within one key the IDs increase
// strictly, even after a restart with a clock that went backwards, so the
// largest ID is the latest version. A version becomes visible in one atomic
// rename of a complete folder (data and metadata, both fsynced), so a failed
// or cancelled Put leaves no version behind. Leftovers of a crash stay in
// the bucket's tmp folder and are ignored.
//
// # ETags
//
// ETags follow S3 for single-part uploads: the hex MD5 of the bytes in
// double quotes, such as "9e107d9d372bb6826bd81d3542a419d6". When a ref
// carries an ETag, it matches the stored one with or without the quotes and
// in any letter case, because S3 event notifications carry ETags unquoted
// while S3's API quotes them.
//
// # Metadata and tags
//
// The driver keeps the S3 limits, so that the embedded default accepts
// nothing that production refuses: metadata names are HTTP header tokens,
// stored in lowercase as S3 does, and names plus values take at most 2 KB;
// at most 10 tags, keys of 1 to 128 and values of up to 256 characters from
// S3's tag alphabet (letters, digits, spaces and _ . : / = + - @), with the
// "aws:" prefix reserved. Tags set after the Put are appended to the
// version's tags.log (see appendTags); meta.json is never rewritten. Copy carries the source's Content-Type over when
// the options name none; it never carries metadata or tags.
//
// # Errors
//
// Errors are *errcode.Error values named "localdir: <op>" with the object
// they concern. They never include file-system paths. Codes: Invalid for a
// bad bucket name, key, metadata or tag set; NotFound for a missing bucket,
// key or version; Changed when a ref's ETag is not the stored one;
// Unavailable when ctx ends (errors.Is(err, context.Canceled) or
// context.DeadlineExceeded still holds); Unknown for anything else.
package localdir

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
)

var _ objects.Driver = (*Driver)(nil)

// Options configure a Driver. The zero value means the defaults.
type Options struct {
	// NoSync skips fsync of data, metadata and folders. It makes tests
	// faster; after a machine crash recent versions may be lost or torn.
	NoSync bool
}

// Driver stores objects in a local folder. It is safe for concurrent use.
// Each Driver should be the only one writing its root.
type Driver struct {
	path   string
	root   *os.Root
	noSync bool
	// now is the clock behind VersionIDs and LastModified; tests replace it.
	now func() time.Time

	// keyLocks serialise the commits of one key: its new versions, tag
	// writes and deletes. Keys live in folders of their own, so commits
	// of different keys need no order between them, and one key's syncs
	// (a quarantine copy makes five) do not hold up every other key's tag
	// write, as a single lock did. A lock is never held while object bytes
	// are streamed. Keys share the locks by hash.
	keyLocks [64]sync.Mutex
	// lastMu guards last, the timestamp of the last VersionID made.
	lastMu sync.Mutex
	last   uint64

	// metas holds versions' parsed meta.json by folder, for
	// openVersion: a version's metadata never changes once its folder is
	// in place, and its VersionID is never made again, so an entry holds
	// for as long as the folder exists, which openVersion checks first
	// by opening it. A clean object's scan and tag each read it, so the
	// cache spares the pipeline a file read and a JSON parse per step.
	// At most maxMetas entries: a full cache starts over.
	metaMu sync.Mutex
	metas  map[string]*meta
}

// maxMetas bounds Driver.metas; an entry is a few hundred bytes.
const maxMetas = 4096

// keyLock is the lock of bucket/key's commits.
func (d *Driver) keyLock(bucket, key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return &d.keyLocks[h.Sum32()%uint32(len(d.keyLocks))]
}

// Folder and file names inside the root. None is ever derived from a key.
const (
	objectsDir = "objects"
	tmpDir     = "tmp"
	metaFile   = "meta.json"
	dataFile   = "data"
	tagsFile   = "tags.log"

	dirPerm  = 0o700
	filePerm = 0o600

	// chunkSize is how much Put reads between checks of ctx.
	chunkSize = 128 << 10
)

// Open returns a Driver storing objects under root, creating the folder if
// it is missing. Close releases it. opts may be nil.
func Open(root string, opts *Options) (*Driver, error) {
	const op = "localdir: open root"
	if root == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, errcode.Errorf(errcode.Invalid, op, root, "%w", err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, errcode.Errorf(errcode.Unknown, op, root, "%w", pathless(err))
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, errcode.Errorf(errcode.Unknown, op, root, "%w", pathless(err))
	}
	d := &Driver{path: abs, root: r, now: time.Now}
	if opts != nil {
		d.noSync = opts.NoSync
	}
	return d, nil
}

// Root returns the absolute path of the driver's root folder.
func (d *Driver) Root() string { return d.path }

// Close releases the root folder. The Driver must not be used afterwards.
func (d *Driver) Close() error { return d.root.Close() }

// meta is the content of a version's meta.json.
type meta struct {
	Key          string            `json:"key"`
	VersionID    string            `json:"versionId"`
	ETag         string            `json:"etag"`
	Size         int64             `json:"size"`
	SHA256       string            `json:"sha256,omitempty"`
	ContentType  string            `json:"contentType,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	LastModified time.Time         `json:"lastModified"`
}

func (m *meta) info(bucket string) objects.Info {
	return objects.Info{
		Ref: domain.ObjectRef{
			Bucket:    bucket,
			Key:       m.Key,
			VersionID: m.VersionID,
			ETag:      m.ETag,
			Size:      m.Size,
		},
		ContentType:   m.ContentType,
		Metadata:      maps.Clone(m.Metadata),
		LastModified:  m.LastModified,
		SHA256:        m.SHA256,
		TagCount:      len(m.Tags),
		TagCountKnown: true,
	}
}

// version is a resolved, existing version.
type version struct {
	dir  string // relative to the root
	meta *meta
	// root is the version's folder, opened once by resolve: the files in
	// it are opened through it, one path component each, where a path
	// from the driver's root costs an openat and a close per folder on
	// the way. Release it with close.
	root *os.Root
}

// close releases v's folder.
func (v version) close() {
	if v.root != nil {
		v.root.Close()
	}
}

// Open returns exactly ref's bytes, read straight from the version's file.
// A concurrent Delete does not cut a stream that is already open.
func (d *Driver) Open(ctx context.Context, ref domain.ObjectRef) (io.ReadCloser, objects.Info, error) {
	const op = "localdir: open"
	if err := ctxErr(ctx, op, objects.RefID(ref)); err != nil {
		return nil, objects.Info{}, err
	}
	f, v, err := d.openData(op, ref)
	if err != nil {
		return nil, objects.Info{}, err
	}
	defer v.close()
	info, err := d.info(v, ref.Bucket)
	if err != nil {
		f.Close()
		return nil, objects.Info{}, osError(op, objects.RefID(ref), err)
	}
	return f, info, nil
}

// info describes v, with the tag count of its tag log: the tags SetTags
// wrote last, not meta.json's from the upload.
func (d *Driver) info(v version, bucket string) (objects.Info, error) {
	info := v.meta.info(bucket)
	tags, err := d.readTags(v)
	if err != nil {
		return objects.Info{}, err
	}
	info.TagCount = len(tags)
	return info, nil
}

// openData resolves ref and opens its data file. With an empty VersionID a
// concurrent delete of the latest version makes it look again. The caller
// closes the file and the version.
func (d *Driver) openData(op string, ref domain.ObjectRef) (*os.File, version, error) {
	for attempt := 0; ; attempt++ {
		v, err := d.resolve(op, ref)
		if err != nil {
			return nil, version{}, err
		}
		f, err := v.root.Open(dataFile)
		if errors.Is(err, fs.ErrNotExist) && ref.VersionID == "" && attempt < 3 {
			v.close()
			continue
		}
		if err != nil {
			v.close()
			return nil, version{}, osError(op, objects.RefID(ref), err)
		}
		st, err := f.Stat()
		if err == nil && st.Size() != v.meta.Size {
			err = fmt.Errorf("stored data is %d bytes, metadata says %d", st.Size(), v.meta.Size)
		}
		if err != nil {
			f.Close()
			v.close()
			return nil, version{}, osError(op, objects.RefID(ref), err)
		}
		return f, v, nil
	}
}

// Head describes the version ref names.
func (d *Driver) Head(ctx context.Context, ref domain.ObjectRef) (objects.Info, error) {
	const op = "localdir: head"
	if err := ctxErr(ctx, op, objects.RefID(ref)); err != nil {
		return objects.Info{}, err
	}
	v, err := d.resolve(op, ref)
	if err != nil {
		return objects.Info{}, err
	}
	defer v.close()
	info, err := d.info(v, ref.Bucket)
	if err != nil {
		return objects.Info{}, osError(op, objects.RefID(ref), err)
	}
	return info, nil
}

// Tags returns the tags of exactly ref's version, never nil.
func (d *Driver) Tags(ctx context.Context, ref domain.ObjectRef) (map[string]string, error) {
	const op = "localdir: tags"
	if err := ctxErr(ctx, op, objects.RefID(ref)); err != nil {
		return nil, err
	}
	v, err := d.resolve(op, ref)
	if err != nil {
		return nil, err
	}
	defer v.close()
	tags, err := d.readTags(v)
	if err != nil {
		return nil, osError(op, objects.RefID(ref), err)
	}
	if tags == nil {
		tags = map[string]string{}
	}
	return tags, nil
}

// SetTags replaces the tags of exactly ref's version. The new set is one
// line appended to the version's tag log and synced, so readers see the
// old tags or the new ones.
func (d *Driver) SetTags(ctx context.Context, ref domain.ObjectRef, tags map[string]string) error {
	const op = "localdir: set tags"
	id := objects.RefID(ref)
	if err := ctxErr(ctx, op, id); err != nil {
		return err
	}
	if err := objects.CheckTags(op, id, tags); err != nil {
		return err
	}
	mu := d.keyLock(ref.Bucket, ref.Key)
	mu.Lock()
	defer mu.Unlock()
	v, err := d.resolve(op, ref)
	if err != nil {
		return err
	}
	defer v.close()
	if err := d.appendTags(v, tags); err != nil {
		return osError(op, id, err)
	}
	return nil
}

// The tag log: a version's tags after its Put are the last complete line
// of its tags.log, a JSON object, or, while it has none, those of
// meta.json. Appending a line and syncing the file is one fsync, where
// replacing meta.json (a new file, a rename, the folder synced) was two
// and four more system calls; tagging is the one write to the bucket
// that every clean object costs. Each line starts and ends with a
// newline, so a line torn by a crash is left alone by the next one and
// skipped by readers. The log grows by a line per SetTags, which the
// lifecycle bounds (a record's history holds at most a few hundred
// transitions); Delete removes it with its version.

// appendTags appends tags to v's tag log. The caller holds v's key lock.
func (d *Driver) appendTags(v version, tags map[string]string) error {
	if tags == nil {
		tags = map[string]string{}
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return err
	}
	line := make([]byte, 0, len(b)+2)
	line = append(append(append(line, '\n'), b...), '\n')
	f, err := v.root.OpenFile(tagsFile, os.O_WRONLY|os.O_APPEND, filePerm)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		// A version stored before tag logs existed.
		f, err = v.root.OpenFile(tagsFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, filePerm)
		created = true
	}
	if err != nil {
		return err
	}
	if err := d.writeClose(f, line); err != nil {
		return err
	}
	if created {
		d.syncDir(v.dir)
	}
	return nil
}

// readTags returns v's tags: the tag log's last complete line, else
// meta.json's.
func (d *Driver) readTags(v version) (map[string]string, error) {
	b, err := v.root.ReadFile(tagsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return maps.Clone(v.meta.Tags), nil
	}
	if err != nil {
		return nil, err
	}
	for len(b) > 0 {
		end := bytes.LastIndexByte(b, '\n')
		if end < 0 {
			break
		}
		start := bytes.LastIndexByte(b[:end], '\n') + 1
		if line := b[start:end]; len(line) > 0 {
			var tags map[string]string
			if json.Unmarshal(line, &tags) == nil && tags != nil {
				if len(tags) == 0 {
					return nil, nil
				}
				return tags, nil
			}
		}
		b = b[:end]
	}
	return maps.Clone(v.meta.Tags), nil
}

// Put stores a new version of bucket/key, streaming r to disk.
func (d *Driver) Put(ctx context.Context, bucket, key string, r io.Reader, opts objects.PutOptions) (domain.ObjectRef, error) {
	const op = "localdir: put"
	w, err := d.checkWrite(op, bucket, key, opts)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	w.contentType = opts.ContentType
	return d.write(ctx, op, w, r)
}

// Copy stores exactly src's bytes as a new version of dstBucket/dstKey, with
// the metadata and tags in opts only. The Content-Type is opts.ContentType,
// or the source's when that is empty.
func (d *Driver) Copy(ctx context.Context, src domain.ObjectRef, dstBucket, dstKey string, opts objects.PutOptions) (domain.ObjectRef, error) {
	const op = "localdir: copy"
	w, err := d.checkWrite(op, dstBucket, dstKey, opts)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	if err := ctxErr(ctx, op, objects.RefID(src)); err != nil {
		return domain.ObjectRef{}, err
	}
	f, v, err := d.openData(op, src)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	defer f.Close()
	defer v.close()
	w.contentType = opts.ContentType
	if w.contentType == "" {
		w.contentType = v.meta.ContentType
	}
	// A version's data file is never changed after its commit, so the copy
	// can share it: a hard link instead of a second pass over the bytes
	// (for a large infected object, the quarantine copy used to cost more
	// CPU than its scan). The sums are the source's, which Put computed
	// from these very bytes. Where linking is refused (another file system
	// under the root, one without hard links), the bytes are copied.
	w.link = &linkSource{data: filepath.Join(v.dir, dataFile), meta: v.meta}
	return d.write(ctx, op, w, f)
}

// linkSource is the committed version a Copy may hard-link instead of
// streaming.
type linkSource struct {
	data string // the version's data file, relative to the root
	meta *meta
}

// Delete removes exactly ref's version; a missing one is not an error.
// When the latest version is deleted, the one before it becomes the latest.
func (d *Driver) Delete(ctx context.Context, ref domain.ObjectRef) error {
	const op = "localdir: delete"
	if err := ctxErr(ctx, op, objects.RefID(ref)); err != nil {
		return err
	}
	trash, err := d.unlink(op, ref)
	if err != nil || trash == "" {
		return err
	}
	// The version is gone; failing to free its space leaves only tmp
	// litter, which every reader ignores.
	_ = d.root.RemoveAll(trash)
	return nil
}

// unlink moves ref's version folder to the bucket's tmp folder and returns
// where it went, or "" when there is no such version.
func (d *Driver) unlink(op string, ref domain.ObjectRef) (string, error) {
	id := objects.RefID(ref)
	mu := d.keyLock(ref.Bucket, ref.Key)
	mu.Lock()
	defer mu.Unlock()
	v, err := d.resolve(op, ref)
	if errcode.Of(err) == errcode.NotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	v.close() // only its path is needed
	trash := filepath.Join(ref.Bucket, tmpDir, "delete-"+randomHex(12))
	// The tmp folder is made by the bucket's first write and only looked
	// for when the rename finds none: an mkdir of an existing folder is a
	// system call that takes the folder's lock all the same.
	err = d.root.Rename(v.dir, trash)
	if errors.Is(err, fs.ErrNotExist) {
		if err = d.root.MkdirAll(filepath.Join(ref.Bucket, tmpDir), dirPerm); err == nil {
			err = d.root.Rename(v.dir, trash)
		}
	}
	if err != nil {
		return "", osError(op, id, err)
	}
	d.forgetMeta(v.dir)
	keyDir := filepath.Dir(v.dir)
	d.syncDir(keyDir)
	// Drop the key's folder with its last version. Put recreates it under
	// the same lock, so this cannot race with a commit.
	_ = d.root.Remove(keyDir)
	return trash, nil
}

// Versions returns every version of bucket/key, newest first. A key with
// no versions gives an empty list; a missing bucket gives NotFound.
func (d *Driver) Versions(ctx context.Context, bucket, key string) ([]objects.Info, error) {
	const op = "localdir: versions"
	id := objects.KeyID(bucket, key)
	if err := d.checkBucketExists(op, id, bucket); err != nil {
		return nil, err
	}
	keyDir := keyPath(bucket, key)
	ids, err := d.versionIDs(keyDir)
	if err != nil {
		return nil, osError(op, id, err)
	}
	var out []objects.Info
	for _, vid := range slices.Backward(ids) {
		if err := ctxErr(ctx, op, id); err != nil {
			return nil, err
		}
		m, err := d.readMeta(filepath.Join(keyDir, vid))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, osError(op, id, err)
		}
		if m.Key != key {
			continue
		}
		out = append(out, m.info(bucket))
	}
	return out, nil
}

// List returns the latest version of every key in bucket that starts with
// prefix, ordered by key. It reads one metadata file per key in the bucket,
// which suits the local runtime, not millions of keys.
func (d *Driver) List(ctx context.Context, bucket, prefix string) ([]objects.Info, error) {
	const op = "localdir: list"
	id := "s3://" + bucket + "/" + objects.ShortKey(prefix)
	if err := d.checkBucketExists(op, id, bucket); err != nil {
		return nil, err
	}
	entries, err := d.readDir(filepath.Join(bucket, objectsDir))
	if err != nil {
		return nil, osError(op, id, err)
	}
	var out []objects.Info
	for _, e := range entries {
		if err := ctxErr(ctx, op, id); err != nil {
			return nil, err
		}
		if !e.IsDir() || !isHex(e.Name(), 64) {
			continue
		}
		keyDir := filepath.Join(bucket, objectsDir, e.Name())
		v, err := d.latest(keyDir)
		if err != nil {
			return nil, osError(op, id, err)
		}
		if v != nil {
			v.close()
		}
		if v == nil || !strings.HasPrefix(v.meta.Key, prefix) || keyDirName(v.meta.Key) != e.Name() {
			continue
		}
		info := v.meta.info(bucket)
		// A listing does not read each version's tag log, as S3's does not
		// count tags.
		info.TagCount, info.TagCountKnown = 0, false
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b objects.Info) int { return strings.Compare(a.Ref.Key, b.Ref.Key) })
	return out, nil
}

// resolve finds the version ref names and checks its ETag. The caller
// closes the version.
func (d *Driver) resolve(op string, ref domain.ObjectRef) (version, error) {
	id := objects.RefID(ref)
	if err := checkBucket(op, id, ref.Bucket); err != nil {
		return version{}, err
	}
	keyDir := keyPath(ref.Bucket, ref.Key)
	var v version
	if ref.VersionID == "" {
		latest, err := d.latest(keyDir)
		if err != nil {
			return version{}, osError(op, id, err)
		}
		if latest == nil {
			return version{}, errcode.Errorf(errcode.NotFound, op, id, "no such key")
		}
		v = *latest
	} else {
		if !isHex(ref.VersionID, 40) {
			// Not an ID this driver makes, so no such version exists.
			return version{}, errcode.Errorf(errcode.NotFound, op, id, "no such version")
		}
		var err error
		v, err = d.openVersion(filepath.Join(keyDir, ref.VersionID))
		if errors.Is(err, fs.ErrNotExist) {
			return version{}, errcode.Errorf(errcode.NotFound, op, id, "no such version")
		}
		if err != nil {
			return version{}, osError(op, id, err)
		}
	}
	if v.meta.Key != ref.Key || v.meta.VersionID != filepath.Base(v.dir) {
		v.close()
		return version{}, errcode.Errorf(errcode.Unknown, op, id, "stored metadata does not match its place")
	}
	if ref.ETag != "" && !etagMatch(ref.ETag, v.meta.ETag) {
		v.close()
		return version{}, errcode.Errorf(errcode.Changed, op, id, "etag is %s", v.meta.ETag)
	}
	return v, nil
}

// latest returns the newest version in keyDir, or nil when there is none;
// the caller closes it. It looks past a version that is deleted while it
// looks.
func (d *Driver) latest(keyDir string) (*version, error) {
	for attempt := 0; ; attempt++ {
		ids, err := d.versionIDs(keyDir)
		if err != nil || len(ids) == 0 {
			return nil, err
		}
		for _, vid := range slices.Backward(ids) {
			v, err := d.openVersion(filepath.Join(keyDir, vid))
			if err == nil {
				return &v, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		// Every version listed vanished: concurrent deletes, perhaps with
		// a new Put behind them. Look again, a few times.
		if attempt == 2 {
			return nil, nil
		}
	}
}

// versionIDs lists the version folders in keyDir, oldest first.
func (d *Driver) versionIDs(keyDir string) ([]string, error) {
	entries, err := d.readDir(keyDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && isHex(e.Name(), 40) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil // readDir sorts by name, which is age
}

func (d *Driver) readDir(dir string) ([]fs.DirEntry, error) {
	f, err := d.root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

func (d *Driver) readMeta(dir string) (*meta, error) {
	b, err := d.root.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	return parseMeta(b)
}

// openVersion opens the version folder dir (relative to the root) and
// reads its metadata through it.
func (d *Driver) openVersion(dir string) (version, error) {
	r, err := d.root.OpenRoot(dir)
	if err != nil {
		return version{}, err
	}
	d.metaMu.Lock()
	m := d.metas[dir]
	d.metaMu.Unlock()
	if m != nil {
		return version{dir: dir, meta: m, root: r}, nil
	}
	b, err := r.ReadFile(metaFile)
	if err == nil {
		if m, err = parseMeta(b); err == nil {
			d.cacheMeta(dir, m)
			return version{dir: dir, meta: m, root: r}, nil
		}
	}
	r.Close()
	return version{}, err
}

// cacheMeta keeps m as the metadata of the version folder dir.
func (d *Driver) cacheMeta(dir string, m *meta) {
	d.metaMu.Lock()
	defer d.metaMu.Unlock()
	if d.metas == nil || len(d.metas) >= maxMetas {
		d.metas = make(map[string]*meta)
	}
	d.metas[dir] = m
}

// forgetMeta drops dir's entry from metas.
func (d *Driver) forgetMeta(dir string) {
	d.metaMu.Lock()
	delete(d.metas, dir)
	d.metaMu.Unlock()
}

func parseMeta(b []byte) (*meta, error) {
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("corrupt metadata: %w", err)
	}
	return &m, nil
}

func (d *Driver) writeMeta(name string, m *meta) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, err
	}
	return b, d.writeClose(f, b)
}

// writeClose writes b to f, syncs it unless the driver was opened NoSync,
// and closes it.
func (d *Driver) writeClose(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if !d.noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// syncDir makes a rename in dir durable. Failure is not reported: the
// rename has happened, and only its durability across a crash is at stake.
func (d *Driver) syncDir(dir string) {
	if d.noSync {
		return
	}
	if f, err := d.root.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}

// pending is a checked write: where a new version goes and what it carries.
type pending struct {
	bucket, key string
	contentType string
	metadata    map[string]string
	tags        map[string]string
	// link, when set, is a committed version holding exactly the bytes to
	// write.
	link *linkSource
}

func (d *Driver) checkWrite(op, bucket, key string, opts objects.PutOptions) (*pending, error) {
	id := objects.KeyID(bucket, key)
	if err := checkBucket(op, id, bucket); err != nil {
		return nil, err
	}
	if err := objects.ValidateKey(key); err != nil {
		return nil, err
	}
	if objects.HasControl(opts.ContentType) || !utf8.ValidString(opts.ContentType) {
		return nil, errcode.Errorf(errcode.Invalid, op, id, "content type contains a control character")
	}
	md, err := objects.CheckMetadata(op, id, opts.Metadata)
	if err != nil {
		return nil, err
	}
	if err := objects.CheckTags(op, id, opts.Tags); err != nil {
		return nil, err
	}
	tags := maps.Clone(opts.Tags)
	if len(tags) == 0 {
		tags = nil
	}
	return &pending{bucket: bucket, key: key, metadata: md, tags: tags}, nil
}

// write streams r into a staging folder and commits it as a new version.
// On any failure the staging folder is removed and no version appears.
func (d *Driver) write(ctx context.Context, op string, w *pending, r io.Reader) (ref domain.ObjectRef, err error) {
	id := objects.KeyID(w.bucket, w.key)
	if err := ctxErr(ctx, op, id); err != nil {
		return domain.ObjectRef{}, err
	}
	_, err = d.root.Stat(w.bucket)
	newBucket := errors.Is(err, fs.ErrNotExist)
	tmp := filepath.Join(w.bucket, tmpDir)
	stage := filepath.Join(tmp, "put-"+randomHex(12))
	// The tmp folder is made only when the stage finds none (see unlink).
	err = d.root.Mkdir(stage, dirPerm)
	if errors.Is(err, fs.ErrNotExist) {
		if err = d.root.MkdirAll(tmp, dirPerm); err == nil {
			err = d.root.Mkdir(stage, dirPerm)
		}
	}
	if err != nil {
		return domain.ObjectRef{}, osError(op, id, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = d.root.RemoveAll(stage)
		}
	}()

	size, sum, sha, err := d.stage(ctx, filepath.Join(stage, dataFile), w.link, r)
	if err != nil {
		if ctx.Err() != nil {
			return domain.ObjectRef{}, ctxErr(ctx, op, id)
		}
		return domain.ObjectRef{}, osError(op, id, err)
	}
	m := &meta{
		Key:         w.key,
		ETag:        `"` + hex.EncodeToString(sum) + `"`,
		Size:        size,
		SHA256:      hex.EncodeToString(sha),
		ContentType: w.contentType,
		Metadata:    w.metadata,
		Tags:        w.tags,
	}

	mu := d.keyLock(w.bucket, w.key)
	mu.Lock()
	defer mu.Unlock()
	if err := ctxErr(ctx, op, id); err != nil {
		return domain.ObjectRef{}, err
	}
	keyDir := keyPath(w.bucket, w.key)
	if err := d.root.MkdirAll(keyDir, dirPerm); err != nil {
		return domain.ObjectRef{}, osError(op, id, err)
	}
	ids, err := d.versionIDs(keyDir)
	if err != nil {
		return domain.ObjectRef{}, osError(op, id, err)
	}
	var newest string
	if len(ids) > 0 {
		newest = ids[len(ids)-1]
	}
	m.VersionID, m.LastModified = d.nextVersionID(newest)
	written, err := d.writeMeta(filepath.Join(stage, metaFile), m)
	if err != nil {
		return domain.ObjectRef{}, osError(op, id, err)
	}
	// An empty tag log, made with the version, so that tagging it later
	// appends to a file whose name is already durable.
	if f, err := d.root.OpenFile(filepath.Join(stage, tagsFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm); err != nil {
		return domain.ObjectRef{}, osError(op, id, err)
	} else if err := f.Close(); err != nil {
		return domain.ObjectRef{}, osError(op, id, err)
	}
	d.syncDir(stage)
	if err := d.root.Rename(stage, filepath.Join(keyDir, m.VersionID)); err != nil {
		return domain.ObjectRef{}, osError(op, id, err)
	}
	committed = true
	// The metadata as meta.json holds it, shared with no caller's maps:
	// the version's scan and its tagging read it next.
	if pm, err := parseMeta(written); err == nil {
		d.cacheMeta(filepath.Join(keyDir, m.VersionID), pm)
	}
	d.syncDir(keyDir)
	d.syncDir(filepath.Join(w.bucket, objectsDir))
	if newBucket {
		d.syncDir(w.bucket)
		d.syncDir(".")
	}
	return m.info(w.bucket).Ref, nil
}

// stage puts the new version's data file at name: a hard link to src's
// data when src is set and the file system allows it, else the bytes of r.
// It returns the size, MD5 and SHA-256 of the data.
func (d *Driver) stage(ctx context.Context, name string, src *linkSource, r io.Reader) (int64, []byte, []byte, error) {
	if src != nil && src.meta.SHA256 != "" {
		md, merr := hex.DecodeString(unquote(src.meta.ETag))
		sha, serr := hex.DecodeString(src.meta.SHA256)
		if merr == nil && serr == nil && len(md) == md5.Size && len(sha) == sha256.Size {
			if err := d.root.Link(src.data, name); err == nil {
				// The link is a new name in the staging folder, which the
				// commit syncs; the bytes were synced by their own Put.
				return src.meta.Size, md, sha, nil
			}
		}
	}
	return d.stream(ctx, name, r)
}

// stream copies r to a new file, checking ctx between chunks, and returns
// the size, MD5 and SHA-256 of what it wrote: the SHA-256 plays the part of
// S3's full-object checksum. Memory use is one chunk.
func (d *Driver) stream(ctx context.Context, name string, r io.Reader) (int64, []byte, []byte, error) {
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return 0, nil, nil, err
	}
	defer f.Close()
	h, s := md5.New(), sha256.New()
	size, err := copyChunks(ctx, io.MultiWriter(f, h, s), r)
	if err != nil {
		return 0, nil, nil, err
	}
	if !d.noSync {
		if err := f.Sync(); err != nil {
			return 0, nil, nil, err
		}
	}
	if err := f.Close(); err != nil {
		return 0, nil, nil, err
	}
	return size, h.Sum(nil), s.Sum(nil), nil
}

func copyChunks(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, chunkSize)
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return size, err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return size, err
			}
			size += int64(n)
		}
		if rerr == io.EOF {
			return size, ctx.Err()
		}
		if rerr != nil {
			return size, fmt.Errorf("reading the object: %w", pathless(rerr))
		}
	}
}

// nextVersionID returns a VersionID larger than newest (the key's newest
// version, or "") and than any this driver made before, with the time it
// stands for. The caller holds the key's lock.
func (d *Driver) nextVersionID(newest string) (string, time.Time) {
	d.lastMu.Lock()
	defer d.lastMu.Unlock()
	ts := uint64(max(d.now().UnixNano(), 0))
	ts = max(ts, d.last+1)
	if newest != "" {
		if b, err := hex.DecodeString(newest[:16]); err == nil {
			ts = max(ts, binary.BigEndian.Uint64(b)+1)
		}
	}
	d.last = ts
	var b [20]byte
	binary.BigEndian.PutUint64(b[:8], ts)
	_, _ = rand.Read(b[8:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:]), time.Unix(0, int64(ts)).UTC()
}

// checkBucketExists checks bucket's name and that it exists.
func (d *Driver) checkBucketExists(op, id, bucket string) error {
	if err := checkBucket(op, id, bucket); err != nil {
		return err
	}
	st, err := d.root.Stat(bucket)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		return errcode.Errorf(errcode.NotFound, op, id, "no such bucket")
	}
	if err != nil {
		return osError(op, id, err)
	}
	return nil
}

// etagMatch reports whether two ETags name the same content, ignoring
// surrounding double quotes and letter case.
func etagMatch(a, b string) bool {
	return strings.EqualFold(unquote(a), unquote(b))
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// keyPath is the folder of a key's versions, relative to the root.
func keyPath(bucket, key string) string {
	return filepath.Join(bucket, objectsDir, keyDirName(key))
}

func keyDirName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// checkBucket accepts S3 bucket names: 3 to 63 lowercase letters, digits,
// dots and hyphens, starting and ending with a letter or digit, with no two
// dots in a row. Such a name is always a single, ordinary path component.
func checkBucket(op, id, bucket string) error {
	bad := func(why string) error {
		return errcode.Errorf(errcode.Invalid, op, id, "bucket name %s", why)
	}
	if len(bucket) < 3 || len(bucket) > 63 {
		return bad("must be 3 to 63 characters long")
	}
	for i := 0; i < len(bucket); i++ {
		c := bucket[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(bucket)-1 {
				return bad("must start and end with a letter or digit")
			}
			if c == '.' && bucket[i-1] == '.' {
				return bad("must not contain two dots in a row")
			}
		default:
			return bad("may hold only lowercase letters, digits, dots and hyphens")
		}
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ctxErr reports a finished ctx as Unavailable, wrapping ctx.Err().
func ctxErr(ctx context.Context, op, id string) error {
	if err := ctx.Err(); err != nil {
		return errcode.Errorf(errcode.Unavailable, op, id, "%w", err)
	}
	return nil
}

// osError turns a file-system error into an errcode error without paths.
func osError(op, id string, err error) error {
	code := errcode.Unknown
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code = errcode.NotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = errcode.Unavailable
	}
	return errcode.Errorf(code, op, id, "%w", pathless(err))
}

// pathless strips the file name from an *fs.PathError or *os.LinkError, so
// that no error names a path. The file operations here return those types
// unwrapped.
func pathless(err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		return &opError{op: e.Op, err: e.Err}
	case *os.LinkError:
		return &opError{op: e.Op, err: e.Err}
	}
	return err
}

type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

var _ objects.Lister = (*Driver)(nil)

// ListVersions implements objects.Lister. A page holds whole keys: every
// version of a key, even beyond limit, so the cursor is simply the last
// key returned. Each page reads the metadata of every key in the bucket
// (key folders are named by hash, not in key order), which suits the
// local runtime's buckets, not millions of keys.
func (d *Driver) ListVersions(ctx context.Context, bucket, prefix, cursor string, limit int) ([]objects.Listed, string, error) {
	const op = "localdir: list versions"
	if limit <= 0 || limit > objects.ListLimit {
		limit = objects.ListLimit
	}
	after, ok := strings.CutPrefix(cursor, "k:")
	if cursor != "" && (!ok || after == "") {
		return nil, "", errcode.Errorf(errcode.Invalid, op, "s3://"+bucket+"/"+objects.ShortKey(prefix), "cursor %q was not made by this driver", objects.ShortKey(cursor))
	}
	keys, err := d.List(ctx, bucket, prefix)
	if err != nil {
		return nil, "", err
	}
	var out []objects.Listed
	last := ""
	for _, k := range keys {
		key := k.Ref.Key
		if cursor != "" && key <= after {
			continue
		}
		if len(out) >= limit {
			return out, "k:" + last, nil
		}
		vs, err := d.Versions(ctx, bucket, key)
		if err != nil {
			return nil, "", err
		}
		for i, v := range vs {
			out = append(out, objects.Listed{Info: v, Latest: i == 0})
		}
		last = key
	}
	return out, "", nil
}
