package objects

import "context"

// Listed is one version in a bucket listing.
type Listed struct {
	Info
	// Latest says the version is its key's current one. A key whose
	// newest entry is a delete marker has no Latest version.
	Latest bool
}

// Lister is implemented by drivers that list a bucket: backfill brings
// versions that no upload event announced under the gate, and needs to
// find them. It is optional because the gate itself never lists.
type Lister interface {
	// ListVersions returns one page of the versions of every key in
	// bucket that starts with prefix, ordered by key and, within a key,
	// newest first; delete markers are left out. cursor is "" for the
	// first page, else a value a previous call returned; the returned
	// cursor is "" after the last page. A page may be short, even
	// empty, with a non-empty cursor. limit bounds the page; 0 means
	// 1000. A missing bucket gives code NotFound, a cursor the driver
	// did not make code Invalid.
	ListVersions(ctx context.Context, bucket, prefix, cursor string, limit int) ([]Listed, string, error)
}

// ListLimit is the page size ListVersions uses for limit 0, and its
// largest: S3's own maximum for ListObjectVersions.
const ListLimit = 1000
