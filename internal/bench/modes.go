package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/scangate/scangate/asl"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
)

// Mode IDs, as in profile file names and the flags.
const (
	ModeRaw            = "raw"
	ModeScanLocal      = "scan-local"
	ModeScanS3         = "scan-s3"
	ModePipeline       = "pipeline"
	ModePipelineNoSync = "pipeline-nosync"
	ModeClamscan       = "clamscan"
)

// modeNames are the modes as the page names them.
var modeNames = map[string]string{
	ModeRaw:            "raw clamd INSTREAM, local files",
	ModeScanLocal:      "Scan step, local bucket",
	ModeScanS3:         "Scan step, S3 (versitygw)",
	ModePipeline:       "pipeline, ingest to last write (durable)",
	ModePipelineNoSync: "pipeline, same without fsync",
	ModeClamscan:       "clamscan per object",
}

// mode is one way of scanning a corpus.
type mode struct {
	id string
	// limit caps the objects scanned per round (a prefix of the corpus,
	// which always holds an infected file); 0 scans all.
	limit int
	// once runs the mode in the first round only.
	once bool
	// open prepares a round, untimed.
	open func(ctx context.Context, files []File) (*round, error)
}

// round is a mode prepared for one timed pass.
type round struct {
	// scan scans file i and checks its verdict.
	scan func(ctx context.Context, i int) error
	// close checks what the pass left behind, if anything, and releases
	// the round. It may return the store's counts.
	close func(ctx context.Context) (*StoreCounts, error)
}

func noClose(context.Context) (*StoreCounts, error) { return nil, nil }

// rawMode streams each local file into clamd with package clamd's client:
// no object backend, no hashing, no store.
func rawMode(env *engineEnv) *mode {
	return &mode{id: ModeRaw, open: func(_ context.Context, files []File) (*round, error) {
		scan := func(ctx context.Context, i int) error {
			f, err := os.Open(files[i].Path)
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := env.client.Instream(ctx, f)
			if err != nil {
				return err
			}
			if res.Status != clamd.StatusClean && res.Status != clamd.StatusFound {
				return fmt.Errorf("%w: clamd answered %q (%s)", errVerdict, res.Raw, res.Status)
			}
			if res.Bytes != files[i].Size {
				return fmt.Errorf("%w: clamd read %d of %d bytes", errVerdict, res.Bytes, files[i].Size)
			}
			return checkVerdict(files[i], res.Status == clamd.StatusFound, res.Signatures)
		}
		return &round{scan: scan, close: noClose}, nil
	}}
}

// scanStepMode runs scangate's Scan step on objects staged in objs, as
// the workflow's Scan task does: pinned version, SHA-256 on the way, the
// allowlist and verdict cache looked up first.
func scanStepMode(id string, env *engineEnv, h *harness, objs objects.Driver, refs []domain.ObjectRef) *mode {
	return &mode{id: id, open: func(_ context.Context, files []File) (*round, error) {
		prom, err := metrics.New(prometheus.NewRegistry())
		if err != nil {
			return nil, err
		}
		hs, err := lambdas.New(lambdas.Config{
			Store: h.scanStore, Objects: objs, Scanner: env.eng, Logger: h.log,
			QuarantineBucket: quarantineBucket, MaxScanBytes: streamMax, Owner: "bench", Metrics: prom,
		})
		if err != nil {
			return nil, err
		}
		scan := func(ctx context.Context, i int) error {
			ref := refs[i]
			out, err := hs.Scan(ctx, asl.Document{ID: ref.ID(), Object: ref, Next: "scan"})
			if err != nil {
				return err
			}
			return checkScangateVerdict(files[i], out.Verdict)
		}
		return &round{scan: scan, close: noClose}, nil
	}}
}

// clamscanMode copies each object from the local bucket to a temporary
// file and runs clamscan on it, as bucket-antivirus-function and
// cdk-serverless-clamscan do. clamscan gets clamd's size limits and
// alerts: with its defaults (--max-filesize=100M) it would not scan a 256
// MiB object at all and would still answer OK.
func clamscanMode(env *engineEnv, h *harness, refs []domain.ObjectRef, limit int) *mode {
	return &mode{id: ModeClamscan, limit: limit, once: true, open: func(_ context.Context, files []File) (*round, error) {
		bin, err := exec.LookPath("clamscan")
		if err != nil {
			return nil, fmt.Errorf("bench: %w (Debian's clamav package; `make deps` installs it)", err)
		}
		scan := func(ctx context.Context, i int) error {
			tmp, err := os.CreateTemp(h.tmp, "clamscan-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			rc, _, err := h.local.Open(ctx, refs[i])
			if err != nil {
				tmp.Close()
				return err
			}
			_, err = io.Copy(tmp, rc)
			rc.Close()
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			limit := strconv.FormatInt(streamMax, 10)
			cmd := exec.CommandContext(ctx, bin, "-d", env.db.Dir, "--no-summary",
				"--max-filesize="+limit, "--max-scansize="+limit, "--alert-exceeds-max=yes", tmp.Name())
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err = cmd.Run()
			var exit *exec.ExitError
			switch {
			case err == nil:
				return checkVerdict(files[i], false, nil)
			case errors.As(err, &exit) && exit.ExitCode() == 1:
				return checkVerdict(files[i], true, foundNames(out.String()))
			}
			return fmt.Errorf("clamscan: %w: %s", err, strings.TrimSpace(out.String()))
		}
		return &round{scan: scan, close: noClose}, nil
	}}
}

// foundNames reads the signature names of clamscan's "FILE: NAME FOUND"
// lines.
func foundNames(out string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutSuffix(sc.Text(), " FOUND")
		if !ok {
			continue
		}
		if i := strings.LastIndex(line, ": "); i >= 0 {
			names = append(names, line[i+2:])
		}
	}
	return names
}
