// Package s3obj is the S3 driver of package objects, over aws-sdk-go-v2's
// S3 client. It works with versioned and unversioned buckets, on Amazon S3
// and on S3-compatible stores that implement conditional requests and
// checksums (versitygw is the one the tests run against).
//
// # Exact versions
//
// Every call addresses exactly the version a domain.ObjectRef names:
//
//   - With a VersionID, the call pins it (versionId=).
//   - With an ETag, reads are conditional: GetObject and HeadObject send
//     If-Match and a copy sends x-amz-copy-source-if-match, so S3 itself
//     refuses a newer object (412, code Changed). The ETag may come with
//     or without its double quotes.
//   - S3 has no conditional tagging, so Tags and SetTags first send a
//     HeadObject with If-Match (objects.MergeTags sends one for both,
//     through Pin). In a versioned bucket that Head also
//     yields the VersionID, and the tagging call pins it, so a later
//     upload cannot be tagged by mistake. In an unversioned bucket there
//     is no VersionID to pin: an upload landing between the Head and the
//     tagging call would receive the tags. Only the scanner tags objects
//     and a newer upload is a new record that gets its own scan, so the
//     window costs at most a wrong tag on an object about to be scanned
//     again; see objects.MergeTags.
//   - A version ID names bytes that never change, so once a GetObject
//     with versionId and If-Match has succeeded, the version's ETag is
//     known for good: objects.MergeTagsRead, given the Info of that read
//     (the Scan step's, carried to the Record step in the workflow's
//     document), tags it by versionId with no HeadObject. The "null"
//     version of a suspended bucket is not such a name (a later upload
//     takes its place), and neither is a ref without a VersionID: both
//     keep the Head.
//   - Delete without a VersionID learns the latest version's the same way
//     (with If-Match when the ref has an ETag) and deletes it by
//     VersionID, so that in a versioned bucket the version is removed
//     rather than hidden by a delete marker. In an
//     unversioned bucket it sends DeleteObject with If-Match, which S3
//     evaluates atomically (general purpose buckets since September 2025;
//     versitygw too). A suspended bucket's "null" version is deleted by
//     versionId=null after the Head, with the same window as tagging.
//
// Refs and Infos the driver returns never carry the VersionID "null": S3
// reports it for objects written while versioning was off, and it names
// whichever object currently holds the null slot, not one version. Such
// objects are identified by their ETag, as in an unversioned bucket. A
// caller's ref that does carry "null" (from an event, say) is passed to S3
// as it is.
//
// # Streaming
//
// Open returns the GetObject response body, read as it arrives, never
// buffered. Put holds at most one part of the stream in memory
// (Options.UploadPartSize, 8 MiB by default): a stream that ends within
// the first part is stored with one PutObject, a longer one with a
// multipart upload of parts read and sent one at a time. Put needs no
// length in advance and no seekable reader. (A single PutObject of an
// unseekable stream is not an option: S3 needs its length up front, and
// the SDK sends one only over TLS, with a trailing checksum.)
//
// # Checksums
//
// Uploads carry SHA-256 checksums, which S3 verifies. A PutObject or a
// single CopyObject then stores a full-object SHA-256, and Info.SHA256
// reports it, hex-encoded. A multipart upload's SHA-256 is a checksum of
// the parts' checksums (ChecksumType COMPOSITE), not a hash of the bytes,
// and is never reported. Info.SHA256 is filled only when S3 answers with
// ChecksumType FULL_OBJECT; a store that sends a SHA-256 without saying
// its type gets no SHA256, since it cannot be told from a composite one.
//
// # Metadata and tags
//
// S3 carries user metadata in HTTP headers, which are US-ASCII. Values
// that are not plain printable ASCII (non-ASCII text, leading or trailing
// spaces, or the "=?" that starts an encoded word) are sent as RFC 2047
// encoded words, "=?UTF-8?B?...?=", and encoded words are decoded on the
// way back. This is the encoding S3 itself uses: S3 decodes such values
// when they arrive and encodes non-ASCII values when it returns them, so
// metadata written by other clients reads back the same. A value that is
// itself plain ASCII text in the form of an encoded word cannot round-trip
// through S3 at all and is read back decoded. Metadata names are kept in
// lowercase.
//
// The driver checks metadata and tags against S3's limits before sending
// anything, with the same rules as the local-directory driver, so that a
// request S3 would refuse fails with code Invalid before any bytes move.
//
// # Tags
//
// Open and Head report a version's tag count (Info.TagCount, with
// TagCountKnown) from x-amz-tagging-count, which S3 sends only for a
// version that has tags and only to a caller allowed to read them
// (s3:GetObjectTagging, s3:GetObjectVersionTagging); versitygw 1.8.0 sends
// it the same way. An answer without it is taken as no tags. That is right
// only for a caller with those permissions: scangate's roles have them
// (the scan function's included, cdk/gate/permissions.go), and a
// deployment of its own must grant them to the role that scans. A role
// without them makes every version look untagged, and
// objects.MergeTagsRead then replaces the owner's tags with scangate's
// instead of merging: tags are lost, nothing is made readable.
//
// MergeTagsRead writes scangate's tags alone (one PutObjectTagging, no
// GetObjectTagging) to a version the read found untagged. Tags written to
// the version between that GetObject and the PutObjectTagging (the length
// of the scan, up to minutes) are replaced. The merge it does otherwise
// has the same race between its GetObjectTagging and PutObjectTagging, a
// few milliseconds long. Neither can make a version readable: readers are
// let in by the scangate-status tag alone (the bucket policy), which only
// the scanner writes and which the PutObjectTagging sets to the verdict
// whatever it found, and the bucket policy lets no one else write tags
// after the upload, so with it in place only scangate's own steps can
// race (one lease holder tags a version at a time).
//
// # Copies
//
// Copy sends CopyObject with the REPLACE directives, so the new version
// carries the metadata and tags in the options only, and the source's
// Content-Type unless the options name one. CopyObject is limited to 5 GiB;
// a larger source (above Options.MultipartCopyThreshold) is copied with a
// multipart upload of UploadPartCopy ranges, each pinned to the source's
// version and ETag, with the metadata, Content-Type and tags given to
// CreateMultipartUpload. A copy onto its own key in a versioned bucket
// goes the multipart way too, whatever its size: S3 makes a new version
// either way, but versitygw 1.8.0 answers a CopyObject onto the same key by
// rewriting the source version's metadata in place. A failed multipart
// upload is aborted. An abort
// that fails too leaves parts behind until the bucket's
// AbortIncompleteMultipartUpload lifecycle rule removes them; configure one.
//
// # Errors
//
// Errors are *errcode.Error values named "s3obj: <op>" with the object they
// concern. Codes:
//
//   - NotFound: NoSuchKey, NoSuchVersion, NoSuchBucket, a 404, or a
//     VersionID that names a delete marker (405).
//   - Changed: the object no longer has the ref's ETag (412).
//   - Invalid: a key, metadata or tag set S3 would refuse, or a request S3
//     refused as malformed (400, such as InvalidArgument).
//   - Unavailable: throttling (SlowDown, 429, 503), server errors, network
//     failures, a checksum that did not match in transit, and a finished
//     ctx (then errors.Is(err, context.Canceled) or
//     context.DeadlineExceeded holds). Reading the stream Open returns
//     fails with Unavailable too.
//   - Unknown: anything else, such as AccessDenied or NotImplemented.
//
// S3 answers a request for a missing key with 403 AccessDenied, not 404,
// when the caller may not list the bucket. Grant the driver's role
// s3:ListBucket (and s3:ListBucketVersions) so that a vanished object is
// reported as NotFound and not as Unknown.
package s3obj

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/aws/smithy-go/middleware"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
)

var _ objects.Driver = (*Driver)(nil)

// Size limits of S3 that the driver works within.
const (
	// MaxCopyObjectSize is the largest object CopyObject copies.
	MaxCopyObjectSize = 5 << 30
	// MinPartSize is the smallest part of a multipart upload, but the last.
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part of a multipart upload.
	MaxPartSize = 5 << 30
	// MaxParts is the most parts a multipart upload may have.
	MaxParts = 10000
)

// Defaults of Options.
const (
	DefaultMultipartCopyThreshold = MaxCopyObjectSize
	DefaultPartSize               = 512 << 20
	DefaultCopyConcurrency        = 4
	DefaultUploadPartSize         = 8 << 20
)

// Options configure a Driver. The zero value means the defaults.
type Options struct {
	// MultipartCopyThreshold is the largest source Copy copies with one
	// CopyObject; larger ones are copied part by part. 0 means 5 GiB,
	// the most CopyObject accepts, which is also the largest value allowed.
	MultipartCopyThreshold int64

	// PartSize is the size of a multipart copy's parts, at least 5 MiB.
	// It grows when a source would need more than 10,000 parts. 0 means
	// 512 MiB, which copies S3's largest objects (5 TiB) in 10,000 parts.
	PartSize int64

	// CopyConcurrency is how many parts of a multipart copy are copied at
	// once. Copying happens inside S3; only the requests run here. 0 means
	// 4.
	CopyConcurrency int

	// UploadPartSize is how much of Put's stream is held in memory: a
	// stream that ends within it is stored with one PutObject (and gets a
	// full-object SHA-256), a longer one with a multipart upload of parts
	// this size. At least 5 MiB; 0 means 8 MiB. One Put uploads at most
	// 10,000 parts; after every 1,000 parts the part size doubles, so a
	// stream of any size S3 stores fits.
	UploadPartSize int64
}

// Driver is an objects.Driver over an S3 client. It is safe for concurrent
// use.
type Driver struct {
	c *s3.Client

	copyThreshold   int64
	partSize        int64
	copyConcurrency int
	uploadPartSize  int64

	// bufs holds *[]byte of uploadPartSize bytes for Put.
	bufs sync.Pool
}

// New returns a Driver that sends its requests through client. The client
// decides the endpoint, credentials, region and retries; buckets that are
// not DNS names need UsePathStyle. opts may be nil.
func New(client *s3.Client, opts *Options) (*Driver, error) {
	const op = "s3obj: new"
	if client == nil {
		return nil, errcode.Errorf(errcode.Invalid, op, "", "nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	bad := func(format string, args ...any) (*Driver, error) {
		return nil, errcode.Errorf(errcode.Invalid, op, "", format, args...)
	}
	d := &Driver{
		c:               client,
		copyThreshold:   orDefault(o.MultipartCopyThreshold, DefaultMultipartCopyThreshold),
		partSize:        orDefault(o.PartSize, DefaultPartSize),
		copyConcurrency: int(orDefault(int64(o.CopyConcurrency), DefaultCopyConcurrency)),
		uploadPartSize:  orDefault(o.UploadPartSize, DefaultUploadPartSize),
	}
	switch {
	case d.copyThreshold < 0 || d.copyThreshold > MaxCopyObjectSize:
		return bad("MultipartCopyThreshold %d is outside 0 to %d bytes", o.MultipartCopyThreshold, int64(MaxCopyObjectSize))
	case d.partSize < MinPartSize || d.partSize > MaxPartSize:
		return bad("PartSize %d is outside %d to %d bytes", o.PartSize, MinPartSize, int64(MaxPartSize))
	case d.copyConcurrency < 1:
		return bad("CopyConcurrency %d is below 1", o.CopyConcurrency)
	case d.uploadPartSize < MinPartSize || d.uploadPartSize > 1<<30:
		return bad("UploadPartSize %d is outside %d to %d bytes", o.UploadPartSize, MinPartSize, 1<<30)
	}
	return d, nil
}

func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// Open returns exactly ref's bytes: the GetObject response body, read as it
// arrives. Read errors from it carry code Unavailable. The SDK checks a
// full-object checksum at the end of the stream when S3 sends one, so a
// corrupted transfer fails the last Read instead of returning wrong bytes.
func (d *Driver) Open(ctx context.Context, ref domain.ObjectRef) (io.ReadCloser, objects.Info, error) {
	const op = "s3obj: open"
	if err := ctxErr(ctx, op, objects.RefID(ref)); err != nil {
		return nil, objects.Info{}, err
	}
	in := &s3.GetObjectInput{
		Bucket:       aws.String(ref.Bucket),
		Key:          aws.String(ref.Key),
		VersionId:    optional(ref.VersionID),
		ChecksumMode: types.ChecksumModeEnabled,
	}
	if ref.ETag != "" {
		in.IfMatch = aws.String(quoteETag(ref.ETag))
	}
	out, err := d.c.GetObject(ctx, in, quietChecksums, callerHashes)
	if err != nil {
		return nil, objects.Info{}, d.confirmGone(ctx, op, ref.VersionID, ref, mapError(ctx, op, objects.RefID(ref), err))
	}
	if ref.ETag != "" && !etagMatch(ref.ETag, aws.ToString(out.ETag)) {
		// A store that ignored If-Match.
		out.Body.Close()
		return nil, objects.Info{}, errcode.Errorf(errcode.Changed, op, objects.RefID(ref), "etag is %s", aws.ToString(out.ETag))
	}
	info := makeInfo(ref.Bucket, ref.Key, objectAttrs{
		etag: out.ETag, versionID: out.VersionId, size: out.ContentLength,
		contentType: out.ContentType, metadata: out.Metadata, lastModified: out.LastModified,
		sha256: out.ChecksumSHA256, checksumType: out.ChecksumType,
		tagCount: out.TagCount, counted: true,
	})
	return &body{rc: out.Body, id: objects.RefID(ref)}, info, nil
}

// callerHashes removes the SDK's own check of a GetObject's response
// checksum. The checksum mode stays enabled, so that S3 still returns the
// object's full-object SHA-256 (Info.SHA256); the reader compares it with
// the hash it computes anyway (the Scan step hashes every byte it
// streams), and hashing every byte twice cost about a tenth of the scan's
// throughput over S3.
func callerHashes(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		const id = "AWSChecksum:ValidateOutputPayloadChecksum"
		if _, ok := s.Deserialize.Get(id); !ok {
			return nil
		}
		_, err := s.Deserialize.Remove(id)
		return err
	})
}

// quietChecksums keeps the SDK from logging a warning for every GetObject of
// a multipart object, whose composite checksum it cannot check.
func quietChecksums(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true }

// Head describes the version ref names.
func (d *Driver) Head(ctx context.Context, ref domain.ObjectRef) (objects.Info, error) {
	const op = "s3obj: head"
	if err := ctxErr(ctx, op, objects.RefID(ref)); err != nil {
		return objects.Info{}, err
	}
	out, err := d.head(ctx, op, ref)
	if err != nil {
		return objects.Info{}, err
	}
	return headInfo(ref, out), nil
}

// head sends HeadObject for ref, conditional on its ETag.
func (d *Driver) head(ctx context.Context, op string, ref domain.ObjectRef) (*s3.HeadObjectOutput, error) {
	in := &s3.HeadObjectInput{
		Bucket:       aws.String(ref.Bucket),
		Key:          aws.String(ref.Key),
		VersionId:    optional(ref.VersionID),
		ChecksumMode: types.ChecksumModeEnabled,
	}
	if ref.ETag != "" {
		in.IfMatch = aws.String(quoteETag(ref.ETag))
	}
	out, err := d.c.HeadObject(ctx, in)
	if err != nil {
		return nil, d.confirmGone(ctx, op, ref.VersionID, ref, mapError(ctx, op, objects.RefID(ref), err))
	}
	if ref.ETag != "" && !etagMatch(ref.ETag, aws.ToString(out.ETag)) {
		return nil, errcode.Errorf(errcode.Changed, op, objects.RefID(ref), "etag is %s", aws.ToString(out.ETag))
	}
	return out, nil
}

func headInfo(ref domain.ObjectRef, out *s3.HeadObjectOutput) objects.Info {
	return makeInfo(ref.Bucket, ref.Key, objectAttrs{
		etag: out.ETag, versionID: out.VersionId, size: out.ContentLength,
		contentType: out.ContentType, metadata: out.Metadata, lastModified: out.LastModified,
		sha256: out.ChecksumSHA256, checksumType: out.ChecksumType,
		tagCount: out.TagCount, counted: true,
	})
}

// pin returns the VersionID that a call S3 cannot make conditional should
// address: ref's own, or, when ref has an ETag (or latest is set), the one a
// conditional HeadObject finds. It is "" in an unversioned bucket and may be
// "null" in a suspended one.
func (d *Driver) pin(ctx context.Context, op string, ref domain.ObjectRef, latest bool) (string, error) {
	if ref.ETag == "" && (ref.VersionID != "" || !latest) {
		return ref.VersionID, nil
	}
	out, err := d.head(ctx, op, ref)
	if err != nil {
		return "", err
	}
	if ref.VersionID != "" {
		return ref.VersionID, nil
	}
	return aws.ToString(out.VersionId), nil
}

// Pin checks ref's ETag with one conditional HeadObject and returns the
// version it names by its VersionID alone, so that the calls that follow
// (MergeTags' Tags and SetTags) address it without a HeadObject each
// (objects.Pinner). A ref without an ETag, and a version that has no
// VersionID of its own (an unversioned bucket, or the "null" version of a
// suspended one), come back as they are.
func (d *Driver) Pin(ctx context.Context, ref domain.ObjectRef) (domain.ObjectRef, error) {
	const op = "s3obj: pin"
	if ref.ETag == "" {
		return ref, nil
	}
	if err := ctxErr(ctx, op, objects.RefID(ref)); err != nil {
		return ref, err
	}
	out, err := d.head(ctx, op, ref)
	if err != nil {
		return ref, err
	}
	vid := ref.VersionID
	if vid == "" {
		vid = aws.ToString(out.VersionId)
	}
	if vid == "" || vid == "null" {
		return ref, nil
	}
	pinned := ref
	pinned.VersionID, pinned.ETag = vid, ""
	return pinned, nil
}

// Tags returns the tags of exactly ref's version, never nil.
func (d *Driver) Tags(ctx context.Context, ref domain.ObjectRef) (map[string]string, error) {
	const op = "s3obj: tags"
	if err := ctxErr(ctx, op, objects.RefID(ref)); err != nil {
		return nil, err
	}
	vid, err := d.pin(ctx, op, ref, false)
	if err != nil {
		return nil, err
	}
	out, err := d.c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{
		Bucket:    aws.String(ref.Bucket),
		Key:       aws.String(ref.Key),
		VersionId: optional(vid),
	})
	if err != nil {
		return nil, d.confirmGone(ctx, op, vid, ref, mapError(ctx, op, objects.RefID(ref), err))
	}
	tags := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// Versions returns the versions of bucket/key, newest first, without
// delete markers. It needs s3:ListBucketVersions. An unversioned bucket's
// object comes back without a VersionID.
func (d *Driver) Versions(ctx context.Context, bucket, key string) ([]objects.Info, error) {
	const op = "s3obj: versions"
	id := "s3://" + bucket + "/" + key
	if err := ctxErr(ctx, op, id); err != nil {
		return nil, err
	}
	p := s3.NewListObjectVersionsPaginator(d.c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	var out []objects.Info
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapError(ctx, op, id, err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) != key {
				continue
			}
			out = append(out, makeInfo(bucket, key, objectAttrs{etag: v.ETag, versionID: v.VersionId, size: v.Size, lastModified: v.LastModified}))
		}
		if len(page.Versions) > 0 && aws.ToString(page.Versions[len(page.Versions)-1].Key) > key {
			break // S3 lists in key order: the key's versions are behind us
		}
	}
	return out, nil
}

// SetTags replaces the tags of exactly ref's version.
func (d *Driver) SetTags(ctx context.Context, ref domain.ObjectRef, tags map[string]string) error {
	const op = "s3obj: set tags"
	id := objects.RefID(ref)
	if err := ctxErr(ctx, op, id); err != nil {
		return err
	}
	if err := objects.CheckTags(op, id, tags); err != nil {
		return err
	}
	vid, err := d.pin(ctx, op, ref, false)
	if err != nil {
		return err
	}
	set := make([]types.Tag, 0, len(tags))
	for _, k := range sortedKeys(tags) {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	_, err = d.c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket:    aws.String(ref.Bucket),
		Key:       aws.String(ref.Key),
		VersionId: optional(vid),
		Tagging:   &types.Tagging{TagSet: set},
	})
	return d.confirmGone(ctx, op, vid, ref, mapError(ctx, op, id, err))
}

// Delete removes exactly ref's version; a missing one is not an error.
func (d *Driver) Delete(ctx context.Context, ref domain.ObjectRef) error {
	const op = "s3obj: delete"
	id := objects.RefID(ref)
	if err := ctxErr(ctx, op, id); err != nil {
		return err
	}
	vid, err := d.pin(ctx, op, ref, true)
	if errcode.Of(err) == errcode.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	in := &s3.DeleteObjectInput{
		Bucket:    aws.String(ref.Bucket),
		Key:       aws.String(ref.Key),
		VersionId: optional(vid),
	}
	if vid == "" && ref.ETag != "" {
		// Unversioned: the Head above is not atomic with the delete, the
		// condition is.
		in.IfMatch = aws.String(quoteETag(ref.ETag))
	}
	_, err = d.c.DeleteObject(ctx, in)
	err = mapError(ctx, op, id, err)
	if errcode.Of(err) == errcode.Invalid && vid != "" {
		// versitygw answers 400 InvalidArgument ("Invalid version id
		// specified") for a version that no longer exists: a rival
		// quarantine, or the SDK's retry of a delete whose answer a reset
		// connection lost, removed it after the Head above. Gone is what
		// was asked for.
		_, herr := d.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key), VersionId: aws.String(vid)})
		if herr := mapError(ctx, op, id, herr); errcode.Of(herr) == errcode.NotFound {
			err = herr
		}
	}
	if err == nil && vid != "" {
		// versitygw answers 204 to the delete of a version that it is
		// moving into the place of a current version deleted at the same
		// moment, and leaves it there. Gone is what the caller relies on.
		_, herr := d.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key), VersionId: aws.String(vid)})
		if herr == nil {
			return errcode.Errorf(errcode.Unavailable, op, id, "the delete was answered, but the version is still there")
		}
		err = mapError(ctx, op, id, herr)
	}
	if err = d.confirmGone(ctx, op, vid, ref, err); errcode.Of(err) == errcode.NotFound {
		return nil
	}
	return err
}

// goneRechecks are the pauses after which a NotFound for an exact version
// is asked again. versitygw (1.8.0) deletes the current version of a key
// by moving the previous one into its place, and while it moves answers
// NoSuchKey for that previous version, which exists before and after.
var goneRechecks = []time.Duration{25 * time.Millisecond, 150 * time.Millisecond}

// confirmGone returns err unless it is NotFound for an exact version
// (versionID) that a Head finds again within goneRechecks: then the version
// was only being moved, and the caller gets Unavailable, which it retries,
// rather than the word that the version is gone. On S3 a NotFound for a
// version is final, and this only delays it.
func (d *Driver) confirmGone(ctx context.Context, op, versionID string, ref domain.ObjectRef, err error) error {
	if versionID == "" || errcode.Of(err) != errcode.NotFound {
		return err
	}
	for _, pause := range goneRechecks {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return mapError(ctx, op, objects.RefID(ref), ctx.Err())
		case <-t.C:
		}
		_, herr := d.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key), VersionId: aws.String(versionID)})
		if herr == nil {
			return errcode.Errorf(errcode.Unavailable, op, objects.RefID(ref), "the version was not found, then found again (the store was moving it): %w", err)
		}
		if herr := mapError(ctx, op, objects.RefID(ref), herr); errcode.Of(herr) != errcode.NotFound {
			return herr
		}
	}
	return err
}

// Put stores a new version of bucket/key from r, holding at most one part
// of it in memory. When ctx ends or r fails, nothing is stored and a
// multipart upload begun is aborted.
func (d *Driver) Put(ctx context.Context, bucket, key string, r io.Reader, opts objects.PutOptions) (domain.ObjectRef, error) {
	const op = "s3obj: put"
	id := objects.KeyID(bucket, key)
	w, err := checkWrite(op, bucket, key, opts)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	if opts.ContentType != "" {
		w.contentType = aws.String(opts.ContentType)
	}
	if err := ctxErr(ctx, op, id); err != nil {
		return domain.ObjectRef{}, err
	}
	bp := d.getBuf()
	keep := true
	defer func() {
		if keep {
			d.bufs.Put(bp)
		}
	}()
	src := &partReader{r: r}
	n, err := src.fill(ctx, *bp)
	if err != nil {
		return domain.ObjectRef{}, readError(ctx, op, id, err)
	}
	if src.eof {
		ref, err := d.putOne(ctx, op, w, (*bp)[:n])
		// After a failed request the transport may still be reading the
		// buffer: drop it rather than lend it to another Put.
		keep = err == nil
		return ref, err
	}
	ref, err := d.putMultipart(ctx, op, w, src, *bp, n)
	keep = err == nil
	return ref, err
}

func (d *Driver) getBuf() *[]byte {
	if bp, ok := d.bufs.Get().(*[]byte); ok && int64(len(*bp)) == d.uploadPartSize {
		return bp
	}
	b := make([]byte, d.uploadPartSize)
	return &b
}

// putOne stores data with one PutObject and a SHA-256 checksum.
func (d *Driver) putOne(ctx context.Context, op string, w *write, data []byte) (domain.ObjectRef, error) {
	out, err := d.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(w.bucket),
		Key:               aws.String(w.key),
		Body:              bytes.NewReader(data),
		ContentLength:     aws.Int64(int64(len(data))),
		ContentType:       w.contentType,
		Metadata:          w.metadata,
		Tagging:           w.tagging,
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return domain.ObjectRef{}, mapError(ctx, op, objects.KeyID(w.bucket, w.key), err)
	}
	return newRef(w.bucket, w.key, out.VersionId, out.ETag, int64(len(data))), nil
}

// putMultipart uploads first (n bytes of buf, a full part) and the rest of
// src as a multipart upload with SHA-256 part checksums.
func (d *Driver) putMultipart(ctx context.Context, op string, w *write, src *partReader, buf []byte, n int) (domain.ObjectRef, error) {
	id := objects.KeyID(w.bucket, w.key)
	up, err := d.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(w.bucket),
		Key:               aws.String(w.key),
		ContentType:       w.contentType,
		Metadata:          w.metadata,
		Tagging:           w.tagging,
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return domain.ObjectRef{}, mapError(ctx, op, id, err)
	}
	done := false
	defer func() {
		if !done {
			d.abort(ctx, w.bucket, w.key, up.UploadId)
		}
	}()
	var parts []types.CompletedPart
	var size int64
	for num := int32(1); ; num++ {
		out, err := d.c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(w.bucket),
			Key:               aws.String(w.key),
			UploadId:          up.UploadId,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(buf[:n]),
			ContentLength:     aws.Int64(int64(n)),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		})
		if err != nil {
			return domain.ObjectRef{}, mapError(ctx, op, id, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumSHA256: out.ChecksumSHA256})
		size += int64(n)
		if src.eof {
			break
		}
		if num == MaxParts {
			return domain.ObjectRef{}, errcode.Errorf(errcode.Invalid, op, id, "stream is longer than %d parts", MaxParts)
		}
		if num%1000 == 0 && len(buf) < MaxPartSize/2 {
			// Grow the parts, so that 10,000 of them hold any object.
			buf = make([]byte, 2*len(buf))
		}
		if n, err = src.fill(ctx, buf); err != nil {
			return domain.ObjectRef{}, readError(ctx, op, id, err)
		}
	}
	if err := ctxErr(ctx, op, id); err != nil {
		return domain.ObjectRef{}, err
	}
	out, err := d.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(w.bucket),
		Key:             aws.String(w.key),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return domain.ObjectRef{}, mapError(ctx, op, id, err)
	}
	done = true
	return newRef(w.bucket, w.key, out.VersionId, out.ETag, size), nil
}

// abort abandons a multipart upload, also when ctx has ended. Its failure
// is not reported: the caller's error matters more, and a lifecycle rule
// removes what is left.
func (d *Driver) abort(ctx context.Context, bucket, key string, uploadID *string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = d.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(bucket),
		Key:      aws.String(key),
		UploadId: uploadID,
	})
}

// partReader fills parts from a stream and remembers where it ended.
type partReader struct {
	r   io.Reader
	eof bool
	// peek holds a byte read ahead to learn whether a full part was the
	// last one.
	peek    [1]byte
	hasPeek bool
}

// fill reads the next part into buf and returns its length. When buf is
// filled it reads one byte ahead, so that eof is set exactly when the part
// is the last. It checks ctx between reads.
func (p *partReader) fill(ctx context.Context, buf []byte) (int, error) {
	n := 0
	if p.hasPeek {
		buf[0] = p.peek[0]
		n, p.hasPeek = 1, false
	}
	for n < len(buf) && !p.eof {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := p.r.Read(buf[n:])
		n += m
		if err == io.EOF {
			p.eof = true
		} else if err != nil {
			return n, err
		}
	}
	for !p.eof && !p.hasPeek {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := p.r.Read(p.peek[:])
		p.hasPeek = m == 1
		if err == io.EOF {
			p.eof = true
		} else if err != nil {
			return n, err
		}
	}
	return n, ctx.Err()
}

// readError reports a failure to read Put's stream: ctx's end, or the
// reader's own error with its code when it has one (a stream from another
// driver's Open carries Unavailable).
func readError(ctx context.Context, op, id string, err error) error {
	if cerr := ctxErr(ctx, op, id); cerr != nil {
		return cerr
	}
	return errcode.Errorf(errcode.Of(err), op, id, "reading the object: %w", err)
}

// Copy copies exactly src's version to a new version of dstBucket/dstKey,
// with the metadata and tags in opts only. The Content-Type is
// opts.ContentType, or the source's when that is empty, which a HeadObject
// reads first. The copy is then pinned to the version and ETag that Head
// found, so a src with neither VersionID nor ETag gives Changed when the
// object is replaced between the two requests.
func (d *Driver) Copy(ctx context.Context, src domain.ObjectRef, dstBucket, dstKey string, opts objects.PutOptions) (domain.ObjectRef, error) {
	const op = "s3obj: copy"
	w, err := checkWrite(op, dstBucket, dstKey, opts)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	if err := ctxErr(ctx, op, objects.RefID(src)); err != nil {
		return domain.ObjectRef{}, err
	}
	head, err := d.head(ctx, op, src)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	w.contentType = head.ContentType
	if opts.ContentType != "" {
		w.contentType = aws.String(opts.ContentType)
	}
	// Copy what was described: the version the Head found, with its ETag,
	// so that the Content-Type belongs to the bytes copied.
	vid := src.VersionID
	if vid == "" {
		vid = aws.ToString(head.VersionId)
	}
	s := copySource{
		source: copySourceHeader(src.Bucket, src.Key, vid),
		etag:   aws.String(quoteETag(aws.ToString(head.ETag))),
		size:   aws.ToInt64(head.ContentLength),
		id:     objects.RefID(src),
	}
	if s.size > d.copyThreshold || (src.Bucket == dstBucket && src.Key == dstKey && vid != "" && vid != "null") {
		// Onto its own key in a versioned bucket, S3 makes a new
		// version, but versitygw 1.8.0 rewrites the source version's
		// metadata in place and keeps its VersionID. A version must
		// never change under a record, so such a copy goes the
		// multipart way, which makes a new version everywhere.
		return d.copyMultipart(ctx, op, w, s)
	}
	out, err := d.c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(w.bucket),
		Key:               aws.String(w.key),
		CopySource:        aws.String(s.source),
		CopySourceIfMatch: s.etag,
		MetadataDirective: types.MetadataDirectiveReplace,
		Metadata:          w.metadata,
		ContentType:       w.contentType,
		TaggingDirective:  types.TaggingDirectiveReplace,
		Tagging:           w.tagging,
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return domain.ObjectRef{}, mapError(ctx, op, s.id, err)
	}
	var etag *string
	if out.CopyObjectResult != nil {
		etag = out.CopyObjectResult.ETag
	}
	return newRef(w.bucket, w.key, out.VersionId, etag, s.size), nil
}

// copySource is the exact source of a copy.
type copySource struct {
	source string  // x-amz-copy-source, with the versionId
	etag   *string // x-amz-copy-source-if-match
	size   int64
	id     string // for errors
}

// copyMultipart copies s part by part into a multipart upload.
func (d *Driver) copyMultipart(ctx context.Context, op string, w *write, s copySource) (domain.ObjectRef, error) {
	id := objects.KeyID(w.bucket, w.key)
	partSize := d.partSize
	if need := (s.size + MaxParts - 1) / MaxParts; need > partSize {
		partSize = (need + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	}
	count := max(int((s.size+partSize-1)/partSize), 1) // an empty source is one empty part
	up, err := d.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(w.bucket),
		Key:         aws.String(w.key),
		ContentType: w.contentType,
		Metadata:    w.metadata,
		Tagging:     w.tagging,
	})
	if err != nil {
		return domain.ObjectRef{}, mapError(ctx, op, id, err)
	}
	done := false
	defer func() {
		if !done {
			d.abort(ctx, w.bucket, w.key, up.UploadId)
		}
	}()

	parts := make([]types.CompletedPart, count)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	for range min(d.copyConcurrency, count) {
		wg.Go(func() {
			for i := range next {
				in := &s3.UploadPartCopyInput{
					Bucket:            aws.String(w.bucket),
					Key:               aws.String(w.key),
					UploadId:          up.UploadId,
					PartNumber:        aws.Int32(int32(i + 1)),
					CopySource:        aws.String(s.source),
					CopySourceIfMatch: s.etag,
				}
				if s.size > 0 {
					start := int64(i) * partSize
					end := min(start+partSize, s.size) - 1
					in.CopySourceRange = aws.String(fmt.Sprintf("bytes=%d-%d", start, end))
				}
				out, err := d.c.UploadPartCopy(pctx, in)
				if err == nil && (out.CopyPartResult == nil || out.CopyPartResult.ETag == nil) {
					err = errors.New("UploadPartCopy returned no ETag")
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = mapError(ctx, op, s.id, err)
						cancel()
					}
					mu.Unlock()
					continue
				}
				parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			}
		})
	}
	for i := range count {
		if pctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return domain.ObjectRef{}, firstErr
	}
	if err := ctxErr(ctx, op, id); err != nil {
		return domain.ObjectRef{}, err
	}
	out, err := d.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(w.bucket),
		Key:             aws.String(w.key),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return domain.ObjectRef{}, mapError(ctx, op, id, err)
	}
	done = true
	return newRef(w.bucket, w.key, out.VersionId, out.ETag, s.size), nil
}

// write is a checked new object: where it goes and what it carries, in
// the form S3's API takes.
type write struct {
	bucket, key string
	contentType *string
	metadata    map[string]string // names lowercase, values header-safe
	tagging     *string           // URL-encoded, nil for no tags
}

func checkWrite(op, bucket, key string, opts objects.PutOptions) (*write, error) {
	id := objects.KeyID(bucket, key)
	if bucket == "" {
		return nil, errcode.Errorf(errcode.Invalid, op, id, "empty bucket name")
	}
	if err := objects.ValidateKey(key); err != nil {
		return nil, err
	}
	if objects.HasControl(opts.ContentType) || !isASCII(opts.ContentType) {
		return nil, errcode.Errorf(errcode.Invalid, op, id, "content type contains a control or non-ASCII character")
	}
	md, err := encodeMetadata(op, id, opts.Metadata)
	if err != nil {
		return nil, err
	}
	if err := objects.CheckTags(op, id, opts.Tags); err != nil {
		return nil, err
	}
	return &write{bucket: bucket, key: key, metadata: md, tagging: encodeTagging(opts.Tags)}, nil
}

// objectAttrs are the fields of a GetObject or HeadObject answer that
// describe the version.
type objectAttrs struct {
	etag, versionID, contentType *string
	size                         *int64
	metadata                     map[string]string
	lastModified                 *time.Time
	sha256                       *string
	checksumType                 types.ChecksumType
	// tagCount is x-amz-tagging-count, which S3 leaves out for a version
	// without tags; counted says the answer was a GetObject or HeadObject,
	// which would have carried it (see the package doc, "Tags").
	tagCount *int32
	counted  bool
}

func makeInfo(bucket, key string, a objectAttrs) objects.Info {
	info := objects.Info{
		Ref:         newRef(bucket, key, a.versionID, a.etag, aws.ToInt64(a.size)),
		ContentType: aws.ToString(a.contentType),
		Metadata:    decodeMetadata(a.metadata),
		SHA256:      fullObjectSHA256(a.sha256, a.checksumType),
	}
	if a.counted {
		info.TagCount, info.TagCountKnown = int(aws.ToInt32(a.tagCount)), true
	}
	if a.lastModified != nil {
		info.LastModified = a.lastModified.UTC()
	}
	return info
}

// fullObjectSHA256 returns the hex SHA-256 of the object's bytes when S3
// vouches for it: a SHA-256 checksum of type FULL_OBJECT. A COMPOSITE
// checksum (a multipart upload's checksum of part checksums, "...=-N") and
// a checksum whose type S3 did not say give "".
func fullObjectSHA256(sum *string, typ types.ChecksumType) string {
	if sum == nil || typ != types.ChecksumTypeFullObject {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(*sum)
	if err != nil || len(b) != 32 {
		return ""
	}
	return hex.EncodeToString(b)
}

// newRef builds a ref from S3's answer: the ETag quoted, as S3's API
// gives it, and no "null" VersionID.
func newRef(bucket, key string, versionID, etag *string, size int64) domain.ObjectRef {
	vid := aws.ToString(versionID)
	if vid == "null" {
		vid = ""
	}
	ref := domain.ObjectRef{Bucket: bucket, Key: key, VersionID: vid, Size: size}
	if e := aws.ToString(etag); e != "" {
		ref.ETag = quoteETag(e)
	}
	return ref
}

// body is Open's stream: S3's response body, with read errors given a code.
type body struct {
	rc io.ReadCloser
	id string
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = errcode.Errorf(errcode.Unavailable, "s3obj: read", b.id, "%w", err)
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }

// copySourceHeader formats x-amz-copy-source: the bucket and the key,
// percent-encoded except for unreserved characters and '/', and the
// versionId when there is one.
func copySourceHeader(bucket, key, versionID string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString(bucket)
	b.WriteByte('/')
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	if versionID != "" {
		b.WriteString("?versionId=")
		b.WriteString(queryEscape(versionID))
	}
	return b.String()
}

// quoteETag returns etag in double quotes, as S3's conditional headers and
// API answers carry it; events carry it bare.
func quoteETag(etag string) string {
	return `"` + strings.Trim(etag, `"`) + `"`
}

// etagMatch reports whether two ETags name the same content, ignoring
// surrounding double quotes and letter case.
func etagMatch(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, `"`), strings.Trim(b, `"`))
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// ctxErr reports a finished ctx as Unavailable, wrapping ctx.Err().
func ctxErr(ctx context.Context, op, id string) error {
	if err := ctx.Err(); err != nil {
		return errcode.Errorf(errcode.Unavailable, op, id, "%w", err)
	}
	return nil
}

var _ objects.Lister = (*Driver)(nil)

// ListVersions implements objects.Lister with one ListObjectVersions call
// per page (s3:ListBucketVersions). The cursor carries S3's key and
// version markers, so a page may end inside a key's versions. On an
// unversioned bucket every object is its key's only, latest, version and
// comes back without a VersionID.
func (d *Driver) ListVersions(ctx context.Context, bucket, prefix, cursor string, limit int) ([]objects.Listed, string, error) {
	const op = "s3obj: list versions"
	id := "s3://" + bucket + "/" + prefix
	if err := ctxErr(ctx, op, id); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > objects.ListLimit {
		limit = objects.ListLimit
	}
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: optional(prefix), MaxKeys: aws.Int32(int32(limit))}
	if cursor != "" {
		enc, ok := strings.CutPrefix(cursor, "s3:")
		q, err := url.ParseQuery(enc)
		if !ok || err != nil || q.Get("k") == "" {
			return nil, "", errcode.Errorf(errcode.Invalid, op, id, "cursor was not made by this driver")
		}
		in.KeyMarker, in.VersionIdMarker = aws.String(q.Get("k")), optional(q.Get("v"))
		// Some S3-compatible servers (versitygw) start the next page with
		// the marker's own version, which S3 leaves out; one more is
		// asked for so that dropping it below still makes progress.
		in.MaxKeys = aws.Int32(int32(min(limit+1, objects.ListLimit)))
	}
	page, err := d.c.ListObjectVersions(ctx, in)
	if err != nil {
		return nil, "", mapError(ctx, op, id, err)
	}
	out := make([]objects.Listed, 0, len(page.Versions))
	for _, v := range page.Versions {
		key := aws.ToString(v.Key)
		if in.KeyMarker != nil && key == *in.KeyMarker && aws.ToString(v.VersionId) == aws.ToString(in.VersionIdMarker) {
			continue // the marker itself: listed on the previous page
		}
		info := makeInfo(bucket, key, objectAttrs{etag: v.ETag, versionID: v.VersionId, size: v.Size, lastModified: v.LastModified})
		out = append(out, objects.Listed{Info: info, Latest: aws.ToBool(v.IsLatest)})
	}
	nextKey, nextVersion := aws.ToString(page.NextKeyMarker), aws.ToString(page.NextVersionIdMarker)
	if len(out) > limit {
		// The extra version asked for came: the page ends before it.
		out = out[:limit]
		last := out[limit-1].Ref
		nextKey, nextVersion = last.Key, last.VersionID
		if nextVersion == "" {
			nextVersion = "null"
		}
	} else if !aws.ToBool(page.IsTruncated) || nextKey == "" {
		return out, "", nil
	}
	next := url.Values{"k": {nextKey}}
	if nextVersion != "" {
		next.Set("v", nextVersion)
	}
	if c := "s3:" + next.Encode(); c != cursor {
		return out, c, nil
	}
	return nil, "", errcode.Errorf(errcode.Unavailable, op, id, "the listing did not advance past its marker")
}
