package intake

import (
	"encoding/json"
	"fmt"
)

// ebEvent is an EventBridge event from source aws.s3. The envelope matches
// events.EventBridgeEvent from aws-lambda-go; the detail is S3's.
type ebEvent struct {
	Version    string `json:"version"`
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	Time       string `json:"time"`
	Detail     *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object *struct {
			Key       *string `json:"key"`
			Size      *int64  `json:"size"`
			ETag      string  `json:"etag"`
			VersionID *string `json:"version-id"`
			Sequencer string  `json:"sequencer"`
		} `json:"object"`
		Requester string `json:"requester"`
		Reason    string `json:"reason"`
	} `json:"detail"`
}

// detailTypeCreated is the one EventBridge detail-type that names a new
// version. Object Deleted, Object Restore *, Object Tags Added/Deleted,
// Object ACL Updated, Object Storage Class Changed, Object Access Tier
// Changed and CloudTrail's API-call events are ignored.
const detailTypeCreated = "Object Created"

func decodeEventBridge(data []byte) (Batch, error) {
	var e ebEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return Batch{}, malformed("%s", jsonErrText(err))
	}
	if e.Source != "aws.s3" {
		return Batch{}, unsupported("eventbridge source %q, want aws.s3", truncate(e.Source, 64))
	}
	if e.Version != "0" {
		return Batch{}, unsupported("eventbridge version %q, want 0", truncate(e.Version, 16))
	}
	if e.DetailType == "" {
		return Batch{}, malformed("detail-type is missing")
	}
	if err := checkToken("detail-type", e.DetailType); err != nil {
		return Batch{}, err
	}
	if e.Detail == nil {
		return Batch{}, malformed("detail is missing")
	}
	var fields objectFields
	if o := e.Detail.Object; o != nil {
		fields = objectFields{
			Bucket: e.Detail.Bucket.Name, Key: o.Key, Size: o.Size,
			ETag: o.ETag, VersionID: o.VersionID, Sequencer: o.Sequencer,
		}
	}
	b := Batch{Kind: KindEventBridge}
	if e.DetailType != detailTypeCreated {
		b.Ignored = []Ignored{{
			Reason: fmt.Sprintf("event %q creates no object version", truncate(e.DetailType, 64)),
			Object: fields.bestEffort(false),
		}}
		return b, nil
	}
	if e.Detail.Object == nil {
		return Batch{}, malformed("detail.object is missing")
	}
	obj, err := fields.ref(false)
	if err != nil {
		return Batch{}, err
	}
	t, err := eventTime(e.Time)
	if err != nil {
		return Batch{}, err
	}
	for _, tk := range []struct{ name, v string }{
		{"requester", e.Detail.Requester}, {"reason", e.Detail.Reason},
	} {
		if err := checkToken(tk.name, tk.v); err != nil {
			return Batch{}, err
		}
	}
	b.Refs = []Ref{{
		ObjectRef: obj,
		EventName: e.DetailType,
		EventTime: t,
		Requester: e.Detail.Requester,
		Reason:    e.Detail.Reason,
	}}
	return b, nil
}
