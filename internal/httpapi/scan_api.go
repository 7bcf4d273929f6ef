package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/metrics"
)

// ScanEngine is the scan engine as POST /scan needs it; *engine.Engine is
// one.
type ScanEngine interface {
	// Instream scans r as one stream.
	Instream(ctx context.Context, r io.Reader) (clamd.Result, error)
	// Describe names the engine and database that answer, and fails with
	// engine.ErrStale when the database is too old to trust.
	Describe(ctx context.Context) (engine.Info, error)
}

// ScanOptions configure POST /scan. The zero value is the default.
type ScanOptions struct {
	// MaxSyncBytes is the largest body scanned; a larger one is refused
	// with 413 and never scanned in part. 0 means 100 MiB.
	MaxSyncBytes int64
	// RetryAfter is the Retry-After given with a 503 when the breaker
	// does not know better (clamd just failed, stale signatures); 0 means
	// 10 s.
	RetryAfter time.Duration
	Logger     *slog.Logger
}

// ReasonBreakerOpen is the reason of a 503 that the circuit breaker gave
// without trying clamd.
const ReasonBreakerOpen = "breaker-open"

// ScanResponse is POST /scan's JSON body, for every status.
type ScanResponse struct {
	// Outcome is clean (200), infected (406) or unscannable (422); empty
	// when there is no verdict.
	Outcome domain.Outcome `json:"outcome,omitempty"`
	// Signatures name what matched (406).
	Signatures []string `json:"signatures,omitempty"`
	// Reason is the unscannable reason (too-large, limit-exceeded:<Limit>,
	// encrypted), or why there is no verdict (clamd-unavailable,
	// breaker-open, stale-signatures, timeout, source-error, scan-error).
	Reason string `json:"reason,omitempty"`
	// Limit names the limit that stopped the scan: a clamd limit, or
	// MaxSyncBytes (413).
	Limit string `json:"limit,omitempty"`
	// MaxBytes is MaxSyncBytes, with a 413.
	MaxBytes int64 `json:"maxBytes,omitempty"`
	// Bytes is how many bytes of the body were streamed to clamd.
	Bytes int64 `json:"bytes"`
	// SHA256 is the body's hash, when it was read to its end.
	SHA256        string    `json:"sha256,omitempty"`
	Engine        string    `json:"engine,omitempty"`
	DBVersion     string    `json:"dbVersion,omitempty"`
	DBTime        time.Time `json:"dbTime,omitzero"`
	DevSignatures bool      `json:"devSignatures,omitempty"`
	DurationMs    float64   `json:"durationMs"`
	// Error says what went wrong, for every status but 200, 406 and 422.
	Error string `json:"error,omitempty"`
	// RetryAfterSeconds repeats the Retry-After header of a 503.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
}

// NewScanHandler returns the handler of POST /scan: a synchronous scan of
// the request body, streamed into clamd as it arrives, never held in
// memory whole and never scanned in part.
//
// Status codes:
//
//	200  clean: clamd answered OK for the whole body
//	406  infected: signatures names what matched
//	422  not scannable: a clamd limit stopped a complete scan (reason and
//	     limit name it: too-large for clamd's stream limit,
//	     limit-exceeded:<Limit>, encrypted)
//	413  the body is larger than MaxSyncBytes: not scanned
//	503  no verdict for now, with Retry-After in seconds: the breaker is
//	     open, clamd is unavailable, timed out or answered ERROR, or the
//	     signatures are stale
//	400  the body could not be read to its end
//	405  not POST
//	500  anything else: an unrecognised clamd reply, or an OK for a
//	     stream shorter than the body (never 200)
//
// Every call to the engine goes through br (nil means none): while it is
// open, POST /scan answers 503 without dialing clamd. rec may be nil.
func NewScanHandler(eng ScanEngine, br *engine.Breaker, rec metrics.Recorder, opts ScanOptions) http.Handler {
	if opts.MaxSyncBytes <= 0 {
		opts.MaxSyncBytes = 100 << 20
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if rec == nil {
		rec = metrics.Discard{}
	}
	return &scanHandler{eng: eng, br: br, rec: rec, opts: opts, log: opts.Logger}
}

type scanHandler struct {
	eng  ScanEngine
	br   *engine.Breaker
	rec  metrics.Recorder
	opts ScanOptions
	log  *slog.Logger
}

// syncBody counts and hashes what the scanner consumed, and notes whether
// it reached the end, so that an OK for a stream cut short is not clean.
type syncBody struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	eof bool
}

func (b *syncBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.h.Write(p[:n])
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (h *scanHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, ScanResponse{Error: "use POST"})
		return
	}
	if r.ContentLength > h.opts.MaxSyncBytes {
		h.tooLarge(w, 0, fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, h.opts.MaxSyncBytes))
		return
	}
	start := time.Now()
	body := &syncBody{r: http.MaxBytesReader(w, r.Body, h.opts.MaxSyncBytes), h: sha256.New()}
	var (
		info engine.Info
		res  clamd.Result
	)
	err := h.br.Do(r.Context(), func(ctx context.Context) error {
		var err error
		if info, err = h.eng.Describe(ctx); err != nil {
			return err
		}
		if res, err = h.eng.Instream(ctx, body); err != nil {
			return err
		}
		if res.Status == clamd.StatusError {
			// clamd could not scan now: an engine failure for the breaker.
			return fmt.Errorf("engine: clamd answered %q: %w", res.Raw, engine.ErrUnavailable)
		}
		return nil
	})
	took := time.Since(start)
	resp := ScanResponse{
		Engine: info.Engine, DBVersion: info.DBVersion, DBTime: info.DBTime, DevSignatures: info.DevSignatures,
		DurationMs: float64(took) / float64(time.Millisecond),
	}
	if err != nil {
		resp.Bytes = body.n
		h.failed(w, r, resp, info, took, err)
		return
	}
	resp.Bytes = res.Bytes
	complete := body.eof && body.n == res.Bytes
	if complete {
		resp.SHA256 = hex.EncodeToString(body.h.Sum(nil))
	}
	h.rec.Engine(metrics.EngineStatus{Up: true, DBTime: info.DBTime, BreakerOpen: h.br.State() != engine.BreakerClosed})
	outcome, reason, cerr := engine.Classify(res, complete)
	if cerr != nil {
		// An OK for less than the whole body, or a reply Classify does not
		// know: never clean.
		h.log.Error("scan: no usable verdict", "err", cerr, "bytes", res.Bytes, "read", body.n, "eof", body.eof)
		resp.Reason, resp.Error = domain.ReasonScanError, cerr.Error()
		h.record(metrics.OutcomeError, resp, took)
		writeJSON(w, http.StatusInternalServerError, resp)
		return
	}
	resp.Outcome, resp.Reason = outcome, reason
	code := http.StatusOK
	switch outcome {
	case domain.OutcomeInfected:
		code, resp.Signatures = http.StatusNotAcceptable, res.Signatures
	case domain.OutcomeUnscannable:
		code, resp.Limit = http.StatusUnprocessableEntity, res.Limit
	}
	h.log.Info("scan", "outcome", outcome, "signatures", res.Signatures, "reason", reason, "bytes", res.Bytes, "duration", took)
	h.record(outcome, resp, took)
	writeJSON(w, code, resp)
}

// failed answers a scan that gave no verdict.
func (h *scanHandler) failed(w http.ResponseWriter, r *http.Request, resp ScanResponse, info engine.Info, took time.Duration, err error) {
	var mbe *http.MaxBytesError
	resp.Error = err.Error()
	code, retry := http.StatusInternalServerError, time.Duration(0)
	switch {
	case errors.As(err, &mbe):
		h.tooLarge(w, took, fmt.Sprintf("body exceeds the limit of %d bytes", h.opts.MaxSyncBytes))
		return
	case errors.Is(err, engine.ErrBreakerOpen):
		code, resp.Reason, retry = http.StatusServiceUnavailable, ReasonBreakerOpen, h.br.RetryAfter()
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		h.log.Info("scan: client gone", "err", err)
		writeJSON(w, http.StatusBadRequest, resp)
		return
	case errors.Is(err, engine.ErrStale):
		code, resp.Reason, retry = http.StatusServiceUnavailable, domain.ReasonStaleSignatures, h.opts.RetryAfter
	case errors.Is(err, clamd.ErrSource):
		code, resp.Reason = http.StatusBadRequest, domain.ReasonSourceError
	case errors.Is(err, clamd.ErrUnavailable), errors.Is(err, engine.ErrUnavailable):
		code, resp.Reason, retry = http.StatusServiceUnavailable, domain.ReasonClamdUnavailable, h.opts.RetryAfter
	case errors.Is(err, clamd.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		code, resp.Reason, retry = http.StatusServiceUnavailable, domain.ReasonTimeout, h.opts.RetryAfter
	case errors.Is(err, clamd.ErrProtocol):
		resp.Reason = domain.ReasonScanError
	}
	if code == http.StatusServiceUnavailable {
		// The breaker knows best when the engine may be back.
		retry = max(retry, h.br.RetryAfter())
		secs := int(math.Ceil(retry.Seconds()))
		secs = max(secs, 1)
		resp.RetryAfterSeconds = secs
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if code != http.StatusBadRequest {
		// Only stale signatures come with clamd having answered.
		h.rec.Engine(metrics.EngineStatus{
			Up: errors.Is(err, engine.ErrStale), DBTime: info.DBTime, BreakerOpen: h.br.State() != engine.BreakerClosed,
		})
		h.record(metrics.OutcomeError, resp, took)
	}
	h.log.Warn("scan: no verdict", "status", code, "reason", resp.Reason, "err", err)
	writeJSON(w, code, resp)
}

// tooLarge answers 413: the body is over MaxSyncBytes and was not scanned
// (a part scanned proves nothing about the rest).
func (h *scanHandler) tooLarge(w http.ResponseWriter, took time.Duration, msg string) {
	resp := ScanResponse{
		Reason: domain.ReasonTooLarge, Limit: "MaxSyncBytes", MaxBytes: h.opts.MaxSyncBytes, Error: msg,
		DurationMs: float64(took) / float64(time.Millisecond),
	}
	h.record(domain.OutcomeUnscannable, resp, took)
	writeJSON(w, http.StatusRequestEntityTooLarge, resp)
}

func (h *scanHandler) record(outcome domain.Outcome, resp ScanResponse, d time.Duration) {
	h.rec.Scan(metrics.ScanResult{Outcome: outcome, Bytes: resp.Bytes, Duration: d, Reason: resp.Reason})
}
