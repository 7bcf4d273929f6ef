package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

// CorpusSpec describes a corpus to generate.
type CorpusSpec struct {
	// Name labels the corpus on the page, such as "10 KiB".
	Name string
	// Size is every file's size in bytes.
	Size int64
	// Count is the number of files.
	Count int
	// InfectedEvery makes file i carry EICAR when i%InfectedEvery == 0; 0
	// means no file does. File 0 is then always infected, so that any
	// prefix of the corpus (a capped mode) holds an infected file too.
	InfectedEvery int
	// Rounds, when positive, caps the run's rounds for this corpus: a
	// round of the largest objects takes minutes on 2 cores.
	Rounds int
}

// File is one object of a corpus, with the verdict it must get.
type File struct {
	Key      string // object key in the buckets
	Path     string // the bytes, on local disk
	Size     int64
	SHA256   string // hex
	Infected bool   // carries EICAR, so must be found as clamdtest.EICARSignature
}

// Corpus is a generated set of files.
type Corpus struct {
	Spec  CorpusSpec
	Files []File
}

// Bytes is the corpus's total size.
func (c *Corpus) Bytes() int64 { return c.Spec.Size * int64(len(c.Files)) }

// Infected is the number of EICAR-bearing files.
func (c *Corpus) Infected() int {
	n := 0
	for _, f := range c.Files {
		if f.Infected {
			n++
		}
	}
	return n
}

// GenerateCorpus writes spec's files under dir. The bytes are a ChaCha8
// stream seeded from seed and the file's index: incompressible and never
// repeated, so neither clamd's cache nor scangate's verdict cache can
// answer for a file, and the same seed gives the same corpus. An infected
// file carries EICAR within its last KiB, so that only a scan of the whole
// stream finds it.
func GenerateCorpus(ctx context.Context, dir string, spec CorpusSpec, seed uint64) (*Corpus, error) {
	if spec.Size < int64(len(clamdtest.EICAR)) || spec.Count <= 0 {
		return nil, fmt.Errorf("bench: corpus %q: size %d and count %d are too small", spec.Name, spec.Size, spec.Count)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bench: corpus %q: %w", spec.Name, err)
	}
	c := &Corpus{Spec: spec}
	for i := range spec.Count {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f := File{
			Key:      fmt.Sprintf("bench/%d/%06d.bin", spec.Size, i),
			Path:     filepath.Join(dir, fmt.Sprintf("%06d.bin", i)),
			Size:     spec.Size,
			Infected: spec.InfectedEvery > 0 && i%spec.InfectedEvery == 0,
		}
		p := NewPayload(seed, uint64(i), spec.Size, f.Infected)
		sum, err := writeFile(f.Path, p)
		if err != nil {
			return nil, fmt.Errorf("bench: corpus %q: %w", spec.Name, err)
		}
		f.SHA256 = sum
		c.Files = append(c.Files, f)
	}
	return c, nil
}

func writeFile(path string, r io.Reader) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.Copy(w, r); err != nil {
		f.Close()
		return "", err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Payload yields an object's bytes as a stream, so that objects of any size
// are generated without being held in memory.
type Payload struct {
	rng     *rand.ChaCha8
	size    int64
	off     int64
	eicarAt int64 // -1: none
}

// NewPayload returns the size bytes of object index under seed, with
// EICAR in the last KiB when infected.
func NewPayload(seed, index uint64, size int64, infected bool) *Payload {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], index)
	p := &Payload{rng: rand.NewChaCha8(key), size: size, eicarAt: -1}
	if infected {
		room := size - int64(len(clamdtest.EICAR))
		back := rand.New(rand.NewPCG(seed, index)).Int64N(min(1024, room+1))
		p.eicarAt = room - back
	}
	return p
}

func (p *Payload) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.size-p.off))
	b = b[:n]
	_, _ = p.rng.Read(b) // never fails
	if p.eicarAt >= 0 {
		lo, hi := max(p.eicarAt, p.off), min(p.eicarAt+int64(len(clamdtest.EICAR)), p.off+int64(n))
		for i := lo; i < hi; i++ {
			b[i-p.off] = clamdtest.EICAR[i-p.eicarAt]
		}
	}
	p.off += int64(n)
	return n, nil
}
