package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
)

func writeCVD(t *testing.T, dir, name string, version int, built time.Time) {
	t.Helper()
	hdr := "ClamAV-VDB:" + built.UTC().Format("02 Jan 2006 15-04 -0700") + ":" + itoa(version) +
		":2000000:90:0123456789abcdef0123456789abcdef:sig:builder:" + itoa(int(built.Unix()))
	buf := make([]byte, 512+16)
	copy(buf, hdr)
	for i := len(hdr); i < 512; i++ {
		buf[i] = ' '
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Official databases are dated by daily, which freshclam keeps fresh;
// main and bytecode are months or years old in every real database, so
// dating by the oldest file would refuse every scan.
func TestReadDatabaseOfficial(t *testing.T) {
	daily := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	bytecode := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	main := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		files       map[string]time.Time
		version     string
		wantBuiltAt time.Time
	}{
		{"daily, main", map[string]time.Time{"daily.cld": daily, "main.cvd": main}, "daily:27830,main:62", daily},
		{"daily older than bytecode", map[string]time.Time{"daily.cvd": main, "bytecode.cvd": bytecode}, "bytecode:62,daily:27830", main},
		{"no daily: the newest", map[string]time.Time{"main.cvd": main, "bytecode.cvd": bytecode}, "bytecode:62,main:62", bytecode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, built := range tt.files {
				v := 62
				if strings.HasPrefix(name, "daily") {
					v = 27830
				}
				writeCVD(t, dir, name, v, built)
			}
			db, err := ReadDatabase(dir)
			if err != nil {
				t.Fatal(err)
			}
			if db.Version != tt.version || !db.Official || !db.BuiltAt.Equal(tt.wantBuiltAt) {
				t.Errorf("ReadDatabase = %+v; want %s, official, built %v", db, tt.version, tt.wantBuiltAt)
			}
		})
	}
}

func TestReadDatabaseCustomChangesWithContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mine.ndb")
	os.WriteFile(p, []byte("Sig:0:*:414243\n"), 0o644)
	a, err := ReadDatabase(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("Sig:0:*:414244\n"), 0o644)
	b, err := ReadDatabase(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Official || !strings.HasPrefix(a.Version, "custom:") || a.Version == b.Version {
		t.Errorf("custom versions %q then %q; want custom:<hash> that changes with the content", a.Version, b.Version)
	}
	if _, err := ReadDatabase(t.TempDir()); err == nil {
		t.Error("an empty directory must be an error")
	}
}

func TestParseCVDHeaderRejects(t *testing.T) {
	for _, h := range []string{"", "ClamAV-VDB", "NotClamAV:x:1", "ClamAV-VDB:bad:x", "ClamAV-VDB:bad time:12"} {
		if _, err := parseCVDHeader(h); err == nil {
			t.Errorf("parseCVDHeader(%q) accepted", h)
		}
	}
}

func TestParseVersionDB(t *testing.T) {
	v, tm, ok := parseVersionDB("ClamAV 1.4.6/27830/Mon Nov 24 08:00:00 2026")
	if !ok || v != "27830" || !tm.Equal(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("parseVersionDB = %q %v %v", v, tm, ok)
	}
	if _, _, ok := parseVersionDB("ClamAV 1.4.6"); ok {
		t.Error("a VERSION without a database must not parse")
	}
	if got := engineName("ClamAV 1.4.6/27830/Mon Nov 24 08:00:00 2026"); got != "ClamAV 1.4.6" {
		t.Errorf("engineName = %q", got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		res      clamd.Result
		complete bool
		want     domain.Outcome
		reason   string
		err      bool
	}{
		{clamd.Result{Status: clamd.StatusClean}, true, domain.OutcomeClean, "", false},
		{clamd.Result{Status: clamd.StatusClean}, false, "", "", true},
		{clamd.Result{}, true, "", "", true},
		{clamd.Result{Status: clamd.StatusFound}, true, domain.OutcomeInfected, "", false},
		{clamd.Result{Status: clamd.StatusFound}, false, domain.OutcomeInfected, "", false},
		{clamd.Result{Status: clamd.StatusLimit, Limit: "MaxRecursion"}, true, domain.OutcomeUnscannable, "limit-exceeded:MaxRecursion", false},
		{clamd.Result{Status: clamd.StatusLimit, Limit: "Encrypted"}, true, domain.OutcomeUnscannable, domain.ReasonEncrypted, false},
		{clamd.Result{Status: clamd.StatusSizeLimit}, false, domain.OutcomeUnscannable, domain.ReasonTooLarge, false},
		{clamd.Result{Status: clamd.StatusError, Raw: "x ERROR"}, true, "", "", true},
	}
	for _, tt := range tests {
		got, reason, err := Classify(tt.res, tt.complete)
		if got != tt.want || reason != tt.reason || (err != nil) != tt.err {
			t.Errorf("Classify(%+v, %v) = %q %q %v; want %q %q err=%v", tt.res, tt.complete, got, reason, err, tt.want, tt.reason, tt.err)
		}
		if got == domain.OutcomeClean && (tt.res.Status != clamd.StatusClean || !tt.complete) {
			t.Errorf("Classify(%+v, %v) is clean", tt.res, tt.complete)
		}
	}
}
