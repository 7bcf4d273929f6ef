package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scangate/scangate/domain"
)

func TestPrometheus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	reg := prometheus.NewPedanticRegistry()
	p, err := newPrometheus(reg, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	// Before anything happened: every outcome at 0, no signature age.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP scangate_scans_total Scans by outcome: clean, infected, unscannable, allowlisted or error (no verdict).
# TYPE scangate_scans_total counter
scangate_scans_total{outcome="allowlisted"} 0
scangate_scans_total{outcome="clean"} 0
scangate_scans_total{outcome="error"} 0
scangate_scans_total{outcome="infected"} 0
scangate_scans_total{outcome="unscannable"} 0
`), "scangate_scans_total", "scangate_signature_age_seconds"); err != nil {
		t.Fatal(err)
	}

	p.Scan(ScanResult{Outcome: domain.OutcomeClean, Bytes: 1000, Duration: 3 * time.Millisecond})
	p.Scan(ScanResult{Outcome: domain.OutcomeInfected, Bytes: 68, Duration: 40 * time.Millisecond})
	p.Scan(ScanResult{Outcome: "something new", Duration: 2 * time.Minute})
	p.Engine(EngineStatus{Up: true, DBTime: now.Add(-2 * time.Hour)})
	p.Engine(EngineStatus{Up: false, BreakerOpen: true}) // age unknown: keeps the last

	want := `
# HELP scangate_breaker_open 1 while the scan engine's circuit breaker is open or half-open, else 0.
# TYPE scangate_breaker_open gauge
scangate_breaker_open 1
# HELP scangate_clamd_up 1 when clamd answered the last time it was asked, else 0.
# TYPE scangate_clamd_up gauge
scangate_clamd_up 0
# HELP scangate_scan_bytes_total Bytes streamed to clamd.
# TYPE scangate_scan_bytes_total counter
scangate_scan_bytes_total 1068
# HELP scangate_scan_duration_seconds How long scans took, whatever their outcome.
# TYPE scangate_scan_duration_seconds histogram
scangate_scan_duration_seconds_bucket{le="0.001"} 0
scangate_scan_duration_seconds_bucket{le="0.0025"} 0
scangate_scan_duration_seconds_bucket{le="0.005"} 1
scangate_scan_duration_seconds_bucket{le="0.01"} 1
scangate_scan_duration_seconds_bucket{le="0.025"} 1
scangate_scan_duration_seconds_bucket{le="0.05"} 2
scangate_scan_duration_seconds_bucket{le="0.1"} 2
scangate_scan_duration_seconds_bucket{le="0.25"} 2
scangate_scan_duration_seconds_bucket{le="0.5"} 2
scangate_scan_duration_seconds_bucket{le="1"} 2
scangate_scan_duration_seconds_bucket{le="2.5"} 2
scangate_scan_duration_seconds_bucket{le="5"} 2
scangate_scan_duration_seconds_bucket{le="10"} 2
scangate_scan_duration_seconds_bucket{le="30"} 2
scangate_scan_duration_seconds_bucket{le="60"} 2
scangate_scan_duration_seconds_bucket{le="120"} 3
scangate_scan_duration_seconds_bucket{le="300"} 3
scangate_scan_duration_seconds_bucket{le="+Inf"} 3
scangate_scan_duration_seconds_sum 120.043
scangate_scan_duration_seconds_count 3
# HELP scangate_scans_total Scans by outcome: clean, infected, unscannable, allowlisted or error (no verdict).
# TYPE scangate_scans_total counter
scangate_scans_total{outcome="allowlisted"} 0
scangate_scans_total{outcome="clean"} 1
scangate_scans_total{outcome="error"} 1
scangate_scans_total{outcome="infected"} 1
scangate_scans_total{outcome="unscannable"} 0
# HELP scangate_signature_age_seconds Age of the signature database clamd scans with, at scrape time; absent until known.
# TYPE scangate_signature_age_seconds gauge
scangate_signature_age_seconds 7200
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	// The age grows between scans, as the database's does.
	now = now.Add(time.Hour)
	if got := testutil.ToFloat64(p.age); got != 3*3600 {
		t.Fatalf("signature age an hour later = %v; want 10800", got)
	}
}

func TestPrometheusCollectAndCompare(t *testing.T) {
	t.Parallel()
	p, err := New(nil) // no registry: the collectors are still usable
	if err != nil {
		t.Fatal(err)
	}
	p.Scan(ScanResult{Outcome: domain.OutcomeUnscannable, Bytes: 5})
	if err := testutil.CollectAndCompare(p.scans, strings.NewReader(`
# HELP scangate_scans_total Scans by outcome: clean, infected, unscannable, allowlisted or error (no verdict).
# TYPE scangate_scans_total counter
scangate_scans_total{outcome="allowlisted"} 0
scangate_scans_total{outcome="clean"} 0
scangate_scans_total{outcome="error"} 0
scangate_scans_total{outcome="infected"} 0
scangate_scans_total{outcome="unscannable"} 1
`)); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(p.duration); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func TestPrometheusRegisterTwice(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg); err == nil {
		t.Fatal("registering scangate's metrics twice on one registry succeeded")
	}
}

func TestPrometheusLint(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	p, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	p.Engine(EngineStatus{Up: true, DBTime: time.Now()})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint %s: %s", pr.Metric, pr.Text)
	}
}
