package intake

import (
	"encoding/json"
	"fmt"
	"strings"
)

// s3Record is one record of an S3 event notification.
//
// events.S3EventRecord from aws-lambda-go has the same JSON shape, but it
// cannot serve here: its S3Object.UnmarshalJSON fails the whole document on
// one bad key escape, and its int64 size cannot tell a missing size from 0.
type s3Record struct {
	EventVersion string `json:"eventVersion"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	UserIdentity struct {
		PrincipalID string `json:"principalId"`
	} `json:"userIdentity"`
	S3 *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object *struct {
			Key       *string `json:"key"`
			Size      *int64  `json:"size"`
			ETag      string  `json:"eTag"`
			VersionID *string `json:"versionId"`
			Sequencer string  `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// s3Reasons maps ObjectCreated:* event names to the API names EventBridge
// uses in detail.reason, so that Ref.Reason reads the same for both.
var s3Reasons = map[string]string{
	"ObjectCreated:Put":                     "PutObject",
	"ObjectCreated:Post":                    "POST Object",
	"ObjectCreated:Copy":                    "CopyObject",
	"ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}

func decodeS3(records []json.RawMessage) (Batch, error) {
	b := Batch{Kind: KindS3}
	for i, raw := range records {
		ref, ign, err := decodeS3Record(raw)
		if err != nil {
			return Batch{}, fmt.Errorf("record %d: %w", i, err)
		}
		if ign != nil {
			b.Ignored = append(b.Ignored, *ign)
			continue
		}
		b.Refs = append(b.Refs, ref)
	}
	return b, nil
}

// decodeS3Record returns either a ref or, for events that create nothing,
// an Ignored.
func decodeS3Record(raw json.RawMessage) (Ref, *Ignored, error) {
	var r s3Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Ref{}, nil, malformed("%s", jsonErrText(err))
	}
	if err := checkS3Version(r.EventVersion); err != nil {
		return Ref{}, nil, err
	}
	if r.EventName == "" {
		return Ref{}, nil, malformed("eventName is missing")
	}
	if err := checkToken("eventName", r.EventName); err != nil {
		return Ref{}, nil, err
	}
	if r.S3 == nil || r.S3.Object == nil {
		return Ref{}, nil, malformed("s3.object is missing")
	}
	o := r.S3.Object
	fields := objectFields{
		Bucket: r.S3.Bucket.Name, Key: o.Key, Size: o.Size,
		ETag: o.ETag, VersionID: o.VersionID, Sequencer: o.Sequencer,
	}
	// S3 itself names events "ObjectCreated:Put"; some S3-compatible
	// servers (versitygw) keep the configuration's "s3:" prefix.
	r.EventName = strings.TrimPrefix(r.EventName, "s3:")
	if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
		return Ref{}, &Ignored{
			Reason: fmt.Sprintf("event %q creates no object version", truncate(r.EventName, 64)),
			Object: fields.bestEffort(true),
		}, nil
	}
	obj, err := fields.ref(true)
	if err != nil {
		return Ref{}, nil, err
	}
	t, err := eventTime(r.EventTime)
	if err != nil {
		return Ref{}, nil, err
	}
	principal := r.UserIdentity.PrincipalID
	if err := checkToken("principal id", principal); err != nil {
		return Ref{}, nil, err
	}
	reason, ok := s3Reasons[r.EventName]
	if !ok {
		reason = r.EventName
	}
	return Ref{
		ObjectRef: obj,
		EventName: r.EventName,
		EventTime: t,
		Requester: principal,
		Reason:    reason,
	}, nil, nil
}

// checkS3Version accepts eventVersion 2.x. AWS raises the major version
// only for changes that break readers, so a 3.x event is refused rather
// than misread.
func checkS3Version(v string) error {
	if v == "" {
		return malformed("eventVersion is missing")
	}
	major, minor, ok := strings.Cut(v, ".")
	if !ok || major != "2" || minor == "" || strings.Trim(minor, "0123456789") != "" {
		return unsupported("eventVersion %q, want 2.x", truncate(v, 16))
	}
	return nil
}
