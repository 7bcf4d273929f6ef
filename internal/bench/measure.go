package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

// pass is one timed pass of a mode over a list of files.
type pass struct {
	objects   int
	bytes     int64
	wall      time.Duration
	latencies []time.Duration
	cpu       cpuTimes
}

// measure runs scan for every file with conc of them in flight (a closed
// loop: a worker takes the next file when its last one is done) and times
// each one and the whole. The first error stops the pass.
func measure(ctx context.Context, files []File, conc int, scan func(ctx context.Context, i int) error) (pass, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	lat := make([]time.Duration, len(files))
	var wg sync.WaitGroup
	begin := time.Now()
	for range min(conc, len(files)) {
		wg.Go(func() {
			for i := range next {
				start := time.Now()
				if err := scan(ctx, i); err != nil {
					cancel(fmt.Errorf("%s: %w", files[i].Key, err))
					continue
				}
				lat[i] = time.Since(start)
			}
		})
	}
feed:
	for i := range files {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	wall := time.Since(begin)
	if err := context.Cause(ctx); err != nil {
		return pass{}, err
	}
	p := pass{objects: len(files), wall: wall, latencies: lat}
	for _, f := range files {
		p.bytes += f.Size
	}
	return p, nil
}

// errVerdict marks a verdict that contradicts the corpus's ground truth.
var errVerdict = errors.New("WRONG VERDICT")

// checkVerdict compares what a mode reported for f with the truth: an
// infected file must be found with the EICAR signature, a clean one must
// be clean.
func checkVerdict(f File, infected bool, signatures []string) error {
	switch {
	case f.Infected && !infected:
		return fmt.Errorf("%w: %s carries EICAR but was reported clean", errVerdict, f.Key)
	case f.Infected && !slices.Contains(signatures, clamdtest.EICARSignature):
		return fmt.Errorf("%w: %s carries EICAR but was found as %v", errVerdict, f.Key, signatures)
	case !f.Infected && infected:
		return fmt.Errorf("%w: %s is clean but was found as %v", errVerdict, f.Key, signatures)
	}
	return nil
}

// checkScangateVerdict checks a verdict of scangate's Scan step: the
// outcome against the truth, and that the whole object was read and hashed.
func checkScangateVerdict(f File, v *domain.Verdict) error {
	if v == nil {
		return fmt.Errorf("%w: %s: no verdict", errVerdict, f.Key)
	}
	switch v.Outcome {
	case domain.OutcomeClean, domain.OutcomeInfected:
	default:
		return fmt.Errorf("%w: %s: outcome %s (%s)", errVerdict, f.Key, v.Outcome, v.Reason)
	}
	if err := checkVerdict(f, v.Outcome == domain.OutcomeInfected, v.Signatures); err != nil {
		return err
	}
	if v.BytesScanned != f.Size || v.SHA256 != f.SHA256 {
		return fmt.Errorf("%w: %s: scanned %d bytes hashing to %s; the file has %d hashing to %s",
			errVerdict, f.Key, v.BytesScanned, v.SHA256, f.Size, f.SHA256)
	}
	return nil
}

// ModeResult is a mode's figures on one corpus and database, over all its
// rounds.
type ModeResult struct {
	Mode   string
	Rounds int
	// Objects and Bytes are per round; a capped mode scans fewer objects
	// than the corpus has.
	Objects int
	Bytes   int64
	Capped  bool
	// Wall is the time of all rounds together.
	Wall      time.Duration
	Latencies []time.Duration // every object of every round
	// CPUSelf is the CPU time of the harness process (where every
	// scangate mode runs) and its children (clamscan); CPUClamd clamd's,
	// CPUS3 versitygw's. All over all rounds.
	CPUSelf, CPUClamd, CPUS3 time.Duration
	// RoundRatios is, per round, this mode's objects/s over raw clamd's in
	// the same round.
	RoundRatios []float64
	// Store holds the pipeline's store calls per object.
	Store *StoreCounts
	// Profile is the CPU profile written for the mode, if any.
	Profile string
}

// StoreCounts are the store calls per object of a pipeline run. Writes
// are attempts; Refused counts those among them whose condition failed.
type StoreCounts struct {
	CleanWrites, CleanRefused, CleanReads          float64
	InfectedWrites, InfectedRefused, InfectedReads float64
	Clean, Infected                                int
}

func (r *ModeResult) add(p pass) {
	r.Rounds++
	r.Objects, r.Bytes = p.objects, p.bytes
	r.Wall += p.wall
	r.Latencies = append(r.Latencies, p.latencies...)
	r.CPUSelf += p.cpu.self
	r.CPUClamd += p.cpu.clamd
	r.CPUS3 += p.cpu.s3
}

// CPUPerObject returns the mean CPU time per object of this process (and
// children), of clamd and of versitygw.
func (r *ModeResult) CPUPerObject() (self, clamd, s3 time.Duration) {
	n := time.Duration(max(1, r.Objects*r.Rounds))
	return r.CPUSelf / n, r.CPUClamd / n, r.CPUS3 / n
}

// ObjectsPerSec is the throughput over all rounds.
func (r *ModeResult) ObjectsPerSec() float64 {
	return float64(r.Objects*r.Rounds) / r.Wall.Seconds()
}

// MiBPerSec is the throughput over all rounds in MiB/s.
func (r *ModeResult) MiBPerSec() float64 {
	return float64(r.Bytes*int64(r.Rounds)) / (1 << 20) / r.Wall.Seconds()
}

// MeanLatency is the mean time of one object, in flight with others.
func (r *ModeResult) MeanLatency() time.Duration {
	var sum time.Duration
	for _, l := range r.Latencies {
		sum += l
	}
	return sum / time.Duration(max(1, len(r.Latencies)))
}

// Percentile returns the q-th latency quantile (0 < q <= 1).
func (r *ModeResult) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.Latencies)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
