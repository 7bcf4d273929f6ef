package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config describes the clamd to run. The zero value gives the defaults
// noted on each field.
type Config struct {
	// Binary is the clamd executable. Empty means "clamd" from PATH, then
	// /usr/sbin/clamd (Debian installs it there, outside a user's PATH).
	Binary string

	// DatabaseDir holds the signature databases. clamd refuses to start if
	// it holds none. Empty means /var/lib/clamav, where Debian's freshclam
	// writes.
	DatabaseDir string

	// Dir holds the socket, the generated clamd.conf, the logs and clamd's
	// temporary files. Empty means a new temporary folder, removed by Stop.
	// The socket path must stay under 108 bytes, so keep it short.
	Dir string

	// StreamMaxLength is the longest INSTREAM clamd accepts; longer streams
	// get "INSTREAM size limit exceeded. ERROR". Zero means 100 MiB.
	StreamMaxLength int64
	// MaxFileSize: files, and files inside containers, larger than this are
	// not scanned in full. It must be at least MaxScanSize (see the package
	// doc for why) and under 2 GiB. Zero means MaxScanSize.
	MaxFileSize int64
	// MaxScanSize bounds the bytes scanned for one object, extracted content
	// included. Zero means 400 MiB, or MaxFileSize if that is set and
	// smaller.
	MaxScanSize int64
	// MaxRecursion bounds container nesting. Zero means 17, clamd's own
	// default: clamav-testfiles' clam_cache_emax.tgz needs 17 to be scanned
	// in full (with 16 it raises Heuristics.Limits.Exceeded.MaxRecursion).
	MaxRecursion int
	// MaxFiles bounds the files scanned inside one container. Zero means
	// 10000.
	MaxFiles int
	// MaxThreads bounds concurrent scans. Zero means 2*GOMAXPROCS, at most
	// 16.
	MaxThreads int

	// ExtraConfig holds more clamd.conf lines ("Directive value"). A
	// directive given here replaces the one Render would write, so any
	// default can be overridden, unchecked: an override can open the gaps
	// the defaults close. A misspelt directive makes clamd refuse to start,
	// which Start reports with clamd's log.
	ExtraConfig []string

	// StartTimeout bounds how long Start waits for clamd to answer PING,
	// loading its databases included. Zero means 60 s.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// Zero means 10 s.
	StopTimeout time.Duration

	// Logger receives the supervisor's events. Nil means slog.Default().
	Logger *slog.Logger
}

const (
	defaultDatabaseDir  = "/var/lib/clamav"
	defaultStreamMax    = 100 << 20
	defaultMaxScanSize  = 400 << 20
	defaultMaxRecursion = 17
	defaultMaxFiles     = 10000
	maxDefaultThreads   = 16
	defaultStartTimeout = 60 * time.Second
	defaultStopTimeout  = 10 * time.Second

	// libclamav cannot scan files of 2 GiB or more and only warns when
	// MaxFileSize is set higher; refuse such a config instead of letting
	// larger objects pass as partially scanned.
	maxClamavFileSize = 1<<31 - 1

	// sunPathMax is the size of sockaddr_un.sun_path on Linux, NUL included.
	sunPathMax = 108
)

// SocketPath is where clamd listens for a config whose Dir is dir.
func SocketPath(dir string) string { return filepath.Join(dir, "clamd.sock") }

func (c Config) withDefaults() Config {
	if c.DatabaseDir == "" {
		c.DatabaseDir = defaultDatabaseDir
	}
	if c.StreamMaxLength == 0 {
		c.StreamMaxLength = defaultStreamMax
	}
	if c.MaxScanSize == 0 {
		c.MaxScanSize = defaultMaxScanSize
		if c.MaxFileSize > 0 && c.MaxFileSize < c.MaxScanSize {
			c.MaxScanSize = c.MaxFileSize
		}
	}
	if c.MaxFileSize == 0 {
		c.MaxFileSize = c.MaxScanSize
	}
	if c.MaxRecursion == 0 {
		c.MaxRecursion = defaultMaxRecursion
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = defaultMaxFiles
	}
	if c.MaxThreads == 0 {
		c.MaxThreads = min(2*runtime.GOMAXPROCS(0), maxDefaultThreads)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = defaultStartTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = defaultStopTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate checks a config after withDefaults and names the bad field.
func (c Config) validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("daemon: config: %s %s", field, fmt.Sprintf(format, args...)))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"StreamMaxLength", c.StreamMaxLength},
		{"MaxFileSize", c.MaxFileSize},
		{"MaxScanSize", c.MaxScanSize},
		{"MaxRecursion", int64(c.MaxRecursion)},
		{"MaxFiles", int64(c.MaxFiles)},
		{"MaxThreads", int64(c.MaxThreads)},
		{"StartTimeout", int64(c.StartTimeout)},
		{"StopTimeout", int64(c.StopTimeout)},
	} {
		if f.v < 0 {
			bad(f.name, "is negative (%d)", f.v)
		}
	}
	if c.MaxFileSize > maxClamavFileSize {
		bad("MaxFileSize", "is %d; libclamav cannot scan files of 2 GiB or more", c.MaxFileSize)
	}
	if c.MaxFileSize < c.MaxScanSize {
		bad("MaxFileSize", "(%d) is less than MaxScanSize (%d): clamd would scan zip members larger than MaxFileSize only in part and still answer OK",
			c.MaxFileSize, c.MaxScanSize)
	}
	for _, line := range c.ExtraConfig {
		if strings.ContainsAny(line, "\n\r") || strings.TrimSpace(line) == "" {
			bad("ExtraConfig", "line %q is not one non-empty line", line)
		}
	}
	if c.Dir != "" {
		if sock := SocketPath(c.Dir); len(sock) >= sunPathMax {
			bad("Dir", "gives socket path %q of %d bytes; unix sockets allow %d", sock, len(sock), sunPathMax-1)
		}
	}
	return errors.Join(errs...)
}

// Render returns the clamd.conf for c, defaults applied. Dir must be set
// (Start sets it); relative paths would be taken relative to clamd's working
// directory.
//
// Every directive was checked against clamd 1.4's clamd.conf(5): clamd
// refuses to start on an unknown one.
func (c Config) Render() string {
	c = c.withDefaults()
	size := func(v int64) string { return strconv.FormatInt(v, 10) }
	num := func(v int) string { return strconv.Itoa(v) }
	lines := [][2]string{
		// Run as a child of the supervisor, as the supervisor's user.
		{"Foreground", "yes"},
		{"LocalSocket", SocketPath(c.Dir)},
		// Only the supervisor's user (and root) may scan.
		{"LocalSocketMode", "600"},
		// A SIGKILLed clamd leaves its socket behind; the next one reuses it.
		{"FixStaleSocket", "yes"},
		{"DatabaseDirectory", c.DatabaseDir},
		{"TemporaryDirectory", filepath.Join(c.Dir, "tmp")},

		{"LogFile", filepath.Join(c.Dir, "clamd.log")},
		{"LogTime", "yes"},
		{"LogSyslog", "no"},
		{"LogFileMaxSize", "8M"},
		{"LogRotate", "yes"},

		{"StreamMaxLength", size(c.StreamMaxLength)},
		{"MaxFileSize", size(c.MaxFileSize)},
		{"MaxScanSize", size(c.MaxScanSize)},
		{"MaxRecursion", num(c.MaxRecursion)},
		{"MaxFiles", num(c.MaxFiles)},
		{"MaxThreads", num(c.MaxThreads)},

		// Fail closed: without these, an object clamd could not scan in full
		// (too large, too deep, too many files, encrypted) is "stream: OK".
		{"AlertExceedsMax", "yes"},
		{"AlertEncrypted", "yes"},
		{"AlertEncryptedArchive", "yes"},
		{"AlertEncryptedDoc", "yes"},
		// The alerts above are heuristics; they need heuristic alerts on
		// (clamd's default, stated because everything depends on it). With
		// HeuristicScanPrecedence off, a real signature found in the same
		// object is reported instead of a limit alert.
		{"HeuristicAlerts", "yes"},
		{"HeuristicScanPrecedence", "no"},

		// Seconds clamd waits for the next chunk, and for the first command.
		{"ReadTimeout", "60"},
		{"CommandReadTimeout", "10"},
		// Databases change only through Reload (or a restart), never behind
		// the supervisor's back.
		{"SelfCheck", "0"},
		// Keep scanning on the old engine while a reload loads the new one.
		{"ConcurrentDatabaseReload", "yes"},
	}

	override := make(map[string]bool)
	for _, line := range c.ExtraConfig {
		if name, _, _ := strings.Cut(strings.TrimSpace(line), " "); name != "" {
			override[name] = true
		}
	}
	var b strings.Builder
	b.WriteString("# Generated by scangate's clamd/daemon. Do not edit: it is rewritten on start.\n")
	for _, l := range lines {
		if !override[l[0]] {
			fmt.Fprintf(&b, "%s %s\n", l[0], l[1])
		}
	}
	for _, line := range c.ExtraConfig {
		b.WriteString(strings.TrimSpace(line))
		b.WriteByte('\n')
	}
	return b.String()
}
