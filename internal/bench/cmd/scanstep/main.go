// Command scanstep runs scangate's Scan step once on one object version and
// prints the verdict as JSON, with the process's peak resident set as
// Linux counts it for its memory since exec (VmHWM). It exists so that the benchmark harness can
// read the peak memory of a process that does nothing but the Scan step
// (clamd runs elsewhere): it is wired as `scangate run` wires the step for
// an s3:// bucket, with urlopen.OpenBucket, a bolt store (read for the
// allowlist and the verdict cache), the engine over a running clamd and
// Prometheus metrics.
//
//	scanstep -clamd unix:///path/clamd.sock -clamav-db DIR \
//	  -bucket 's3://uploads?endpoint=http://127.0.0.1:7070' -store bolt:///tmp/s.db \
//	  -object '{"bucket":"uploads","key":"k","versionId":"v","eTag":"e","size":1}'
//
// Exit status: 0 with a verdict on stdout, 1 on any error (on stderr).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/scangate/scangate/asl"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scanstep:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("scanstep", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var (
		clamdAddr = fl.String("clamd", "", "address of a running clamd (unix:///path or tcp://host:port)")
		dbDir     = fl.String("clamav-db", "", "the signature directory that clamd loaded")
		bucketURL = fl.String("bucket", "", "the bucket, as scangate run's --bucket (s3://... or file://...)")
		storeURL  = fl.String("store", "", "the store, as scangate run's --store (bolt:///path)")
		streamMax = fl.Int64("stream-max", 100<<20, "largest object scanned, in bytes")
		object    = fl.String("object", "", "the object version to scan, as a JSON domain.ObjectRef")
	)
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *clamdAddr == "" || *bucketURL == "" || *storeURL == "" || *object == "" {
		fl.Usage()
		return fmt.Errorf("-clamd, -bucket, -store and -object are required")
	}
	var ref domain.ObjectRef
	if err := json.Unmarshal([]byte(*object), &ref); err != nil {
		return fmt.Errorf("-object: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	objs, _, err := urlopen.OpenBucket(ctx, *bucketURL)
	if err != nil {
		return err
	}
	if c, ok := objs.(io.Closer); ok {
		defer c.Close()
	}
	drv, err := urlopen.Store(ctx, *storeURL)
	if err != nil {
		return err
	}
	st := store.New(drv, nil)
	defer st.Close()
	client, err := clamd.New(*clamdAddr, clamd.Options{MaxStreamBytes: *streamMax})
	if err != nil {
		return err
	}
	eng, err := engine.New(client, engine.Options{DatabaseDir: *dbDir, DevMode: true})
	if err != nil {
		return err
	}
	prom, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	h, err := lambdas.New(lambdas.Config{
		Store: st, Objects: objs, Scanner: eng, Logger: log, Metrics: prom,
		QuarantineBucket: "quarantine", MaxScanBytes: *streamMax, Owner: "scanstep",
	})
	if err != nil {
		return err
	}
	out, err := h.Scan(ctx, asl.Document{ID: ref.ID(), Object: ref, Next: "scan"})
	if err != nil {
		return fmt.Errorf("scan %s: %w", ref, err)
	}
	return json.NewEncoder(stdout).Encode(Result{Verdict: out.Verdict, VmHWMKiB: vmHWM()})
}

// Result is what scanstep prints.
type Result struct {
	Verdict *domain.Verdict `json:"verdict"`
	// VmHWMKiB is the peak resident set of this process's memory since
	// exec, from /proc/self/status; 0 where there is none.
	VmHWMKiB int64 `json:"vmHWMKiB"`
}

func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
