package daemon

import "testing"

func TestParseStatus(t *testing.T) {
	for _, tt := range []struct {
		name string
		text string
		want Memory
		err  bool
	}{
		{"linux", "Name:\tclamd\nVmPeak:\t 2500000 kB\nVmHWM:\t 2354176 kB\nVmRSS:\t 2353152 kB\nThreads:\t4\n",
			Memory{RSS: 2353152 << 10, Peak: 2354176 << 10}, false},
		{"spaces", "VmRSS: 10 kB\nVmHWM: 12 kB\n", Memory{RSS: 10 << 10, Peak: 12 << 10}, false},
		{"kernel thread: no Vm lines", "Name:\tkthreadd\nState:\tS (sleeping)\n", Memory{}, true},
		{"only one", "VmRSS:\t10 kB\n", Memory{}, true},
		{"no unit", "VmRSS:\t10\nVmHWM:\t10 kB\n", Memory{}, true},
		{"other unit", "VmRSS:\t10 MB\nVmHWM:\t10 kB\n", Memory{}, true},
		{"negative", "VmRSS:\t-10 kB\nVmHWM:\t10 kB\n", Memory{}, true},
		{"huge", "VmRSS:\t99999999999999999 kB\nVmHWM:\t10 kB\n", Memory{}, true},
		{"empty", "", Memory{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tt.text))
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("parseStatus = %+v, %v; want %+v, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("VmRSS:\t10 kB\nVmHWM:\t12 kB\n"))
	f.Add([]byte("VmHWM: 1 kB\nVmRSS: 99999 kB"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseStatus(b)
		if err == nil && (m.RSS < 0 || m.Peak < 0) {
			t.Errorf("parseStatus(%q) = %+v: negative", b, m)
		}
	})
}
