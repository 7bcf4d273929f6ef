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
	// MaxRSSKiB is the process's peak resident set, getrusage's ru_maxrss
	// in KiB as cmd/maxrss reads it; clamd and versitygw are other
	// processes. It includes FloorKiB, the ru_maxrss of a command that
	// does nothing (/bin/true) started the same way.
	MaxRSSKiB, FloorKiB int64
	// VmHWMKiB is the peak the process itself read from /proc at its end.
	VmHWMKiB   int64
	Wall       time.Duration
	User, Sys  time.Duration
	Verdict    domain.Verdict
	UploadTook time.Duration
}

// RSSTools are the binaries the memory figure needs.
type rssTools struct {
	scanstep, maxrss string
	// floorKiB is what cmd/maxrss reports for /bin/true, directKiB what
	// the harness reads for /bin/true started directly: its own peak,
	// carried over exec, which is why cmd/maxrss exists.
	floorKiB, directKiB int64
}

// buildRSSTools builds cmd/scanstep and cmd/maxrss, without the race
// detector whatever the test runs with, and measures the floors.
func (h *harness) buildRSSTools(ctx context.Context) (*rssTools, error) {
	// go test puts its own GOROOT/bin first on PATH, so this is the go
	// that runs the test.
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("finding go to build the RSS tools: %w", err)
	}
	tools := &rssTools{scanstep: filepath.Join(h.work, "scanstep"), maxrss: filepath.Join(h.work, "maxrss")}
	for bin, pkg := range map[string]string{tools.scanstep: "./internal/bench/cmd/scanstep", tools.maxrss: "./internal/bench/cmd/maxrss"} {
		build := exec.CommandContext(ctx, goBin, "build", "-o", bin, pkg)
		build.Dir = h.root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %w: %s", pkg, err, out)
		}
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return nil, err
	}
	if tools.floorKiB, _, err = h.maxRSS(ctx, tools, nil, nil, truePath); err != nil {
		return nil, err
	}
	direct := exec.CommandContext(ctx, truePath)
	if err := direct.Run(); err != nil {
		return nil, err
	}
	tools.directKiB = direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	return tools, nil
}

// maxRSS runs name with args through cmd/maxrss and returns its ru_maxrss
// and maxrss's process state, whose CPU times include the command's.
func (h *harness) maxRSS(ctx context.Context, tools *rssTools, env []string, stdout io.Writer, name string, args ...string) (int64, *os.ProcessState, error) {
	out := filepath.Join(h.tmp, "maxrss.out")
	cmd := exec.CommandContext(ctx, tools.maxrss, append([]string{"-o", out, "--", name}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, nil, fmt.Errorf("%s: %w: %s", filepath.Base(name), err, strings.TrimSpace(stderr.String()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return 0, nil, err
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return kib, cmd.ProcessState, err
}

// measureRSS streams a size-byte object with EICAR in its last KiB into
// S3 (generated as it is sent, never held in memory), runs scanstep on it
// through maxrss, and reads the child's peak RSS. The verdict must be
// infected: only a scan of the whole stream finds EICAR there.
func (h *harness) measureRSS(ctx context.Context, env *engineEnv, tools *rssTools, size int64) (*RSSResult, error) {
	f := File{Key: fmt.Sprintf("bench/rss/%d.bin", size), Size: size, Infected: true}
	sum := sha256.New()
	begin := time.Now()
	ref, err := h.s3.Put(ctx, uploadBucket, f.Key, io.TeeReader(NewPayload(h.cfg.Seed, 1<<40+uint64(size), size, true), sum), objects.PutOptions{})
	if err != nil {
		return nil, fmt.Errorf("uploading %d bytes: %w", size, err)
	}
	res := &RSSResult{Size: size, UploadTook: time.Since(begin), FloorKiB: tools.floorKiB}
	f.SHA256 = hex.EncodeToString(sum.Sum(nil))
	obj, err := json.Marshal(ref)
	if err != nil {
		return nil, err
	}
	// Explicit, so that credentials configured on the machine cannot send
	// the child elsewhere.
	childEnv := append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=", "AWS_PROFILE=")
	var stdout bytes.Buffer
	begin = time.Now()
	kib, state, err := h.maxRSS(ctx, tools, childEnv, &stdout, tools.scanstep,
		"-clamd", env.d.Addr(), "-clamav-db", env.db.Dir,
		"-bucket", h.gw.URL(uploadBucket), "-store", "bolt://"+filepath.Join(h.work, "scanstep-store.db"),
		"-stream-max", strconv.FormatInt(streamMax, 10), "-object", string(obj))
	res.Wall = time.Since(begin)
	if err != nil {
		return nil, err
	}
	// maxrss's times include those of the scan step it waited for.
	res.MaxRSSKiB, res.User, res.Sys = kib, state.UserTime(), state.SystemTime()
	var out struct {
		Verdict  domain.Verdict `json:"verdict"`
		VmHWMKiB int64          `json:"vmHWMKiB"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("scanstep's output %q: %w", stdout.String(), err)
	}
	res.Verdict, res.VmHWMKiB = out.Verdict, out.VmHWMKiB
	if err := checkScangateVerdict(f, &res.Verdict); err != nil {
		return nil, err
	}
	h.t.Logf("bench: scan step on %s over S3: ru_maxrss %d KiB (floor %d), VmHWM %d KiB, %s",
		sizeName(size), res.MaxRSSKiB, res.FloorKiB, res.VmHWMKiB, res.Wall.Round(time.Millisecond))
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
