package httpapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

// BenchmarkRawInstream1MiB streams 1 MiB into clamd with one INSTREAM: the
// transport and temporary-file cost of a 1 MB scan. With the project's tiny
// test database it is a floor, not the time the official database takes
// (docs/cost.md).
func BenchmarkRawInstream1MiB(b *testing.B) {
	d := clamdtest.Start(b, nil)
	c := clamdtest.Client(b, d, clamd.Options{})
	ctx := context.Background()
	body := bytes.Repeat([]byte("scangate benchmark payload. "), 1<<20/28+1)[:1<<20]
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := range b.N {
		// Different bytes each time, so clamd's cache does not answer.
		binary.BigEndian.PutUint64(body, uint64(2_000_000+i))
		res, err := c.Instream(ctx, bytes.NewReader(body))
		if err != nil || !res.Clean() {
			b.Fatalf("%v %+v", err, res)
		}
	}
}
