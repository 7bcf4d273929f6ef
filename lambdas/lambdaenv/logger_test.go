package lambdaenv

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestLogger(t *testing.T) {
	tests := []struct {
		value      string
		wantInfo   bool
		wantWarn   bool
		wantNotice bool // the warning about an unknown level
	}{
		{value: "", wantInfo: true, wantWarn: true},
		{value: "INFO", wantInfo: true, wantWarn: true},
		{value: "debug", wantInfo: true, wantWarn: true},
		{value: "WARN", wantWarn: true},
		{value: "ERROR"},
		{value: "LOUD", wantInfo: true, wantWarn: true, wantNotice: true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			var buf bytes.Buffer
			log := Logger(&buf, func(k string) string {
				if k == VarLogLevel {
					return tt.value
				}
				return ""
			})
			log.Info("an info line")
			log.Warn("a warn line")
			out := buf.String()
			if got := strings.Contains(out, "an info line"); got != tt.wantInfo {
				t.Errorf("info written = %v, want %v:\n%s", got, tt.wantInfo, out)
			}
			if got := strings.Contains(out, "a warn line"); got != tt.wantWarn {
				t.Errorf("warn written = %v, want %v:\n%s", got, tt.wantWarn, out)
			}
			if got := strings.Contains(out, "unknown log level"); got != tt.wantNotice {
				t.Errorf("unknown-level notice = %v, want %v:\n%s", got, tt.wantNotice, out)
			}
			// Lambda filters JSON lines by their "level" key.
			for line := range strings.Lines(out) {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil || m["level"] == nil {
					t.Errorf("line %q is not JSON with a level: %v", line, err)
				}
			}
		})
	}
}
