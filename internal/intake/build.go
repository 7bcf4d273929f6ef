package intake

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/scangate/scangate/domain"
)

// The builders write documents as AWS does, with fixed values wherever AWS
// would put something scangate does not read, so that their output is
// deterministic.
const (
	buildRegion  = "us-east-1"
	buildAccount = "123456789012"
	buildTime    = "1970-01-01T00:00:00.000Z"
	buildIP      = "127.0.0.1"
	// buildPrincipal is the IAM user ID the builders claim wrote the
	// object; it is in no Filter's SelfPrincipals.
	buildPrincipal = "AIDAEXAMPLESCANGATE"
)

// encodeS3Key encodes a key as S3 event notifications do: like an HTML form
// value (a space becomes "+", "+" becomes "%2B", non-ASCII bytes are
// percent-encoded), except that "/" is left as it is. Decode accepts "/"
// both plain and as "%2F".
func encodeS3Key(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

type s3DocOut struct {
	Records []s3RecordOut `json:"Records"`
}

type s3RecordOut struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      principalOut      `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                s3EntityOut       `json:"s3"`
}

type principalOut struct {
	PrincipalID string `json:"principalId"`
}

type s3EntityOut struct {
	SchemaVersion   string `json:"s3SchemaVersion"`
	ConfigurationID string `json:"configurationId"`
	Bucket          struct {
		Name          string       `json:"name"`
		OwnerIdentity principalOut `json:"ownerIdentity"`
		ARN           string       `json:"arn"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"eTag,omitempty"`
		VersionID string `json:"versionId,omitempty"`
		Sequencer string `json:"sequencer,omitempty"`
	} `json:"object"`
}

// S3Notification returns an S3 event notification with one
// ObjectCreated:Put record per ref, keys encoded with encodeS3Key. An empty
// VersionID, ETag or Sequencer is left out, as S3 leaves out the version of
// an object in an unversioned bucket. Decode returns the refs unchanged for
// any refs it accepts (see the package limits).
func S3Notification(refs ...domain.ObjectRef) []byte {
	return s3Notification(buildTime, refs)
}

// S3NotificationAt is S3Notification with the eventTime at, in
// milliseconds as S3 writes it: the local runtime dates its uploads' events
// so that they can be matched to the upload intents issued before them.
func S3NotificationAt(at time.Time, refs ...domain.ObjectRef) []byte {
	return s3Notification(at.UTC().Format("2006-01-02T15:04:05.000Z"), refs)
}

func s3Notification(eventTime string, refs []domain.ObjectRef) []byte {
	doc := s3DocOut{Records: make([]s3RecordOut, 0, len(refs))}
	for _, ref := range refs {
		reqID := requestID(ref)
		r := s3RecordOut{
			EventVersion:      "2.1",
			EventSource:       "aws:s3",
			AWSRegion:         buildRegion,
			EventTime:         eventTime,
			EventName:         "ObjectCreated:Put",
			UserIdentity:      principalOut{buildPrincipal},
			RequestParameters: map[string]string{"sourceIPAddress": buildIP},
			ResponseElements: map[string]string{
				"x-amz-request-id": reqID,
				"x-amz-id-2":       "scangate/" + reqID,
			},
		}
		r.S3.SchemaVersion = "1.0"
		r.S3.ConfigurationID = "scangate"
		r.S3.Bucket.Name = ref.Bucket
		r.S3.Bucket.OwnerIdentity = principalOut{buildPrincipal}
		r.S3.Bucket.ARN = "arn:aws:s3:::" + ref.Bucket
		r.S3.Object.Key = encodeS3Key(ref.Key)
		r.S3.Object.Size = ref.Size
		r.S3.Object.ETag = ref.ETag
		r.S3.Object.VersionID = ref.VersionID
		r.S3.Object.Sequencer = ref.Sequencer
		doc.Records = append(doc.Records, r)
	}
	return marshal(doc)
}

type ebEventOut struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     struct {
		Version string `json:"version"`
		Bucket  struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"etag,omitempty"`
			VersionID string `json:"version-id,omitempty"`
			Sequencer string `json:"sequencer,omitempty"`
		} `json:"object"`
		RequestID       string `json:"request-id"`
		Requester       string `json:"requester"`
		SourceIPAddress string `json:"source-ip-address"`
		Reason          string `json:"reason"`
	} `json:"detail"`
}

// EventBridgeEvent returns an EventBridge "Object Created" event for ref.
// reason is the creating API as S3 names it in detail.reason ("PutObject",
// "POST Object", "CopyObject", "CompleteMultipartUpload"); empty means
// "PutObject".
func EventBridgeEvent(ref domain.ObjectRef, reason string) []byte {
	if reason == "" {
		reason = "PutObject"
	}
	var e ebEventOut
	e.Version = "0"
	id := ref.ID()
	e.ID = fmt.Sprintf("%s-%s-%s-%s-%s", id[0:8], id[8:12], id[12:16], id[16:20], id[20:32])
	e.DetailType = detailTypeCreated
	e.Source = "aws.s3"
	e.Account = buildAccount
	e.Time = "1970-01-01T00:00:00Z"
	e.Region = buildRegion
	e.Resources = []string{"arn:aws:s3:::" + ref.Bucket}
	e.Detail.Version = "0"
	e.Detail.Bucket.Name = ref.Bucket
	e.Detail.Object.Key = ref.Key
	e.Detail.Object.Size = ref.Size
	e.Detail.Object.ETag = ref.ETag
	e.Detail.Object.VersionID = ref.VersionID
	e.Detail.Object.Sequencer = ref.Sequencer
	e.Detail.RequestID = requestID(ref)
	e.Detail.Requester = buildAccount
	e.Detail.SourceIPAddress = buildIP
	e.Detail.Reason = reason
	return marshal(e)
}

// requestID derives a request-ID-like string from the ref, so that
// documents are deterministic.
func requestID(ref domain.ObjectRef) string {
	return strings.ToUpper(ref.ID()[:16])
}

func marshal(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	// Encoding plain structs of strings and integers cannot fail.
	_ = enc.Encode(v)
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}
