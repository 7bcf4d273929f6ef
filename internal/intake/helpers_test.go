package intake

import (
	"encoding/json"
	"strings"
	"testing"
)

// absent, as an override value, deletes the member.
var absent = &struct{ absent bool }{true}

// baseS3Record is a valid ObjectCreated:Put record in the shape S3 sends.
func baseS3Record() map[string]any {
	return map[string]any{
		"eventVersion":      "2.1",
		"eventSource":       "aws:s3",
		"awsRegion":         "us-west-2",
		"eventTime":         "2024-05-14T09:21:07.511Z",
		"eventName":         "ObjectCreated:Put",
		"userIdentity":      map[string]any{"principalId": "AWS:AROAEXAMPLE:uploader"},
		"requestParameters": map[string]any{"sourceIPAddress": "203.0.113.17"},
		"responseElements":  map[string]any{"x-amz-request-id": "C3D13FE58DE4C810"},
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"configurationId": "uploads",
			"bucket":          map[string]any{"name": "uploads-bucket", "arn": "arn:aws:s3:::uploads-bucket"},
			"object": map[string]any{
				"key":       "dir/file.txt",
				"size":      42,
				"eTag":      "0123456789abcdef0123456789abcdef",
				"versionId": "v1.EXAMPLE",
				"sequencer": "0055AED6DCD90281E5",
			},
		},
	}
}

// baseEBEvent is a valid EventBridge Object Created event.
func baseEBEvent() map[string]any {
	return map[string]any{
		"version":     "0",
		"id":          "17793124-05d4-b198-2fde-7ededc63b103",
		"detail-type": "Object Created",
		"source":      "aws.s3",
		"account":     "111122223333",
		"time":        "2024-05-14T09:21:07Z",
		"region":      "eu-west-1",
		"resources":   []any{"arn:aws:s3:::uploads-bucket"},
		"detail": map[string]any{
			"version": "0",
			"bucket":  map[string]any{"name": "uploads-bucket"},
			"object": map[string]any{
				"key":        "dir/file.txt",
				"size":       42,
				"etag":       "0123456789abcdef0123456789abcdef",
				"version-id": "v1.EXAMPLE",
				"sequencer":  "617f08299329d189",
			},
			"request-id":        "N4N7GDK58NMKJ12R",
			"requester":         "111122223333",
			"source-ip-address": "203.0.113.17",
			"reason":            "PutObject",
		},
	}
}

// with applies overrides given as dotted paths ("s3.object.key") to a copy
// of doc. A value of absent deletes the member.
func with(doc map[string]any, overrides map[string]any) map[string]any {
	doc = deepCopy(doc).(map[string]any)
	for path, v := range overrides {
		parts := strings.Split(path, ".")
		m := doc
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		if v == absent {
			delete(m, parts[len(parts)-1])
		} else {
			m[parts[len(parts)-1]] = v
		}
	}
	return doc
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// records wraps records into an S3 notification or SQS batch document.
func records(t testing.TB, recs ...map[string]any) []byte {
	t.Helper()
	list := make([]any, len(recs))
	for i, r := range recs {
		list[i] = r
	}
	return mustJSON(t, map[string]any{"Records": list})
}

// sqsMessage is an SQS record carrying body.
func sqsMessage(id string, body []byte) map[string]any {
	return map[string]any{
		"messageId":      id,
		"receiptHandle":  "AQEB" + id,
		"body":           string(body),
		"attributes":     map[string]any{"ApproximateReceiveCount": "1"},
		"eventSource":    "aws:sqs",
		"eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
		"awsRegion":      "us-east-1",
	}
}

// snsEnvelopeOf wraps msg in an SNS notification envelope.
func snsEnvelopeOf(t testing.TB, msg []byte) []byte {
	return mustJSON(t, map[string]any{
		"Type":      "Notification",
		"MessageId": "63a3f6b6-d533-4a47-aef9-fcf5cf758c76",
		"TopicArn":  "arn:aws:sns:us-west-2:123456789012:MyTopic",
		"Subject":   "Amazon S3 Notification",
		"Message":   string(msg),
		"Timestamp": "2024-05-14T09:21:08.014Z",
	})
}
