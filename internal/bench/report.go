package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is a harness run's figures.
type Report struct {
	Date        time.Time
	Took        time.Duration
	Full        bool
	Concurrency int
	Rounds      int
	Machine     Machine
	// ProfileDir is where the CPU profiles went, relative to the module
	// root when inside it.
	ProfileDir string
	DBs        []*DBResult
	// RSS holds the Scan step process on a small object, the baseline,
	// then on the large one.
	RSS []*RSSResult
	// RSSDirectKiB is ru_maxrss of /bin/true as the harness itself reads
	// it: the harness's own peak, carried into the child across exec.
	RSSDirectKiB int64
	// AWS holds the requests per clean object of the pipeline over
	// dynalite and versitygw, one entry per upload variant, counted on
	// the corpus AWSCorpus names.
	AWS       []*AWSCounts
	AWSCorpus string
}

// DBResult is every corpus's figures on one database.
type DBResult struct {
	DB      *DB
	Load    time.Duration // clamd's start, the database's load included
	RSSKiB  int64         // clamd's resident set once loaded
	Corpora []CorpusResult
}

// CorpusResult is every mode's figures on one corpus.
type CorpusResult struct {
	Corpus *Corpus
	Modes  []*ModeResult
}

// Machine describes where the figures were taken.
type Machine struct {
	CPU       string
	Cores     int
	MemoryGiB float64
	OS        string
	Kernel    string
	Go        string
	ClamAV    string
	LoadStart string
	LoadEnd   string
	// FsyncP50 and FsyncP90 time a 4 KiB write plus fdatasync in the
	// harness's temporary folder, where the stores and buckets live.
	FsyncP50, FsyncP90 time.Duration
}

func readMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadAvg()}
	m.CPU = procField("/proc/cpuinfo", "model name", ":")
	if kb, err := strconv.ParseFloat(strings.Fields(procField("/proc/meminfo", "MemTotal", ":") + " 0")[0], 64); err == nil {
		m.MemoryGiB = kb / (1 << 20)
	}
	m.OS = strings.Trim(procField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// procField returns the value of the first "name<sep>value" line of path.
func procField(path, name, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Targets the figures are held against (issue 17).
const (
	targetScanRatio      = 0.95 // Scan step / raw clamd MiB/s, objects of 1 MiB and more
	targetScanSmallRatio = 0.8  // Scan step / raw clamd objects/s, 10 KiB
	targetPipelineRatio  = 0.8  // pipeline / raw clamd objects/s, 10 KiB
	targetPipelineLarge  = 0.95 // durable pipeline / raw clamd MiB/s, 256 MiB
	targetRSSMiB         = 64   // scangate's peak RSS scanning 1 GiB over S3
	targetWRU            = 5    // DynamoDB write units per clean object
	targetRRU            = 3    // DynamoDB read units per clean object
	// targetP99Slack is what the durable pipeline's p99 latency on 10 KiB
	// may add to raw clamd's own p99 scan time.
	targetP99Slack = 10 * time.Millisecond
	// targetInvocations: fewer Lambda invocations per clean object than
	// the 4 of one per step (ingest, Claim, Scan, Record).
	targetInvocations = 3
)

// Target is one target and what was measured against it.
type Target struct {
	What     string
	Measured string
	Met      bool
}

// Targets checks the figures against the targets.
func (r *Report) Targets() []Target {
	var out []Target
	ratio := func(what string, got, want float64) {
		out = append(out, Target{What: what, Measured: fmt.Sprintf("%.2f", got), Met: got >= want})
	}
	for _, db := range r.DBs {
		for _, c := range db.Corpora {
			raw := c.mode(ModeRaw)
			if raw == nil {
				continue
			}
			size := c.Corpus.Spec.Size
			for _, id := range []string{ModeScanLocal, ModeScanS3} {
				m := c.mode(id)
				switch {
				case m == nil:
				case size >= 1<<20:
					ratio(fmt.Sprintf("%s ≥ %.2f × raw clamd MiB/s: %s, %s", modeNames[id], targetScanRatio, c.Corpus.Spec.Name, db.DB.short()),
						m.MiBPerSec()/raw.MiBPerSec(), targetScanRatio)
				case size == 10<<10:
					ratio(fmt.Sprintf("%s ≥ %.1f × raw clamd objects/s: %s, %s", modeNames[id], targetScanSmallRatio, c.Corpus.Spec.Name, db.DB.short()),
						m.ObjectsPerSec()/raw.ObjectsPerSec(), targetScanSmallRatio)
				}
			}
			if m := c.mode(ModePipeline); m != nil {
				switch size {
				case 10 << 10:
					ratio(fmt.Sprintf("durable pipeline ≥ %.1f × raw clamd objects/s: %s, %s", targetPipelineRatio, c.Corpus.Spec.Name, db.DB.short()),
						m.ObjectsPerSec()/raw.ObjectsPerSec(), targetPipelineRatio)
					got, limit := m.Percentile(0.99), raw.Percentile(0.99)+targetP99Slack
					out = append(out, Target{
						What:     fmt.Sprintf("durable pipeline latency p99 ≤ raw clamd's p99 + %s: %s, %s", targetP99Slack, c.Corpus.Spec.Name, db.DB.short()),
						Measured: fmt.Sprintf("%s ms (limit %s ms)", ms(got), ms(limit)), Met: got <= limit,
					})
				case 256 << 20:
					ratio(fmt.Sprintf("durable pipeline ≥ %.2f × raw clamd MiB/s: %s, %s", targetPipelineLarge, c.Corpus.Spec.Name, db.DB.short()),
						m.MiBPerSec()/raw.MiBPerSec(), targetPipelineLarge)
				}
			}
		}
	}
	if len(r.RSS) > 0 {
		s := r.RSS[len(r.RSS)-1]
		mib := float64(s.MaxRSSKiB) / 1024
		out = append(out, Target{
			What:     fmt.Sprintf("Scan step process peak RSS < %d MiB: %s over S3", targetRSSMiB, sizeName(s.Size)),
			Measured: fmt.Sprintf("%.1f MiB", mib),
			Met:      mib < targetRSSMiB,
		})
	}
	for _, a := range r.AWS {
		at := func(what, measured string, met bool) {
			out = append(out, Target{What: what + " per clean object, " + a.Variant, Measured: measured, Met: met})
		}
		at(fmt.Sprintf("DynamoDB ≤ %d WRU (table + refused + index estimate)", targetWRU),
			fmt.Sprintf("%.2f (%.2f + %.2f + %.2f)", a.TotalWRU(), a.WRU, a.Refused, a.IndexWRU), a.TotalWRU() <= targetWRU)
		at(fmt.Sprintf("DynamoDB ≤ %d RRU", targetRRU), fmt.Sprintf("%.2f", a.RRU), a.RRU <= targetRRU)
		at("S3: 1 GetObject", trimFloat(a.S3("GetObject")), a.S3("GetObject") == 1)
		at("S3: 1 PutObjectTagging", trimFloat(a.S3("PutObjectTagging")), a.S3("PutObjectTagging") == 1)
		at("S3: no HeadObject", trimFloat(a.S3("HeadObject")), a.S3("HeadObject") == 0)
		var other float64
		for op, n := range a.S3Ops {
			if op != "GetObject" && op != "PutObjectTagging" {
				other += n
			}
		}
		at("S3: no other request", fmt.Sprintf("%s (%s)", trimFloat(other), opList(a.S3Ops)), other == 0)
		at(fmt.Sprintf("Lambda: ≤ %d invocations", targetInvocations), trimFloat(a.Invocations), a.Invocations <= targetInvocations)
		c := a.PerMillion()
		out = append(out, Target{
			What:     fmt.Sprintf("AWS ≤ $%.0f per million clean 1 MB uploads (docs/cost.md's formula: these requests, its estimated durations, logs and traces), %s", targetCostPerMillion, a.Variant),
			Measured: fmt.Sprintf("$%.2f as deployed, $%.2f with workflow logs at ALL and X-Ray", c.AsDeployed, c.Traced),
			Met:      c.AsDeployed <= targetCostPerMillion,
		})
	}
	return out
}

func (c CorpusResult) mode(id string) *ModeResult {
	for _, m := range c.Modes {
		if m.Mode == id {
			return m
		}
	}
	return nil
}

func (db *DB) short() string {
	if strings.HasPrefix(db.Name, "synthetic") {
		return "large DB"
	}
	return "test DB"
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// Markdown renders the figures, the part of docs/benchmarks.md between
// the markers.
func (r *Report) Markdown(command string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	p("Generated by the harness in `internal/bench/` on %s (UTC), in %s. Command:\n\n", r.Date.UTC().Format("2006-01-02 15:04"), r.Took.Round(time.Second))
	p("```sh\n%s\n```\n\n", command)
	if !r.Full {
		p("**A smoke run**: a few objects per mode, too few for the figures to mean anything.\n\n")
	}
	p("Machine: %s, %d cores, %.0f GiB; %s (Linux %s); %s; %s. ", m.CPU, m.Cores, m.MemoryGiB, m.OS, m.Kernel, m.ClamAV, m.Go)
	p("Other jobs shared the machine: load average (1, 5, 15 min) %s at the start, %s at the end. ", m.LoadStart, m.LoadEnd)
	p("A 4 KiB write plus fdatasync in the folder holding the stores and buckets took %s (median), %s (90th percentile).\n\n", ms(m.FsyncP50)+" ms", ms(m.FsyncP90)+" ms")
	p("Every mode keeps %d objects in flight (the pipeline runs `scangate run`'s 4 workflow workers). ", r.Concurrency)
	p("Each corpus runs %d round(s) (fewer where a table says so: a round of the largest objects takes minutes), the modes one after the other within a round and each round starting one mode later, so that a change in load hits all of them; ", r.Rounds)
	p("throughput is over all rounds, `× raw` is the ratio to raw clamd over all rounds and `rounds` the per-round ratios. ")
	p("Latency is one object's, start to verdict, while the others are in flight; overhead is the mode's mean latency minus raw clamd's. ")
	p("CPU is per object: the harness process, where every scangate mode runs in-process (with its clamscan children), clamd, and versitygw (the S3 server, which on AWS would not share the machine). ")
	p("clamd runs with `DisableCache yes` (every mode scans the same bytes, which clamd must scan each time) and StreamMaxLength, MaxFileSize and MaxScanSize at %s, as clamscan does with the same limits passed on its command line. ", sizeName(streamMax))
	p("Every verdict was checked against the corpus: an EICAR-bearing file (EICAR in its last KiB) must be found as `Scangate.Test.EICAR.UNOFFICIAL`, every other file must be clean, and scangate's verdicts must name the whole object's size and SHA-256.\n\n")

	p("### Targets\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range r.Targets() {
		verdict := "**missed**"
		if t.Met {
			verdict = "met"
		}
		p("| %s | %s | %s |\n", t.What, t.Measured, verdict)
	}
	p("\n")

	for _, db := range r.DBs {
		p("### %s\n\n", db.DB.Name)
		p("%d signature lines, %.1f MB on disk. clamd started and loaded them in %s; its RSS after loading: %d MiB.\n\n",
			db.DB.Signatures, float64(db.DB.Bytes)/1e6, db.Load.Round(10*time.Millisecond), db.RSSKiB>>10)
		for _, c := range db.Corpora {
			raw := c.mode(ModeRaw)
			p("#### %s × %d (%d with EICAR), %s\n\n", c.Corpus.Spec.Name, len(c.Corpus.Files), c.Corpus.Infected(), db.DB.short())
			p("| mode | objects × rounds | MiB/s | objects/s | × raw | rounds | latency mean / p95 / p99, ms | overhead, ms | CPU ms/object: harness / clamd / versitygw |\n")
			p("|---|---|---|---|---|---|---|---|---|\n")
			for _, mr := range c.Modes {
				objs := fmt.Sprintf("%d × %d", mr.Objects, mr.Rounds)
				if mr.Capped {
					objs += " (capped)"
				}
				var rounds []string
				for _, x := range mr.RoundRatios {
					rounds = append(rounds, fmt.Sprintf("%.2f", x))
				}
				self, clamd, s3 := mr.CPUPerObject()
				p("| %s | %s | %.1f | %.1f | %.3f | %s | %s / %s / %s | %s | %s / %s / %s |\n",
					modeNames[mr.Mode], objs, mr.MiBPerSec(), mr.ObjectsPerSec(), mr.ObjectsPerSec()/raw.ObjectsPerSec(),
					strings.Join(rounds, ", "), ms(mr.MeanLatency()), ms(mr.Percentile(0.95)), ms(mr.Percentile(0.99)), ms(mr.MeanLatency()-raw.MeanLatency()),
					ms(self), ms(clamd), ms(s3))
			}
			p("\n")
		}
	}

	p("### Store calls per object (pipeline)\n\n")
	p("Counted by a wrapper around the embedded store's driver (`internal/bench/storecount.go`), per record and per SHA-256 (allowlist, verdict cache), in the last round; ")
	p("an infected object's count includes its review workflow up to the stored task token.\n\n")
	p("| database | corpus | mode | clean: writes (refused) / reads | infected: writes (refused) / reads |\n|---|---|---|---|---|\n")
	for _, db := range r.DBs {
		for _, c := range db.Corpora {
			for _, mr := range c.Modes {
				if s := mr.Store; s != nil {
					p("| %s | %s | %s | %s | %s |\n", db.DB.short(), c.Corpus.Spec.Name, mr.Mode, perObject(s.Clean, s.CleanWrites, s.CleanRefused, s.CleanReads), perObject(s.Infected, s.InfectedWrites, s.InfectedRefused, s.InfectedReads))
				}
			}
		}
	}
	p("\n")

	if len(r.AWS) > 0 {
		p("### AWS requests per clean object\n\n")
		p("The pipeline wired as in AWS: the DynamoDB store driver against dynalite, the S3 driver against versitygw (a versioned bucket), the committed scan workflow run by the local runtime over the handlers the Lambdas run, one engine. ")
		p("%d clean objects of the %s corpus went through one at a time, from the ingest of their S3 notification to the end of their workflow, so every request is the object's own. ", r.AWS[0].Objects, r.AWSCorpus)
		p("DynamoDB capacity is what the driver's `ReturnConsumedCapacity=TOTAL` reported (dynalite reports the table's writes, not the indexes'); ")
		p("index writes are estimated from the store calls (the keys-only `by-state` entry, which clean records do not have: 1 WRU put when a record enters an indexed state, 1 WRU deleted when it leaves for clean, a delete and a put, 2 WRU, whenever the state or update time changes between indexed states); refused conditional writes, which DynamoDB bills and dynalite does not report, are added at 1 WRU each; the driver's read after a refused write is dynalite's alone (DynamoDB returns the item with the refusal, at no cost) and is left out of RRU. ")
		p("S3 requests are counted by a middleware on the driver's client, every attempt. Lambda invocations are the ingest (a batch of one) and every Task the workflow scheduled. ")
		p("The objects are staged uncounted: the uploader's PutObject is not scangate's.\n\n")
		p("| upload | RRU | WRU: table + refused + index (est.) = total | DynamoDB requests | S3 requests | Lambda invocations |\n|---|---|---|---|---|---|\n")
		for _, a := range r.AWS {
			p("| %s | %.2f | %.2f + %.2f + %.2f = **%.2f** | %s | %s | %s |\n", a.Variant, a.RRU, a.WRU, a.Refused, a.IndexWRU, a.TotalWRU(),
				opList(a.DynamoOps), opList(a.S3Ops), trimFloat(a.Invocations))
		}
		p("\n")
	}

	if len(r.RSS) > 0 {
		s := r.RSS[len(r.RSS)-1]
		p("### Memory: the Scan step alone on %s over S3\n\n", sizeName(s.Size))
		p("`internal/bench/cmd/scanstep` is the Scan step wired as `scangate run` wires it for an s3:// bucket (connect.OpenBucket, a bolt store, the engine, Prometheus metrics), in a process of its own; ")
		p("it scanned one object from versitygw through the test database's clamd, which, like versitygw, is another process. ")
		p("Each object carries EICAR in its last KiB, so the verdict shows the whole stream was scanned; the objects were generated while they were uploaded, never held in memory.\n\n")
		p("Peak RSS is `os.ProcessState.SysUsage().(*syscall.Rusage).Maxrss` of the scan step, read by `internal/bench/cmd/maxrss`, a small process that starts it and waits for it. ")
		p("Read by the harness itself, the figure would be the harness's own: Go starts children with vfork, and Linux keeps the peak of the memory a process had before exec in its maxrss, so `/bin/true` started by the harness reports %.1f MiB. ", float64(r.RSSDirectKiB)/1024)
		p("Started by `maxrss`, `/bin/true` reports %.1f MiB: the floor included in the figures below. ", float64(s.FloorKiB)/1024)
		p("VmHWM is the peak the scan step read from `/proc/self/status` as it ended, which counts only its memory since exec.\n\n")
		p("| object | peak RSS (ru_maxrss) | VmHWM | wall | CPU user + system | verdict |\n|---|---|---|---|---|---|\n")
		for _, s := range r.RSS {
			p("| %s | **%.1f MiB** | %.1f MiB | %s | %s + %s | %s %v, %d bytes |\n", sizeName(s.Size), float64(s.MaxRSSKiB)/1024,
				float64(s.VmHWMKiB)/1024, s.Wall.Round(time.Millisecond), s.User.Round(time.Millisecond), s.Sys.Round(time.Millisecond),
				s.Verdict.Outcome, s.Verdict.Signatures, s.Verdict.BytesScanned)
		}
		p("\n")
	}

	var profiles []string
	for _, db := range r.DBs {
		for _, c := range db.Corpora {
			for _, mr := range c.Modes {
				if mr.Profile != "" {
					profiles = append(profiles, mr.Profile)
				}
			}
		}
	}
	if len(profiles) > 0 {
		slices.Sort(profiles)
		p("CPU profiles of the harness process, first round of each mode: %d files in `%s` (`go tool pprof -top FILE`).\n\n", len(profiles), r.ProfileDir)
	}
	return b.String()
}

func perObject(n int, writes, refused, reads float64) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f (%.2f) / %.2f, n = %d", writes, refused, reads, n)
}

// Page markers: WritePage replaces what lies between them and keeps the
// rest of the page, the hand-written reading of the figures.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// WritePage puts the figures between the markers of the page at path.
func (r *Report) WritePage(path, command string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	page := string(b)
	before, rest, ok1 := strings.Cut(page, beginMarker)
	_, after, ok2 := strings.Cut(rest, endMarker)
	if !ok1 || !ok2 {
		return fmt.Errorf("bench: %s lacks the markers %s and %s", path, beginMarker, endMarker)
	}
	page = before + beginMarker + "\n" + r.Markdown(command) + endMarker + after
	return os.WriteFile(path, []byte(page), 0o644)
}
