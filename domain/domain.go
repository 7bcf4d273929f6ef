// Package domain holds scangate's plain data types and the status
// vocabulary. It imports nothing from AWS so that every other package, and
// every driver, speaks the same language.
package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Status is the lifecycle state of one object version. The legal moves
// between statuses live in package statemachine, not here.
type Status string

const (
	// StatusPending: recorded, not yet claimed by a scanner.
	StatusPending Status = "pending"
	// StatusScanning: claimed under a lease by one scanner.
	StatusScanning Status = "scanning"
	// StatusClean: clamd answered OK for the complete stream of this version.
	StatusClean Status = "clean"
	// StatusInfected: clamd found a signature; quarantine is under way.
	StatusInfected Status = "infected"
	// StatusReviewing: quarantined, waiting for an admin decision.
	StatusReviewing Status = "reviewing"
	// StatusReleased: an admin released a false positive back to its key.
	StatusReleased Status = "released"
	// StatusConfirmed: an admin confirmed the detection; it stays quarantined.
	StatusConfirmed Status = "confirmed"
	// StatusAllowlisted: the bytes' SHA-256 is on the allowlist. This is a
	// verdict of its own and never reported as clean.
	StatusAllowlisted Status = "allowlisted"
	// StatusUnscannable: the engine could not stand behind any answer (a
	// size, recursion or file-count limit, encryption, a truncated stream).
	StatusUnscannable Status = "unscannable"
	// StatusFailed: retries ran out; Reason says why. Never readable.
	StatusFailed Status = "failed"
	// StatusGone: the exact version disappeared before it could be scanned.
	StatusGone Status = "gone"
)

// Statuses lists every status in a stable order.
func Statuses() []Status {
	return []Status{
		StatusPending, StatusScanning, StatusClean, StatusInfected,
		StatusReviewing, StatusReleased, StatusConfirmed, StatusAllowlisted,
		StatusUnscannable, StatusFailed, StatusGone,
	}
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, k := range Statuses() {
		if s == k {
			return true
		}
	}
	return false
}

// Readable reports whether readers may be given the object in this status.
// Only a complete scan or a human decision makes bytes readable.
func (s Status) Readable() bool {
	switch s {
	case StatusClean, StatusReleased, StatusAllowlisted:
		return true
	}
	return false
}

// Reason codes name why an object is not clean. They are stable strings:
// operators alert on them and the workflow's Catch rules route by them.
const (
	ReasonClamdUnavailable = "clamd-unavailable"
	ReasonScanError        = "scan-error"
	ReasonTimeout          = "timeout"
	ReasonObjectGone       = "object-gone"
	ReasonVersionMismatch  = "version-mismatch"
	ReasonTooLarge         = "too-large"
	ReasonLimitExceeded    = "limit-exceeded"
	ReasonEncrypted        = "encrypted"
	ReasonStaleSignatures  = "stale-signatures"
	ReasonSourceError      = "source-error"
	ReasonQuarantineFailed = "quarantine-failed"
	ReasonOffloadFailed    = "offload-failed"
	ReasonInternal         = "internal"
	// ReasonBackendUnavailable: the store or another AWS service throttled
	// or did not answer through every retry.
	ReasonBackendUnavailable = "backend-unavailable"
)

// ObjectRef names exactly one version of one object.
//
// VersionID is empty for unversioned buckets; then ETag and Sequencer tell
// versions apart (see ID).
type ObjectRef struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
	ETag      string `json:"etag,omitempty"`
	Size      int64  `json:"size"`
	Sequencer string `json:"sequencer,omitempty"`
}

// ID is the record identity of the object version: a stable hash, so that
// any key (up to 1024 bytes of anything) maps to a short, safe identifier
// usable in URLs, file names and Step Functions execution names.
//
// With a VersionID the identity is (bucket, key, versionId). Without one it
// is (bucket, key, ETag, sequencer): S3 gives every write of a key a larger
// sequencer, so two uploads of identical bytes are still two versions, while
// a re-delivered event (same sequencer) maps to the same record.
func (o ObjectRef) ID() string {
	h := sha256.New()
	h.Write([]byte(o.Bucket))
	h.Write([]byte{0})
	h.Write([]byte(o.Key))
	h.Write([]byte{0})
	if o.VersionID != "" {
		h.Write([]byte("v:" + o.VersionID))
	} else {
		// S3 quotes ETags in API answers but not in event notifications.
		h.Write([]byte("e:" + strings.Trim(o.ETag, `"`) + "/" + o.Sequencer))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// String identifies the version in logs and errors, with the key escaped
// by DisplayKey: keys are uploader input.
func (o ObjectRef) String() string {
	v := o.VersionID
	if v == "" {
		v = "etag:" + o.ETag
	}
	return "s3://" + o.Bucket + "/" + DisplayKey(o.Key) + "?version=" + v
}

// Lease is a scanner's time-bounded claim on a record in StatusScanning.
// The token, not the owner, is what a late writer is checked against.
type Lease struct {
	Owner   string    `json:"owner"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// Expired reports whether the lease no longer protects its holder at now.
func (l *Lease) Expired(now time.Time) bool {
	return l == nil || !now.Before(l.Expires)
}

// Outcome is what one scan concluded.
type Outcome string

const (
	OutcomeClean       Outcome = "clean"
	OutcomeInfected    Outcome = "infected"
	OutcomeUnscannable Outcome = "unscannable"
	OutcomeAllowlisted Outcome = "allowlisted"
)

// Verdict is the evidence behind an outcome.
type Verdict struct {
	Outcome    Outcome  `json:"outcome"`
	Signatures []string `json:"signatures,omitempty"`
	// Reason names the limit or condition for OutcomeUnscannable.
	Reason        string        `json:"reason,omitempty"`
	Engine        string        `json:"engine,omitempty"`
	DBVersion     string        `json:"dbVersion,omitempty"`
	DBTime        time.Time     `json:"dbTime,omitzero"`
	SHA256        string        `json:"sha256,omitempty"`
	BytesScanned  int64         `json:"bytesScanned"`
	Duration      time.Duration `json:"duration"`
	ScannedAt     time.Time     `json:"scannedAt,omitzero"`
	Reused        bool          `json:"reused,omitempty"`
	AllowlistedBy string        `json:"allowlistedBy,omitempty"`
	// ContentType is the media type the leading bytes sniff as (magic
	// bytes, never the uploader's Content-Type), when a policy rule asked.
	ContentType string `json:"contentType,omitempty"`
	// PolicyRule and PolicyAction name the policy rule a violation broke
	// and what it asks for ("block", "quarantine", "review"); Reason then
	// starts with "policy:".
	PolicyRule   string `json:"policyRule,omitempty"`
	PolicyAction string `json:"policyAction,omitempty"`
	// Retro is set on a verdict of a retro-hunt: a rescan of a version
	// found clean under an older signature database.
	Retro bool `json:"retro,omitempty"`
}

// MaxVerdicts bounds Record.Verdicts: the first verdict and the latest
// ones are kept.
const MaxVerdicts = 20

// HistoryEntry is one applied transition.
type HistoryEntry struct {
	At     time.Time `json:"at"`
	Event  string    `json:"event"`
	From   Status    `json:"from,omitempty"`
	To     Status    `json:"to"`
	Actor  string    `json:"actor,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Record is the durable state of one object version.
type Record struct {
	ID     string    `json:"id"`
	Object ObjectRef `json:"object"`
	State  Status    `json:"state"`
	// Reason explains StatusFailed, StatusUnscannable and StatusGone.
	Reason string `json:"reason,omitempty"`
	// Version increases by one with every write; writers compare-and-set it.
	Version  int64    `json:"version"`
	Attempts int      `json:"attempts"`
	Lease    *Lease   `json:"lease,omitempty"`
	Verdict  *Verdict `json:"verdict,omitempty"`
	// Verdicts is every verdict recorded for this version, oldest first
	// (at most MaxVerdicts: the first and the latest), written in the same
	// conditional write as the transition that recorded each.
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// Quarantine is where the bytes are while they are not at Object.
	Quarantine   *ObjectRef     `json:"quarantine,omitempty"`
	ExecutionARN string         `json:"executionArn,omitempty"`
	CreatedAt    time.Time      `json:"createdAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
	History      []HistoryEntry `json:"history"`
}

// Location is where the record's bytes can be read now.
func (r *Record) Location() ObjectRef {
	if r.Quarantine != nil {
		return *r.Quarantine
	}
	return r.Object
}

// AllowlistEntry trusts one exact byte sequence, named by its SHA-256.
type AllowlistEntry struct {
	SHA256  string    `json:"sha256"`
	AddedBy string    `json:"addedBy"`
	AddedAt time.Time `json:"addedAt"`
	Reason  string    `json:"reason"`
	// Expires is zero for an entry that never expires.
	Expires time.Time `json:"expires,omitzero"`
}

// Active reports whether the entry vouches for its hash at now.
func (e *AllowlistEntry) Active(now time.Time) bool {
	return e != nil && (e.Expires.IsZero() || now.Before(e.Expires))
}

// Decision is an admin's answer to a review item.
type Decision string

const (
	DecisionRelease   Decision = "release"
	DecisionConfirm   Decision = "confirm"
	DecisionAllowlist Decision = "allowlist"
	DecisionRescan    Decision = "rescan"
)

// ReviewItem is one quarantined object waiting for, or given, a decision.
type ReviewItem struct {
	// ID is the record ID of the object under review.
	ID         string    `json:"id"`
	Object     ObjectRef `json:"object"`
	Signatures []string  `json:"signatures,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	SHA256     string    `json:"sha256,omitempty"`
	OpenedAt   time.Time `json:"openedAt"`
	// Decision is empty while the item is open.
	Decision  Decision  `json:"decision,omitempty"`
	Reviewer  string    `json:"reviewer,omitempty"`
	Comment   string    `json:"comment,omitempty"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	// TaskToken resumes the waiting workflow when the decision is made.
	TaskToken string `json:"taskToken,omitempty"`
	// RetroDetected marks a version that an earlier verdict found clean
	// and a later signature database found infected: it may already have
	// been read. FirstCleanAt is when it was first found clean.
	RetroDetected bool      `json:"retroDetected,omitempty"`
	FirstCleanAt  time.Time `json:"firstCleanAt,omitzero"`
}

// Open reports whether the item still waits for a decision.
func (r *ReviewItem) Open() bool { return r.Decision == "" }

// IntentState is where an upload intent stands.
type IntentState string

const (
	// IntentExpected: a URL was issued and no version of its key has been
	// matched to it yet.
	IntentExpected IntentState = "expected"
	// IntentArrived: a version of the key arrived and is recorded; the
	// intent names that version's record.
	IntentArrived IntentState = "arrived"
	// IntentExpired: the URL expired (and its grace period passed) with no
	// unmatched version of the key written after it was issued.
	IntentExpired IntentState = "expired"
)

// IntentStates lists every intent state in a stable order.
func IntentStates() []IntentState {
	return []IntentState{IntentExpected, IntentArrived, IntentExpired}
}

// Valid reports whether s is one of the known intent states.
func (s IntentState) Valid() bool {
	switch s {
	case IntentExpected, IntentArrived, IntentExpired:
		return true
	}
	return false
}

// Anonymous is the requester of an intent whose issuer did not
// authenticate.
const Anonymous = "anonymous"

// UploadIntent is an upload announced before any byte arrives: the upload
// API issued a URL for Key, and expects a new version of it.
//
// It cannot be the object's Record: a record names one version, and S3
// assigns the versionId only when the upload completes. The intent names
// the key and the window in which its version may appear; once one does,
// the intent points at that version's record.
type UploadIntent struct {
	// ID is random (see store.NewIntentID), so that it says nothing about
	// the key and cannot be guessed.
	ID     string `json:"id"`
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Requester is the API caller's authenticated identity, or Anonymous.
	Requester string `json:"requester"`
	// Method is how the URL uploads: "PUT" or "POST" (a POST policy).
	Method   string    `json:"method"`
	IssuedAt time.Time `json:"issuedAt"`
	// ExpiresAt is the first instant the URL is refused.
	ExpiresAt time.Time `json:"expiresAt"`
	// SHA256 is the hex SHA-256 the URL requires of the body, if any.
	SHA256 string `json:"sha256,omitempty"`
	// MinBytes and MaxBytes bound the body's length when the URL does (a
	// presigned PUT fixes it: both are equal); zero MaxBytes means no bound
	// of the URL's own.
	MinBytes int64 `json:"minBytes,omitempty"`
	MaxBytes int64 `json:"maxBytes,omitempty"`

	State IntentState `json:"state"`
	// RecordID names the record of the version that fulfilled the intent,
	// once State is IntentArrived.
	RecordID string `json:"recordId,omitempty"`
	// ResolvedAt and ResolvedBy say when and by what ("ingest", "sweep")
	// the intent left IntentExpected.
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	ResolvedBy string    `json:"resolvedBy,omitempty"`
}

// KeyHash identifies the intent's (bucket, key) in fixed width: the
// drivers index intents by it, since a key may be 1024 bytes of anything.
func (u *UploadIntent) KeyHash() string { return KeyHash(u.Bucket, u.Key) }

// KeyHash is the hex of the first 16 bytes of SHA-256(bucket NUL key).
func KeyHash(bucket, key string) string {
	h := sha256.New()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
