package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/store"
)

var pageNames = []string{"login", "error", "queue", "record", "allowlist", "search", "dashboard", "deliveries"}

var funcs = template.FuncMap{
	// key shows an uploader's key with every character that could
	// disguise it (bidi overrides, zero-width, controls) escaped.
	"key": domain.DisplayKey,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return humanDuration(time.Since(t)) + " ago"
	},
	"join":  strings.Join,
	"bytes": humanBytes,
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:16] + "…"
		}
		return s
	},
	"pathEscape": url.PathEscape,
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		out[n] = t
	}
	return out, nil
}

// render writes page with v. It renders into a buffer first, so that a
// template error is a 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, page string, v *view) {
	var buf bytes.Buffer
	if err := c.pages[page].Execute(&buf, v); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	code, msg := http.StatusInternalServerError, "The store did not answer; try again."
	switch errcode.Of(err) {
	case errcode.NotFound:
		code, msg = http.StatusNotFound, "There is no such record."
	case errcode.Invalid:
		code, msg = http.StatusBadRequest, err.Error()
	case errcode.Throttled, errcode.Unavailable:
		code = http.StatusServiceUnavailable
	}
	if code == http.StatusInternalServerError {
		c.log.Error("console: store", "path", r.URL.Path, "err", err)
	}
	v.Title, v.Error = "Error", msg
	c.render(w, r, code, "error", v)
}

// scanCap bounds how many items a filtered listing, a search or the
// dashboard reads: the console must stay quick on a big store, and says
// when it stopped counting.
const scanCap = 5000

// queueData is the review queue page.
type queueData struct {
	Items                               []*domain.ReviewItem
	Total                               int
	Capped                              bool
	Bucket, Prefix, Signature, MinHours string
	Page, Pages                         int
	PrevURL, NextURL                    string
}

const pageSize = 25

func (c *Console) queue(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := queueData{Bucket: q.Get("bucket"), Prefix: q.Get("prefix"), Signature: q.Get("signature"), MinHours: q.Get("age")}
	minAge := time.Duration(0)
	if d.MinHours != "" {
		h, err := strconv.ParseFloat(d.MinHours, 64)
		if err != nil || h < 0 {
			v.Error = "Age is a number of hours."
		} else {
			minAge = time.Duration(h * float64(time.Hour))
		}
	}
	now := c.opts.Now()
	var all []*domain.ReviewItem
	page := store.Page{Limit: 500}
	for {
		items, next, err := c.opts.Store.OpenReviews(r.Context(), page)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		for _, it := range items {
			if d.Bucket != "" && it.Object.Bucket != d.Bucket ||
				d.Prefix != "" && !strings.HasPrefix(it.Object.Key, d.Prefix) ||
				d.Signature != "" && !slices.ContainsFunc(it.Signatures, func(s string) bool {
					return strings.Contains(strings.ToLower(s), strings.ToLower(d.Signature))
				}) ||
				now.Sub(it.OpenedAt) < minAge {
				continue
			}
			all = append(all, it)
		}
		if next == "" {
			break
		}
		if len(all) >= scanCap {
			d.Capped = true
			break
		}
		page.Cursor = next
	}
	d.Total = len(all)
	d.Pages = max(1, (len(all)+pageSize-1)/pageSize)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	d.Items = all[(d.Page-1)*pageSize : min(d.Page*pageSize, len(all))]
	link := func(p int) string {
		q2 := url.Values{}
		for _, k := range []string{"bucket", "prefix", "signature", "age"} {
			if q.Get(k) != "" {
				q2.Set(k, q.Get(k))
			}
		}
		q2.Set("page", strconv.Itoa(p))
		return "/admin/?" + q2.Encode()
	}
	if d.Page > 1 {
		d.PrevURL = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = link(d.Page + 1)
	}
	v.Title, v.Data = "Review queue", d
	c.render(w, r, http.StatusOK, "queue", v)
}

type recordData struct {
	Record     *domain.Record
	Review     *domain.ReviewItem
	Executions []local.ExecutionHistory
	ExecURL    string
	Decidable  bool
	Rescanable bool
	// Outcome describes the decision this page follows, if any.
	Outcome string
}

func (c *Console) record(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	rec, err := c.opts.Store.Get(r.Context(), id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	d := recordData{Record: rec}
	if it, err := c.opts.Store.Review(r.Context(), id); err == nil {
		d.Review = it
	} else if errcode.Of(err) != errcode.NotFound {
		c.fail(w, r, v, err)
		return
	}
	if c.opts.History != nil {
		if ex, err := c.opts.History.History(rec.ID); err == nil {
			d.Executions = ex
		} else {
			c.log.Warn("console: execution history", "id", rec.ID, "err", err)
		}
	}
	if c.opts.ExecutionURL != nil && rec.ExecutionARN != "" {
		d.ExecURL = c.opts.ExecutionURL(rec.ExecutionARN)
	}
	d.Decidable = rec.State == domain.StatusReviewing
	d.Rescanable = !d.Decidable && canRescan(rec.State)
	if o := r.URL.Query().Get("done"); o != "" {
		d.Outcome = outcomeText(o, rec)
	}
	v.Title, v.Data = "Record "+short(rec.ID), d
	c.render(w, r, http.StatusOK, "record", v)
}

func canRescan(s domain.Status) bool {
	switch s {
	case domain.StatusFailed, domain.StatusUnscannable, domain.StatusConfirmed, domain.StatusReleased,
		domain.StatusAllowlisted, domain.StatusClean:
		return true
	}
	return false
}

func outcomeText(decision string, rec *domain.Record) string {
	d := domain.Decision(decision)
	switch d {
	case domain.DecisionRelease, domain.DecisionConfirm, domain.DecisionAllowlist, domain.DecisionRescan:
	default:
		return ""
	}
	if rec.State == domain.StatusReviewing || rec.State == domain.StatusPending || rec.State == domain.StatusScanning {
		return fmt.Sprintf("Decision %q recorded; the workflow is still carrying it out (state: %s). Reload to see the outcome.", d, rec.State)
	}
	return fmt.Sprintf("Decision %q carried out: the record is now %s.", d, rec.State)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// decide takes a decision form: release, confirm, allowlist (with an
// optional expiry) or rescan, each with a comment. The decision goes
// through the review handler as the session's principal; whatever a form
// field says about who decides is ignored.
func (c *Console) decide(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	f := r.PostForm
	decision := domain.Decision(f.Get("decision"))
	comment := strings.TrimSpace(f.Get("comment"))
	again := func(code int, msg string) {
		rec, err := c.opts.Store.Get(r.Context(), id)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		v.Error = msg
		d := recordData{Record: rec, Decidable: rec.State == domain.StatusReviewing}
		d.Rescanable = !d.Decidable && canRescan(rec.State)
		if it, err := c.opts.Store.Review(r.Context(), id); err == nil {
			d.Review = it
		}
		if c.opts.History != nil {
			d.Executions, _ = c.opts.History.History(rec.ID)
		}
		v.Title, v.Data = "Record "+short(rec.ID), d
		c.render(w, r, code, "record", v)
	}
	switch decision {
	case domain.DecisionRelease, domain.DecisionConfirm, domain.DecisionAllowlist, domain.DecisionRescan:
	default:
		again(http.StatusBadRequest, "Choose a decision: release, confirm, allowlist or rescan.")
		return
	}
	if comment == "" {
		again(http.StatusBadRequest, "Every decision needs a comment saying why.")
		return
	}
	var expires time.Time
	if s := strings.TrimSpace(f.Get("expires")); s != "" && decision == domain.DecisionAllowlist {
		t, err := time.Parse("2006-01-02", s)
		if err != nil || !t.After(c.opts.Now()) {
			again(http.StatusBadRequest, "The expiry is a date in the future (YYYY-MM-DD).")
			return
		}
		expires = t.UTC()
	}
	rec, err := c.opts.Store.Get(r.Context(), id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	req := lambdas.ReviewRequest{Action: "decide", ID: id, Decision: decision, Comment: comment}
	if decision == domain.DecisionRescan && rec.State != domain.StatusReviewing {
		req = lambdas.ReviewRequest{Action: "rescan", ID: id, Comment: comment}
	}
	resp, err := c.opts.Handlers.Review(r.Context(), v.Principal, req)
	if err != nil {
		var se *lambdas.StepError
		code, msg := http.StatusInternalServerError, "The decision could not be recorded; try again."
		if errors.As(err, &se) {
			switch se.Type {
			case lambdas.ErrForbidden:
				code, msg = http.StatusForbidden, se.Msg
			case lambdas.ErrInvalidInput:
				code, msg = http.StatusConflict, se.Msg
			case lambdas.ErrUnavailable:
				code, msg = http.StatusServiceUnavailable, "The store is busy; try again."
			}
		}
		c.log.Info("console: decision refused", "id", id, "decision", decision, "principal", v.Principal.Name, "err", err)
		again(code, msg)
		return
	}
	c.log.Info("console: decision", "id", id, "decision", decision, "principal", v.Principal.Name,
		"already", resp.AlreadyDecided, "comment", quote(comment))
	final := c.waitOutcome(r.Context(), id, req.Action == "rescan" || decision == domain.DecisionRescan)
	if decision == domain.DecisionAllowlist && !expires.IsZero() && final != nil && final.State == domain.StatusAllowlisted {
		// The workflow's allowlist entry never expires; the reviewer asked
		// for one that does. Written after the workflow's own, so that it
		// is the one that stays.
		sum := ""
		if final.Verdict != nil {
			sum = final.Verdict.SHA256
		}
		if _, err := c.opts.Store.AddAllowlist(r.Context(), domain.AllowlistEntry{
			SHA256: sum, AddedBy: v.Principal.Name, Reason: comment, Expires: expires,
		}); err != nil {
			c.log.Error("console: allowlist expiry", "id", id, "err", err)
		}
	}
	http.Redirect(w, r, "/admin/records/"+url.PathEscape(id)+"?done="+url.QueryEscape(string(decision)), http.StatusSeeOther)
}

// waitOutcome waits, up to OutcomeWait, for the workflow to carry a
// decision out, so that the page after it can show the outcome rather
// than "under way"; it returns the record as last read.
func (c *Console) waitOutcome(ctx context.Context, id string, rescan bool) *domain.Record {
	deadline := time.Now().Add(c.opts.OutcomeWait)
	for {
		rec, err := c.opts.Store.Get(ctx, id)
		if err != nil {
			return nil
		}
		busy := rec.State == domain.StatusReviewing
		if rescan {
			busy = busy || rec.State == domain.StatusPending || rec.State == domain.StatusScanning || rec.State == domain.StatusInfected
		}
		if !busy || time.Now().After(deadline) {
			return rec
		}
		select {
		case <-ctx.Done():
			return rec
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type allowlistData struct {
	Entries []*domain.AllowlistEntry
	Audit   []auditEntry
	Capped  bool
	Now     time.Time
}

func (c *Console) allowlist(w http.ResponseWriter, r *http.Request, v *view) {
	d := allowlistData{Now: c.opts.Now(), Audit: c.audit.list()}
	page := store.Page{Limit: 500}
	for {
		es, next, err := c.opts.Store.ListAllowlist(r.Context(), page)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		d.Entries = append(d.Entries, es...)
		if next == "" {
			break
		}
		if len(d.Entries) >= scanCap {
			d.Capped = true
			break
		}
		page.Cursor = next
	}
	if r.URL.Query().Get("removed") != "" {
		v.Notice = "The entry was removed."
	}
	v.Title, v.Data = "Allowlist", d
	c.render(w, r, http.StatusOK, "allowlist", v)
}

func (c *Console) removeAllowlist(w http.ResponseWriter, r *http.Request, v *view) {
	sum, err := store.NormalizeSHA256(r.PathValue("sha"))
	if err != nil {
		c.fail(w, r, v, &errcode.Error{Code: errcode.Invalid, Op: "console: allowlist", Err: errors.New("not a SHA-256")})
		return
	}
	comment := strings.TrimSpace(r.PostForm.Get("comment"))
	if comment == "" {
		v.Error = "Removing an entry needs a comment saying why."
		d := allowlistData{Now: c.opts.Now(), Audit: c.audit.list()}
		d.Entries, _, _ = c.opts.Store.ListAllowlist(r.Context(), store.Page{Limit: 500})
		v.Title, v.Data = "Allowlist", d
		c.render(w, r, http.StatusBadRequest, "allowlist", v)
		return
	}
	prev, _ := c.opts.Store.Allowlisted(r.Context(), sum)
	if err := c.opts.Store.RemoveAllowlist(r.Context(), sum); err != nil && errcode.Of(err) != errcode.NotFound {
		c.fail(w, r, v, err)
		return
	}
	e := auditEntry{At: c.opts.Now().UTC(), By: v.Principal.Name, Action: "allowlist-remove", Subject: sum, Comment: comment}
	if prev != nil {
		e.Detail = fmt.Sprintf("added by %s: %s", prev.AddedBy, prev.Reason)
	}
	c.audit.add(e)
	c.log.Info("audit: allowlist entry removed", "sha256", sum, "by", v.Principal.Name, "via", v.Principal.Via, "comment", quote(comment))
	http.Redirect(w, r, "/admin/allowlist?removed=1", http.StatusSeeOther)
}

// auditEntry is one administrative change the console made outside the
// record histories (which audit decisions themselves).
type auditEntry struct {
	At                                   time.Time
	By, Action, Subject, Comment, Detail string
}

// auditLog keeps the latest audit entries in the process for the
// allowlist page; every entry is also logged, which is the durable
// record.
type auditLog struct {
	mu sync.Mutex
	es []auditEntry
}

func (a *auditLog) add(e auditEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.es = append(a.es, e)
	if len(a.es) > 200 {
		a.es = a.es[len(a.es)-200:]
	}
}

func (a *auditLog) list() []auditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.es)
	slices.Reverse(out)
	return out
}

type searchData struct {
	Query, Prefix, State string
	States               []domain.Status
	Records              []*domain.Record
	Searched, Capped     bool
}

// search finds records by ID, SHA-256, or key prefix within a state (or
// all states). The store has no index by hash or key prefix, so those
// searches read the states' listings, up to scanCap records.
func (c *Console) search(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := searchData{Query: strings.TrimSpace(q.Get("q")), Prefix: q.Get("prefix"), State: q.Get("state"), States: domain.Statuses()}
	v.Title, v.Data = "Search records", &d
	if d.State != "" && !domain.Status(d.State).Valid() {
		v.Error = "Unknown state."
		c.render(w, r, http.StatusBadRequest, "search", v)
		return
	}
	if d.Query == "" && d.Prefix == "" && d.State == "" {
		c.render(w, r, http.StatusOK, "search", v)
		return
	}
	d.Searched = true
	if d.Query != "" {
		if rec, err := c.opts.Store.Get(r.Context(), d.Query); err == nil {
			d.Records = []*domain.Record{rec}
			c.render(w, r, http.StatusOK, "search", v)
			return
		}
	}
	sum := ""
	if d.Query != "" {
		var err error
		if sum, err = store.NormalizeSHA256(d.Query); err != nil {
			v.Error = "Search by a record ID or a SHA-256 (64 hex digits)."
			c.render(w, r, http.StatusBadRequest, "search", v)
			return
		}
	}
	states := domain.Statuses()
	if d.State != "" {
		states = []domain.Status{domain.Status(d.State)}
	}
	read := 0
	for _, s := range states {
		page := store.Page{Limit: 500}
		for {
			recs, next, err := c.opts.Store.ListByState(r.Context(), s, page)
			if err != nil {
				c.fail(w, r, v, err)
				return
			}
			read += len(recs)
			for _, rec := range recs {
				if d.Prefix != "" && !strings.HasPrefix(rec.Object.Key, d.Prefix) {
					continue
				}
				if sum != "" && (rec.Verdict == nil || rec.Verdict.SHA256 != sum) {
					continue
				}
				d.Records = append(d.Records, rec)
			}
			if next == "" {
				break
			}
			if read >= scanCap {
				d.Capped = true
				break
			}
			page.Cursor = next
		}
		if d.Capped || len(d.Records) >= 200 {
			d.Capped = d.Capped || len(d.Records) >= 200
			break
		}
	}
	c.render(w, r, http.StatusOK, "search", v)
}

type stateCount struct {
	State  domain.Status
	Count  int
	Capped bool
}

type reasonCount struct {
	State  domain.Status
	Reason string
	Count  int
}

type dashData struct {
	Counts      []stateCount
	Reasons     []reasonCount
	PerHour     []hourCount
	DBVersion   string
	DBTime      time.Time
	DBAge       string
	DevSigs     bool
	EngineErr   string
	ClamdOK     bool
	ClamdErr    string
	ClamdKnown  bool
	Oldest      *domain.ReviewItem
	OldestAge   string
	OpenReviews int
	// Retro is the retro-hunt's progress in this process.
	Retro lambdas.RetroProgress
}

type hourCount struct {
	Hour  time.Time
	Count int
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	now := c.opts.Now()
	var d dashData
	reasons := map[[2]string]int{}
	hours := make([]hourCount, 24)
	top := now.UTC().Truncate(time.Hour)
	for i := range hours {
		hours[i].Hour = top.Add(-time.Duration(23-i) * time.Hour)
	}
	for _, s := range domain.Statuses() {
		sc := stateCount{State: s}
		page := store.Page{Limit: 500}
		for {
			recs, next, err := c.opts.Store.ListByState(ctx, s, page)
			if err != nil {
				c.fail(w, r, v, err)
				return
			}
			sc.Count += len(recs)
			for _, rec := range recs {
				if (s == domain.StatusFailed || s == domain.StatusUnscannable || s == domain.StatusGone) && rec.Reason != "" {
					reasons[[2]string{string(s), rec.Reason}]++
				}
				if rec.Verdict != nil && !rec.Verdict.ScannedAt.IsZero() {
					if i := 23 - int(top.Sub(rec.Verdict.ScannedAt.UTC().Truncate(time.Hour))/time.Hour); i >= 0 && i < 24 {
						hours[i].Count++
					}
				}
			}
			if next == "" {
				break
			}
			if sc.Count >= scanCap {
				sc.Capped = true
				break
			}
			page.Cursor = next
		}
		d.Counts = append(d.Counts, sc)
	}
	for k, n := range reasons {
		d.Reasons = append(d.Reasons, reasonCount{State: domain.Status(k[0]), Reason: k[1], Count: n})
	}
	slices.SortFunc(d.Reasons, func(a, b reasonCount) int { return b.Count - a.Count })
	d.PerHour = hours
	if c.opts.Engine != nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := c.opts.Engine.Describe(cctx)
		cancel()
		if err != nil {
			d.EngineErr = err.Error()
		} else {
			d.DBVersion, d.DBTime, d.DevSigs = info.DBVersion, info.DBTime, info.DevSignatures
			if !info.DBTime.IsZero() {
				d.DBAge = humanDuration(now.Sub(info.DBTime))
			}
		}
	}
	if c.opts.Clamd != nil {
		d.ClamdKnown = true
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.opts.Clamd.Ping(cctx)
		cancel()
		d.ClamdOK = err == nil
		if err != nil {
			d.ClamdErr = err.Error()
		}
	}
	items, _, err := c.opts.Store.OpenReviews(ctx, store.Page{Limit: 1})
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	if len(items) > 0 {
		d.Oldest, d.OldestAge = items[0], humanDuration(now.Sub(items[0].OpenedAt))
	}
	d.Retro = c.opts.Handlers.RetroProgress()
	v.Title, v.Data = "Dashboard", d
	c.render(w, r, http.StatusOK, "dashboard", v)
}

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request, v *view) {
	var ds []notify.Delivery
	if c.opts.Deliveries != nil {
		ds = c.opts.Deliveries.Deliveries(200)
	}
	v.Title, v.Data = "Notifications", struct {
		On         bool
		Deliveries []notify.Delivery
	}{c.opts.Deliveries != nil, ds}
	c.render(w, r, http.StatusOK, "deliveries", v)
}

func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}
