package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/scangate/scangate/lambdas"
)

// Webhook headers. The signature is HMAC-SHA256 over "<timestamp>.<body>"
// with the shared secret, hex-encoded: a receiver recomputes it, compares
// in constant time, and refuses a timestamp more than five minutes from
// its clock, so that a captured delivery cannot be replayed later.
const (
	HeaderSignature = "Scangate-Signature" // t=<unix seconds>,v1=<hex>
	HeaderEventID   = "Scangate-Event-Id"
)

// Sign returns the signature header value of body at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header against body: the receiver's side of
// Sign, for receivers written in Go and for the tests.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		k, v, _ := bytes.Cut(part, []byte("="))
		switch string(k) {
		case "t":
			ts = string(v)
		case "v1":
			sig = string(v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("notify: malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("notify: signature timestamp outside the tolerance")
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte(header)) {
		return errors.New("notify: signature does not match")
	}
	return nil
}

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	// URL receives a POST of a Message per event.
	URL string
	// Secret signs every delivery; required.
	Secret []byte
	// ConsoleURL is the console's base URL (scheme and host) for the
	// links of new review items; LinkKey signs them (SignedLink)
	// and LinkTTL bounds them (default 7 days). No ConsoleURL: no links.
	ConsoleURL string
	LinkKey    []byte
	LinkTTL    time.Duration
	// Attempts bounds the tries of one delivery (default 6), the first
	// retry after Backoff (default 1 s), doubling with full jitter.
	Attempts int
	Backoff  time.Duration
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	Client  *http.Client
	Logger  *slog.Logger
	Now     func() time.Time
	// Queue bounds the deliveries waiting (default 1000); beyond it a new
	// event is recorded as dropped rather than block a scan.
	Queue int
}

// Webhook sends result events to a URL, signed, in the background,
// retrying with backoff, and keeps a record of recent deliveries for the
// console (in memory: the process's log has the rest).
type Webhook struct {
	opts  WebhookOptions
	log   *slog.Logger
	queue chan *delivery
	done  chan struct{}
	stop  context.CancelFunc
	ctx   context.Context

	mu     sync.Mutex
	recent []*delivery // newest last, at most keep
}

const keep = 500

type delivery struct {
	msg  Message
	body []byte
	rec  Delivery
}

// NewWebhook starts a webhook's sender; Close stops it.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	if opts.URL == "" || len(opts.Secret) == 0 {
		return nil, errors.New("notify: a webhook needs a URL and a secret")
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 6
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.LinkTTL <= 0 {
		opts.LinkTTL = 7 * 24 * time.Hour
	}
	if opts.Queue <= 0 {
		opts.Queue = 1000
	}
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &Webhook{opts: opts, log: opts.Logger, queue: make(chan *delivery, opts.Queue), done: make(chan struct{}), ctx: ctx, stop: stop}
	go w.run()
	return w, nil
}

// Emit implements lambdas.ResultEmitter: it queues the event and returns.
func (w *Webhook) Emit(_ context.Context, ev lambdas.ResultEvent) {
	now := w.opts.Now().UTC()
	m := Message{ID: newID(), Source: Source, DetailType: DetailType, Time: now, Detail: ev}
	if ev.Review && w.opts.ConsoleURL != "" && len(w.opts.LinkKey) > 0 {
		m.Link = w.opts.ConsoleURL + SignedLink(w.opts.LinkKey, ev.RecordID, now.Add(w.opts.LinkTTL))
	}
	body, err := json.Marshal(m)
	if err != nil {
		w.log.Error("notify: encode", "err", err)
		return
	}
	d := &delivery{msg: m, body: body, rec: Delivery{
		ID: m.ID, Target: w.opts.URL, RecordID: ev.RecordID, Outcome: ev.Outcome, Status: "queued", Created: now}}
	w.remember(d)
	select {
	case w.queue <- d:
	default:
		w.update(d, func(r *Delivery) {
			r.Status, r.LastError, r.Finished = "dropped", "the delivery queue is full", w.opts.Now()
		})
		w.log.Error("notify: queue full; event dropped", "record", ev.RecordID, "outcome", ev.Outcome)
	}
}

// Deliveries implements DeliveryLog.
func (w *Webhook) Deliveries(limit int) []Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Delivery, 0, min(limit, len(w.recent)))
	for i := len(w.recent) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, w.recent[i].rec)
	}
	return out
}

// Close stops sending; deliveries still queued or waiting to retry are
// recorded as abandoned in the log.
func (w *Webhook) Close() error {
	w.stop()
	<-w.done
	return nil
}

func (w *Webhook) remember(d *delivery) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recent = append(w.recent, d)
	if len(w.recent) > keep {
		w.recent = w.recent[len(w.recent)-keep:]
	}
}

func (w *Webhook) update(d *delivery, f func(*Delivery)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&d.rec)
}

func (w *Webhook) run() {
	defer close(w.done)
	for {
		select {
		case <-w.ctx.Done():
			return
		case d := <-w.queue:
			w.deliver(d)
		}
	}
}

// deliver tries d until it is accepted, refused for good, or out of
// attempts. Deliveries go one at a time, in order: a receiver that is down
// holds the queue rather than receive events out of order.
func (w *Webhook) deliver(d *delivery) {
	wait := w.opts.Backoff
	for attempt := 1; ; attempt++ {
		permanent, err := w.try(d)
		now := w.opts.Now()
		if err == nil {
			w.update(d, func(r *Delivery) {
				r.Attempts, r.Status, r.Finished = attempt, "delivered", now // LastError keeps why earlier attempts failed
			})
			return
		}
		w.update(d, func(r *Delivery) { r.Attempts, r.LastError, r.Status = attempt, err.Error(), "retrying" })
		if permanent || attempt >= w.opts.Attempts {
			w.update(d, func(r *Delivery) { r.Status, r.Finished = "failed", now })
			w.log.Error("notify: webhook delivery failed", "record", d.msg.Detail.RecordID, "outcome", d.msg.Detail.Outcome,
				"attempts", attempt, "err", err)
			return
		}
		// Full jitter, so that many scangates do not retry in step.
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(wait)+1))
		select {
		case <-w.ctx.Done():
			w.update(d, func(r *Delivery) { r.Status = "abandoned at shutdown" })
			return
		case <-time.After(time.Duration(j.Int64())):
		}
		wait *= 2
	}
}

// try sends d once. A 4xx answer other than 408 and 429 is permanent:
// the receiver refuses this event, and repeating it changes nothing.
func (w *Webhook) try(d *delivery) (permanent bool, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(d.body))
	if err != nil {
		return true, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scangate-webhook")
	req.Header.Set(HeaderEventID, d.msg.ID)
	req.Header.Set(HeaderSignature, Sign(w.opts.Secret, w.opts.Now(), d.body))
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return false, fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return true, fmt.Errorf("the receiver refused the event: %s", resp.Status)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
