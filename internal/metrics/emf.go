package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace EMF uses by default.
const Namespace = "scangate"

// EMFOptions configure an EMF recorder. The zero value is the default.
type EMFOptions struct {
	// Namespace is the CloudWatch namespace; "" means Namespace.
	Namespace string
	// Now is the clock for the lines' timestamps; nil means time.Now.
	Now func() time.Time
}

// EMF is a Recorder that writes CloudWatch Embedded Metric Format
// documents, one JSON object per line, to an io.Writer. In a Lambda that
// is os.Stdout: CloudWatch Logs extracts the metrics from the function's
// log, with no API call and no agent.
//
// The format follows the specification "Specification: Embedded metric
// format" in the Amazon CloudWatch User Guide: a root member _aws with an
// integer Timestamp (milliseconds since the epoch) and CloudWatchMetrics,
// an array of directives (Namespace, Dimensions, Metrics); every
// dimension and metric a directive names is a member of the root object,
// dimensions with string values and metrics with numbers.
type EMF struct {
	w   io.Writer
	ns  string
	now func() time.Time

	mu  sync.Mutex
	err error
}

// NewEMF returns an EMF recorder writing to w.
func NewEMF(w io.Writer, opts EMFOptions) *EMF {
	if opts.Namespace == "" {
		opts.Namespace = Namespace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &EMF{w: w, ns: opts.Namespace, now: opts.Now}
}

// Err returns the first error writing to w, if any. Recording goes on
// after an error; lines that could not be written are lost.
func (e *EMF) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// emfMetadata is the _aws member.
type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// emfScan is one scan's line. Outcome is the one dimension; the object's
// identity and the reason are properties.
type emfScan struct {
	AWS          emfMetadata `json:"_aws"`
	Outcome      string      `json:"Outcome"`
	Scans        int         `json:"Scans"`
	ScanBytes    int64       `json:"ScanBytes"`
	ScanDuration float64     `json:"ScanDuration"`
	Reason       string      `json:"reason,omitempty"`
	Bucket       string      `json:"bucket,omitempty"`
	Key          string      `json:"key,omitempty"`
	VersionID    string      `json:"versionId,omitempty"`
}

// emfEngine is an engine status line, without dimensions.
type emfEngine struct {
	AWS          emfMetadata `json:"_aws"`
	ClamdUp      int         `json:"ClamdUp"`
	BreakerOpen  int         `json:"BreakerOpen"`
	SignatureAge *float64    `json:"SignatureAge,omitempty"`
}

// Scan writes one line for the scan.
func (e *EMF) Scan(s ScanResult) {
	e.write(emfScan{
		AWS: e.metadata([]string{"Outcome"},
			emfMetric{"Scans", "Count"}, emfMetric{"ScanBytes", "Bytes"}, emfMetric{"ScanDuration", "Milliseconds"}),
		Outcome:      outcome(s.Outcome),
		Scans:        1,
		ScanBytes:    max(s.Bytes, 0),
		ScanDuration: float64(s.Duration) / float64(time.Millisecond),
		Reason:       s.Reason,
		Bucket:       s.Bucket,
		Key:          s.Key,
		VersionID:    s.VersionID,
	})
}

// Engine writes one line for the engine's status. SignatureAge is in it
// only when the database's build time is known.
func (e *EMF) Engine(st EngineStatus) {
	ms := []emfMetric{{"ClamdUp", "None"}, {"BreakerOpen", "None"}}
	line := emfEngine{ClamdUp: int(b2f(st.Up)), BreakerOpen: int(b2f(st.BreakerOpen))}
	if !st.DBTime.IsZero() {
		age := e.now().Sub(st.DBTime).Seconds()
		line.SignatureAge = &age
		ms = append(ms, emfMetric{"SignatureAge", "Seconds"})
	}
	// An empty dimension set: the metrics are the service's, not per
	// anything.
	line.AWS = e.metadata([]string{}, ms...)
	e.write(line)
}

func (e *EMF) metadata(dims []string, ms ...emfMetric) emfMetadata {
	return emfMetadata{
		Timestamp: e.now().UnixMilli(),
		CloudWatchMetrics: []emfDirective{{
			Namespace:  e.ns,
			Dimensions: [][]string{dims},
			Metrics:    ms,
		}},
	}
}

// write writes v as one line, in one Write call, so that concurrent lines
// never interleave.
func (e *EMF) write(v any) {
	b, err := json.Marshal(v)
	if err == nil {
		b = append(b, '\n')
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		_, err = e.w.Write(b)
	}
	if err != nil && e.err == nil {
		e.err = err
	}
}
