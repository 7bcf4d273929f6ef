package httpapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/metrics"
)

// NewMetricsHandler serves g's metrics in Prometheus' exposition format,
// for GET /metrics. g is the registry metrics.New registered with, never
// the global one.
func NewMetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// ReadyChecks are what GET /healthz/ready looks at.
type ReadyChecks struct {
	// Clamd must answer PING; a *clamd.Client is one. Required.
	Clamd interface {
		Ping(ctx context.Context) error
	}
	// Engine must describe a database fresh enough to scan with; an
	// *engine.Engine is one. Required.
	Engine interface {
		Describe(ctx context.Context) (engine.Info, error)
	}
	// Breaker must be closed; nil means no breaker.
	Breaker *engine.Breaker
	// Recorder, when set, is told clamd's state at every check.
	Recorder metrics.Recorder
	// Timeout bounds each check; 0 means 5 s.
	Timeout time.Duration
}

// ReadyResponse is GET /healthz/ready's JSON body.
type ReadyResponse struct {
	Ready bool `json:"ready"`
	// Failed names the checks that failed: clamd, signatures, breaker.
	Failed     []string   `json:"failed,omitempty"`
	Clamd      ReadyCheck `json:"clamd"`
	Signatures ReadyCheck `json:"signatures"`
	Breaker    ReadyCheck `json:"breaker"`
}

// ReadyCheck is one check's result.
type ReadyCheck struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// NewReadyHandler returns the handler of GET /healthz/ready: 200 when
// clamd answers PING, the signatures are fresh and the breaker is closed;
// otherwise 503, with a ReadyResponse naming the checks that failed (and
// Retry-After while the breaker is open). The checks read state; they
// never open or close the breaker.
func NewReadyHandler(c ReadyChecks) http.Handler {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Recorder == nil {
		c.Recorder = metrics.Discard{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp ReadyResponse
		ctx := r.Context()

		state := c.Breaker.State()
		resp.Breaker = ReadyCheck{OK: state == engine.BreakerClosed, Detail: state}
		retry := c.Breaker.RetryAfter()
		if retry > 0 {
			resp.Breaker.Detail += fmt.Sprintf("; retry in %s", retry.Round(time.Second))
		}

		pctx, cancel := context.WithTimeout(ctx, c.Timeout)
		err := c.Clamd.Ping(pctx)
		cancel()
		resp.Clamd = ReadyCheck{OK: err == nil, Detail: "PONG"}
		if err != nil {
			resp.Clamd.Detail = err.Error()
		}

		dctx, cancel := context.WithTimeout(ctx, c.Timeout)
		info, err := c.Engine.Describe(dctx)
		cancel()
		resp.Signatures = ReadyCheck{OK: err == nil}
		if err != nil {
			resp.Signatures.Detail = err.Error()
		} else {
			resp.Signatures.Detail = fmt.Sprintf("%s %s built %s", info.Engine, info.DBVersion, info.DBTime.Format(time.RFC3339))
			if info.DevSignatures {
				resp.Signatures.Detail += " (test signatures: staleness waived)"
			}
		}
		c.Recorder.Engine(metrics.EngineStatus{Up: resp.Clamd.OK, DBTime: info.DBTime, BreakerOpen: !resp.Breaker.OK})

		for _, ch := range []struct {
			name string
			ok   bool
		}{{"clamd", resp.Clamd.OK}, {"signatures", resp.Signatures.OK}, {"breaker", resp.Breaker.OK}} {
			if !ch.ok {
				resp.Failed = append(resp.Failed, ch.name)
			}
		}
		resp.Ready = len(resp.Failed) == 0
		code := http.StatusOK
		if !resp.Ready {
			code = http.StatusServiceUnavailable
			if retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
			}
		}
		writeJSON(w, code, resp)
	})
}
