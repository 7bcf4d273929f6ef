package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Memory is a clamd's resident memory, as Linux reports it.
type Memory struct {
	// RSS is the resident set now, Peak its high-water mark, in bytes.
	RSS, Peak int64
}

// Memory reads the current clamd's resident memory from /proc. It is how
// a deployment checks the memory its scan function was sized for
// (docs/clamd-memory.md) against the database it really loads.
func (d *Daemon) Memory() (Memory, error) {
	pid := d.Pid()
	if pid == 0 {
		return Memory{}, errors.New("daemon: clamd is not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("daemon: clamd %d: %w", pid, err)
	}
	m, err := parseStatus(b)
	if err != nil {
		return Memory{}, fmt.Errorf("daemon: clamd %d: %w", pid, err)
	}
	return m, nil
}

// parseStatus reads VmRSS and VmHWM from a /proc/PID/status text, whose
// lines are "Name:<tabs or spaces>value kB".
func parseStatus(b []byte) (Memory, error) {
	var m Memory
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return Memory{}, fmt.Errorf("status line %q: want a size in kB", sc.Bytes())
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return Memory{}, fmt.Errorf("status line %q: want a size in kB", sc.Bytes())
		}
		*dst = kb << 10
		found++
	}
	if found != 2 {
		return Memory{}, errors.New("status: no VmRSS and VmHWM")
	}
	return m, nil
}
