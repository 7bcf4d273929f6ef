package backfill

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/scangate/scangate/domain"
)

// S3 Inventory: a manifest.json names the CSV files (gzipped, no header
// row, URL-encoded keys) and their column order (fileSchema). A bare CSV
// whose first row names the columns is accepted too, for inventories
// made by hand; its keys are taken as they are.

// Manifest is the part of an S3 Inventory manifest.json that backfill
// reads.
type Manifest struct {
	SourceBucket      string `json:"sourceBucket"`
	DestinationBucket string `json:"destinationBucket"`
	FileFormat        string `json:"fileFormat"`
	FileSchema        string `json:"fileSchema"`
	Files             []struct {
		Key string `json:"key"`
	} `json:"files"`
}

// maxManifest bounds a manifest.json read into memory; AWS's list a few
// thousand files at most.
const maxManifest = 16 << 20

// ParseManifest reads a manifest.json. It refuses formats other than CSV,
// a schema without Bucket and Key, and a manifest without files.
func ParseManifest(r io.Reader) (*Manifest, []string, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxManifest+1))
	if err != nil {
		return nil, nil, fmt.Errorf("backfill: read manifest: %w", err)
	}
	if len(raw) > maxManifest {
		return nil, nil, fmt.Errorf("backfill: manifest is larger than %d bytes", maxManifest)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("backfill: manifest is not JSON: %w", err)
	}
	if !strings.EqualFold(m.FileFormat, "CSV") {
		return nil, nil, fmt.Errorf("backfill: inventory format %q is not supported; only CSV is", m.FileFormat)
	}
	cols, err := columns(strings.Split(m.FileSchema, ","))
	if err != nil {
		return nil, nil, err
	}
	if len(m.Files) == 0 {
		return nil, nil, errors.New("backfill: manifest lists no files")
	}
	for i, f := range m.Files {
		if f.Key == "" {
			return nil, nil, fmt.Errorf("backfill: manifest file %d has no key", i)
		}
	}
	return &m, cols, nil
}

// DestBucket is the bucket the inventory files are in: the manifest
// names it by ARN.
func (m *Manifest) DestBucket() string {
	return strings.TrimPrefix(m.DestinationBucket, "arn:aws:s3:::")
}

// columns normalises a schema's names and checks the ones backfill needs.
func columns(names []string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(strings.TrimSpace(n))
	}
	for _, need := range []string{"bucket", "key"} {
		if !slices.Contains(out, need) {
			return nil, fmt.Errorf("backfill: inventory columns %q lack %s", strings.Join(names, ","), need)
		}
	}
	return out, nil
}

// Row is one inventory row that names an object version.
type Row struct {
	Ref          domain.ObjectRef
	Latest       bool
	DeleteMarker bool
}

// CSVReader reads inventory rows.
type CSVReader struct {
	r          *csv.Reader
	cols       []string
	decodeKeys bool
	line       int64
}

// NewCSVReader reads rows from r, gunzipping it when it is gzip. cols
// names the columns (nil: the first row does); decodeKeys URL-decodes
// keys, as S3 Inventory's CSV needs.
func NewCSVReader(r io.Reader, cols []string, decodeKeys bool) (*CSVReader, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("backfill: inventory file: %w", err)
		}
		r = zr
	} else {
		r = br
	}
	c := &CSVReader{r: csv.NewReader(r), cols: cols, decodeKeys: decodeKeys}
	c.r.FieldsPerRecord = -1
	c.r.ReuseRecord = true
	if cols == nil {
		head, err := c.r.Read()
		if err != nil {
			return nil, fmt.Errorf("backfill: inventory header: %w", err)
		}
		if c.cols, err = columns(head); err != nil {
			return nil, err
		}
		c.line = 1
	}
	return c, nil
}

// Next returns the next row, or io.EOF after the last.
func (c *CSVReader) Next() (Row, error) {
	rec, err := c.r.Read()
	if err != nil {
		if err == io.EOF {
			return Row{}, io.EOF
		}
		return Row{}, fmt.Errorf("backfill: inventory row %d: %w", c.line+1, err)
	}
	c.line++
	if len(rec) != len(c.cols) {
		return Row{}, fmt.Errorf("backfill: inventory row %d has %d fields, the schema %d", c.line, len(rec), len(c.cols))
	}
	row := Row{Latest: true}
	for i, name := range c.cols {
		v := rec[i]
		switch name {
		case "bucket":
			row.Ref.Bucket = v
		case "key":
			row.Ref.Key = v
		case "versionid":
			if v != "null" {
				row.Ref.VersionID = v
			}
		case "etag":
			row.Ref.ETag = v
		case "size":
			if v == "" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Row{}, fmt.Errorf("backfill: inventory row %d: size %q is not a byte count", c.line, v)
			}
			row.Ref.Size = n
		case "islatest":
			row.Latest = !strings.EqualFold(v, "false")
		case "isdeletemarker":
			row.DeleteMarker = strings.EqualFold(v, "true")
		}
	}
	if c.decodeKeys {
		k, err := url.QueryUnescape(row.Ref.Key)
		if err != nil {
			return Row{}, fmt.Errorf("backfill: inventory row %d: key is not URL-encoded: %w", c.line, err)
		}
		row.Ref.Key = k
	}
	if row.Ref.Bucket == "" || row.Ref.Key == "" {
		return Row{}, fmt.Errorf("backfill: inventory row %d has no bucket or key", c.line)
	}
	return row, nil
}
