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
