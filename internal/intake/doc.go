// Package intake is scangate's one parser of the events that announce new
// object versions. Every Lambda entry point, the local runtime and the CLI
// (`scangate events decode`) hand their raw input to Decode; nothing else in
// scangate reads S3, EventBridge, SNS or SQS event JSON.
//
// # Formats
//
// Decode recognises, by shape:
//
//   - An S3 event notification ({"Records":[{"eventSource":"aws:s3",...}]},
//     eventVersion 2.x). Object keys in it are URL-encoded the way HTML forms
//     are (a space is "+", a "+" is "%2B"); Decode decodes them. Only
//     ObjectCreated:* records name new versions; every other event name
//     (ObjectRemoved:*, ObjectTagging:*, ObjectRestore:*, ObjectAcl:*,
//     LifecycleExpiration:*, Replication:*, ...) is reported in
//     Batch.Ignored.
//   - The test message S3 sends when a notification configuration is saved
//     ({"Service":"Amazon S3","Event":"s3:TestEvent",...}): no refs.
//   - An EventBridge event from source aws.s3. Only detail-type
//     "Object Created" names a new version; keys are not URL-encoded.
//   - An SQS batch as Lambda delivers it ({"Records":[{"eventSource":
//     "aws:sqs","body":"..."}]}) whose bodies are any of the above, or an SNS
//     notification envelope ({"Type":"Notification","Message":"..."})
//     wrapping one of them. Each message decodes on its own: a bad message
//     becomes a MessageFailure and the others still decode.
//
// A top-level SNS envelope is unwrapped too; the Batch then has the kind of
// the wrapped document. Nesting stops there: an SQS batch inside an SQS body,
// or an SNS envelope inside an SNS envelope, is malformed.
//
// # Strictness
//
// All input is untrusted. Decode never panics and its work is bounded by the
// limits below. Beyond JSON syntax it rejects documents that are not valid
// UTF-8, that carry unpaired UTF-16 surrogate escapes, that nest deeper than
// 64 levels, or that repeat a member name in one object (compared the way
// encoding/json matches names, so "key" and "Key" are the same name):
// duplicate names let two parsers read two different keys from one event.
// Decoded keys must be valid UTF-8, non-empty, at most 1024 bytes and free of
// NUL; bucket names must look like S3 bucket names; sizes must be
// non-negative integers and present on every created object.
//
// # Limits
//
//   - MaxDocumentBytes (1 MiB): one S3 notification, EventBridge event or SQS
//     message body. S3 notifications are at most 64 KB, EventBridge events
//     256 KB, and SQS messages 256 KiB by default and 1 MiB at most.
//   - MaxBatchBytes (6 MiB): an SQS batch as a whole. Lambda hands a function
//     up to 10,000 messages per batch, bounded by its 6 MB synchronous
//     invocation payload, so a batch may legitimately exceed one message's
//     limit.
//   - MaxRecords (10,000) records in one document or messages in one batch.
//   - MaxKeyBytes (1024) bytes of decoded key, S3's own limit.
//
// # Errors
//
// Decode fails for input it cannot stand behind: not JSON, an unknown shape,
// an S3 notification or EventBridge event with one bad record. Its errors
// wrap ErrTooLarge, ErrMalformed or ErrUnsupported; none is worth retrying,
// since the same bytes will fail the same way. For an SQS batch Decode
// fails only if the envelope itself is broken (so that no message can be
// named); a bad message becomes a MessageFailure whose Err wraps the same
// sentinels. Error text never repeats object keys; the few input values it
// names (an eventSource, an event version, a member name) are quoted and cut
// short.
//
// # Loops
//
// scangate writes objects too: it tags scanned versions, copies infected ones
// to quarantine and copies released ones back. None of those writes may
// start another scan.
//
//   - Tagging produces ObjectTagging:* / "Object Tags Added" events, which
//     are ignored by type.
//   - Quarantine copies land under Filter.QuarantineBucket and
//     Filter.QuarantinePrefix, which Filter.Apply ignores; and writes by
//     scangate's own principal are ignored when that principal is listed in
//     Filter.SelfPrincipals.
//   - Releases are copies back to the original key, carrying the object
//     metadata "scangate-released-from", which events do not carry. They
//     are ingested and scanned like any upload (dropping them here would
//     leave a version without a record); the Scan step reads the metadata
//     and keeps the review's decision for exactly the released bytes. That
//     check is not this package's.
package intake
