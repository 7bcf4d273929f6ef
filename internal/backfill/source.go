package backfill

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/objects"
)

// A source lists what a backfill walks, a page at a time, from a cursor
// that the checkpoint keeps. Items of a page that the spec excludes
// (older versions, delete markers, other buckets) are counted as listed
// but not returned as refs.
type source interface {
	page(ctx context.Context, cursor string) (refs []domain.ObjectRef, listed int, next string, err error)
	close()
}

// pageSize is how many versions a page holds: the unit of a checkpoint.
const pageSize = 200

// listing walks a bucket with objects.Lister.
type listing struct {
	l    objects.Lister
	spec Spec
}

func (s *listing) page(ctx context.Context, cursor string) ([]domain.ObjectRef, int, string, error) {
	vs, next, err := s.l.ListVersions(ctx, s.spec.Bucket, s.spec.Prefix, cursor, pageSize)
	if err != nil {
		return nil, 0, "", fmt.Errorf("backfill: list s3://%s/%s: %w", s.spec.Bucket, s.spec.Prefix, err)
	}
	refs := make([]domain.ObjectRef, 0, len(vs))
	for _, v := range vs {
		if v.Latest || s.spec.AllVersions {
			refs = append(refs, v.Ref)
		}
	}
	return refs, len(vs), next, nil
}

func (s *listing) close() {}

// inventory walks an S3 Inventory (a manifest.json and its CSV files) or
// a CSV with a header row, read through the object driver. The cursor is
// "<file>:<rows read>"; the open file is kept between pages, so walking
// it is linear, and only a resume skips rows to its position.
type inventory struct {
	d    objects.Driver
	spec Spec

	manifest *Manifest // nil for a bare CSV
	cols     []string
	files    []domain.ObjectRef

	file int
	rows int64
	rc   io.Closer
	csv  *CSVReader
}

func (s *inventory) close() {
	if s.rc != nil {
		s.rc.Close()
		s.rc, s.csv = nil, nil
	}
}

// load reads the inventory object: a manifest (a JSON object) or a CSV.
func (s *inventory) load(ctx context.Context) error {
	if s.files != nil {
		return nil
	}
	ref := s.spec.InventoryRef()
	rc, _, err := s.d.Open(ctx, ref)
	if err != nil {
		return fmt.Errorf("backfill: open inventory s3://%s/%s: %w", ref.Bucket, ref.Key, err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	head, _ := br.Peek(64)
	if strings.HasPrefix(strings.TrimSpace(string(head)), "{") {
		m, cols, err := ParseManifest(br)
		if err != nil {
			return err
		}
		s.manifest, s.cols = m, cols
		for _, f := range m.Files {
			s.files = append(s.files, domain.ObjectRef{Bucket: m.DestBucket(), Key: f.Key})
		}
		return nil
	}
	s.files = []domain.ObjectRef{ref}
	return nil
}

func (s *inventory) seek(ctx context.Context, file int, rows int64) error {
	s.close()
	s.file, s.rows = file, 0
	if file >= len(s.files) {
		return nil
	}
	rc, _, err := s.d.Open(ctx, s.files[file])
	if err != nil {
		return fmt.Errorf("backfill: open inventory file s3://%s/%s: %w", s.files[file].Bucket, s.files[file].Key, err)
	}
	c, err := NewCSVReader(rc, s.cols, s.manifest != nil)
	if err != nil {
		rc.Close()
		return err
	}
	s.rc, s.csv = rc, c
	for s.rows < rows {
		if _, err := c.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("backfill: inventory file %d ended before the checkpoint's row %d", file, rows)
			}
			return err
		}
		s.rows++
	}
	return nil
}

func (s *inventory) position() string { return fmt.Sprintf("%d:%d", s.file, s.rows) }

func parsePosition(cursor string) (int, int64, error) {
	if cursor == "" {
		return 0, 0, nil
	}
	f, r, ok := strings.Cut(cursor, ":")
	file, err1 := strconv.Atoi(f)
	rows, err2 := strconv.ParseInt(r, 10, 64)
	if !ok || err1 != nil || err2 != nil || file < 0 || rows < 0 {
		return 0, 0, fmt.Errorf("backfill: inventory cursor %q is malformed", cursor)
	}
	return file, rows, nil
}

func (s *inventory) page(ctx context.Context, cursor string) ([]domain.ObjectRef, int, string, error) {
	if err := s.load(ctx); err != nil {
		return nil, 0, "", err
	}
	if s.csv == nil || cursor != s.position() {
		file, rows, err := parsePosition(cursor)
		if err != nil {
			return nil, 0, "", err
		}
		if err := s.seek(ctx, file, rows); err != nil {
			return nil, 0, "", err
		}
	}
	var refs []domain.ObjectRef
	listed := 0
	for listed < pageSize {
		if s.file >= len(s.files) {
			return refs, listed, "", nil
		}
		row, err := s.csv.Next()
		if errors.Is(err, io.EOF) {
			if err := s.seek(ctx, s.file+1, 0); err != nil {
				return nil, 0, "", err
			}
			continue
		}
		if err != nil {
			return nil, 0, "", err
		}
		s.rows++
		listed++
		r := row.Ref
		if r.Bucket != s.spec.Bucket || !strings.HasPrefix(r.Key, s.spec.Prefix) || row.DeleteMarker || (!row.Latest && !s.spec.AllVersions) {
			continue
		}
		refs = append(refs, r)
	}
	if s.file >= len(s.files) {
		return refs, listed, "", nil
	}
	return refs, listed, s.position(), nil
}
