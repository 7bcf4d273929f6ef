package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scangate/scangate/domain/errcode"
)

// PresignRequest asks for an upload URL for one key.
type PresignRequest struct {
	Bucket string
	Key    string
	// MaxBytes bounds the upload. A presigned PUT cannot bound a length,
	// only fix one: PresignPut signs it as the Content-Length, so the
	// upload must be exactly MaxBytes long; 0 leaves the length free (up
	// to S3's 5 GiB). PresignPost allows the range [1, MaxBytes].
	MaxBytes int64
	// SHA256, when set, is the hex SHA-256 the body must have: S3 then
	// refuses any other body and vouches for the hash afterwards.
	SHA256  string
	Expires time.Duration
}

// PresignedUpload is what the uploader gets.
type PresignedUpload struct {
	URL     string              `json:"url"`
	Method  string              `json:"method"`
	Headers map[string][]string `json:"headers,omitempty"`
	Key     string              `json:"key"`
	Expires time.Time           `json:"expires"`
	// Fields are the form fields of a POST policy upload.
	Fields map[string]string `json:"fields,omitempty"`
	// IntentID names the upload intent recorded for the URL, when the API
	// records intents.
	IntentID string `json:"intentId,omitempty"`
}

// Presigner issues upload URLs.
type Presigner interface {
	PresignPut(ctx context.Context, req PresignRequest) (PresignedUpload, error)
	PresignPost(ctx context.Context, req PresignRequest) (PresignedUpload, error)
}

// S3Presigner issues S3 presigned PUT URLs and POST policies. The signed
// request names the exact key and, when given, the SHA-256 checksum and
// the length; no tagging header is signed, so S3 refuses an upload that
// adds one (and the bucket policy denies tagged uploads besides).
type S3Presigner struct {
	Client *s3.Client
}

// PresignPut returns a presigned PUT. With MaxBytes the Content-Length is
// part of the signature (and of the returned Headers), so the upload must
// be exactly that long; use a POST policy for a range.
func (p S3Presigner) PresignPut(ctx context.Context, req PresignRequest) (PresignedUpload, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(req.Bucket), Key: aws.String(req.Key)}
	if req.MaxBytes > 0 {
		in.ContentLength = aws.Int64(req.MaxBytes)
	}
	if req.SHA256 != "" {
		raw, err := hex.DecodeString(req.SHA256)
		if err != nil {
			return PresignedUpload{}, errcode.Errorf(errcode.Invalid, "presign", req.Key, "bad sha256: %v", err)
		}
		in.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(raw))
	}
	ps := s3.NewPresignClient(p.Client, s3.WithPresignExpires(req.Expires))
	out, err := ps.PresignPutObject(ctx, in)
	if err != nil {
		return PresignedUpload{}, errcode.Errorf(errcode.Unavailable, "presign", req.Key, "%v", err)
	}
	return PresignedUpload{URL: out.URL, Method: out.Method, Headers: http.Header(out.SignedHeader), Key: req.Key,
		Expires: time.Now().Add(req.Expires).UTC()}, nil
}

// PresignPost returns a POST policy limited to the key, a content-length
// range of [1, MaxBytes] and no tagging field.
func (p S3Presigner) PresignPost(ctx context.Context, req PresignRequest) (PresignedUpload, error) {
	ps := s3.NewPresignClient(p.Client)
	out, err := ps.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(req.Bucket), Key: aws.String(req.Key)},
		func(o *s3.PresignPostOptions) {
			o.Expires = req.Expires
			o.Conditions = []interface{}{[]interface{}{"content-length-range", 1, req.MaxBytes}}
		})
	if err != nil {
		return PresignedUpload{}, errcode.Errorf(errcode.Unavailable, "presign post", req.Key, "%v", err)
	}
	if _, ok := out.Values["tagging"]; ok {
		return PresignedUpload{}, fmt.Errorf("presign post: a tagging field must never be allowed")
	}
	return PresignedUpload{URL: out.URL, Method: http.MethodPost, Fields: out.Values, Key: req.Key,
		Expires: time.Now().Add(req.Expires).UTC()}, nil
}
