package metrics_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/metrics"
)

// validateEMF checks one line against the rules of the CloudWatch embedded
// metric format specification (Amazon CloudWatch User Guide,
// "Specification: Embedded metric format", and its JSON schema), as far as
// a single document can show them:
//
//   - the line is one JSON object, nothing before or after it;
//   - the root has _aws, an object with exactly Timestamp (an integer
//     number of milliseconds) and CloudWatchMetrics (an array of
//     MetricDirectives);
//   - a MetricDirective has exactly Namespace (1 to 255 characters, not
//     AWS/...), Dimensions (an array of at least one DimensionSet) and
//     Metrics (at most 100 MetricDefinitions);
//   - a DimensionSet has at most 30 keys, each 1 to 255 characters, each
//     naming a root member with a string value;
//   - a MetricDefinition has Name (1 to 255 characters, naming a root
//     member that is a number or an array of at most 100 numbers), an
//     optional Unit from CloudWatch's list and an optional
//     StorageResolution of 1 or 60, and nothing else.
func validateEMF(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return errors.New("_aws: missing or not an object")
	}
	if err := onlyMembers(aws, "_aws", "Timestamp", "CloudWatchMetrics"); err != nil {
		return err
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		return errors.New("_aws.Timestamp: missing or not a number")
	}
	if ms, err := strconv.ParseInt(ts.String(), 10, 64); err != nil || ms < 0 {
		return fmt.Errorf("_aws.Timestamp %s: not a non-negative integer of milliseconds", ts)
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		return errors.New("_aws.CloudWatchMetrics: missing, not an array or empty")
	}
	for i, d := range directives {
		where := fmt.Sprintf("CloudWatchMetrics[%d]", i)
		dir, ok := d.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: not an object", where)
		}
		if err := onlyMembers(dir, where, "Namespace", "Dimensions", "Metrics"); err != nil {
			return err
		}
		ns, ok := dir["Namespace"].(string)
		if !ok || !validName(ns) || strings.HasPrefix(ns, "AWS/") {
			return fmt.Errorf("%s.Namespace %v: want a string of 1 to 255 characters, not AWS/...", where, dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok || len(sets) == 0 {
			return fmt.Errorf("%s.Dimensions: want an array of at least one DimensionSet", where)
		}
		dims := map[string]bool{}
		for j, s := range sets {
			set, ok := s.([]any)
			if !ok {
				return fmt.Errorf("%s.Dimensions[%d]: not an array", where, j)
			}
			if len(set) > 30 {
				return fmt.Errorf("%s.Dimensions[%d]: %d dimensions, more than 30", where, j, len(set))
			}
			for _, k := range set {
				name, ok := k.(string)
				if !ok || !validName(name) {
					return fmt.Errorf("%s.Dimensions[%d]: key %v: want a string of 1 to 255 characters", where, j, k)
				}
				if _, ok := root[name].(string); !ok {
					return fmt.Errorf("%s.Dimensions[%d]: dimension %q is not a root member with a string value", where, j, name)
				}
				dims[name] = true
			}
		}
		ms, ok := dir["Metrics"].([]any)
		if !ok || len(ms) == 0 || len(ms) > 100 {
			return fmt.Errorf("%s.Metrics: want an array of 1 to 100 MetricDefinitions", where)
		}
		for j, m := range ms {
			def, ok := m.(map[string]any)
			if !ok {
				return fmt.Errorf("%s.Metrics[%d]: not an object", where, j)
			}
			if err := onlyMembers(def, fmt.Sprintf("%s.Metrics[%d]", where, j), "Name", "Unit", "StorageResolution"); err != nil {
				return err
			}
			name, ok := def["Name"].(string)
			if !ok || !validName(name) {
				return fmt.Errorf("%s.Metrics[%d].Name %v: want a string of 1 to 255 characters", where, j, def["Name"])
			}
			if dims[name] {
				return fmt.Errorf("%s.Metrics[%d]: %q is also a dimension", where, j, name)
			}
			if u, has := def["Unit"]; has {
				if s, ok := u.(string); !ok || !slices.Contains(emfUnits, s) {
					return fmt.Errorf("%s.Metrics[%d].Unit %v: not a CloudWatch unit", where, j, u)
				}
			}
			if r, has := def["StorageResolution"]; has {
				if n, ok := r.(json.Number); !ok || (n != "1" && n != "60") {
					return fmt.Errorf("%s.Metrics[%d].StorageResolution %v: want 1 or 60", where, j, r)
				}
			}
			switch v := root[name].(type) {
			case json.Number:
			case []any:
				if len(v) > 100 {
					return fmt.Errorf("metric %q: %d values, more than 100", name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(json.Number); !ok {
						return fmt.Errorf("metric %q: value %v is not a number", name, x)
					}
				}
			default:
				return fmt.Errorf("metric %q: root member missing or not a number (%T)", name, root[name])
			}
		}
	}
	return nil
}

// emfUnits are the units CloudWatch accepts (MetricDatum.Unit).
var emfUnits = []string{
	"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None",
}

func validName(s string) bool { return len(s) >= 1 && len(s) <= 255 }

func onlyMembers(obj map[string]any, where string, allowed ...string) error {
	for k := range obj {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s: member %q is not in the specification", where, k)
		}
	}
	for _, k := range allowed {
		if k == "Unit" || k == "StorageResolution" {
			continue
		}
		if _, ok := obj[k]; !ok {
			return fmt.Errorf("%s: required member %q missing", where, k)
		}
	}
	return nil
}

// TestValidateEMF checks the validator itself: the specification's own
// example passes, and each broken rule fails.
func TestValidateEMF(t *testing.T) {
	t.Parallel()
	const good = `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"lambda-function-metrics","Dimensions":[["functionVersion"]],"Metrics":[{"Name":"time","Unit":"Milliseconds"}]}]},"functionVersion":"$LATEST","time":100,"requestId":"989ffbf8-9ace-4817-a57c-e4dd734019ee"}`
	if err := validateEMF([]byte(good)); err != nil {
		t.Fatalf("the specification's example: %v", err)
	}
	dims31 := make([]string, 31)
	var members strings.Builder
	for i := range dims31 {
		dims31[i] = fmt.Sprintf(`"d%d"`, i)
		fmt.Fprintf(&members, `,"d%d":"x"`, i)
	}
	metrics101 := make([]string, 101)
	var values strings.Builder
	for i := range metrics101 {
		metrics101[i] = fmt.Sprintf(`{"Name":"m%d"}`, i)
		fmt.Fprintf(&values, `,"m%d":1`, i)
	}
	bad := map[string]string{
		"no _aws":                `{"time":1}`,
		"trailing data":          good + ` {}`,
		"leading data":           `START ` + good,
		"float timestamp":        strings.Replace(good, `1574109732004`, `1574109732004.5`, 1),
		"string timestamp":       strings.Replace(good, `1574109732004`, `"1574109732004"`, 1),
		"no timestamp":           strings.Replace(good, `"Timestamp":1574109732004,`, ``, 1),
		"extra _aws member":      strings.Replace(good, `"Timestamp"`, `"Extra":1,"Timestamp"`, 1),
		"no namespace":           strings.Replace(good, `"Namespace":"lambda-function-metrics",`, ``, 1),
		"empty namespace":        strings.Replace(good, `"lambda-function-metrics"`, `""`, 1),
		"no dimensions":          strings.Replace(good, `"Dimensions":[["functionVersion"]],`, ``, 1),
		"empty dimensions":       strings.Replace(good, `[["functionVersion"]]`, `[]`, 1),
		"missing dimension":      strings.Replace(good, `"functionVersion":"$LATEST",`, ``, 1),
		"numeric dimension":      strings.Replace(good, `"$LATEST"`, `7`, 1),
		"31 dimensions":          strings.Replace(good, `[["functionVersion"]]`, `[[`+strings.Join(dims31, ",")+`]]`, 1) + members.String(),
		"missing metric":         strings.Replace(good, `"time":100,`, ``, 1),
		"string metric":          strings.Replace(good, `"time":100`, `"time":"100"`, 1),
		"bad unit":               strings.Replace(good, `"Milliseconds"`, `"ms"`, 1),
		"extra metric member":    strings.Replace(good, `"Unit":"Milliseconds"`, `"Unit":"Milliseconds","Sum":1`, 1),
		"bad storage resolution": strings.Replace(good, `"Unit":"Milliseconds"`, `"Unit":"Milliseconds","StorageResolution":5`, 1),
	}
	bad["101 metrics"] = `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[` +
		strings.Join(metrics101, ",") + `]}]}` + values.String() + `}`
	for name, doc := range bad {
		if err := validateEMF([]byte(doc)); err == nil {
			t.Errorf("%s: validator accepted %s", name, doc)
		}
	}
}

func fixedClock() time.Time { return time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) }

// emfLines validates and decodes every line of out.
func emfLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if err := validateEMF(sc.Bytes()); err != nil {
			t.Fatalf("invalid EMF line %s: %v", sc.Bytes(), err)
		}
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		t.Fatalf("output does not end in a newline: %q", out)
	}
	return docs
}

func TestEMFScan(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e := metrics.NewEMF(&buf, metrics.EMFOptions{Now: fixedClock})
	e.Scan(metrics.ScanResult{
		Outcome: domain.OutcomeInfected, Bytes: 68, Duration: 12500 * time.Microsecond,
		Bucket: "uploads", Key: "in/eicar.com", VersionID: "v1",
	})
	e.Scan(metrics.ScanResult{Outcome: "bogus", Reason: "clamd-unavailable"})
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	got := emfLines(t, buf.Bytes())
	aws := map[string]any{
		"Timestamp": float64(fixedClock().UnixMilli()),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  "scangate",
			"Dimensions": []any{[]any{"Outcome"}},
			"Metrics": []any{
				map[string]any{"Name": "Scans", "Unit": "Count"},
				map[string]any{"Name": "ScanBytes", "Unit": "Bytes"},
				map[string]any{"Name": "ScanDuration", "Unit": "Milliseconds"},
			},
		}},
	}
	want := []map[string]any{
		{
			"_aws": aws, "Outcome": "infected", "Scans": 1.0, "ScanBytes": 68.0, "ScanDuration": 12.5,
			"bucket": "uploads", "key": "in/eicar.com", "versionId": "v1",
		},
		// An unknown outcome is an error; no object, no identity fields.
		{"_aws": aws, "Outcome": "error", "Scans": 1.0, "ScanBytes": 0.0, "ScanDuration": 0.0, "reason": "clamd-unavailable"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("EMF lines (-got +want):\n%s", diff)
	}
}

func TestEMFEngine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e := metrics.NewEMF(&buf, metrics.EMFOptions{Namespace: "scangate-test", Now: fixedClock})
	e.Engine(metrics.EngineStatus{Up: true, DBTime: fixedClock().Add(-90 * time.Minute)})
	e.Engine(metrics.EngineStatus{BreakerOpen: true}) // clamd down: age unknown
	got := emfLines(t, buf.Bytes())
	directive := func(ms ...string) map[string]any {
		var defs []any
		for _, m := range ms {
			name, unit, _ := strings.Cut(m, ":")
			defs = append(defs, map[string]any{"Name": name, "Unit": unit})
		}
		return map[string]any{
			"Timestamp": float64(fixedClock().UnixMilli()),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace": "scangate-test", "Dimensions": []any{[]any{}}, "Metrics": defs,
			}},
		}
	}
	want := []map[string]any{
		{"_aws": directive("ClamdUp:None", "BreakerOpen:None", "SignatureAge:Seconds"),
			"ClamdUp": 1.0, "BreakerOpen": 0.0, "SignatureAge": 5400.0},
		{"_aws": directive("ClamdUp:None", "BreakerOpen:None"), "ClamdUp": 0.0, "BreakerOpen": 1.0},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("EMF lines (-got +want):\n%s", diff)
	}
}

// TestEMFConcurrent: lines written at once never interleave, and each
// stays valid; a key with JSON's special characters stays one property.
func TestEMFConcurrent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e := metrics.NewEMF(&buf, metrics.EMFOptions{})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Scan(metrics.ScanResult{Outcome: domain.OutcomeClean, Bytes: int64(i),
				Key: fmt.Sprintf("k\"ey\n%d</script>", i), Duration: time.Duration(i) * time.Millisecond})
			e.Engine(metrics.EngineStatus{Up: true, DBTime: time.Now()})
		}()
	}
	wg.Wait()
	if got := len(emfLines(t, buf.Bytes())); got != 64 {
		t.Fatalf("%d lines; want 64", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

func TestEMFWriteError(t *testing.T) {
	t.Parallel()
	e := metrics.NewEMF(failingWriter{}, metrics.EMFOptions{})
	e.Scan(metrics.ScanResult{Outcome: domain.OutcomeClean})
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "stdout closed") {
		t.Fatalf("Err() = %v; want the write error", err)
	}
}
