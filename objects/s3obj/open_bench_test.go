package s3obj_test

import (
	"bytes"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/scangate/scangate/internal/testsvc"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/s3obj"
)

// BenchmarkOpenSmall is the Scan step's request for a small object: one
// Open (GetObject with versionId and If-Match) of 10 KiB, read to the end.
// Its CPU per operation is mostly the SDK's fixed cost per request, which
// the Scan step pays once per object. "close" is versitygw's default, a
// new connection per request; S3 keeps connections alive.
func BenchmarkOpenSmall(b *testing.B) {
	for _, keepAlive := range []bool{true, false} {
		name := "keep-alive"
		if !keepAlive {
			name = "close"
		}
		b.Run(name, func(b *testing.B) {
			svc := testsvc.VersityGW(b, &testsvc.VersityGWOptions{KeepAlive: keepAlive})
			client := svc.Client(b)
			bucket := "bench-open"
			svc.CreateBucket(b, client, bucket, true)
			d, err := s3obj.New(client, nil)
			if err != nil {
				b.Fatal(err)
			}
			ref, err := d.Put(b.Context(), bucket, "small", bytes.NewReader(make([]byte, 10<<10)), objects.PutOptions{})
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			b.ReportAllocs()
			// Wall time counts versitygw and the machine's load; the CPU
			// time of this process is what the SDK costs.
			cpu0 := processCPU(b)
			for b.Loop() {
				rc, _, err := d.Open(b.Context(), ref)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, rc, buf); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
