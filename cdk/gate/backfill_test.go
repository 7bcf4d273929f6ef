package gate_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/scangate/scangate/cdk/gate"
)

// backfillStack has an existing bucket (with a prefix) beside the new one,
// and an inventory bucket, so that every grant of the backfill role shows.
func backfillStack(t *testing.T) synthed {
	t.Helper()
	if s, ok := cache["backfill"]; ok {
		return s
	}
	p := gate.Props{
		NewBucket:        &gate.NewBucket{},
		ExistingBuckets:  []gate.ExistingBucket{{Name: "uploads", Prefixes: []string{"incoming/"}}},
		InventoryBuckets: []string{"inventory-reports"},
	}
	s := synth(t, p)
	cache["backfill"] = s
	return s
}

// backfillMachine finds the backfill state machine's properties and
// logical id.
func backfillMachine(t *testing.T, s synthed) (string, map[string]any) {
	t.Helper()
	for id, r := range s.resources("AWS::StepFunctions::StateMachine") {
		if strings.HasSuffix(resolve(props(r)["StateMachineName"]), "-backfill") {
			return id, props(r)
		}
	}
	t.Fatal("no backfill state machine")
	return "", nil
}

// functionID is the logical id of lambdas/cmd/name's function.
func functionID(t *testing.T, s synthed, name string) string {
	t.Helper()
	for id, r := range s.resources("AWS::Lambda::Function") {
		if desc, _ := props(r)["Description"].(string); strings.Contains(desc, "(lambdas/cmd/"+name+")") {
			return id
		}
	}
	t.Fatalf("no function %s", name)
	return ""
}

// The deployed backfill definition is asl/backfill.asl.json, its one
// placeholder the ingest function, which takes the Map's batches
// (lambdas.IngestOrBackfill); Standard, logged and traced like the others.
func TestBackfillDefinitionIsTheASLFile(t *testing.T) {
	s := get(t, "new")
	_, m := backfillMachine(t, s)
	if m["StateMachineType"] != "STANDARD" {
		t.Errorf("type = %v, want STANDARD (a Distributed Map runs only in Standard)", m["StateMachineType"])
	}
	raw, err := os.ReadFile(filepath.Join(repo, "asl", "backfill.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	subs := m["DefinitionSubstitutions"].(map[string]any)
	ingest := "<" + functionID(t, s, "ingest") + ".Arn>"
	if len(subs) != 1 || resolve(subs["BackfillFunctionArn"]) != ingest {
		t.Errorf("substitutions = %v, want ${BackfillFunctionArn} = %s", subs, ingest)
	}
	def := strings.ReplaceAll(string(raw), "${BackfillFunctionArn}", "ARN:ingest")
	if strings.Contains(def, "${") {
		t.Error("placeholders left without a substitution in backfill.asl.json")
	}
	body := resolve(m["DefinitionString"])
	for ph := range subs {
		body = strings.ReplaceAll(body, "${"+ph+"}", "ARN:ingest")
	}
	var got, want any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("deployed definition: %v", err)
	}
	if err := json.Unmarshal([]byte(def), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("deployed backfill.asl.json differs from the file after substitution")
	}
	// Its logging and tracing follow the props as the others' do
	// (TestLoggingAndTracingProps).
	out, ok := s.js["Outputs"].(map[string]any)["BackfillStateMachine"].(map[string]any)
	if !ok {
		t.Fatal("no BackfillStateMachine output")
	}
	if v := resolve(out["Value"]); !strings.HasPrefix(v, "<GateBackfillWorkflow") {
		t.Errorf("BackfillStateMachine output = %s, want the machine's ARN", v)
	}
}

// roleStatements are the Allow statements of the policies attached to
// the role with logical id prefix rolePrefix.
func roleStatements(t *testing.T, s synthed, rolePrefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range s.resources("AWS::IAM::Policy") {
		p := props(r)
		attached := false
		for _, role := range asStrings(p["Roles"]) {
			attached = attached || strings.HasPrefix(role, "<"+rolePrefix)
		}
		if !attached {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if st := st.(map[string]any); st["Effect"] == "Allow" {
				out = append(out, st)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no policy on %s", rolePrefix)
	}
	return out
}

// The backfill role holds what a Distributed Map over a listing or an
// inventory needs, scoped: its own executions, List on the protected
// buckets, Get on the inventory bucket, and invoking the ingest function
// alone. Nothing but X-Ray and log delivery (which have no resource-level
// permissions) is allowed on *.
func TestBackfillPermissions(t *testing.T) {
	s := backfillStack(t)
	sm, _ := backfillMachine(t, s)
	ingest := functionID(t, s, "ingest")
	var uploadsID string
	for id := range s.resources("AWS::S3::Bucket") {
		if strings.HasPrefix(id, "GateUploads") {
			uploadsID = id
		}
	}
	grants := map[string][]string{} // action -> resources
	for _, st := range roleStatements(t, s, "GateBackfillWorkflowRole") {
		for _, a := range asStrings(st["Action"]) {
			grants[a] = append(grants[a], asStrings(st["Resource"])...)
		}
	}
	noResourceLevel := func(a string) bool {
		return strings.HasPrefix(a, "xray:") || strings.HasPrefix(a, "logs:")
	}
	for a, res := range grants {
		if slices.Contains(res, "*") && !noResourceLevel(a) {
			t.Errorf("%s allowed on *", a)
		}
	}
	want := map[string][]string{
		"states:StartExecution":    {"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:Test-backfill"},
		"states:DescribeExecution": {"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:Test-backfill/*"},
		"states:StopExecution":     {"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:Test-backfill/*"},
		"s3:ListBucket": {"<" + uploadsID + ".Arn>", "arn:<AWS::Partition>:s3:::inventory-reports",
			"arn:<AWS::Partition>:s3:::uploads"},
		"s3:GetObject":          {"arn:<AWS::Partition>:s3:::inventory-reports/*"},
		"lambda:InvokeFunction": {"<" + ingest + ".Arn>", "<" + ingest + ".Arn>:*"},
	}
	for a, w := range want {
		got := slices.Clone(grants[a])
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s on %v, want %v", a, got, w)
		}
	}
	for a := range grants {
		if _, ok := want[a]; !ok && !noResourceLevel(a) {
			t.Errorf("unexpected grant %s on %v", a, grants[a])
		}
	}
	// The machine runs as that role.
	if r := resolve(props(s.resources("AWS::StepFunctions::StateMachine")[sm])["RoleArn"]); !strings.HasPrefix(r, "<GateBackfillWorkflowRole") {
		t.Errorf("backfill machine role = %s", r)
	}
}

// Without an inventory bucket the role reads no objects at all.
func TestBackfillWithoutInventoryReadsNothing(t *testing.T) {
	s := get(t, "new")
	for _, st := range roleStatements(t, s, "GateBackfillWorkflowRole") {
		for _, a := range asStrings(st["Action"]) {
			if strings.HasPrefix(a, "s3:") && a != "s3:ListBucket" {
				t.Errorf("%s on %v without an inventory bucket", a, asStrings(st["Resource"]))
			}
		}
	}
}
