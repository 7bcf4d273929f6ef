package workflow_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/scangate/scangate/asl/workflow"
)

// task is a definition with one Task state whose fields are extra.
func task(extra string) string {
	return `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", ` + extra + ` "End": true}}}`
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, def, want string
	}{
		{"not JSON", `{"StartAt": `, "not JSON"},
		{"unknown state type", `{"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": true}}}`, `state type "Parallel" is not supported`},
		{"inline Map", `{"StartAt": "P", "States": {"P": {"Type": "Map", "End": true}}}`, `only the Distributed Map is supported`},
		{"missing StartAt target", `{"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}`, `StartAt "Nope" is not a state`},
		{"no StartAt", `{"States": {"A": {"Type": "Succeed"}}}`, "StartAt must be"},
		{"dangling Next", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}`, `transition to "B", which is not a state`},
		{"dangling Default", `{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "A"}], "Default": "Z"}}}`, `transition to "Z"`},
		{"dangling Catch", task(`"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}],`), `transition to "Z"`},
		{"Next and End", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A", "End": true}}}`, "exactly one of Next and End"},
		{"neither Next nor End", `{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}`, "exactly one of Next and End"},
		{"unsupported intrinsic", task(`"Parameters": {"h.$": "States.Hash($.x, 'SHA-256')"},`), `unsupported intrinsic function "States.Hash"`},
		{"intrinsic arity", task(`"Parameters": {"h.$": "States.UUID($.x)"},`), "States.UUID takes 0 arguments"},
		{"Format placeholders", task(`"Parameters": {"h.$": "States.Format('{} and {}', $.x)"},`), "1 arguments for 2 occurrences"},
		{"bad escape", task(`"Parameters": {"h.$": "States.Format('a\\n', $.x)"},`), "open escape"},
		{"not a path or intrinsic", task(`"Parameters": {"h.$": "x"},`), "neither a path nor an intrinsic"},
		{"bad JSONPath filter", task(`"InputPath": "$.a[?(@.b == 1)]",`), "not an array index"},
		{"bad JSONPath wildcard", task(`"OutputPath": "$.a.*",`), "not a field name"},
		{"bad JSONPath in Parameters", task(`"Parameters": {"a.$": "$..x"},`), "not a field name"},
		{"context in ResultPath", task(`"ResultPath": "$$.x",`), "context object"},
		{"unknown field", task(`"HeartbeatSeconds": 10,`), "unsupported field(s) HeartbeatSeconds"},
		{"JSONata", `{"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}`, "QueryLanguage"},
		{"States.ALL not last", task(`"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}],`), "States.ALL must appear alone"},
		{"States.ALL not alone", task(`"Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "T"}],`), "States.ALL must appear alone"},
		{"BackoffRate below 1", task(`"Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}],`), "BackoffRate"},
		{"negative MaxAttempts", task(`"Retry": [{"ErrorEquals": ["X"], "MaxAttempts": -1}],`), "MaxAttempts"},
		{"bad JitterStrategy", task(`"Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}],`), "JitterStrategy"},
		{"zero TimeoutSeconds", task(`"TimeoutSeconds": 0,`), "TimeoutSeconds"},
		{"unknown resource", `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "other", "End": true}}}`, "no handler for other"},
		{"service integration", `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Parameters": {}, "End": true}}}`, "only the lambda:invoke"},
		{"callback without token", `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "fn", "Payload.$": "$"}, "End": true}}}`, "task token"},
		{"dynamic FunctionName", `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName.$": "$.fn"}, "End": true}}}`, "unsupported field(s) FunctionName.$"},
		{"unknown choice operator", `{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringContains": "a", "Next": "A"}]}}}`, `unsupported choice operator "StringContains"`},
		{"two choice operators", `{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": "a", "IsPresent": true, "Next": "A"}]}}}`, "exactly one operator"},
		{"choice operand type", `{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": "1", "Next": "A"}]}}}`, "NumericEquals takes a number"},
		{"nested Next", `{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.x", "IsNull": true, "Next": "A"}, "Next": "A"}]}}}`, "nested choice rule cannot have Next"},
		{"choice End", `{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "A"}], "End": true}}}`, "unsupported field(s) End"},
		{"Fail with InputPath", `{"StartAt": "A", "States": {"A": {"Type": "Fail", "InputPath": "$"}}}`, "unsupported field(s) InputPath"},
		{"Wait without duration", `{"StartAt": "A", "States": {"A": {"Type": "Wait", "End": true}}}`, "exactly one of Seconds"},
		{"ResultSelector not an object", task(`"ResultSelector": "$.x",`), "ResultSelector must be an object"},
		{"duplicate template key", task(`"Parameters": {"a": 1, "a.$": "$"},`), "name the same key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := workflow.Load([]byte(tc.def), handlers{"fn": echo}.resolve, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadResolvesEveryTask(t *testing.T) {
	t.Parallel()
	var asked []string
	resolve := func(resource, state string) (workflow.Handler, error) {
		asked = append(asked, state+"="+resource)
		return echo, nil
	}
	def := `{"StartAt": "A", "States": {
		"A": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:a", "Next": "B"},
		"B": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "b", "Payload.$": "$"}, "End": true}}}`
	m, err := workflow.Load([]byte(def), resolve, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := "A=arn:aws:lambda:us-east-1:123456789012:function:a B=b"
	if got := strings.Join(asked, " "); got != want {
		t.Errorf("resolver asked for %q; want %q", got, want)
	}

	wantErr := errors.New("no such function")
	_, err = workflow.Load([]byte(def), func(string, string) (workflow.Handler, error) { return nil, wantErr }, nil)
	if !errors.Is(err, wantErr) {
		t.Errorf("Load with a failing resolver: %v; want it to wrap %v", err, wantErr)
	}
}

func TestLoadWarnsOfUnreachableStates(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	def := `{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Pass", "Next": "A"}}}`
	m, err := workflow.Load([]byte(def), nil, &workflow.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if !strings.Contains(logs.String(), "unreachable states") || !strings.Contains(logs.String(), "Orphan") {
		t.Errorf("logs %q; want a warning naming Orphan", logs.String())
	}
}
