package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets are scangate_scan_duration_seconds' buckets: from a
// shortcut verdict (about 1 ms) to the Scan task's limit (240 s), with the
// step a few times apart.
var DurationBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 120, 300,
}

// Prometheus is a Recorder over Prometheus collectors.
type Prometheus struct {
	scans       *prometheus.CounterVec
	scanBytes   prometheus.Counter
	duration    prometheus.Histogram
	clamdUp     prometheus.Gauge
	breakerOpen prometheus.Gauge
	age         *ageCollector
}

// New returns a Prometheus recorder whose collectors are registered with
// reg, or with nothing when reg is nil. It fails when reg already holds
// scangate's metrics.
func New(reg prometheus.Registerer) (*Prometheus, error) {
	return newPrometheus(reg, time.Now)
}

func newPrometheus(reg prometheus.Registerer, now func() time.Time) (*Prometheus, error) {
	p := &Prometheus{
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scangate_scans_total",
			Help: "Scans by outcome: clean, infected, unscannable, allowlisted or error (no verdict).",
		}, []string{"outcome"}),
		scanBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scangate_scan_bytes_total",
			Help: "Bytes streamed to clamd.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scangate_scan_duration_seconds",
			Help:    "How long scans took, whatever their outcome.",
			Buckets: DurationBuckets,
		}),
		clamdUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scangate_clamd_up",
			Help: "1 when clamd answered the last time it was asked, else 0.",
		}),
		breakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scangate_breaker_open",
			Help: "1 while the scan engine's circuit breaker is open or half-open, else 0.",
		}),
		age: &ageCollector{
			desc: prometheus.NewDesc("scangate_signature_age_seconds",
				"Age of the signature database clamd scans with, at scrape time; absent until known.", nil, nil),
			now: now,
		},
	}
	// Every outcome exists from the start, so that rates over it work.
	for _, o := range Outcomes {
		p.scans.WithLabelValues(string(o))
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{p.scans, p.scanBytes, p.duration, p.clamdUp, p.breakerOpen, p.age} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// Scan counts one scan.
func (p *Prometheus) Scan(s ScanResult) {
	p.scans.WithLabelValues(outcome(s.Outcome)).Inc()
	if s.Bytes > 0 {
		p.scanBytes.Add(float64(s.Bytes))
	}
	p.duration.Observe(s.Duration.Seconds())
}

// Engine sets the engine gauges.
func (p *Prometheus) Engine(e EngineStatus) {
	p.clamdUp.Set(b2f(e.Up))
	p.breakerOpen.Set(b2f(e.BreakerOpen))
	if !e.DBTime.IsZero() {
		p.age.set(e.DBTime)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ageCollector reports the database's age when scraped, so that it keeps
// growing between scans, as the database's real age does.
type ageCollector struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu     sync.Mutex
	dbTime time.Time
}

func (c *ageCollector) set(t time.Time) {
	c.mu.Lock()
	c.dbTime = t
	c.mu.Unlock()
}

func (c *ageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *ageCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	t := c.dbTime
	c.mu.Unlock()
	if t.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, c.now().Sub(t).Seconds())
}
