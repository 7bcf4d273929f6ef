// Package objects is scangate's access to stored objects: read exactly one
// version as a stream, read and merge its tags, move it to quarantine and
// back.
//
// A Driver talks to one backend (the local-directory driver for the
// embedded default, the S3 driver in production). The functions in this
// package (MergeTags, Quarantine, Restore) add the behaviour every backend
// needs once. Drivers are tested by the shared suite in objectstest.
//
// # Errors
//
// Drivers report errcode codes: NotFound when the version does not exist,
// Changed when the object no longer has the asked-for ETag, Invalid for a
// key that cannot be stored, Unavailable for transient backend failures.
package objects

import (
	"context"
	"io"
	"maps"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// Info describes one stored version.
type Info struct {
	// Ref names the version, with VersionID, ETag and Size filled in.
	Ref          domain.ObjectRef
	ContentType  string
	Metadata     map[string]string
	LastModified time.Time
	// SHA256 is the hex SHA-256 of the bytes when the backend vouches for
	// it (S3's full-object checksum, or the local driver's own at write
	// time); empty when unknown. It lets a scan be skipped for allowlisted
	// or already-scanned bytes without reading them.
	SHA256 string
	// TagCount is how many tags the version had when Open or Head
	// described it, when TagCountKnown is set. A driver that cannot tell
	// leaves TagCountKnown false, and MergeTagsRead then reads the tags
	// before it writes them, as MergeTags does.
	TagCount      int
	TagCountKnown bool
}

// PutOptions describe a new object.
type PutOptions struct {
	ContentType string
	Metadata    map[string]string
	Tags        map[string]string
}

// Driver is what an object backend implements. All methods must be safe for
// concurrent use.
type Driver interface {
	// Open returns a stream of exactly ref's bytes. ref.VersionID, when set,
	// pins the version; ref.ETag, when set, must match the stored ETag or
	// Open returns code Changed. A missing bucket, key or version gives
	// code NotFound. The reader must not buffer the object in memory. It
	// need not check the bytes against Info.SHA256: a reader that relies
	// on them hashes what it reads and compares (the Scan step does), so
	// that no byte is hashed twice.
	//
	// A VersionID other than "null" names bytes, and so an ETag, that
	// never change (MergeTagsRead relies on it), and Info reports the
	// version's tag count when the backend says it.
	Open(ctx context.Context, ref domain.ObjectRef) (io.ReadCloser, Info, error)

	// Head describes the version ref names, with the same rules as Open.
	Head(ctx context.Context, ref domain.ObjectRef) (Info, error)

	// Put stores a new version of bucket/key from r and returns its ref.
	Put(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (domain.ObjectRef, error)

	// Tags returns the tags of exactly ref's version.
	Tags(ctx context.Context, ref domain.ObjectRef) (map[string]string, error)

	// SetTags replaces the tags of exactly ref's version.
	SetTags(ctx context.Context, ref domain.ObjectRef, tags map[string]string) error

	// Copy copies exactly src's version to a new version of
	// dstBucket/dstKey, with the metadata and tags in opts (source metadata
	// and tags are not carried over), and returns the new version's ref.
	Copy(ctx context.Context, src domain.ObjectRef, dstBucket, dstKey string, opts PutOptions) (domain.ObjectRef, error)

	// Delete removes exactly ref's version. Deleting a version that does
	// not exist is not an error.
	Delete(ctx context.Context, ref domain.ObjectRef) error
}

// MaxKeyLen is S3's limit on a key, in bytes of UTF-8.
const MaxKeyLen = 1024

// ValidateKey refuses keys that could escape a bucket's folder or that no
// S3-compatible store accepts: empty, over 1024 bytes, invalid UTF-8, NUL or
// other control bytes, absolute paths, and "." or ".." path segments.
// Uploader-chosen keys are untrusted input.
func ValidateKey(key string) error {
	bad := func(why string) error {
		return errcode.Errorf(errcode.Invalid, "objects: key", quoteKey(key), "%s", why)
	}
	switch {
	case key == "":
		return bad("empty key")
	case len(key) > MaxKeyLen:
		return bad("key is longer than 1024 bytes")
	case !utf8.ValidString(key):
		return bad("key is not valid UTF-8")
	case strings.HasPrefix(key, "/"):
		return bad("key is an absolute path")
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return bad("key contains a control character")
		}
	}
	for _, seg := range strings.FieldsFunc(key, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." || seg == "." {
			return bad("key contains a path traversal segment")
		}
	}
	return nil
}

func quoteKey(key string) string {
	if len(key) > 80 {
		key = key[:80] + "…"
	}
	return strings.ToValidUTF8(key, "?")
}

// Tag names that scangate writes. Only the scanner writes them; see
// docs/aws.md for the bucket policy that denies them to everyone else.
const (
	TagStatus    = "scangate-status"
	TagScannedAt = "scangate-scanned-at"
	TagEngine    = "scangate-engine"
	TagDB        = "scangate-db"
	TagSignature = "scangate-signature"
)

// Pinner is implemented by drivers whose calls on a ref with an ETag check
// that ETag with a request of their own (S3: a HeadObject before each
// tagging call). Pin checks it once and returns a ref that names the same
// version without needing the check again (its VersionID, no ETag), or ref
// itself when no such ref exists (an unversioned bucket). Errors are
// those of Head.
type Pinner interface {
	Pin(ctx context.Context, ref domain.ObjectRef) (domain.ObjectRef, error)
}

// MergeTags adds tags to ref's existing tags, overwriting only the keys in
// tags: the owner's own tags survive. S3 allows at most 10 tags per object;
// a merge that would exceed that changes nothing and returns an Invalid
// error, rather than silently dropping the owner's tags.
//
// S3 has no conditional tagging, so this is a read then a write; only the
// scanner writes tags (the bucket policy denies everyone else), and one
// version is tagged by one lease holder at a time.
func MergeTags(ctx context.Context, d Driver, ref domain.ObjectRef, tags map[string]string) error {
	if p, ok := d.(Pinner); ok {
		// One check of the ETag for both calls.
		pinned, err := p.Pin(ctx, ref)
		if err != nil {
			return err
		}
		ref = pinned
	}
	cur, err := d.Tags(ctx, ref)
	if err != nil {
		return err
	}
	merged := maps.Clone(cur)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	if len(merged) > 10 {
		return errcode.Errorf(errcode.Invalid, "objects: tag", ref.String(), "merging %d scangate tags into %d existing ones exceeds the 10-tag limit", len(tags), len(cur))
	}
	return d.SetTags(ctx, ref, merged)
}

// MergeTagsRead is MergeTags for a version the caller has read: read is
// the Info that an Open (or Head) of ref returned, possibly in another
// process (the Scan step reads, the Record step tags). When read describes
// exactly ref's version, it spends fewer requests:
//
//   - A VersionID (other than S3's "null", which names whichever object
//     holds the null slot) names bytes that never change. Once a read of
//     that VersionID matched ref's ETag, the ETag is the version's for
//     good, so the tagging calls address the version by its VersionID
//     alone and the ETag is not checked again (S3: no HeadObject).
//   - A version that had no tags when it was read (TagCountKnown, TagCount
//     0) gets tags as they are, without its tags being read first (S3: no
//     GetObjectTagging). Tags written to it between the read and this call
//     are replaced. A merge has the same window between its own read and
//     write, only shorter; either way only tags can be lost, and every tag
//     the version ends up with that scangate reserves is the caller's.
//
// Without a VersionID (an unversioned bucket), or when read names another
// version or another ETag, it is MergeTags: the ETag is checked again and
// the tags are merged. An unversioned key may have been overwritten by the
// same bytes with other tags since the read, which no ETag tells apart.
func MergeTagsRead(ctx context.Context, d Driver, ref domain.ObjectRef, read Info, tags map[string]string) error {
	if !sameVersion(ref, read.Ref) {
		return MergeTags(ctx, d, ref, tags)
	}
	ref.ETag = ""
	if read.TagCountKnown && read.TagCount == 0 {
		return d.SetTags(ctx, ref, tags)
	}
	return MergeTags(ctx, d, ref, tags)
}

// sameVersion reports whether read, a backend's description of a version,
// is the version ref names by an immutable VersionID, with ref's ETag.
func sameVersion(ref, read domain.ObjectRef) bool {
	if ref.VersionID == "" || ref.VersionID == "null" {
		return false
	}
	if ref.Bucket != read.Bucket || ref.Key != read.Key || ref.VersionID != read.VersionID {
		return false
	}
	return ref.ETag == "" || (read.ETag != "" && strings.EqualFold(strings.Trim(ref.ETag, `"`), strings.Trim(read.ETag, `"`)))
}

// Metadata keys scangate writes on quarantined copies. The original key is
// percent-encoded: S3 metadata is US-ASCII, keys are any UTF-8.
const (
	MetaOriginalBucket  = "scangate-original-bucket"
	MetaOriginalKey     = "scangate-original-key"
	MetaOriginalVersion = "scangate-original-version"
	MetaOriginalETag    = "scangate-original-etag"
	// MetaReleasedFrom, on a version Restore wrote back, names the record
	// whose review released it. Uploaders can set it too, so it is only a
	// pointer: see lambdas' Scan, which trusts it only for the very bytes
	// that record released.
	MetaReleasedFrom = "scangate-released-from"
	metaPrefix       = "scangate-"
)

// Quarantine copies exactly ref's version to dstBucket/dstKey, keeping its
// content type, metadata and tags and adding metadata naming where it came
// from, then deletes that version from its key. It returns the quarantined
// copy's ref. Repeating it after a crash between the two steps is safe: the
// copy is made again and the delete is idempotent.
func Quarantine(ctx context.Context, d Driver, ref domain.ObjectRef, dstBucket, dstKey string, meta map[string]string) (domain.ObjectRef, error) {
	info, err := d.Head(ctx, ref)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	tags, err := d.Tags(ctx, ref)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	md := maps.Clone(info.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	maps.Copy(md, meta)
	maps.Copy(md, map[string]string{
		MetaOriginalBucket:  ref.Bucket,
		MetaOriginalKey:     url.PathEscape(ref.Key),
		MetaOriginalVersion: ref.VersionID,
		MetaOriginalETag:    strings.Trim(ref.ETag, `"`),
	})
	qt := maps.Clone(tags)
	if qt == nil {
		qt = map[string]string{}
	}
	qt[TagStatus] = "quarantined"
	for len(qt) > 10 {
		// Make room for the quarantine tag; the owner's tags beyond S3's
		// limit cannot travel with the copy.
		for k := range qt {
			if k != TagStatus {
				delete(qt, k)
				break
			}
		}
	}
	q, err := d.Copy(ctx, ref, dstBucket, dstKey, PutOptions{ContentType: info.ContentType, Metadata: md, Tags: qt})
	if err != nil {
		return domain.ObjectRef{}, err
	}
	if err := d.Delete(ctx, ref); err != nil {
		return q, err
	}
	return q, nil
}

// OriginalKey decodes the original key recorded on a quarantined copy.
func OriginalKey(meta map[string]string) (string, error) {
	return url.PathUnescape(meta[MetaOriginalKey])
}

// Restore copies the quarantined version q back to bucket/key with the
// content type, metadata and tags it had before quarantine, plus tags and
// meta, and deletes q. It returns the new version at the original key.
//
// copied, when not nil, runs after the copy and before q is deleted: a
// failure there keeps q, so a retried Restore copies again rather than
// leaving a copy nobody recorded.
func Restore(ctx context.Context, d Driver, q domain.ObjectRef, bucket, key string, tags, meta map[string]string, copied func(domain.ObjectRef) error) (domain.ObjectRef, error) {
	info, err := d.Head(ctx, q)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	qt, err := d.Tags(ctx, q)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	md := map[string]string{}
	for k, v := range info.Metadata {
		if !strings.HasPrefix(k, metaPrefix) {
			md[k] = v
		}
	}
	maps.Copy(md, meta)
	nt := map[string]string{}
	for k, v := range qt {
		if !strings.HasPrefix(k, metaPrefix) {
			nt[k] = v
		}
	}
	maps.Copy(nt, tags)
	ref, err := d.Copy(ctx, q, bucket, key, PutOptions{ContentType: info.ContentType, Metadata: md, Tags: nt})
	if err != nil {
		return domain.ObjectRef{}, err
	}
	if copied != nil {
		if err := copied(ref); err != nil {
			return ref, err
		}
	}
	if err := d.Delete(ctx, q); err != nil {
		return ref, err
	}
	return ref, nil
}
