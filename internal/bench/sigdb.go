package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// DB is a signature database folder that clamd loads.
type DB struct {
	// Name labels the database on the page.
	Name string
	Dir  string
	// Signatures is the number of signature lines, Bytes the folder's size.
	Signatures int
	Bytes      int64
}

// CopyTestDB copies the project's test signatures (the .hdb and .ndb files
// of src, testdata/signatures) into dir. A fresh copy has a fresh
// modification time, which is what the engine dates custom signatures by.
func CopyTestDB(src, dir string) (*DB, error) {
	db := &DB{Name: "test signatures", Dir: dir}
	if err := copySignatures(src, db); err != nil {
		return nil, fmt.Errorf("bench: test database: %w", err)
	}
	return db, nil
}

// GenerateLargeDB writes a synthetic database into dir that loads like a
// real one: hashes random .hdb lines (md5:size:name, sizes from 1 KiB to 8
// MiB, so some match the corpora's sizes and clamd hashes those files, as
// it would with the official daily.cvd) and strings plain .ndb hex-string
// signatures of 20 to 40 random bytes for the matcher. None matches the
// corpora; the test signatures are copied in too, so EICAR is still found.
func GenerateLargeDB(src, dir string, hashes, strs int, seed uint64) (*DB, error) {
	db := &DB{Name: fmt.Sprintf("synthetic: %d hashes, %d strings, plus the test signatures", hashes, strs), Dir: dir}
	if err := copySignatures(src, db); err != nil {
		return nil, fmt.Errorf("bench: large database: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5167))
	err := writeLines(filepath.Join(dir, "bench-synthetic.hdb"), db, hashes, func(w *bufio.Writer, i int) {
		var md5 [16]byte
		binary.LittleEndian.PutUint64(md5[:8], rng.Uint64())
		binary.LittleEndian.PutUint64(md5[8:], rng.Uint64())
		fmt.Fprintf(w, "%x:%d:Bench.Synthetic.Hash.%d\n", md5, 1024+rng.Int64N(8<<20), i)
	})
	if err != nil {
		return nil, fmt.Errorf("bench: large database: %w", err)
	}
	err = writeLines(filepath.Join(dir, "bench-synthetic.ndb"), db, strs, func(w *bufio.Writer, i int) {
		b := make([]byte, 20+rng.IntN(21))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		fmt.Fprintf(w, "Bench.Synthetic.String.%d:0:*:%x\n", i, b)
	})
	if err != nil {
		return nil, fmt.Errorf("bench: large database: %w", err)
	}
	return db, nil
}

func writeLines(path string, db *DB, n int, line func(*bufio.Writer, int)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		line(w, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	db.Signatures += n
	db.Bytes += fi.Size()
	return nil
}

func copySignatures(src string, db *DB) error {
	if err := os.MkdirAll(db.Dir, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".hdb") || strings.HasSuffix(e.Name(), ".ndb")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(db.Dir, e.Name()), b, 0o600); err != nil {
			return err
		}
		db.Signatures += strings.Count(strings.TrimSpace(string(b)), "\n") + 1
		db.Bytes += int64(len(b))
	}
	if db.Signatures == 0 {
		return fmt.Errorf("no .hdb or .ndb signatures in %s", src)
	}
	return nil
}

// Composition is how many signatures of each kind a synthetic database
// holds, by the file type clamd loads them from.
type Composition struct {
	// HDB are MD5 file hashes (.hdb), HSBMD5 and HSBSHA256 the MD5 and
	// SHA-256 file hashes of .hsb files.
	HDB, HSBMD5, HSBSHA256 int
	// MDB are MD5 hashes of PE sections (.mdb), MSB SHA-256 ones (.msb).
	MDB, MSB int
	// NDB are extended body signatures (.ndb), LDB logical signatures
	// (.ldb) with several body subsignatures each.
	NDB, LDB int
	// FP are MD5 hashes of known clean files (.fp).
	FP int
}

// Total is the number of signatures the composition holds.
func (c Composition) Total() int {
	return c.HDB + c.HSBMD5 + c.HSBSHA256 + c.MDB + c.MSB + c.NDB + c.LDB + c.FP
}

// Scaled returns c with every count multiplied by f, rounded, and at least
// 1 where c has any: the smoke test runs the official composition at a
// thousandth of its size.
func (c Composition) Scaled(f float64) Composition {
	s := func(n int) int {
		if n == 0 {
			return 0
		}
		return max(1, int(float64(n)*f+0.5))
	}
	return Composition{
		HDB: s(c.HDB), HSBMD5: s(c.HSBMD5), HSBSHA256: s(c.HSBSHA256),
		MDB: s(c.MDB), MSB: s(c.MSB), NDB: s(c.NDB), LDB: s(c.LDB), FP: s(c.FP),
	}
}

// OfficialComposition approximates main.cvd version 62 (6,647,427
// signatures) plus daily.cvd version 27371 (2,065,716), the official
// database's text signature types only. The per-type counts are estimates:
// each unpacked file's size (from the CVDs' .info files) divided by the
// line length typical of its format, scaled so that each CVD's total
// matches its header. docs/clamd-memory.md gives the sources and the
// arithmetic. The SHA-256 share of .hsb is a choice (a tenth), not a
// measurement: the sources give the files' sizes, not their hash kinds.
var OfficialComposition = Composition{
	HDB:       86_000,
	HSBMD5:    3_750_000,
	HSBSHA256: 417_000,
	MDB:       3_918_000,
	MSB:       4,
	NDB:       221_000,
	LDB:       319_000,
	FP:        800,
}

// GenerateOfficialScaleDB writes a synthetic database with composition c
// into dir, plus the test signatures of src (so EICAR is still found).
// The lines have the formats and roughly the lengths of the official
// ones, names included (libclamav keeps every name in memory): hashes
// with file sizes from 1 KiB to 8 MiB, so that clamd hashes objects of
// those sizes as it would with the official database; PE section hashes
// with section sizes; .ndb body signatures with the targets, offsets and
// wildcards (??, {n-m}, *) real ones use; .ldb logical signatures of two
// to six subsignatures. Every byte pattern is random with no fixed part
// shorter than 8 bytes, so none matches the bench corpora or any object
// by chance. The same seed gives the same files.
//
// What it cannot reproduce: bytecode signatures (bytecode.cvd, compiled
// and signed), container (.cdb), certificate (.crb), icon (.idb) and
// phishing (.pdb, .wdb) signatures, and the file-type magic (.ftm: a
// database that has one replaces clamd's built-in table), about a
// thousand signatures in all; and real patterns share prefixes (URLs,
// PE stubs) that random ones do not, which shapes clamd's matcher tries.
func GenerateOfficialScaleDB(src, dir string, c Composition, seed uint64) (*DB, error) {
	db := &DB{Name: fmt.Sprintf("synthetic official-scale: %d signatures, plus the test signatures", c.Total()), Dir: dir}
	if err := copySignatures(src, db); err != nil {
		return nil, fmt.Errorf("bench: official-scale database: %w", err)
	}
	g := &sigGen{rng: rand.New(rand.NewPCG(seed, 0x0ff1c1a1))}
	files := []struct {
		name string
		n    int
		line func(w *bufio.Writer, i int)
	}{
		{"syn.hdb", c.HDB, func(w *bufio.Writer, i int) { g.hashLine(w, 16, "Hdb", i) }},
		{"syn.hsb", c.HSBMD5 + c.HSBSHA256, func(w *bufio.Writer, i int) {
			if i < c.HSBMD5 {
				g.hashLine(w, 16, "Hsb", i)
			} else {
				g.hashLine(w, 32, "Hsb", i)
			}
		}},
		{"syn.mdb", c.MDB, func(w *bufio.Writer, i int) { g.sectionLine(w, 16, "Mdb", i) }},
		{"syn.msb", c.MSB, func(w *bufio.Writer, i int) { g.sectionLine(w, 32, "Msb", i) }},
		{"syn.ndb", c.NDB, g.ndbLine},
		{"syn.ldb", c.LDB, g.ldbLine},
		{"syn.fp", c.FP, func(w *bufio.Writer, i int) { g.hashLine(w, 16, "Fp", i) }},
	}
	for _, f := range files {
		if f.n == 0 {
			continue
		}
		if err := writeLines(filepath.Join(dir, f.name), db, f.n, f.line); err != nil {
			return nil, fmt.Errorf("bench: official-scale database: %w", err)
		}
	}
	return db, nil
}

// sigGen writes synthetic signature lines from one random stream.
type sigGen struct {
	rng *rand.Rand
}

// hex writes n random bytes as hex.
func (g *sigGen) hex(w *bufio.Writer, n int) {
	const digits = "0123456789abcdef"
	for range n {
		b := byte(g.rng.Uint32())
		w.WriteByte(digits[b>>4])
		w.WriteByte(digits[b&15])
	}
}

// name writes a signature name as long as the official ones
// (Win.Trojan.Agent-6342163-0 and the like).
func (g *sigGen) name(w *bufio.Writer, kind string, i int) {
	fmt.Fprintf(w, "Syn.%s.Agent-%07d-0", kind, 1_000_000+i)
}

// hashLine writes a file hash line: hash:size:name:73, the last field the
// minimum functionality level many official lines carry.
func (g *sigGen) hashLine(w *bufio.Writer, hashLen int, kind string, i int) {
	g.hex(w, hashLen)
	fmt.Fprintf(w, ":%d:", 1024+g.rng.Int64N(8<<20))
	g.name(w, kind, i)
	w.WriteString(":73\n")
}

// sectionLine writes a PE section hash line: size:hash:name, with section
// sizes in 512-byte steps as PE files align them.
func (g *sigGen) sectionLine(w *bufio.Writer, hashLen int, kind string, i int) {
	fmt.Fprintf(w, "%d:", 512*(1+g.rng.Int64N(2048)))
	g.hex(w, hashLen)
	w.WriteByte(':')
	g.name(w, kind, i)
	w.WriteString(":73\n")
}

// pattern writes a body pattern of 1 to 3 random parts of 8 to 40 bytes,
// joined by the wildcards real signatures use. No part is shorter than 8
// bytes: a shorter one would match random data somewhere in 100 MiB.
func (g *sigGen) pattern(w *bufio.Writer) {
	parts := 1 + g.rng.IntN(3)
	for p := range parts {
		if p > 0 {
			switch g.rng.IntN(4) {
			case 0:
				w.WriteString("??")
			case 1:
				fmt.Fprintf(w, "{%d}", 1+g.rng.IntN(8))
			case 2:
				lo := g.rng.IntN(32)
				fmt.Fprintf(w, "{%d-%d}", lo, lo+1+g.rng.IntN(64))
			default:
				w.WriteByte('*')
			}
		}
		g.hex(w, 8+g.rng.IntN(33))
	}
}

// ndbLine writes an extended signature: name:target:offset:pattern. Most
// official ones scan anywhere (*) in any file (0), PE (1) or HTML (3)
// files; some are anchored to a PE's entry point or the file's end.
func (g *sigGen) ndbLine(w *bufio.Writer, i int) {
	g.name(w, "Ndb", i)
	switch r := g.rng.IntN(10); {
	case r < 5:
		fmt.Fprintf(w, ":%d:*:", []int{0, 1, 3, 7}[g.rng.IntN(4)])
	case r < 7:
		fmt.Fprintf(w, ":1:EP+%d:", g.rng.IntN(64))
	case r < 9:
		fmt.Fprintf(w, ":0:%d:", g.rng.IntN(4096))
	default:
		fmt.Fprintf(w, ":0:EOF-%d:", 256+g.rng.IntN(4096))
	}
	g.pattern(w)
	w.WriteString(":73\n")
}

// ldbLine writes a logical signature of 2 to 6 subsignatures, all of which
// must match (or, from 3 on, either of the first two and all the others).
func (g *sigGen) ldbLine(w *bufio.Writer, i int) {
	g.name(w, "Ldb", i)
	n := 2 + g.rng.IntN(5)
	fmt.Fprintf(w, ";Engine:51-255,Target:%d;", []int{0, 1, 1, 3, 7}[g.rng.IntN(5)])
	if n >= 3 && g.rng.IntN(2) == 0 {
		w.WriteString("(0|1)")
		for s := 2; s < n; s++ {
			fmt.Fprintf(w, "&%d", s)
		}
	} else {
		for s := range n {
			if s > 0 {
				w.WriteByte('&')
			}
			fmt.Fprintf(w, "%d", s)
		}
	}
	for range n {
		w.WriteByte(';')
		g.pattern(w)
	}
	w.WriteByte('\n')
}
