package backfill_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/backfill"
	"github.com/scangate/scangate/objects"
)

func TestCSVReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		cols    []string
		decode  bool
		want    []string // bucket/key@version latest? deleteMarker?
		wantErr string
	}{
		{name: "header", in: "Bucket,Key,VersionId,IsLatest\nb,a/x,v1,true\nb,a/y,v2,false\n",
			want: []string{"b/a/x@v1 true false", "b/a/y@v2 false false"}},
		{name: "schema, url-encoded keys", in: "\"b\",\"a%2Fz+q%C3%BC\",\"null\",\"true\",\"true\"\n", cols: []string{"bucket", "key", "versionid", "islatest", "isdeletemarker"}, decode: true,
			want: []string{"b/a/z qü@ true true"}},
		{name: "no key column", in: "Bucket,VersionId\nb,v\n", wantErr: "lack key"},
		{name: "short row", in: "Bucket,Key,Size\nb,k\n", wantErr: "has 2 fields"},
		{name: "bad size", in: "Bucket,Key,Size\nb,k,-1\n", wantErr: "not a byte count"},
		{name: "empty key", in: "Bucket,Key\nb,\n", wantErr: "no bucket or key"},
		{name: "bad escape", in: "b,%zz\n", cols: []string{"bucket", "key"}, decode: true, wantErr: "not URL-encoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				in := []byte(tc.in)
				if gz {
					var b bytes.Buffer
					w := gzip.NewWriter(&b)
					w.Write(in)
					w.Close()
					in = b.Bytes()
				}
				got, err := readAll(bytes.NewReader(in), tc.cols, tc.decode)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("gzip %v: err %v, want %q", gz, err, tc.wantErr)
					}
					continue
				}
				if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("gzip %v: got %q, %v; want %q", gz, got, err, tc.want)
				}
			}
		})
	}
}

func readAll(r io.Reader, cols []string, decode bool) ([]string, error) {
	c, err := backfill.NewCSVReader(r, cols, decode)
	if err != nil {
		return nil, err
	}
	var out []string
	for {
		row, err := c.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("%s/%s@%s %v %v", row.Ref.Bucket, row.Ref.Key, row.Ref.VersionID, row.Latest, row.DeleteMarker))
	}
}

func TestParseManifest(t *testing.T) {
	good := `{"sourceBucket":"uploads","destinationBucket":"arn:aws:s3:::inv","fileFormat":"CSV","fileSchema":"Bucket, Key, VersionId, IsLatest","files":[{"key":"data/1.csv.gz"}]}`
	m, cols, err := backfill.ParseManifest(strings.NewReader(good))
	if err != nil || m.DestBucket() != "inv" || fmt.Sprint(cols) != "[bucket key versionid islatest]" {
		t.Errorf("ParseManifest = %+v, %q, %v", m, cols, err)
	}
	for name, bad := range map[string]string{
		"not JSON":   "{",
		"ORC":        strings.Replace(good, `"CSV"`, `"ORC"`, 1),
		"no key col": strings.Replace(good, "Key,", "", 1),
		"no files":   strings.Replace(good, `{"key":"data/1.csv.gz"}`, "", 1),
		"empty key":  strings.Replace(good, `"data/1.csv.gz"`, `""`, 1),
	} {
		if _, _, err := backfill.ParseManifest(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// An S3 Inventory (manifest and gzipped CSV, keys URL-encoded) drives the
// same walk as a listing: latest versions under the prefix, in the target
// bucket only, and a second run finds them all known.
func TestBackfillInventory(t *testing.T) {
	objs := backends()[0].open(t)
	e := newEnv(t, objs)
	e.runner.Workflow = e.flows // the definition's inventory path: keys URL-encoded in its batches
	ctx := t.Context()
	refs := putAll(t, objs, "inv/", 0, 450)
	var csv bytes.Buffer
	zw := gzip.NewWriter(&csv)
	for _, r := range refs {
		fmt.Fprintf(zw, "%q,%q,%q,\"true\",\"false\"\n", r.Bucket, url.QueryEscape(r.Key), r.VersionID)
	}
	fmt.Fprintf(zw, "%q,%q,\"v-old\",\"false\",\"false\"\n", bucket, "inv/obj-00001")
	fmt.Fprintf(zw, "%q,%q,\"v-del\",\"true\",\"true\"\n", bucket, "inv/deleted")
	fmt.Fprintf(zw, "\"elsewhere\",\"inv/obj-00001\",\"v\",\"true\",\"false\"\n")
	fmt.Fprintf(zw, "%q,\"outside/x\",\"v\",\"true\",\"false\"\n", bucket)
	zw.Close()
	if _, err := objs.Put(ctx, "inventory", "uploads/data/1.csv.gz", &csv, objects.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	manifest := `{"sourceBucket":"uploads","destinationBucket":"arn:aws:s3:::inventory","fileFormat":"CSV","fileSchema":"Bucket, Key, VersionId, IsLatest, IsDeleteMarker","files":[{"key":"uploads/data/1.csv.gz"}]}`
	if _, err := objs.Put(ctx, "inventory", "uploads/manifest.json", strings.NewReader(manifest), objects.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	spec := backfill.Spec{Bucket: bucket, Prefix: "inv/", Inventory: "inventory/uploads/manifest.json"}
	p, err := e.runner.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.Listed != int64(len(refs))+4 || p.Queued != int64(len(refs)) || p.Known != 0 || p.Failed != 0 {
		t.Errorf("first run: %+v", p)
	}
	e.settle(t)
	if p, err = e.runner.Run(ctx, spec); err != nil || p.Known != int64(len(refs)) || p.Queued != 0 {
		t.Errorf("second run: %+v, %v", p, err)
	}
	e.settle(t)
	e.checkOnce(t, refs, func(r domain.ObjectRef) []byte { var i int; fmt.Sscanf(r.Key, "inv/obj-%d", &i); return content(i) })
}

func FuzzCSVReader(f *testing.F) {
	f.Add([]byte("Bucket,Key,VersionId,IsLatest,Size\nb,k,v,true,12\n"), false)
	f.Add([]byte("\"b\",\"a%2Fb\",\"null\"\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, schema bool) {
		var cols []string
		if schema {
			cols = []string{"bucket", "key", "versionid"}
		}
		c, err := backfill.NewCSVReader(bytes.NewReader(in), cols, schema)
		if err != nil {
			return
		}
		for range 1000 {
			row, err := c.Next()
			if err != nil {
				return
			}
			if row.Ref.Bucket == "" || row.Ref.Key == "" || row.Ref.Size < 0 {
				t.Fatalf("row without bucket or key, or negative size: %+v", row)
			}
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"destinationBucket":"arn:aws:s3:::inv","fileFormat":"CSV","fileSchema":"Bucket, Key","files":[{"key":"a"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, cols, err := backfill.ParseManifest(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(m.Files) == 0 || len(cols) < 2 {
			t.Fatalf("accepted a manifest without files or columns: %+v", m)
		}
	})
}
