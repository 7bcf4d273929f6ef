package clamd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

// The cost of a connection per command (dial, zPING, close over clamd's
// UNIX socket) against a 10 KB stream: the figure behind the decision not
// to pool connections (see ARCHITECTURE.md).
func BenchmarkPingNewConnection(b *testing.B) {
	c := clamdtest.Client(b, clamdtest.Start(b, nil), clamd.Options{})
	ctx := context.Background()
	for b.Loop() {
		if err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInstream10KB(b *testing.B) {
	c := clamdtest.Client(b, clamdtest.Start(b, nil), clamd.Options{})
	ctx := context.Background()
	body := make([]byte, 10<<10)
	rand.Read(body)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		res, err := c.Instream(ctx, bytes.NewReader(body))
		if err != nil || res.Status != clamd.StatusClean {
			b.Fatalf("Instream = %+v, %v", res, err)
		}
	}
}
