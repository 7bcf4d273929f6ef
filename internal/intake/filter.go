package intake

import "strings"

// Fixed reasons in Ignored.Reason. Events ignored by type carry a reason
// naming the event instead.
const (
	ReasonTestEvent  = "s3 test event"
	ReasonSNSControl = "sns subscription control message"
	ReasonQuarantine = "written under the quarantine location"
	ReasonSelf       = "written by scangate's own principal"
)

// Filter drops refs that scangate's own writes caused, so that quarantining
// or releasing an object never starts another scan of it. Its zero value
// drops nothing.
//
// Two sources of loops are not Filter's: tagging events are ignored by
// type in Decode, and releases (copies back to the original key) are
// scanned like uploads, the Scan step keeping the review's decision for
// the released bytes (object metadata "scangate-released-from").
type Filter struct {
	// QuarantineBucket and QuarantinePrefix name where quarantine copies
	// go. A ref is dropped when it is in QuarantineBucket (any bucket if
	// empty) and under QuarantinePrefix (any key if empty); with both empty
	// nothing is dropped for its location.
	//
	// A prefix that does not end in "/" is matched as a whole path
	// segment: "quarantine" covers "quarantine" and "quarantine/x" but not
	// "quarantine-report.pdf", which an uploader could otherwise use to
	// skip scanning.
	//
	// With a prefix in the scanned buckets themselves (no QuarantineBucket)
	// anyone who may write under that prefix can upload unscanned objects:
	// deny them that in the bucket policy, or prefer a bucket of its own.
	QuarantineBucket string
	QuarantinePrefix string
	// SelfPrincipals are the identities scangate writes with. A ref whose
	// Requester equals one of them, or starts with one of them followed by
	// ":", is dropped; so "AWS:AROAEXAMPLEID" covers every session of that
	// role ("AWS:AROAEXAMPLEID:scangate-quarantine").
	//
	// S3 notifications name the principal (userIdentity.principalId), but
	// EventBridge events name only an account ID or service principal
	// (detail.requester): listing scangate's account ID here drops every
	// EventBridge event from that account, uploads included.
	SelfPrincipals []string
}

// Apply moves the refs of b that f drops to b.Ignored, with the reason. It
// does not modify b's slices.
func (f Filter) Apply(b Batch) Batch {
	out := Batch{Kind: b.Kind, Failures: b.Failures}
	out.Ignored = append([]Ignored(nil), b.Ignored...)
	for _, r := range b.Refs {
		reason := ""
		switch {
		case f.quarantined(r):
			reason = ReasonQuarantine
		case f.self(r.Requester):
			reason = ReasonSelf
		}
		if reason == "" {
			out.Refs = append(out.Refs, r)
			continue
		}
		out.Ignored = append(out.Ignored, Ignored{MessageID: r.MessageID, Reason: reason, Object: r.ObjectRef})
	}
	return out
}

func (f Filter) quarantined(r Ref) bool {
	if f.QuarantineBucket == "" && f.QuarantinePrefix == "" {
		return false
	}
	if f.QuarantineBucket != "" && r.Bucket != f.QuarantineBucket {
		return false
	}
	p := f.QuarantinePrefix
	switch {
	case p == "":
		return true
	case strings.HasSuffix(p, "/"):
		return strings.HasPrefix(r.Key, p)
	}
	return r.Key == p || strings.HasPrefix(r.Key, p+"/")
}

func (f Filter) self(requester string) bool {
	if requester == "" {
		return false
	}
	for _, p := range f.SelfPrincipals {
		if p == "" {
			continue
		}
		if requester == p || (strings.HasPrefix(requester, p) && requester[len(p)] == ':') {
			return true
		}
	}
	return false
}

// Dedup returns refs without repeats, keeping the first of each group with
// the same bucket, key, version (the version ID, or the ETag when there is
// none) and sequencer. S3 delivers events at least once, so one document
// (or one SQS batch) may name a version twice.
//
// The sequencer takes part because in an unversioned bucket the ETag alone
// does not identify a write: uploading the same bytes to a key twice gives
// two events with one ETag, and each overwrite is a write to scan and
// record (see domain.ObjectRef.ID). S3 gives each write of a key a larger
// sequencer, and a redelivered event repeats its sequencer, so only true
// repeats collapse.
func Dedup(refs []Ref) []Ref {
	type id struct{ bucket, key, version, sequencer string }
	seen := make(map[id]bool, len(refs))
	out := make([]Ref, 0, len(refs))
	for _, r := range refs {
		k := id{r.Bucket, r.Key, "e:" + r.ETag, r.Sequencer}
		if r.VersionID != "" {
			k.version = "v:" + r.VersionID
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	return out
}
