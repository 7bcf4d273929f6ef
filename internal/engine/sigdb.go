package engine

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Database describes a signature database directory as found on disk.
type Database struct {
	// Version names the database contents. Official databases contribute
	// "name:version" for each .cvd/.cld; custom signature files contribute
	// "custom:" and a hash of their bytes, because they carry no version.
	Version string
	// BuiltAt dates the database, and staleness is judged on it. For
	// official databases it is the build time of daily (.cvd or .cld),
	// the one freshclam updates several times a day, as clamd's VERSION
	// reply dates it too; main and bytecode change only every few months
	// or years, so the oldest file would make every official database
	// stale. Without a daily file it is the newest official build time;
	// with custom signatures only, the newest modification time of the
	// files.
	BuiltAt time.Time
	// Official is true when at least one .cvd or .cld file is present.
	Official bool
	// Files lists the signature files read.
	Files []string
}

// sigExts are the database file kinds clamd loads.
var sigExts = []string{
	".cvd", ".cld", ".cud", ".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".msb",
	".ndb", ".ndu", ".ldb", ".ldu", ".idb", ".cdb", ".cat", ".crb", ".fp",
	".sfp", ".ign", ".ign2", ".pdb", ".gdb", ".wdb", ".ftm", ".cfg", ".yar",
	".yara", ".pwdb", ".imp", ".cbc",
}

// IsSignatureFile reports whether clamd loads a file of that name as
// signatures. Other files in a database directory (freshclam.dat,
// mirrors.dat, temporary files) are not part of the database: they must
// not change its identity or travel with it.
func IsSignatureFile(name string) bool {
	return slices.Contains(sigExts, strings.ToLower(filepath.Ext(name)))
}

// ReadDatabase describes the database in dir. Reading the files, not asking
// clamd, is the only way to date custom signatures, and it lets a cold
// process refuse stale signatures before clamd has even started.
func ReadDatabase(dir string) (Database, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Database{}, fmt.Errorf("engine: read signature directory %s: %w", dir, err)
	}
	var (
		db       Database
		parts    []string
		custom   = sha256.New()
		newest   time.Time
		daily    time.Time
		official time.Time // the newest official build time
	)
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.IsDir() || !IsSignatureFile(name) {
			continue
		}
		path := filepath.Join(dir, name)
		db.Files = append(db.Files, name)
		switch ext {
		case ".cvd", ".cld", ".cud":
			h, err := readCVDHeader(path)
			if err != nil {
				return Database{}, err
			}
			db.Official = true
			base := strings.TrimSuffix(name, filepath.Ext(name))
			parts = append(parts, base+":"+strconv.Itoa(h.version))
			if h.built.After(official) {
				official = h.built
			}
			if base == "daily" && h.built.After(daily) {
				daily = h.built
			}
		default:
			f, err := os.Open(path)
			if err != nil {
				return Database{}, fmt.Errorf("engine: read %s: %w", path, err)
			}
			fi, err := f.Stat()
			if err == nil {
				fmt.Fprintf(custom, "%s\x00%d\x00", name, fi.Size())
				_, err = io.Copy(custom, f)
			}
			f.Close()
			if err != nil {
				return Database{}, fmt.Errorf("engine: read %s: %w", path, err)
			}
			if fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
		}
	}
	if len(db.Files) == 0 {
		return Database{}, fmt.Errorf("engine: no signature files in %s", dir)
	}
	if len(parts) < len(db.Files) {
		parts = append(parts, "custom:"+hex.EncodeToString(custom.Sum(nil))[:12])
	}
	db.Version = strings.Join(parts, ",")
	db.BuiltAt = daily
	if db.BuiltAt.IsZero() {
		db.BuiltAt = official
	}
	if !db.Official {
		db.BuiltAt = newest
	}
	db.BuiltAt = db.BuiltAt.UTC()
	return db, nil
}

type cvdHeader struct {
	version int
	built   time.Time
}

// readCVDHeader parses the 512-byte text header of a .cvd/.cld file:
// "ClamAV-VDB:<time>:<version>:<sigs>:<flevel>:<md5>:<dsig>:<builder>:<stime>".
func readCVDHeader(path string) (cvdHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return cvdHeader{}, fmt.Errorf("engine: read %s: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	if _, err := io.ReadFull(bufio.NewReader(f), buf); err != nil {
		return cvdHeader{}, fmt.Errorf("engine: read header of %s: %w", path, err)
	}
	return parseCVDHeader(string(buf))
}

func parseCVDHeader(s string) (cvdHeader, error) {
	s = strings.TrimRight(s, " \x00\n")
	f := strings.Split(s, ":")
	if len(f) < 3 || f[0] != "ClamAV-VDB" {
		return cvdHeader{}, fmt.Errorf("engine: not a ClamAV database header")
	}
	v, err := strconv.Atoi(f[2])
	if err != nil || v < 0 {
		return cvdHeader{}, fmt.Errorf("engine: bad database version %q", f[2])
	}
	h := cvdHeader{version: v}
	if len(f) >= 9 {
		if sec, err := strconv.ParseInt(strings.TrimSpace(f[8]), 10, 64); err == nil && sec > 0 {
			h.built = time.Unix(sec, 0).UTC()
			return h, nil
		}
	}
	t, err := time.Parse("02 Jan 2006 15-04 -0700", f[1])
	if err != nil {
		return cvdHeader{}, fmt.Errorf("engine: bad database build time %q", f[1])
	}
	h.built = t.UTC()
	return h, nil
}
