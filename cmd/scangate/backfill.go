package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/scangate/scangate/internal/backfill"
)

// cmdBackfill is `scangate backfill TARGET`: the running server owns the
// store, so the command asks it (POST /v1/backfills) and watches the
// job's progress until everything is queued; with --aws it starts the
// backfill state machine instead.
func cmdBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fl.SetOutput(stderr)
	api := fl.String("api", "http://127.0.0.1:8080", "the running scangate's HTTP API")
	token := fl.String("token", os.Getenv("SCANGATE_TOKEN"), "API token of an account with the reviewer role (default $SCANGATE_TOKEN)")
	var spec backfill.Spec
	fl.BoolVar(&spec.AllVersions, "all-versions", false, "every version of each key, not only the current one")
	fl.Float64Var(&spec.Rate, "rate", 0, "at most this many objects per second (0: no limit)")
	fl.IntVar(&spec.Concurrency, "concurrency", 4, fmt.Sprintf("objects ingested at once (at most %d)", backfill.MaxConcurrency))
	fl.BoolVar(&spec.DryRun, "dry-run", false, "count what would be queued, change nothing")
	fl.StringVar(&spec.Inventory, "inventory", "", "walk this S3 Inventory manifest.json (or CSV with a header row), BUCKET/KEY or s3://BUCKET/KEY, instead of listing")
	aws := fl.Bool("aws", false, "start the backfill state machine in AWS Step Functions instead")
	sm := fl.String("state-machine", os.Getenv("SCANGATE_BACKFILL_STATE_MACHINE"), "with --aws: the backfill state machine's ARN (default $SCANGATE_BACKFILL_STATE_MACHINE)")
	every := fl.Duration("every", time.Second, "how often progress is shown")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: scangate backfill [--api URL --token TOKEN] [--all-versions] [--rate N] [--concurrency N] [--dry-run] [--inventory MANIFEST] [--aws --state-machine ARN] TARGET")
		fmt.Fprintln(stderr, "TARGET is s3://BUCKET/PREFIX, or a local bucket's name with an optional /PREFIX.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return parseExit(err)
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return 2
	}
	spec.Bucket, spec.Prefix = parseTarget(fl.Arg(0))
	if err := spec.Check(); err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return 2
	}
	if *aws {
		arn, err := startAWSBackfill(ctx, *sm, spec)
		if err != nil {
			fmt.Fprintln(stderr, "scangate:", err)
			return 1
		}
		fmt.Fprintln(stdout, arn)
		return 0
	}
	c := &apiClient{base: strings.TrimRight(*api, "/"), token: *token, hc: &http.Client{Timeout: 30 * time.Second}}
	var p backfill.Progress
	if err := c.do(ctx, http.MethodPost, "/v1/backfills", spec, &p); err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return 1
	}
	show := newProgressView(stdout, stderr)
	for {
		show.update(p)
		if p.State != backfill.StateRunning {
			break
		}
		select {
		case <-ctx.Done():
			show.done()
			fmt.Fprintf(stderr, "scangate: stopped watching; job %s goes on in the server (run the same command to watch it again)\n", p.ID)
			return 1
		case <-time.After(*every):
		}
		if err := c.do(ctx, http.MethodGet, "/v1/backfills/"+p.ID, nil, &p); err != nil {
			show.done()
			fmt.Fprintln(stderr, "scangate:", err)
			return 1
		}
	}
	show.done()
	show.summary(p)
	if p.State != backfill.StateDone || p.Failed > 0 {
		return 1
	}
	return 0
}

// parseTarget splits s3://BUCKET/PREFIX or BUCKET/PREFIX.
func parseTarget(t string) (bucket, prefix string) {
	b, p, _ := strings.Cut(strings.TrimPrefix(t, "s3://"), "/")
	return b, p
}

type apiClient struct {
	base, token string
	hc          *http.Client
}

func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}

// progressView shows progress as a bar on a terminal and as JSON lines
// otherwise, for scripts and logs.
type progressView struct {
	out  io.Writer
	bar  *progressbar.ProgressBar
	last backfill.Progress
}

func newProgressView(stdout, stderr io.Writer) *progressView {
	v := &progressView{out: stdout}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("backfill"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("objects"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return v
}

func (v *progressView) update(p backfill.Progress) {
	if v.bar != nil {
		v.bar.Describe(fmt.Sprintf("backfill %s: known %d, queued %d, failed %d", p.Spec.Bucket, p.Known, p.Queued, p.Failed))
		_ = v.bar.Set64(p.Listed)
		return
	}
	if p.Listed == v.last.Listed && p.State == v.last.State && v.last.ID != "" {
		return
	}
	v.last = p
	line, _ := json.Marshal(struct {
		Event string `json:"event"`
		backfill.Progress
	}{"progress", p})
	fmt.Fprintln(v.out, string(line))
}

func (v *progressView) done() {
	if v.bar != nil {
		_ = v.bar.Finish()
	}
}

func (v *progressView) summary(p backfill.Progress) {
	if v.bar == nil {
		line, _ := json.Marshal(struct {
			Event string `json:"event"`
			backfill.Progress
		}{"summary", p})
		fmt.Fprintln(v.out, string(line))
		return
	}
	verb := "queued"
	if p.Spec.DryRun {
		verb = "would queue"
	}
	fmt.Fprintf(v.out, "backfill %s of s3://%s/%s: listed %d, already recorded %d, %s %d, failed %d\n",
		p.State, p.Spec.Bucket, p.Spec.Prefix, p.Listed, p.Known, verb, p.Queued, p.Failed)
	if p.Error != "" {
		fmt.Fprintln(v.out, "error:", p.Error)
	}
}

var errNoStateMachine = errors.New("--aws needs --state-machine ARN (or $SCANGATE_BACKFILL_STATE_MACHINE)")
