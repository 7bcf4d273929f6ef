package httpapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

// body10KB returns 10 KB that differ per i, so neither clamd's cache nor
// scangate's verdict cache answers for them.
func body10KB(i int) []byte {
	b := bytes.Repeat([]byte("scangate benchmark payload. "), 10240/28+1)[:10240]
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

// BenchmarkUploadToVerdict10KB measures one 10 KB upload over the HTTP API
// until its record is clean: ingest, claim, scan, record, tag.
func BenchmarkUploadToVerdict10KB(b *testing.B) {
	b.Run("durable", func(b *testing.B) { benchUploadToVerdict(b, setupOpts{}) })
	// Without fsync: the difference is what durability of each write costs.
	b.Run("nosync", func(b *testing.B) { benchUploadToVerdict(b, setupOpts{noSync: true}) })
}

func benchUploadToVerdict(b *testing.B, o setupOpts) {
	e := setup(b, o)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		rec := e.upload("bench/"+strconv.Itoa(i), body10KB(i))
		for {
			got, err := e.st.Get(ctx, rec.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.State == domain.StatusClean {
				break
			}
			if got.State != domain.StatusPending && got.State != domain.StatusScanning {
				b.Fatalf("state %s", got.State)
			}
		}
	}
}

// BenchmarkRawInstream10KB is the ceiling: the same bytes straight into the
// same kind of clamd with one INSTREAM each.
func BenchmarkRawInstream10KB(b *testing.B) {
	d := clamdtest.Start(b, nil)
	c := clamdtest.Client(b, d, clamd.Options{})
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		res, err := c.Instream(ctx, bytes.NewReader(body10KB(1_000_000+i)))
		if err != nil || !res.Clean() {
			b.Fatalf("%v %+v", err, res)
		}
	}
}
