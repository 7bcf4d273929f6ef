package intake

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/domain"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/events")

// eventsDir holds sample documents (NAME.json) and what Decode makes of
// them (NAME.golden).
const eventsDir = "../../testdata/events"

// render is the golden form of Decode's result for data: WriteDecoded's
// lines, then "#" lines for what they do not show.
func render(data []byte) string {
	var buf bytes.Buffer
	b, err := Decode(data)
	if err != nil {
		fmt.Fprintf(&buf, "# error: %v\n", err)
		return buf.String()
	}
	if err := WriteDecoded(&buf, b); err != nil {
		fmt.Fprintf(&buf, "# write error: %v\n", err)
	}
	fmt.Fprintf(&buf, "# kind: %s\n", b.Kind)
	for _, r := range b.Refs {
		fmt.Fprintf(&buf, "# ref: message=%q event=%q time=%s requester=%q reason=%q\n",
			r.MessageID, r.EventName, r.EventTime.Format(time.RFC3339Nano), r.Requester, r.Reason)
	}
	for _, ig := range b.Ignored {
		fmt.Fprintf(&buf, "# ignored: message=%q reason=%q", ig.MessageID, ig.Reason)
		if ig.Object != (domain.ObjectRef{}) {
			obj, _ := json.Marshal(ig.Object)
			fmt.Fprintf(&buf, " object=%s", obj)
		}
		buf.WriteString("\n")
	}
	for _, f := range b.Failures {
		fmt.Fprintf(&buf, "# failed: message=%q error=%q\n", f.MessageID, f.Err)
	}
	return buf.String()
}

func TestGolden(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatalf("no samples in %s", eventsDir)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := render(data)
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./intake -run TestGolden -update to create it)", err)
			}
			if diff := cmp.Diff(got, string(want)); diff != "" {
				t.Errorf("%s differs (-got +want); run with -update if the change is intended:\n%s", golden, diff)
			}
		})
	}
}

// TestGoldenHasInputs catches golden files left behind by a removed sample.
func TestGoldenHasInputs(t *testing.T) {
	t.Parallel()
	goldens, err := filepath.Glob(filepath.Join(eventsDir, "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".json"); err != nil {
			t.Errorf("%s has no input: %v", g, err)
		}
	}
}
