package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/objects"
)

// RSSResult is a process running the Scan step alone on one object read
// over S3.
type RSSResult struct {
	Size int64
	// MaxRSSKiB is the process's peak resident set (getrusage's ru_maxrss,
	// in KiB on Linux). clamd and versitygw are other processes.
	MaxRSSKiB  int64
	Wall       time.Duration
	User, Sys  time.Duration
	Verdict    domain.Verdict
	UploadTook time.Duration
}

// buildScanStep builds cmd/scanstep, without the race detector whatever
// the test runs with, and returns the binary's path.
func (h *harness) buildScanStep(ctx context.Context) string {
	bin := filepath.Join(h.work, "scanstep")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./bench/cmd/scanstep")
	build.Dir = h.root
	if out, err := build.CombinedOutput(); err != nil {
		h.t.Fatalf("bench: building scanstep: %v: %s", err, out)
	}
	return bin
}

// measureRSS streams a size-byte object with EICAR in its last KiB into
// S3 (generated as it is sent, never held in memory), runs scanstep (bin)
// on it, and reads the child's peak RSS. The verdict must be infected:
// only a scan of the whole stream finds EICAR there.
func (h *harness) measureRSS(ctx context.Context, env *engineEnv, bin string, size int64) (*RSSResult, error) {
	f := File{Key: fmt.Sprintf("bench/rss/%d.bin", size), Size: size, Infected: true}
	sum := sha256.New()
	begin := time.Now()
	ref, err := h.s3.Put(ctx, uploadBucket, f.Key, io.TeeReader(NewPayload(h.cfg.Seed, 1<<40+uint64(size), size, true), sum), objects.PutOptions{})
	if err != nil {
		return nil, fmt.Errorf("uploading %d bytes: %w", size, err)
	}
	res := &RSSResult{Size: size, UploadTook: time.Since(begin)}
	f.SHA256 = hex.EncodeToString(sum.Sum(nil))
	obj, err := json.Marshal(ref)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin,
		"-clamd", env.d.Addr(), "-clamav-db", env.db.Dir,
		"-bucket", h.gw.URL(uploadBucket), "-store", "bolt://"+filepath.Join(h.work, "scanstep-store.db"),
		"-stream-max", strconv.FormatInt(streamMax, 10), "-object", string(obj))
	// Explicit, so that credentials configured on the machine cannot send
	// the child elsewhere.
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=", "AWS_PROFILE=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin = time.Now()
	err = cmd.Run()
	res.Wall = time.Since(begin)
	if err != nil {
		return nil, fmt.Errorf("scanstep: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return nil, fmt.Errorf("scanstep: no rusage on %s", runtime.GOOS)
	}
	res.MaxRSSKiB = ru.Maxrss
	res.User, res.Sys = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	if err := json.Unmarshal(stdout.Bytes(), &res.Verdict); err != nil {
		return nil, fmt.Errorf("scanstep's verdict %q: %w", stdout.String(), err)
	}
	if err := checkScangateVerdict(f, &res.Verdict); err != nil {
		return nil, err
	}
	h.t.Logf("bench: scan step on %d MiB over S3: peak RSS %d KiB, %s", size>>20, res.MaxRSSKiB, res.Wall.Round(time.Millisecond))
	return res, nil
}

// procRSSKiB returns the resident set of process pid from /proc, or 0.
func procRSSKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
