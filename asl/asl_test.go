package asl_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scangate/scangate/asl"
)

func TestPlaceholdersAreTheStepFunctions(t *testing.T) {
	got := asl.Placeholders(asl.Scan())
	want := []string{"BlockFunctionArn", "ClaimFunctionArn", "FailFunctionArn", "OffloadFunctionArn", "QuarantineFunctionArn", "RecordFunctionArn", "ScanFunctionArn", "ScanLargeFunctionArn"}
	if !slices.Equal(got, want) {
		t.Errorf("scan placeholders %v; want %v", got, want)
	}
	if got := asl.Placeholders(asl.Review()); !slices.Equal(got, []string{"AwaitReviewFunctionArn", "DecideFunctionArn"}) {
		t.Errorf("review placeholders %v", got)
	}
	if _, err := asl.Substitute(asl.Scan(), map[string]string{"ClaimFunctionArn": "x"}); err == nil {
		t.Error("Substitute with missing values must fail")
	}
	vals := map[string]string{}
	for _, p := range asl.Placeholders(asl.Scan()) {
		vals[p] = "arn:aws:lambda:us-east-1:123456789012:function:" + p
	}
	out, err := asl.Substitute(asl.Scan(), vals)
	if err != nil || strings.Contains(string(out), "${") || !json.Valid(out) {
		t.Errorf("Substitute: %v; leftover placeholders or invalid JSON", err)
	}
}

// Every path of the scan workflow ends in a recorded state: every Task
// catches States.ALL into RecordFailure (or is RecordFailure).
func TestEveryTaskCatchesIntoRecordFailure(t *testing.T) {
	var def struct {
		States map[string]struct {
			Type  string
			Catch []struct {
				ErrorEquals []string
				Next        string
			}
			Retry []struct {
				ErrorEquals    []string
				JitterStrategy string
			}
		}
	}
	if err := json.Unmarshal(asl.Scan(), &def); err != nil {
		t.Fatal(err)
	}
	for name, s := range def.States {
		if s.Type != "Task" {
			continue
		}
		for _, r := range s.Retry {
			if r.JitterStrategy != "FULL" {
				t.Errorf("%s: retry on %v has no full jitter", name, r.ErrorEquals)
			}
		}
		if name == "RecordFailure" {
			continue
		}
		ok := false
		for _, c := range s.Catch {
			if slices.Contains(c.ErrorEquals, "States.ALL") && c.Next == "RecordFailure" {
				ok = true
			}
		}
		if !ok {
			t.Errorf("task %s does not catch States.ALL into RecordFailure", name)
		}
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func TestExecutionName(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	long := strings.Repeat("ü", 300) + "/" + strings.Repeat("x", 900)
	for _, key := range []string{"a.txt", "dir/report final.pdf", "", "/", long, "日本語", "../../etc/passwd", "x\x00y"} {
		n := asl.ExecutionName("scan", key, id, 12)
		if !nameRE.MatchString(n) {
			t.Errorf("ExecutionName(%q) = %q: not a valid execution name", key, n)
		}
		if !strings.Contains(n, id) {
			t.Errorf("ExecutionName(%q) = %q lacks the record id", key, n)
		}
	}
	if asl.ExecutionName("scan", "k", id, 0) == asl.ExecutionName("scan", "k", id, 1) {
		t.Error("a rescan generation must give a new name")
	}
	// A re-delivered event must start the execution it started before, so
	// the name depends on its inputs alone: pin it for one of them.
	if got, want := asl.ExecutionName("scan", "dir/report final.pdf", id, 0), "scan-report_final_pdf-"+id+"-g0"; got != want {
		t.Errorf("ExecutionName = %q, want %q", got, want)
	}
}

// TestRecordKeyOf checks that the record key comes back out of every name
// ExecutionName makes, restarts included, whatever the object's key
// holds, and that names it did not make give none.
func TestRecordKeyOf(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, recordID, key string
		gen                 int
	}{
		{"plain", id, "a.txt", 0},
		{"dashes and digits in the key", id, "x-r5-g7-ab.txt", 3},
		{"key of a record key and generation", id, "scan-" + id + "-g1", 12},
		{"empty key", id, "", 0},
		{"non-hex record id", "bucket/key?v=1", "k", 2},
		{"long record id", strings.Repeat("a", 64), "k", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := asl.ExecutionRecordKey(tc.recordID)
			n := asl.ExecutionName("scan", tc.key, tc.recordID, tc.gen)
			for _, name := range []string{n, n + "-r1", n + "-r12"} {
				if got, ok := asl.RecordKeyOf(name); !ok || got != want {
					t.Errorf("RecordKeyOf(%q) = %q, %v; want %q", name, got, ok, want)
				}
			}
		})
	}
	for _, name := range []string{"", "scan", "scan-x-g1", "-abc-g1", "scan-x-abcz-g1", "scan-x-abc-g", "scan-x-abc-gx", "scan-x-abc-g1-r", "backfill-2026"} {
		if got, ok := asl.RecordKeyOf(name); ok {
			t.Errorf("RecordKeyOf(%q) = %q; want none", name, got)
		}
	}
}
