package store

import (
	"context"
	"strings"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
)

// RecordRelease stores scangate's proof that it wrote the version p names
// with the bytes p.SHA256, by a review's release or allowlist decision.
// It is written once, by a conditional create: a retried step that writes
// the same proof again (the same version, record, hash, decision and
// principal; the time may differ) gets the stored proof back, and a
// different proof for a version that already has one gives
// ConditionFailed, so a proof never changes. A zero At is the store's
// clock; missing fields give Invalid.
func (s *Store) RecordRelease(ctx context.Context, p domain.ReleaseProof) (*domain.ReleaseProof, error) {
	const op = "store: record release"
	if p.At.IsZero() {
		p.At = s.Now()
	}
	if err := checkReleaseProof(op, &p); err != nil {
		return nil, err
	}
	err := s.d.CreateReleaseProof(ctx, &p)
	if errcode.Of(err) == errcode.AlreadyExists {
		got, gerr := s.d.GetReleaseProof(ctx, p.ID())
		if gerr != nil {
			return nil, gerr
		}
		if sameRelease(got, &p) {
			return got, nil
		}
		return nil, errcode.Errorf(errcode.ConditionFailed, op, p.ID(),
			"s3://%s/%s?version=%s already has another release proof (record %s, %s by %s)",
			got.Bucket, got.Key, got.VersionID, got.RecordID, got.Decision, got.By)
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// checkReleaseProof validates a proof and normalises its hash.
func checkReleaseProof(op string, p *domain.ReleaseProof) error {
	bad := func(format string, args ...any) error {
		return errcode.Errorf(errcode.Invalid, op, p.RecordID, format, args...)
	}
	switch {
	case p.Bucket == "" || p.Key == "":
		return bad("a release proof needs a bucket and a key")
	case p.VersionID == "":
		// Without a version a key names whatever was written last, which
		// may be the uploader's: nothing exact to vouch for.
		return bad("a release proof needs the version scangate wrote")
	case p.RecordID == "":
		return bad("a release proof needs the record whose review released it")
	case p.Decision != domain.DecisionRelease && p.Decision != domain.DecisionAllowlist:
		return bad("a release proof is for a release or an allowlist decision, not %q", p.Decision)
	case strings.TrimSpace(p.By) == "":
		return bad("a release proof needs the principal that decided")
	}
	if p.SHA256 == "" {
		// Bytes that were never hashed (too large to scan): the exact
		// version scangate wrote is all that vouches for them, and such a
		// proof never answers for a stream that was hashed.
		return nil
	}
	sum, err := NormalizeSHA256(p.SHA256)
	if err != nil {
		return err
	}
	p.SHA256 = sum
	return nil
}

// sameRelease reports whether two proofs say the same, whenever written.
func sameRelease(a, b *domain.ReleaseProof) bool {
	return a.Bucket == b.Bucket && a.Key == b.Key && a.VersionID == b.VersionID && a.RecordID == b.RecordID &&
		a.SHA256 == b.SHA256 && a.Decision == b.Decision && a.By == b.By
}

// ReleaseProof returns the proof that scangate wrote exactly this version,
// or nil, nil when there is none (also for an empty versionID: no proof
// names an unversioned write). The stored bucket, key and version are
// compared with the arguments, so a proof is never taken for another
// version. A caller trusts a released copy only when the proof is there
// and its SHA256 equals the hash of the bytes it scanned.
func (s *Store) ReleaseProof(ctx context.Context, bucket, key, versionID string) (*domain.ReleaseProof, error) {
	if bucket == "" || key == "" || versionID == "" {
		return nil, nil
	}
	want := domain.ReleaseProof{Bucket: bucket, Key: key, VersionID: versionID}
	p, err := s.d.GetReleaseProof(ctx, want.ID())
	if errcode.Of(err) == errcode.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if p.Bucket != bucket || p.Key != key || p.VersionID != versionID {
		return nil, nil
	}
	return p, nil
}
