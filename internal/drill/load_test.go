package drill_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
	"github.com/scangate/scangate/internal/intake"
)

// bodyKind is what an upload holds.
type bodyKind string

const (
	kindRandom      bodyKind = "random"       // random bytes, 1 KiB to 2 MiB: clean
	kindEICAR       bodyKind = "eicar"        // the EICAR string alone
	kindEICARZip    bodyKind = "eicar-zip"    // EICAR deflated in a zip, after a random member
	kindEICARPadded bodyKind = "eicar-padded" // random bytes, 1 KiB to 2 MiB, then EICAR
)

var infectedKinds = []bodyKind{kindEICAR, kindEICARZip, kindEICARPadded}

// logSize draws a size between 1 KiB and 2 MiB, uniform in its logarithm:
// many small objects and a few large ones, as uploads are.
func logSize(r *rand.Rand) int {
	lo, hi := math.Log(1<<10), math.Log(2<<20)
	return int(math.Exp(lo + r.Float64()*(hi-lo)))
}

// body generates the bytes of one upload from its own seed.
func body(kind bodyKind, seed uint64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	src := rand.NewChaCha8(s)
	r := rand.New(src)
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = src.Read(b) // ChaCha8.Read never fails
		return b
	}
	switch kind {
	case kindEICAR:
		return clamdtest.EICARBytes()
	case kindEICARPadded:
		return append(random(logSize(r)), clamdtest.EICAR...)
	case kindEICARZip:
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "filler.bin", Method: zip.Store})
		_, _ = w.Write(random(logSize(r) / 4))
		w, _ = zw.Create("eicar.com")
		_, _ = w.Write(clamdtest.EICARBytes())
		_ = zw.Close() // writing to a bytes.Buffer cannot fail
		return buf.Bytes()
	}
	return random(logSize(r))
}

func (h *harness) drawKind(infectedShare float64) bodyKind {
	if h.float() < infectedShare {
		return infectedKinds[h.intN(len(infectedKinds))]
	}
	return kindRandom
}

// plan decides every key's kinds and which keys are overwritten mid-scan.
func (h *harness) plan() {
	for i := range h.cfg.objects {
		p := &keyPlan{key: fmt.Sprintf("drill/obj-%04d.bin", i), first: h.drawKind(h.cfg.infected)}
		if h.float() < h.cfg.overwrite {
			// Half of the second versions are infected, so that both
			// infected-then-clean and clean-then-infected keys occur.
			p.overwrite, p.second = true, h.drawKind(0.5)
		}
		h.plans = append(h.plans, p)
		h.byKey[p.key] = p
	}
}

// load uploads every key at the configured rate, announces each version
// with duplicated, delayed and so reordered events, PUTs the planned
// overwrites, and kills clamd at random moments until all of it has been
// delivered.
func (h *harness) load() {
	h.plan()
	stopKills, killsDone := make(chan struct{}), make(chan struct{})
	go h.killLoop(stopKills, killsDone)
	defer func() {
		close(stopKills)
		<-killsDone
	}()

	tick := time.NewTicker(time.Duration(float64(time.Second) / h.cfg.rate))
	defer tick.Stop()
	var uploads sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, p := range h.plans {
		select {
		case <-tick.C:
		case <-h.ctx.Done():
			return
		}
		sem <- struct{}{}
		uploads.Add(1)
		go func() {
			defer uploads.Done()
			defer func() { <-sem }()
			var other bodyKind
			if p.overwrite {
				other = p.second
			}
			v := h.upload(p.key, p.first, 1, other)
			if v == nil {
				return
			}
			p.mu.Lock()
			p.v1 = v
			p.mu.Unlock()
			h.announce(v)
		}()
	}
	uploads.Wait()
	h.lateOverwrites()
	h.deliveries.Wait()
}

// upload PUTs a new version of key straight to versitygw and registers it;
// other is the kind of the key's other version, if there is one.
func (h *harness) upload(key string, kind bodyKind, generation int, other bodyKind) *version {
	b := body(kind, h.uint64())
	sum := sha256.Sum256(b)
	var out *s3.PutObjectOutput
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		out, err = h.owner.PutObject(h.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(b)})
		if err == nil || h.ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		h.t.Errorf("upload %s: %v", key, err)
		return nil
	}
	v := &version{
		key: key, versionID: aws.ToString(out.VersionId), etag: strings.Trim(aws.ToString(out.ETag), `"`),
		size: int64(len(b)), sha256: hex.EncodeToString(sum[:]), kind: kind, generation: generation, other: string(other), seq: h.seq.Add(1),
	}
	if v.versionID == "" {
		h.t.Errorf("upload %s: no version id from a versioned bucket", key)
		return nil
	}
	v.id = domain.ObjectRef{Bucket: bucket, Key: key, VersionID: v.versionID}.ID()
	h.mu.Lock()
	h.versions[v.id] = v
	h.mu.Unlock()
	return v
}

// announce delivers v's S3 event, once or (for a share of versions) two or
// three times, each copy after its own random delay: duplicated and out of
// order, as S3 and SQS deliver.
func (h *harness) announce(v *version) {
	doc := intake.S3Notification(domain.ObjectRef{
		Bucket: bucket, Key: v.key, VersionID: v.versionID, ETag: v.etag, Size: v.size,
		Sequencer: fmt.Sprintf("%018X", v.seq),
	})
	type copyPlan struct {
		delay time.Duration
		fleet int
	}
	first := copyPlan{delay: time.Duration(h.float() * float64(h.cfg.maxDelay)), fleet: h.intN(len(h.fleets))}
	copies := []copyPlan{first}
	if h.float() < h.cfg.dup {
		// One duplicate in two reaches the other fleet at the same
		// moment as the first copy: two executions race for the record,
		// as Express's at-least-once starts do. The others come later,
		// to either fleet.
		if h.float() < 0.5 {
			copies = append(copies, copyPlan{delay: first.delay, fleet: (first.fleet + 1) % len(h.fleets)})
		} else {
			copies = append(copies, copyPlan{delay: time.Duration(h.float() * float64(h.cfg.maxDelay)), fleet: h.intN(len(h.fleets))})
		}
		if h.float() < 0.5 {
			copies = append(copies, copyPlan{delay: time.Duration(h.float() * float64(h.cfg.maxDelay)), fleet: h.intN(len(h.fleets))})
		}
	}
	for i, c := range copies {
		h.deliveries.Add(1)
		go func() {
			defer h.deliveries.Done()
			select {
			case <-time.After(c.delay):
			case <-h.ctx.Done():
				return
			}
			if i == 0 {
				h.events.Add(1)
			} else {
				h.duplicates.Add(1)
			}
			h.deliver(doc, v, c.fleet)
		}()
	}
}

// deliver hands doc to a fleet's ingest handler, and again, after a
// backoff and to a random fleet, when the handler fails, as S3's
// asynchronous invocation and an SQS redrive do.
func (h *harness) deliver(doc []byte, v *version, fleet int) {
	backoff := 50 * time.Millisecond
	for attempt := 0; attempt < 10; attempt++ {
		if attempt > 0 {
			fleet = h.intN(len(h.fleets))
		}
		res, err := h.fleets[fleet].h.Ingest(h.ctx, doc)
		if err == nil && len(res.IDs) == 1 && res.IDs[0] == v.id {
			return
		}
		if h.ctx.Err() != nil {
			return
		}
		if err == nil {
			h.t.Errorf("ingest of %s answered %+v; want exactly its record", v, res)
			return
		}
		h.redeliveries.Add(1)
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
	h.abandoned.Add(1)
	h.t.Logf("gave up delivering the event of %s", v)
}

// overwriteHook is called for every stream the Scan step opens. For the
// first version of a key planned for an overwrite it returns the hook
// that PUTs the second version while the first is being streamed.
func (h *harness) overwriteHook(ref domain.ObjectRef) func() {
	h.mu.Lock()
	p := h.byKey[ref.Key]
	h.mu.Unlock()
	if p == nil || !p.overwrite || ref.Bucket != bucket {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.overwrote || p.v1 == nil || p.v1.versionID != ref.VersionID {
		return nil
	}
	return func() { h.overwrite(p, false) }
}

// overwrite PUTs p's second version and announces it. Mid-scan, it holds
// the first version's stream until the second version is recorded (or 10
// seconds passed), so that both records are live at once.
func (h *harness) overwrite(p *keyPlan, late bool) {
	p.mu.Lock()
	if p.overwrote {
		p.mu.Unlock()
		return
	}
	v2 := h.upload(p.key, p.second, 2, p.first)
	if v2 != nil {
		// Announced before the overwrite counts as done: load waits for
		// the deliveries only once every overwrite is done.
		h.announce(v2)
	}
	p.overwrote = true
	p.mu.Unlock()
	if v2 == nil {
		return
	}
	if late {
		h.late.Add(1)
		return
	}
	h.midScan.Add(1)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && h.ctx.Err() == nil {
		if _, err := h.st.Get(h.ctx, v2.id); err == nil {
			h.recordedMid.Add(1)
			return
		} else if errcode.Of(err) != errcode.NotFound {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lateOverwrites waits until every planned overwrite happened mid-scan;
// a key whose first version settled without ever being streamed (its scan
// failed before opening it) is overwritten then, so that every planned
// version exists.
func (h *harness) lateOverwrites() {
	deadline := time.Now().Add(h.cfg.drain)
	for {
		var waiting []*keyPlan
		for _, p := range h.plans {
			p.mu.Lock()
			if p.overwrite && !p.overwrote && p.v1 != nil {
				waiting = append(waiting, p)
			}
			p.mu.Unlock()
		}
		if len(waiting) == 0 || h.ctx.Err() != nil {
			return
		}
		for _, p := range waiting {
			rec, err := h.st.Get(h.ctx, p.v1.id)
			switch {
			case time.Now().After(deadline):
				h.overwrite(p, true)
			case err == nil && settled(rec.State):
				h.overwrite(p, true)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settled reports whether no step moves a record on by itself any more.
func settled(s domain.Status) bool {
	switch s {
	case domain.StatusPending, domain.StatusScanning, domain.StatusInfected:
		return false
	}
	return true
}

// killLoop sends clamd SIGKILL at random moments, on average every
// killEvery, until stop is closed. Each kill waits for the supervisor's
// restart first: killing a clamd that is still loading proves nothing
// more.
func (h *harness) killLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		wait := time.Duration(float64(h.cfg.killEvery) * (0.4 + 1.2*h.float()))
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		inflight := h.scanner.inflight.Load()
		before := h.clamd.Restarts()
		start := time.Now()
		if err := h.clamd.Kill(); err != nil {
			h.t.Errorf("kill clamd: %v", err)
			return
		}
		h.kills.Add(1)
		if inflight > 0 {
			h.killsInFlight.Add(1)
		}
		if err := h.awaitClamd(before); err != nil {
			h.t.Error(err)
			return
		}
		if d := int64(time.Since(start)); d > h.maxDowntime.Load() {
			h.maxDowntime.Store(d)
		}
	}
}

// awaitClamd waits until the supervisor has restarted clamd and it answers
// PING.
func (h *harness) awaitClamd(restartsBefore int) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if h.clamd.Restarts() > restartsBefore {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := h.ping.Ping(ctx)
			cancel()
			if err == nil {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("clamd not back a minute after SIGKILL (restarts %d)", h.clamd.Restarts())
}
