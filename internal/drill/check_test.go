package drill_test

import (
	"fmt"
	"github.com/scangate/scangate/lambdas"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/drill"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
)

// A version may not end failed: every fault the drill injects is a passing
// one (clamd killed, S3 bodies cut, store writes throttled, conflicting or
// answered into the void), so the Scan step's retries, then the sweep's
// automatic rescans of failures with a transient reason, must carry every
// version to a verdict. A failure left at the end, of a transient cause or
// any other, breaks the drill, and the report counts them by cause.

// drain waits until no record is pending, scanning or infected and every
// version has its record, or until the drain period is over. Records left
// are reported as stuck by check: by then every lease has expired and the
// sweeps have had many turns to re-drive them.
func (h *harness) drain() {
	deadline := time.Now().Add(h.cfg.drain)
	for time.Now().Before(deadline) && h.ctx.Err() == nil {
		if !h.unsettled() && h.allRecorded() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// unsettled reports whether any record is pending, scanning or infected,
// or whether that cannot be told now.
func (h *harness) unsettled() bool {
	for _, s := range []domain.Status{domain.StatusPending, domain.StatusScanning, domain.StatusInfected, domain.StatusFailed} {
		// A page may be empty and still have a cursor: DynamoDB's index
		// lags, and the driver drops the records that moved since.
		for cursor := ""; ; {
			recs, next, err := h.st.ListByState(h.ctx, s, store.Page{Cursor: cursor, Limit: 100})
			if err != nil || len(recs) > 0 {
				return true
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return false
}

func (h *harness) allRecorded() bool {
	h.mu.Lock()
	ids := slices.Collect(maps.Keys(h.versions))
	h.mu.Unlock()
	for _, id := range ids {
		if _, err := h.st.Get(h.ctx, id); err != nil {
			return false
		}
	}
	return true
}

// report is what the drill prints, and what its checks found.
type report struct {
	objects, versions, infected   int
	midScan, recordedMid, late    int64
	kills, killsInFlight          int64
	restarts                      int
	maxDowntime                   time.Duration
	streams, cutClamd, cutSource  int64
	scanErrors                    map[string]int
	proxy                         drill.ProxyStats
	store                         drill.StoreFaultStats
	events, duplicates, redeliver int64
	abandoned                     int64
	executions, reclaims          int
	outcomes                      map[string]int
	failed                        int
	failedByReason                map[string]int
	failedDetails                 []string
	falseCleans, stuck, lost      []string
	violations                    []string
	wall                          time.Duration
}

func (r *report) String() string {
	var b strings.Builder
	pct := func(n, of int) string {
		if of == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
	}
	fmt.Fprintf(&b, "drill figures\n")
	fmt.Fprintf(&b, "  load:        %d objects, %d versions (%d infected), %d overwritten mid-scan (%d recorded before the older scan went on), %d overwritten late\n",
		r.objects, r.versions, r.infected, r.midScan, r.recordedMid, r.late)
	fmt.Fprintf(&b, "  clamd:       %d SIGKILLs (%d with streams open), %d restarts, longest outage %s; %d streams, %d cut by a kill, %d cut by the source\n",
		r.kills, r.killsInFlight, r.restarts, r.maxDowntime.Round(time.Millisecond), r.streams, r.cutClamd, r.cutSource)
	fmt.Fprintf(&b, "  S3 proxy:    %d connections, %d doomed, %d reset mid-response\n", r.proxy.Conns, r.proxy.Doomed, r.proxy.Resets)
	fmt.Fprintf(&b, "  store:       %d conditional writes: %d throttled, %d met a rival write, %d answers lost\n",
		r.store.Writes, r.store.Throttled, r.store.Conflicts, r.store.LostAnswers)
	fmt.Fprintf(&b, "  events:      %d delivered, %d duplicates, %d redelivered after an ingest error, %d abandoned\n",
		r.events, r.duplicates, r.redeliver, r.abandoned)
	fmt.Fprintf(&b, "  workflow:    %d scan executions for %d versions (%d duplicates or re-drives), %d expired leases reclaimed; Scan attempts without a verdict: %s\n",
		r.executions, r.versions, r.executions-r.versions, r.reclaims, formatCounts(r.scanErrors))
	fmt.Fprintf(&b, "  outcomes:    %s\n", formatCounts(r.outcomes))
	fmt.Fprintf(&b, "  failed:      %d (%s; none allowed): %s\n", r.failed, pct(r.failed, r.versions), formatCounts(r.failedByReason))
	for _, d := range r.failedDetails {
		fmt.Fprintf(&b, "    %s\n", d)
	}
	fmt.Fprintf(&b, "  false cleans %d, stuck %d, lost %d, other violations %d\n", len(r.falseCleans), len(r.stuck), len(r.lost), len(r.violations))
	fmt.Fprintf(&b, "  wall time:   %s\n", r.wall.Round(100*time.Millisecond))
	return b.String()
}

func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(no reason)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

// verdict fails the test for every violation found.
func (r *report) verdict(t *testing.T) {
	t.Helper()
	for _, list := range []struct {
		name  string
		items []string
	}{{"FALSE CLEAN", r.falseCleans}, {"stuck", r.stuck}, {"lost", r.lost}, {"violation", r.violations}} {
		for _, s := range list.items {
			t.Errorf("%s: %s", list.name, s)
		}
	}
	if r.abandoned > 0 {
		t.Errorf("%d event deliveries were given up", r.abandoned)
	}
}

// check reads every version's record and the bucket, and reports.
func (h *harness) check() *report {
	r := &report{
		objects: len(h.plans), midScan: h.midScan.Load(), recordedMid: h.recordedMid.Load(), late: h.late.Load(),
		kills: h.kills.Load(), killsInFlight: h.killsInFlight.Load(), restarts: h.clamd.Restarts(),
		maxDowntime: time.Duration(h.maxDowntime.Load()),
		streams:     h.scanner.streams.Load(), cutClamd: h.scanner.cutClamd.Load(), cutSource: h.scanner.cutSource.Load(),
		scanErrors: h.scans.snapshot(), proxy: h.proxy.Stats(), store: h.faults.Stats(),
		events: h.events.Load(), duplicates: h.duplicates.Load(), redeliver: h.redeliveries.Load(), abandoned: h.abandoned.Load(),
		outcomes: map[string]int{}, failedByReason: map[string]int{},
	}
	h.mu.Lock()
	vs := slices.Collect(maps.Values(h.versions))
	h.mu.Unlock()
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].key != vs[j].key {
			return vs[i].key < vs[j].key
		}
		return vs[i].generation < vs[j].generation
	})
	r.versions = len(vs)
	for _, v := range vs {
		if v.infected() {
			r.infected++
		}
		h.checkVersion(r, v)
		for _, f := range h.fleets {
			execs, err := f.flows.History(v.id)
			if err != nil {
				h.t.Errorf("history of %s: %v", v, err)
			}
			for _, e := range execs {
				if strings.HasPrefix(e.Execution, "scan-") {
					r.executions++
				}
			}
		}
	}
	h.checkAllRecords(r)
	h.checkBucket(r)
	return r
}

// checkVersion checks one version's record: it exists, is settled, holds
// exactly one outcome, and that outcome is acceptable for its bytes.
func (h *harness) checkVersion(r *report, v *version) {
	rec, err := h.st.Get(h.ctx, v.id)
	if errcode.Of(err) == errcode.NotFound {
		r.lost = append(r.lost, v.String())
		return
	}
	if err != nil {
		r.violations = append(r.violations, fmt.Sprintf("%s: reading its record: %v", v, err))
		return
	}
	r.outcomes[string(rec.State)]++
	bad := func(format string, args ...any) {
		r.violations = append(r.violations, fmt.Sprintf("%s: ", v)+fmt.Sprintf(format, args...)+"; history "+historyString(rec)+"; executions "+h.trace(v.id))
	}
	if rec.Object.VersionID != v.versionID || rec.Object.Key != v.key {
		bad("the record names %s", rec.Object)
	}
	if rec.State.Readable() && v.infected() {
		r.falseCleans = append(r.falseCleans, fmt.Sprintf("%s is %s; verdict %+v; history %s; executions %s", v, rec.State, rec.Verdict, historyString(rec), h.trace(v.id)))
		return
	}
	verdicts := 0
	for _, e := range rec.History {
		switch e.Event {
		case "pass", "detect", "allow", "refuse":
			verdicts++
		case "reclaim":
			r.reclaims++
		}
	}
	if verdicts > 1 {
		bad("%d verdicts recorded", verdicts)
	}
	if n := len(rec.History); n == 0 || rec.History[n-1].To != rec.State {
		bad("history does not end in its state %s", rec.State)
	}
	switch rec.State {
	case domain.StatusPending, domain.StatusScanning, domain.StatusInfected:
		lease := "no lease"
		if rec.Lease != nil {
			lease = fmt.Sprintf("lease of %s until %s", rec.Lease.Owner, rec.Lease.Expires.Format(time.RFC3339Nano))
		}
		r.stuck = append(r.stuck, fmt.Sprintf("%s still %s (%s) after the drain; history %s; executions %s", v, rec.State, lease, historyString(rec), h.trace(v.id)))
	case domain.StatusClean:
		vd := rec.Verdict
		if vd == nil || vd.Outcome != domain.OutcomeClean || vd.SHA256 != v.sha256 || vd.BytesScanned != v.size {
			bad("clean without a complete scan of its own bytes: verdict %+v, want sha256 %s and %d bytes", vd, v.sha256, v.size)
		}
		h.checkTagged(r, v, rec)
	case domain.StatusReviewing:
		h.checkQuarantined(r, v, rec)
	case domain.StatusFailed:
		r.failed++
		r.failedByReason[rec.Reason]++
		r.failedDetails = append(r.failedDetails, fmt.Sprintf("%s: %s; executions %s", v, historyString(rec), h.trace(v.id)))
		if lambdas.Transient(rec.Reason) {
			bad("left failed from a transient cause (%s), which the sweep's retries should have cured", rec.Reason)
		} else {
			bad("failed with reason %q, which no injected fault explains", rec.Reason)
		}
		// A failed version stays where it was, unreadable without the
		// clean tag; bytes moved to the quarantine without the record
		// saying so would be lost to the review.
		if _, err := h.owner.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(v.key), VersionId: aws.String(v.versionID)}); err != nil {
			bad("failed, and its version is no longer in the bucket: %v", err)
		}
	default:
		// gone: nothing in the drill deletes a version before its scan.
		// unscannable: no body crosses a clamd limit. released, confirmed,
		// allowlisted: nobody decides reviews here.
		bad("ended %s (reason %q), which no injected fault explains", rec.State, rec.Reason)
	}
}

// checkTagged checks that a clean version carries the clean tag: the
// record is written first and the tag follows in the same step.
func (h *harness) checkTagged(r *report, v *version, rec *domain.Record) {
	out, err := h.owner.GetObjectTagging(h.ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(v.key), VersionId: aws.String(v.versionID)})
	if err != nil {
		r.violations = append(r.violations, fmt.Sprintf("%s: clean, but its tags cannot be read: %v", v, err))
		return
	}
	for _, tg := range out.TagSet {
		if aws.ToString(tg.Key) == objects.TagStatus && aws.ToString(tg.Value) == "clean" {
			return
		}
	}
	r.violations = append(r.violations, fmt.Sprintf("%s: record clean, but the version is not tagged clean (tags %v); history %s; executions %s", v, out.TagSet, historyString(rec), h.trace(v.id)))
}

// checkQuarantined checks an infected version under review: the verdict
// names EICAR and hashes its own bytes, the version left the bucket, and
// the quarantined copy says where it came from.
func (h *harness) checkQuarantined(r *report, v *version, rec *domain.Record) {
	bad := func(format string, args ...any) {
		r.violations = append(r.violations, fmt.Sprintf("%s: ", v)+fmt.Sprintf(format, args...)+"; history "+historyString(rec)+"; executions "+h.trace(v.id))
	}
	vd := rec.Verdict
	if !v.infected() {
		bad("clean bytes quarantined: verdict %+v", vd)
	}
	if vd == nil || vd.Outcome != domain.OutcomeInfected || !slices.Contains(vd.Signatures, clamdtest.EICARSignature) {
		bad("under review without an EICAR detection: verdict %+v", vd)
	} else if vd.SHA256 != v.sha256 {
		bad("verdict hashes %s; its bytes hash to %s", vd.SHA256, v.sha256)
	}
	_, err := h.owner.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(v.key), VersionId: aws.String(v.versionID)})
	if err == nil {
		bad("under review, but the version is still in the bucket")
	}
	q := rec.Quarantine
	if q == nil {
		bad("under review without a quarantine location")
		return
	}
	head, err := h.owner.HeadObject(h.ctx, &s3.HeadObjectInput{Bucket: aws.String(q.Bucket), Key: aws.String(q.Key)})
	if err != nil {
		bad("quarantined copy s3://%s/%s: %v", q.Bucket, q.Key, err)
		return
	}
	if got := head.Metadata[objects.MetaOriginalVersion]; got != v.versionID {
		bad("quarantined copy is of version %q", got)
	}
	if aws.ToInt64(head.ContentLength) != v.size {
		bad("quarantined copy has %d bytes; want %d", aws.ToInt64(head.ContentLength), v.size)
	}
	if item, err := h.st.Review(h.ctx, v.id); err != nil || !item.Open() {
		bad("review item %+v, %v; want an open one", item, err)
	}
}

// checkAllRecords lists every record in the store: exactly one per
// uploaded version, and none for anything else (a quarantine copy that
// looped back, a version made up).
func (h *harness) checkAllRecords(r *report) {
	seen := map[string]domain.Status{}
	for _, s := range []domain.Status{
		domain.StatusPending, domain.StatusScanning, domain.StatusClean, domain.StatusInfected, domain.StatusReviewing,
		domain.StatusReleased, domain.StatusConfirmed, domain.StatusAllowlisted, domain.StatusUnscannable,
		domain.StatusFailed, domain.StatusGone,
	} {
		cursor := ""
		for {
			recs, next, err := h.st.ListByState(h.ctx, s, store.Page{Cursor: cursor, Limit: 500})
			if err != nil {
				r.violations = append(r.violations, fmt.Sprintf("listing %s records: %v", s, err))
				break
			}
			for _, rec := range recs {
				if prev, ok := seen[rec.ID]; ok {
					r.violations = append(r.violations, fmt.Sprintf("record %s listed as %s and %s", rec.ID, prev, s))
				}
				seen[rec.ID] = s
				h.mu.Lock()
				_, known := h.versions[rec.ID]
				h.mu.Unlock()
				if !known {
					r.violations = append(r.violations, fmt.Sprintf("record %s (%s, %s) names no uploaded version", rec.ID, rec.Object, rec.State))
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	if len(seen) != r.versions {
		r.violations = append(r.violations, fmt.Sprintf("%d records listed for %d versions", len(seen), r.versions))
	}
}

// checkBucket lists what is left in the protected bucket: every version is
// one that was uploaded, and only versions whose record is clean carry the
// clean tag.
func (h *harness) checkBucket(r *report) {
	p := s3.NewListObjectVersionsPaginator(h.owner, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(h.ctx)
		if err != nil {
			r.violations = append(r.violations, fmt.Sprintf("listing the bucket's versions: %v", err))
			return
		}
		for _, ov := range page.Versions {
			key, vid := aws.ToString(ov.Key), aws.ToString(ov.VersionId)
			id := domain.ObjectRef{Bucket: bucket, Key: key, VersionID: vid}.ID()
			h.mu.Lock()
			v := h.versions[id]
			h.mu.Unlock()
			if v == nil {
				r.violations = append(r.violations, fmt.Sprintf("s3://%s/%s?versionId=%s is in the bucket but was never uploaded", bucket, key, vid))
				continue
			}
			out, err := h.owner.GetObjectTagging(h.ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(vid)})
			if err != nil {
				r.violations = append(r.violations, fmt.Sprintf("%s: tags: %v", v, err))
				continue
			}
			status := ""
			for _, tg := range out.TagSet {
				if aws.ToString(tg.Key) == objects.TagStatus {
					status = aws.ToString(tg.Value)
				}
			}
			if status != "clean" {
				continue
			}
			rec, err := h.st.Get(h.ctx, id)
			if v.infected() {
				r.falseCleans = append(r.falseCleans, fmt.Sprintf("%s is tagged clean in the bucket", v))
			} else if err != nil || rec.State != domain.StatusClean {
				r.violations = append(r.violations, fmt.Sprintf("%s is tagged clean but its record is not clean (%v)", v, err))
			}
		}
	}
}

// trace renders the scan and review executions of a record in both fleets,
// step by step, with the errors each step failed with.
func (h *harness) trace(id string) string {
	var parts []string
	for _, f := range h.fleets {
		execs, err := f.flows.History(id)
		if err != nil {
			parts = append(parts, fmt.Sprintf("[%s: %v]", f.name, err))
			continue
		}
		for _, e := range execs {
			var steps []string
			end := "running"
			for _, ev := range e.Events {
				switch ev.Type {
				case "TaskScheduled":
					steps = append(steps, ev.State)
				case "TaskFailed", "TaskTimedOut":
					if len(steps) > 0 {
						steps[len(steps)-1] += "✗" + ev.Error
					}
				case "ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut":
					end = strings.TrimPrefix(ev.Type, "Execution")
				}
			}
			name, _, _ := strings.Cut(e.Execution, "-")
			if _, gen, ok := strings.Cut(e.Execution, id+"-"); ok {
				name += "-" + gen
			}
			parts = append(parts, fmt.Sprintf("[%s %s: %s → %s]", f.name, name, strings.Join(steps, " "), end))
		}
	}
	return strings.Join(parts, " ")
}

func historyString(rec *domain.Record) string {
	parts := make([]string, 0, len(rec.History))
	for _, e := range rec.History {
		s := fmt.Sprintf("%s(%s→%s by %s", e.Event, e.From, e.To, e.Actor)
		if e.Reason != "" {
			s += ", " + e.Reason
		}
		if e.Detail != "" && (e.Event == "fail" || e.Event == "vanish") {
			d := e.Detail
			if len(d) > 300 {
				d = d[:300] + "…"
			}
			s += ": " + d
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, " ")
}
