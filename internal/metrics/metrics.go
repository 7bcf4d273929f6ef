// Package metrics records what scangate's scans and scan engine do, in two
// forms behind one interface, Recorder:
//
//   - Prometheus, a set of collectors on a registry the caller owns (the
//     local runtime serves it on GET /metrics);
//   - EMF, CloudWatch Embedded Metric Format lines written to an
//     io.Writer (a Lambda's stdout), which CloudWatch Logs turns into
//     metrics without any API call.
//
// Callers (the Scan step, POST /scan) see only Recorder and the plain
// structs ScanResult and EngineStatus.
//
// # Prometheus metrics
//
//	scangate_scans_total{outcome}        counter: scans by outcome (clean, infected, unscannable, allowlisted, error)
//	scangate_scan_bytes_total            counter: bytes streamed to clamd
//	scangate_scan_duration_seconds       histogram: scan durations, 1 ms to 5 min
//	scangate_clamd_up                    gauge: 1 when clamd answered last time it was asked
//	scangate_signature_age_seconds       gauge: age of the signature database, at scrape time
//	scangate_breaker_open                gauge: 1 while the engine's circuit breaker is not closed
//
// # EMF lines
//
// One line per scan, in namespace "scangate", dimension Outcome, metrics
// Scans (Count), ScanBytes (Bytes) and ScanDuration (Milliseconds); the
// object's bucket, key and versionId, and the reason, ride along as plain
// properties, never as dimensions, so they cost no custom metrics. One line
// per engine status, without dimensions: ClamdUp, BreakerOpen (None) and
// SignatureAge (Seconds).
package metrics

import (
	"time"

	"github.com/scangate/scangate/domain"
)

// OutcomeError is the outcome label of a scan that gave no verdict. The
// other labels are domain.Outcome's values.
const OutcomeError domain.Outcome = "error"

// Outcomes lists every outcome label, in a fixed order.
var Outcomes = []domain.Outcome{domain.OutcomeClean, domain.OutcomeInfected, domain.OutcomeUnscannable, domain.OutcomeAllowlisted, OutcomeError}

// outcome keeps the label set closed: anything unknown is an error.
func outcome(o domain.Outcome) string {
	switch o {
	case domain.OutcomeClean, domain.OutcomeInfected, domain.OutcomeUnscannable, domain.OutcomeAllowlisted:
		return string(o)
	}
	return string(OutcomeError)
}

// ScanResult is one finished scan, whatever its outcome.
type ScanResult struct {
	// Outcome is the verdict's outcome, or OutcomeError for a scan that
	// gave none; any other value counts as OutcomeError.
	Outcome domain.Outcome
	// Bytes is how many bytes were streamed to clamd.
	Bytes int64
	// Duration is how long the scan took.
	Duration time.Duration
	// Reason says why a scan was unscannable or an error (a domain reason
	// code). EMF carries it as a property; Prometheus ignores it.
	Reason string
	// The object scanned, when there is one: EMF properties only, never a
	// dimension or label.
	Bucket, Key, VersionID string
}

// EngineStatus is what the scan engine looked like when last asked.
type EngineStatus struct {
	// Up is true when clamd answered.
	Up bool
	// DBTime is when the signature database was built; zero when unknown
	// (clamd did not answer), which keeps the last known time.
	DBTime time.Time
	// BreakerOpen is true while the engine's circuit breaker is not closed.
	BreakerOpen bool
}

// Recorder takes scan results and engine status. Implementations are safe
// for concurrent use and never block for long; they report no errors.
type Recorder interface {
	Scan(ScanResult)
	Engine(EngineStatus)
}

// Discard is a Recorder that records nothing.
type Discard struct{}

var (
	_ Recorder = Discard{}
	_ Recorder = (*Prometheus)(nil)
	_ Recorder = (*EMF)(nil)
)

func (Discard) Scan(ScanResult)     {}
func (Discard) Engine(EngineStatus) {}
