// Package lambdas holds one handler function per workflow step. Each is an
// aws-lambda-go handler (ctx first, JSON in, JSON out, error) with a thin
// main under lambdas/cmd; the local runtime and the tests call the very same
// functions in-process.
//
// # Errors
//
// A handler fails with a *StepError whose Type is the name the workflow's
// Retry and Catch rules match on (see the Err* constants). In Lambda the
// type becomes the errorType of the invocation's error response.
package lambdas

import (
	"context"
	"errors"
	"fmt"
	"github.com/scangate/scangate/asl"
	"log/slog"
	"slices"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/policy"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
)

// Error types. Retryable ones are retried by the workflow with backoff;
// the rest go to the failure-recording step.
const (
	// ErrClamdUnavailable: clamd could not be reached. Retryable.
	ErrClamdUnavailable = "ClamdUnavailable"
	// ErrScanTimeout: the scan did not finish in time. Retryable.
	ErrScanTimeout = "ScanTimeout"
	// ErrScanError: clamd answered with an error or an unreadable reply.
	// Retryable a few times; then the object fails with scan-error.
	ErrScanError = "ScanError"
	// ErrSourceError: reading the object broke off mid-stream. Retryable.
	ErrSourceError = "SourceError"
	// ErrStaleSignatures: the signature database is older than allowed.
	// Retryable (an update may land); never recorded as clean.
	ErrStaleSignatures = "StaleSignatures"
	// ErrUnavailable: the store or the object backend is throttling or
	// down. Retryable.
	ErrUnavailable = "BackendUnavailable"
	// ErrLeased: another scanner holds a live lease. Retryable: its lease
	// may expire.
	ErrLeased = "Leased"
	// ErrObjectGone: the exact version no longer exists. Not retryable.
	ErrObjectGone = "ObjectGone"
	// ErrLeaseLost: this execution's lease was taken over; the new holder
	// records the outcome. Not retryable.
	ErrLeaseLost = "LeaseLost"
	// ErrInvalidInput: the step input is malformed. Not retryable.
	ErrInvalidInput = "InvalidInput"
	// ErrInternal: anything else. Not retryable.
	ErrInternal = "Internal"
	// ErrForbidden: the caller's role does not allow the action. Only the
	// review Lambda, which a person calls, gives it.
	ErrForbidden = "Forbidden"
)

// Retryable reports whether the workflow retries a step failing with typ.
func Retryable(typ string) bool {
	switch typ {
	case ErrClamdUnavailable, ErrScanTimeout, ErrScanError, ErrSourceError,
		ErrStaleSignatures, ErrUnavailable, ErrLeased:
		return true
	}
	return false
}

// StepError is a step's failure, named for the workflow.
type StepError struct {
	Type   string `json:"errorType"`
	Reason string `json:"reason"`
	Msg    string `json:"errorMessage"`
	Err    error  `json:"-"`
}

func (e *StepError) Error() string {
	return e.Type + ": " + e.Msg
}

func (e *StepError) Unwrap() error { return e.Err }

// ErrorType is the name workflow interpreters match Retry and Catch on.
func (e *StepError) ErrorType() string { return e.Type }

func stepErr(typ, reason string, err error) *StepError {
	return &StepError{Type: typ, Reason: reason, Msg: err.Error(), Err: err}
}

// TypeOf returns the step error type of err (ErrInternal when err is not a
// *StepError).
func TypeOf(err error) string {
	var se *StepError
	if errors.As(err, &se) {
		return se.Type
	}
	return ErrInternal
}

// fromBackend names a store or object backend error for the workflow.
func fromBackend(err error) *StepError {
	switch errcode.Of(err) {
	case errcode.Throttled, errcode.Unavailable:
		return stepErr(ErrUnavailable, domain.ReasonBackendUnavailable, err)
	case errcode.Invalid:
		return stepErr(ErrInvalidInput, domain.ReasonInternal, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return stepErr(ErrScanTimeout, domain.ReasonTimeout, err)
	}
	return stepErr(ErrInternal, domain.ReasonInternal, err)
}

// Starter starts the workflow for a record. Starting a record whose
// workflow already runs must succeed without a second effect.
type Starter interface {
	Start(ctx context.Context, rec *domain.Record) (executionID string, err error)
}

// ExecutionNamer is implemented by Starters whose execution names are
// derived from the record: ExecutionID returns the ID that Start will
// return for rec when no execution of its generation exists yet. Ingest
// then creates the record with it, so that a new record needs no separate
// SetExecution write; when Start returns another ID (a restart with a new
// name), Ingest stores that one as before.
type ExecutionNamer interface {
	ExecutionID(rec *domain.Record) string
}

// ClaimStarter is implemented by Starters that can start an execution
// holding a lease already: StartClaimed starts rec's workflow as Start
// does, with rec.Lease's token in the input (asl.Document.LeaseToken).
// Ingest then creates a new record already claimed for that execution
// (store.IngestClaimed), and Claim, given the token, writes nothing.
type ClaimStarter interface {
	StartClaimed(ctx context.Context, rec *domain.Record) (executionID string, err error)
}

// Resumer hands an admin's decision to the workflow waiting on a review,
// through the task token stored on the item (SendTaskSuccess in AWS).
// Resuming an item whose workflow was already resumed must not fail.
type Resumer interface {
	Resume(ctx context.Context, item *domain.ReviewItem, st asl.Document) error
}

// ReviewStarter starts the review workflow for a record that was just
// quarantined. Starting it twice for the same review must have one effect.
type ReviewStarter interface {
	StartReview(ctx context.Context, rec *domain.Record) error
}

// Offloader hands an object above MaxScanBytes to the large-object path:
// in AWS an ECS (Fargate) task running the same binary with its own clamd
// (package fargate), locally a second execution in-process. st carries
// Offloaded; the offloaded execution claims, scans with LargeScanner and
// records. version is the record's version when offloaded, which changes
// with every claim: offloading the same version twice (a duplicate
// execution) must have one effect, while a record offloaded again after
// its task died, its lease expired and reclaimed, has a new version.
type Offloader interface {
	Offload(ctx context.Context, st asl.Document, version int64) error
}

// Config holds the handlers' settings. The zero value is not usable:
// Store, Objects and (for Scan) Scanner are required.
type Config struct {
	Store   *store.Store
	Objects objects.Driver
	Scanner Scanner
	Starter Starter
	Resumer Resumer
	Reviews ReviewStarter
	Logger  *slog.Logger

	// SelfPrincipals are identities whose writes are not scanned (see
	// intake.Filter): only the role that releases objects (the review
	// function's), never one that signs upload URLs, since an upload
	// through a URL it signed carries its principal. Unset, a released
	// copy is scanned like an upload and keeps the review's decision.
	SelfPrincipals []string

	// QuarantineBucket receives quarantined copies under QuarantinePrefix.
	QuarantineBucket string
	QuarantinePrefix string
	// UnscannablePolicy is PolicyQuarantine (the default) or PolicyBlock:
	// leave the object in place, tagged unscannable, which the bucket
	// policy denies.
	UnscannablePolicy Policy
	// MaxScanBytes: objects larger than this are unscannable (too-large)
	// rather than truncated, unless the large-object path takes them. 0
	// means no limit of scangate's own; clamd's StreamMaxLength still
	// applies.
	MaxScanBytes int64
	// Offloader, when set, takes objects above MaxScanBytes to the
	// large-object path instead of marking them too large.
	Offloader Offloader
	// LargeScanner scans objects above MaxScanBytes in an offloaded
	// execution (its clamd allows longer streams), up to LargeMaxBytes;
	// larger ones are unscannable (too-large). nil: this process has no
	// large-object path, and offloaded objects are too large here too.
	LargeScanner  Scanner
	LargeMaxBytes int64
	// LeaseTTL bounds a scan; an expired lease can be reclaimed.
	LeaseTTL time.Duration
	// Owner names this scanner in leases and history.
	Owner string
	// DisableVerdictCache turns off reuse of clean verdicts.
	DisableVerdictCache bool
	// Policy holds the per-prefix rules and the SHA-256 denylist the Scan
	// step applies; nil applies none.
	Policy *policy.Policy
	// Metrics receives every scan's outcome and what it learnt of the
	// engine; nil records nothing.
	Metrics metrics.Recorder
	// Intents says that upload intents are recorded (the upload API's
	// RecordIntents): Ingest then links each new version to the intent it
	// fulfils. Sweep settles expired intents whether or not it is set.
	Intents bool
	// IntentGrace is how long after its URL expired an upload may still
	// arrive: S3 checks a presigned URL's expiry when the request starts,
	// and a large upload, or its event, can come well after. 0 means
	// DefaultIntentGrace.
	IntentGrace time.Duration
	// Results, when set, is told every final outcome (ResultEvent): the
	// result events and notifications.
	Results ResultEmitter
	// Signatures, when set, names the database the scanners load now; the
	// sweep then runs the retro-hunt (SweepRequest.RetroWindowSeconds).
	// Processes that scan hunt with their own scanner instead (RetroLoop).
	Signatures Signatures
}

// EventRetroDetected is the outcome of the result event of a version
// found clean before and infected by a newer signature database: it may
// already have been downloaded.
const EventRetroDetected = "retro-detected"

// Handlers are the workflow's steps.
type Handlers struct {
	cfg   Config
	log   *slog.Logger
	retro retroCounters
}

// New validates cfg and returns the handlers.
func New(cfg Config) (*Handlers, error) {
	if cfg.Store == nil || cfg.Objects == nil {
		return nil, fmt.Errorf("lambdas: store and objects are required")
	}
	switch cfg.UnscannablePolicy {
	case "":
		cfg.UnscannablePolicy = PolicyQuarantine
	case PolicyQuarantine, PolicyBlock:
	default:
		return nil, fmt.Errorf("lambdas: unknown unscannable policy %q (want quarantine or block)", cfg.UnscannablePolicy)
	}
	if cfg.QuarantineBucket == "" {
		return nil, fmt.Errorf("lambdas: a quarantine bucket is required")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 5 * time.Minute
	}
	if cfg.Owner == "" {
		cfg.Owner = "scanner"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Discard{}
	}
	if cfg.IntentGrace <= 0 {
		cfg.IntentGrace = DefaultIntentGrace
	}
	return &Handlers{cfg: cfg, log: cfg.Logger}, nil
}

func (h *Handlers) logFor(st asl.Document) *slog.Logger {
	return h.log.With(
		slog.String("id", st.ID),
		slog.String("bucket", st.Object.Bucket),
		slog.String("key", domain.DisplayKey(st.Object.Key)),
		slog.String("versionId", st.Object.VersionID),
	)
}

// checkDoc refuses a document that names no record.
func checkDoc(st asl.Document) error {
	if st.ID == "" {
		return &StepError{Type: ErrInvalidInput, Reason: domain.ReasonInternal, Msg: "step input has no record id"}
	}
	return nil
}

// Policy is what happens to an object that could not be scanned
// completely.
type Policy string

// The unscannable policies.
const (
	// PolicyQuarantine moves the object to the quarantine and opens a
	// review, as for an infected one.
	PolicyQuarantine Policy = "quarantine"
	// PolicyBlock leaves it in place, tagged unscannable, which the bucket
	// policy keeps unreadable.
	PolicyBlock Policy = "block"
)

// route is the step of the scan workflow that carries the policy out.
func (p Policy) route() asl.Route {
	if p == PolicyBlock {
		return asl.RouteBlock
	}
	return asl.RouteQuarantine
}

// UnscannablePolicy returns the policy in force.
func (h *Handlers) UnscannablePolicy() Policy { return h.cfg.UnscannablePolicy }

// routeFor answers the one question a decided record asks of the scan
// workflow: which step does it still need? An infected record needs its
// quarantine, an unscannable one its policy's step (a policy violation
// the action its rule names: block, or quarantine and review); every
// other state is done (a clean one is tagged by Record itself). Claim
// asks it of a record decided by an earlier execution, Record of the
// verdict it just wrote, the sweep of records it finds resting.
func (h *Handlers) routeFor(state domain.Status, v *domain.Verdict) asl.Route {
	switch state {
	case domain.StatusInfected:
		return asl.RouteQuarantine
	case domain.StatusUnscannable:
		if v != nil && v.PolicyAction != "" {
			if policy.Action(v.PolicyAction) == policy.ActionBlock {
				return asl.RouteBlock
			}
			return asl.RouteQuarantine
		}
		return h.cfg.UnscannablePolicy.route()
	}
	return asl.RouteDone
}

// inPlaceReview reports whether a record under review stays at its key
// (the policy action "review") instead of moving to the quarantine.
func inPlaceReview(v *domain.Verdict) bool {
	return v != nil && policy.Action(v.PolicyAction) == policy.ActionReview
}

// denylisted reports whether v is the denylist's verdict: nothing, not
// the allowlist nor a release proof, turns it into anything else.
func denylisted(v *domain.Verdict) bool {
	return v != nil && slices.Contains(v.Signatures, policy.DenylistSignature)
}
