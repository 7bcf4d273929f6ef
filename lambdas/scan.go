package lambdas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/scangate/scangate/asl"
	"io"
	"slices"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/policy"
	"github.com/scangate/scangate/objects"
)

// Scanner is the scan engine as the Scan step needs it.
type Scanner = engine.Scanner

// Leaser is a Scanner whose engine can be replaced while it runs: a scan
// function swaps in a clamd with a newly published signature set
// (engine.Generations). The Scan step leases one engine per scan, so that
// the database a verdict names is the one that answered: without it, a
// swap between Describe and Instream would label an old database's
// verdict with the new one's name, and a retro-hunt would take it as
// hunted.
type Leaser = engine.Leaser

// Refresher is a Scanner that can load a newer signature database; the
// Scan step asks for it when a retro-hunt's rescan finds the hunted
// database still loaded.
type Refresher = engine.Refresher

// retroRefreshWait bounds how long a retro-hunt's rescan waits for its
// scanner to load the newer database before it fails as stale (the
// workflow retries it, then the sweep).
const retroRefreshWait = 90 * time.Second

// countingReader counts what the scanner consumed, so that a stream cut
// short is told apart from a complete one.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Scan is the workflow's one scan task. It streams exactly the version in
// st (versionId and ETag pinned) into clamd, hashing it on the way, and
// returns the verdict. It writes nothing: Record does.
//
// Only clamd's OK for a stream whose length equals the version's size gives
// OutcomeClean. Everything else is a verdict that is not clean or an error.
func (h *Handlers) Scan(ctx context.Context, st asl.Document) (asl.Document, error) {
	return h.scan(ctx, st, h.cfg.Scanner, h.cfg.MaxScanBytes)
}

// ScanLarge is Scan on the large-object path: the same stream, through
// LargeScanner (a clamd that allows longer streams), up to LargeMaxBytes.
func (h *Handlers) ScanLarge(ctx context.Context, st asl.Document) (asl.Document, error) {
	return h.scan(ctx, st, h.cfg.LargeScanner, h.cfg.LargeMaxBytes)
}

func (h *Handlers) scan(ctx context.Context, st asl.Document, scanner Scanner, maxBytes int64) (_ asl.Document, err error) {
	if err := checkDoc(st); err != nil {
		return st, err
	}
	if scanner == nil {
		return st, &StepError{Type: ErrInternal, Reason: domain.ReasonInternal, Msg: "no scanner configured"}
	}
	log := h.logFor(st)
	var (
		begin   = time.Now()
		info    engine.Info
		scanned int64
	)
	defer func() { h.recordScan(st, info, scanned, time.Since(begin), err) }()
	top := scanner
	scanner, release, err := lease(ctx, top)
	if err != nil {
		return st, h.engineErr(err)
	}
	defer func() { release() }()
	info, err = scanner.Describe(ctx)
	if err == nil && st.Retro && st.RetroFrom != "" && info.DBVersion == st.RetroFrom {
		// The retro-hunt saw a newer database than this scanner holds (a
		// warm environment that has not loaded the new set yet). A verdict
		// from the hunted database would end the hunt for this version
		// with the very answer it doubts.
		release()
		release = func() {}
		if r, ok := top.(Refresher); ok {
			wctx, cancel := context.WithTimeout(ctx, retroRefreshWait)
			rerr := r.Refresh(wctx)
			cancel()
			if rerr != nil && ctx.Err() == nil {
				log.Warn("retro-hunt rescan: the scanner could not load a newer database", "hunted", st.RetroFrom, "err", rerr)
			}
			if scanner, release, err = lease(ctx, top); err == nil {
				info, err = scanner.Describe(ctx)
			}
		}
		if err == nil && info.DBVersion == st.RetroFrom {
			err = fmt.Errorf("retro-hunt rescan of %s: the scanner still answers with database %s, the one hunted: %w",
				st.Object, info.DBVersion, engine.ErrStale)
		}
	}
	if err != nil {
		if errors.Is(err, engine.ErrStale) {
			return st, stepErr(ErrStaleSignatures, domain.ReasonStaleSignatures, err)
		}
		return st, h.engineErr(err)
	}
	loc := st.Object
	if st.Location != nil {
		loc = *st.Location
	}
	start := time.Now()
	rc, oi, err := h.cfg.Objects.Open(ctx, loc)
	if err != nil {
		switch errcode.Of(err) {
		case errcode.NotFound:
			return st, stepErr(ErrObjectGone, domain.ReasonObjectGone, err)
		case errcode.Changed:
			return st, stepErr(ErrObjectGone, domain.ReasonVersionMismatch, err)
		}
		return st, fromBackend(err)
	}
	defer rc.Close()
	st.Read = &asl.Read{Object: oi.Ref}
	if oi.TagCountKnown {
		st.Read.TagCount = &oi.TagCount
	}

	v := &domain.Verdict{Engine: info.Engine, DBVersion: info.DBVersion, DBTime: info.DBTime}
	// The rule is chosen by the object's own key, not where its bytes are
	// now (a rescan reads the quarantined copy).
	rule := h.cfg.Policy.Match(st.Object.Bucket, st.Object.Key)
	if known := oi.SHA256; known != "" && h.cfg.Policy.Denied(known) {
		// Known-bad bytes: infected without a stream, before anything
		// (allowlist, cache) could answer otherwise.
		st.Verdict = denyVerdict(v, known)
		log.Warn("denylisted SHA-256", "sha256", known)
		return st, nil
	}
	if viol := rule.CheckSize(oi.Ref.Size); viol != nil {
		// The size is the version's own; nothing needs to be read.
		v.ScannedAt = time.Now().UTC()
		applyViolation(v, viol)
		st.Verdict = v
		log.Info("policy violation", "rule", viol.Rule, "reason", viol.Reason, "detail", viol.Detail)
		return st, nil
	}
	if known := oi.SHA256; known != "" {
		// The backend vouches for the bytes' hash (S3's full-object
		// checksum, or the local bucket's own): an allowlisted hash or a
		// clean verdict for the same bytes and the same signature database
		// spares the stream.
		if short, err := h.shortcut(ctx, known, info, rule); err != nil {
			return st, fromBackend(err)
		} else if short != nil {
			st.Verdict = short
			log.Info("verdict without a stream", "outcome", short.Outcome, "reused", short.Reused, "sha256", known)
			return st, nil
		}
	}
	if maxBytes > 0 && oi.Ref.Size > maxBytes {
		// Never truncate: a partial scan proves nothing about the rest.
		v.Outcome, v.Reason = domain.OutcomeUnscannable, domain.ReasonTooLarge
		v.ScannedAt = time.Now().UTC()
		// A released copy of bytes too large to scan keeps the review's
		// decision through a proof made without a hash, for this exact
		// version only; otherwise a released large file would come back
		// to review for ever.
		by, err := h.releasedBytes(ctx, st.Object, oi.Metadata[objects.MetaReleasedFrom], "")
		if err != nil {
			return st, fromBackend(err)
		}
		if by != "" {
			v.Outcome, v.AllowlistedBy = domain.OutcomeAllowlisted, by
		}
		st.Verdict = v
		log.Info("object too large to scan", "size", oi.Ref.Size, "limit", maxBytes, "releasedBy", by)
		return st, nil
	}

	// The policy's sniff reads the head of this same stream as it passes.
	hash, head := sha256.New(), &policy.Head{}
	cr := &countingReader{r: io.TeeReader(rc, io.MultiWriter(hash, head))}
	res, err := scanner.Instream(ctx, cr)
	scanned = cr.n
	v.Duration = time.Since(start)
	v.ScannedAt = time.Now().UTC()
	v.BytesScanned = cr.n
	if err != nil {
		return st, h.engineErr(fmt.Errorf("scan %s: %w", loc, err))
	}
	v.Signatures = res.Signatures
	complete := cr.n == oi.Ref.Size
	v.Outcome, v.Reason, err = engine.Classify(res, complete)
	if err != nil {
		if res.Status == clamd.StatusClean {
			// clamd said OK, but not about all of it.
			return st, stepErr(ErrSourceError, domain.ReasonSourceError,
				fmt.Errorf("scan %s: stream ended after %d of %d bytes: %w", loc, cr.n, oi.Ref.Size, err))
		}
		return st, stepErr(ErrScanError, domain.ReasonScanError, fmt.Errorf("scan %s: %w", loc, err))
	}
	if complete {
		v.SHA256 = hex.EncodeToString(hash.Sum(nil))
		if oi.SHA256 != "" && oi.SHA256 != v.SHA256 {
			// What was read is not what the backend says was stored.
			return st, stepErr(ErrSourceError, domain.ReasonSourceError,
				fmt.Errorf("scan %s: read bytes hash to %s, the backend says %s", loc, v.SHA256, oi.SHA256))
		}
		if h.cfg.Policy.Denied(v.SHA256) {
			v = denyVerdict(v, v.SHA256)
			log.Warn("denylisted SHA-256", "sha256", v.SHA256)
		}
	}
	if cr.n >= min(int64(policy.SniffLen), oi.Ref.Size) {
		// The whole head passed: its type is known, for this rule and for
		// the rule of a later reuse of this verdict.
		v.ContentType = policy.Sniff(head.Bytes())
		if viol := rule.CheckType(v.ContentType); viol != nil && v.Outcome != domain.OutcomeInfected {
			applyViolation(v, viol)
			log.Info("policy violation", "rule", viol.Rule, "reason", viol.Reason, "detail", viol.Detail)
		}
	}
	if complete {
		if v.Outcome != domain.OutcomeClean && !denylisted(v) {
			by, err := h.releasedBytes(ctx, st.Object, oi.Metadata[objects.MetaReleasedFrom], v.SHA256)
			if err != nil {
				return st, fromBackend(err)
			}
			if by != "" {
				// The copy a release wrote back: its event comes like any
				// upload's. The reviewer's decision stands for exactly
				// this version and these bytes.
				v.Outcome, v.AllowlistedBy = domain.OutcomeAllowlisted, by
				log.Info("released copy: the review's decision stands", "by", by)
			}
		}
	}
	st.Verdict = v
	log.Info("scanned", "outcome", v.Outcome, "signatures", v.Signatures, "reason", v.Reason,
		"bytes", v.BytesScanned, "duration", v.Duration)
	return st, nil
}

// recordScan reports one Scan step to the metrics: its outcome (error when
// it gave no verdict), and what it learnt of the engine.
func (h *Handlers) recordScan(st asl.Document, info engine.Info, scanned int64, d time.Duration, err error) {
	r := metrics.ScanResult{
		Outcome: metrics.OutcomeError, Bytes: scanned, Duration: d,
		Bucket: st.Object.Bucket, Key: st.Object.Key, VersionID: st.Object.VersionID,
	}
	if v := st.Verdict; err == nil && v != nil {
		r.Outcome, r.Reason = v.Outcome, v.Reason
	}
	var se *StepError
	if errors.As(err, &se) {
		r.Reason = se.Reason
	}
	h.cfg.Metrics.Scan(r)
	down := errors.Is(err, clamd.ErrUnavailable) || errors.Is(err, engine.ErrUnavailable) ||
		errors.Is(err, clamd.ErrTimeout) || errors.Is(err, clamd.ErrProtocol)
	h.cfg.Metrics.Engine(metrics.EngineStatus{Up: !down, DBTime: info.DBTime, BreakerOpen: errors.Is(err, engine.ErrBreakerOpen)})
}

func (h *Handlers) engineErr(err error) *StepError {
	switch {
	case errors.Is(err, engine.ErrStale):
		return stepErr(ErrStaleSignatures, domain.ReasonStaleSignatures, err)
	case errors.Is(err, clamd.ErrUnavailable), errors.Is(err, engine.ErrUnavailable):
		return stepErr(ErrClamdUnavailable, domain.ReasonClamdUnavailable, err)
	case errors.Is(err, clamd.ErrSource):
		return stepErr(ErrSourceError, domain.ReasonSourceError, err)
	case errors.Is(err, clamd.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return stepErr(ErrScanTimeout, domain.ReasonTimeout, err)
	case errors.Is(err, context.Canceled):
		return stepErr(ErrScanTimeout, domain.ReasonTimeout, err)
	case errors.Is(err, clamd.ErrProtocol):
		return stepErr(ErrScanError, domain.ReasonScanError, err)
	}
	return stepErr(ErrScanError, domain.ReasonScanError, err)
}

// releaseProofWait bounds how long the Scan step waits for the release
// proof of a version whose metadata says a release wrote it: the proof is
// written right after the copy, so only a scan that overtakes the
// releasing step waits, and an uploader who forges the metadata gains a
// delay of their own upload and nothing else.
const releaseProofWait = 10 * time.Second

// releasedBytes says who decided to release the version ref, when
// scangate itself wrote ref as the released copy of a reviewed record and
// ref holds exactly the bytes that were reviewed (sum); "" otherwise.
//
// Only the release proof, which only scangate writes, counts. hint is the
// uploader-writable metadata that names a record: it never approves
// anything, it only makes the step wait (at most releaseProofWait) for a
// proof that a release in progress has yet to write.
//
// sum is "" for bytes that were not hashed (too large to scan): only a proof
// made without a hash answers for them, and such a proof never answers for
// a hashed stream.
func (h *Handlers) releasedBytes(ctx context.Context, ref domain.ObjectRef, hint, sum string) (string, error) {
	deadline := time.Now().Add(releaseProofWait)
	for {
		p, err := h.cfg.Store.ReleaseProof(ctx, ref.Bucket, ref.Key, ref.VersionID)
		if err != nil {
			return "", err
		}
		if p != nil {
			if p.SHA256 != sum {
				h.log.Warn("release proof names other bytes; scanning as an upload", "object", ref.String(),
					"record", p.RecordID, "proofSHA256", p.SHA256, "sha256", sum)
				return "", nil
			}
			return p.By + " (release of " + p.RecordID + ")", nil
		}
		if hint == "" || time.Now().After(deadline) {
			return "", nil
		}
		inFlight, err := h.releaseInFlight(ctx, hint)
		if err != nil || !inFlight {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// releaseInFlight reports whether the record id is being released: the
// only time a version's proof may still be on its way. Restore writes the
// proof before it records the release, so once the record says released
// (or allowlisted) every copy it wrote has its proof.
func (h *Handlers) releaseInFlight(ctx context.Context, id string) (bool, error) {
	rec, err := h.cfg.Store.Get(ctx, id)
	switch errcode.Of(err) {
	case errcode.NotFound, errcode.Invalid:
		return false, nil
	}
	if err != nil || rec.State != domain.StatusReviewing {
		return false, err
	}
	item, err := h.cfg.Store.Review(ctx, id)
	if err != nil {
		return false, nil
	}
	return item.Decision == domain.DecisionRelease || item.Decision == domain.DecisionAllowlist, nil
}

// denyVerdict makes v the denylist's verdict for the bytes sum: infected,
// keeping any signature clamd found.
func denyVerdict(v *domain.Verdict, sum string) *domain.Verdict {
	v.Outcome, v.SHA256, v.Reason = domain.OutcomeInfected, sum, ""
	v.PolicyRule, v.PolicyAction = "", ""
	v.Signatures = append(slices.Clone(v.Signatures), policy.DenylistSignature)
	if v.ScannedAt.IsZero() {
		v.ScannedAt = time.Now().UTC()
	}
	return v
}

// applyViolation makes v the verdict of a policy violation: not clean,
// whatever clamd said, with the rule and its action named.
func applyViolation(v *domain.Verdict, viol *policy.Violation) {
	v.Outcome, v.Reason = domain.OutcomeUnscannable, viol.Reason
	v.PolicyRule, v.PolicyAction = viol.Rule, string(viol.Action)
}

// shortcut returns a verdict that needs no stream, or nil. With a rule
// that judges content it answers only from a cached verdict that recorded
// the bytes' type, and then the rule judges that type: the bytes were
// sniffed when they were scanned.
func (h *Handlers) shortcut(ctx context.Context, sum string, info engine.Info, rule *policy.Rule) (*domain.Verdict, error) {
	now := time.Now().UTC()
	if rule.ChecksContent() {
		// The allowlist vouches against signatures, not for a type.
		return h.cachedShortcut(ctx, sum, info, rule, now)
	}
	e, err := h.cfg.Store.Allowlisted(ctx, sum)
	if err != nil {
		return nil, err
	}
	if e != nil {
		return &domain.Verdict{
			Outcome: domain.OutcomeAllowlisted, AllowlistedBy: e.AddedBy, SHA256: sum,
			Engine: info.Engine, DBVersion: info.DBVersion, DBTime: info.DBTime, ScannedAt: now,
		}, nil
	}
	return h.cachedShortcut(ctx, sum, info, rule, now)
}

// cachedShortcut reuses a clean verdict for the same bytes made with the
// same signature database, the one that answers now: a verdict of an
// older database never answers (the cache is keyed by it, and checked
// again here), which is what a retro-hunt relies on.
func (h *Handlers) cachedShortcut(ctx context.Context, sum string, info engine.Info, rule *policy.Rule, now time.Time) (*domain.Verdict, error) {
	if h.cfg.DisableVerdictCache {
		return nil, nil
	}
	cached, err := h.cfg.Store.CachedVerdict(ctx, sum, info.DBVersion)
	if err != nil || cached == nil {
		return nil, err
	}
	if cached.Outcome != domain.OutcomeClean || cached.SHA256 != sum || cached.DBVersion != info.DBVersion {
		return nil, nil
	}
	if rule.ChecksContent() && cached.ContentType == "" {
		return nil, nil
	}
	v := *cached
	v.Reused, v.ScannedAt, v.Duration = true, now, 0
	v.PolicyRule, v.PolicyAction, v.Retro = "", "", false
	if viol := rule.CheckType(v.ContentType); viol != nil {
		applyViolation(&v, viol)
	}
	return &v, nil
}

// lease takes one engine of s for one scan when s can swap engines.
func lease(ctx context.Context, s Scanner) (Scanner, func(), error) {
	if l, ok := s.(Leaser); ok {
		return l.Lease(ctx)
	}
	return s, func() {}, nil
}
