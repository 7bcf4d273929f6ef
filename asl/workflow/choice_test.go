package workflow_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/asl/workflow"
)

func TestChoiceOperators(t *testing.T) {
	t.Parallel()
	const input = `{"s": "abc", "s2": "abc", "s3": "abd", "n": 22, "n2": 22.0, "f": 1.5, "b": true, "nul": null,
		"obj": {"k": "v"}, "ts": "2016-08-18T17:33:00Z", "ts2": "2016-08-18T17:33:01Z", "tsl": "2016-08-18t17:33:00z",
		"file": "log-2021.txt", "star": "a*b", "em": "😀"}`
	const yes, no, runtimeErr = "Yes", "No", "error"
	for _, tc := range []struct{ rule, want string }{
		{`"Variable": "$.s", "StringEquals": "abc"`, yes},
		{`"Variable": "$.s", "StringEquals": "abd"`, no},
		{`"Variable": "$.n", "StringEquals": "22"`, no}, // no match across types
		{`"Variable": "$.s", "StringEqualsPath": "$.s2"`, yes},
		{`"Variable": "$.s", "StringEqualsPath": "$.s3"`, no},
		{`"Variable": "$.s", "StringEqualsPath": "$.missing"`, runtimeErr},
		{`"Variable": "$.s", "StringLessThan": "abd"`, yes},
		{`"Variable": "$.s", "StringGreaterThan": "abd"`, no},
		{`"Variable": "$.s", "StringLessThanEquals": "abc"`, yes},
		{`"Variable": "$.s", "StringGreaterThanEquals": "abc"`, yes},
		{`"Variable": "$.s", "StringLessThanPath": "$.s3"`, yes},
		{`"Variable": "$.em", "StringLessThan": "\uffff"`, yes}, // UTF-16 order, as Java's compareTo
		{`"Variable": "$.file", "StringMatches": "log-*.txt"`, yes},
		{`"Variable": "$.file", "StringMatches": "*.log"`, no},
		{`"Variable": "$.star", "StringMatches": "a\\*b"`, yes},
		{`"Variable": "$.file", "StringMatches": "a\\*b"`, no},
		{`"Variable": "$.n", "NumericEquals": 22`, yes},
		{`"Variable": "$.n2", "NumericEquals": 22`, yes},
		{`"Variable": "$.s", "NumericEquals": 22`, no},
		{`"Variable": "$.n", "NumericLessThan": 30`, yes},
		{`"Variable": "$.n", "NumericGreaterThan": 30`, no},
		{`"Variable": "$.n", "NumericLessThanEquals": 22`, yes},
		{`"Variable": "$.n", "NumericGreaterThanEquals": 23`, no},
		{`"Variable": "$.f", "NumericGreaterThan": 1.25`, yes},
		{`"Variable": "$.n", "NumericEqualsPath": "$.n2"`, yes},
		{`"Variable": "$.n", "NumericGreaterThanPath": "$.f"`, yes},
		{`"Variable": "$.b", "BooleanEquals": true`, yes},
		{`"Variable": "$.b", "BooleanEquals": false`, no},
		{`"Variable": "$.b", "BooleanEqualsPath": "$.b"`, yes},
		{`"Variable": "$.ts", "TimestampEquals": "2016-08-18T17:33:00Z"`, yes},
		{`"Variable": "$.ts", "TimestampLessThan": "2016-08-18T17:33:00.5Z"`, yes},
		{`"Variable": "$.ts", "TimestampLessThanPath": "$.ts2"`, yes},
		{`"Variable": "$.tsl", "TimestampEquals": "2016-08-18T17:33:00Z"`, no}, // lowercase t and z are not timestamps
		{`"Variable": "$.missing", "IsPresent": true`, no},
		{`"Variable": "$.missing", "IsPresent": false`, yes},
		{`"Variable": "$.nul", "IsPresent": true`, yes},
		{`"Variable": "$.nul", "IsNull": true`, yes},
		{`"Variable": "$.s", "IsNull": false`, yes},
		{`"Variable": "$.missing", "IsNull": true`, runtimeErr},
		{`"Variable": "$.s", "IsString": true`, yes},
		{`"Variable": "$.n", "IsNumeric": true`, yes},
		{`"Variable": "$.s", "IsNumeric": true`, no},
		{`"Variable": "$.b", "IsBoolean": true`, yes},
		{`"Variable": "$.ts", "IsTimestamp": true`, yes},
		{`"Variable": "$.s", "IsTimestamp": true`, no},
		{`"Variable": "$.missing", "StringEquals": "x"`, runtimeErr},
		{`"Variable": "$$.State.Name", "StringEquals": "C"`, yes},
		{`"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 20}, {"Variable": "$.n", "NumericLessThan": 30}]`, yes},
		{`"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 20}, {"Variable": "$.s", "StringEquals": "x"}]`, no},
		{`"Or": [{"Variable": "$.s", "StringEquals": "x"}, {"Variable": "$.b", "BooleanEquals": true}]`, yes},
		{`"Or": [{"Variable": "$.s", "StringEquals": "x"}, {"Variable": "$.b", "BooleanEquals": false}]`, no},
		{`"Or": [{"Variable": "$.b", "BooleanEquals": true}, {"Variable": "$.missing", "StringEquals": "x"}]`, yes}, // evaluation stops at the first match
		{`"Not": {"Variable": "$.s", "StringEquals": "x"}`, yes},
		{`"Not": {"Variable": "$.s", "StringEquals": "abc"}`, no},
		{`"Not": {"Variable": "$.missing", "StringEquals": "abc"}`, runtimeErr},
		{`"And": [{"Not": {"Variable": "$.nul", "IsNull": false}}, {"Or": [{"Variable": "$.obj.k", "StringEquals": "v"}]}]`, yes},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			t.Parallel()
			def := `{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{` + tc.rule + `, "Next": "Yes"}], "Default": "No"},
				"Yes": {"Type": "Succeed"}, "No": {"Type": "Succeed"}}}`
			m := load(t, def, nil, nil)
			e, err := m.Start(t.Context(), "choice", []byte(input))
			if err != nil {
				t.Fatal(err)
			}
			res := wait(t, e)
			if tc.want == runtimeErr {
				if res.Status != workflow.StatusFailed || res.Error != workflow.ErrorRuntime {
					t.Errorf("result %+v; want States.Runtime", res)
				}
				return
			}
			if states := e.States(); len(states) != 2 || states[1] != tc.want {
				t.Errorf("states %v (%+v); want C then %s", states, res, tc.want)
			}
		})
	}
}

// AWS docs, "Choice workflow state" > Choice State Example: with input
// {"type": "Private", "value": 22} the execution goes to ValueInTwenties.
func TestChoiceDocumentationExample(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "ChoiceStateX", "States": {
		"ChoiceStateX": {"Type": "Choice", "Choices": [
			{"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
			{"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
			{"And": [{"Variable": "$.value", "NumericGreaterThanEquals": 20}, {"Variable": "$.value", "NumericLessThan": 30}], "Next": "ValueInTwenties"}],
			"Default": "DefaultState"},
		"Public": {"Type": "Succeed"}, "ValueIsZero": {"Type": "Succeed"}, "ValueInTwenties": {"Type": "Succeed"},
		"DefaultState": {"Type": "Fail", "Cause": "No Matches!"}}}`
	m := load(t, def, nil, nil)
	for input, want := range map[string][]string{
		`{"type": "Private", "value": 22}`: {"ChoiceStateX", "ValueInTwenties"},
		`{"type": "Public", "value": 22}`:  {"ChoiceStateX", "Public"},
		`{"type": "Private", "value": 0}`:  {"ChoiceStateX", "ValueIsZero"},
		`{"type": "Private", "value": 31}`: {"ChoiceStateX", "DefaultState"},
	} {
		e, err := m.Start(t.Context(), "x"+strings.NewReplacer(" ", "", `"`, "", ":", "", ",", "", "{", "", "}", "").Replace(input), []byte(input))
		if err != nil {
			t.Fatal(err)
		}
		res := wait(t, e)
		if diff := cmp.Diff(e.States(), want); diff != "" {
			t.Errorf("%s: states (-got +want):\n%s", input, diff)
		}
		if want[1] == "DefaultState" && (res.Status != workflow.StatusFailed || res.Cause != "No Matches!") {
			t.Errorf("%s: result %+v; want the Fail state's cause", input, res)
		}
	}
}

func TestChoiceWithoutMatchOrDefault(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x", "Next": "Y"}]},
		"Y": {"Type": "Succeed"}}}`
	m := load(t, def, nil, nil)
	e, res := run(t, m, `{"a": "b"}`)
	if res.Status != workflow.StatusFailed || res.Error != workflow.ErrorNoChoiceMatched {
		t.Errorf("result %+v; want FAILED with States.NoChoiceMatched", res)
	}
	got := eventTypes(e.History())
	want := []string{"ExecutionStarted", "ChoiceStateEntered C", "ExecutionFailed"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("history (-got +want):\n%s", diff)
	}
}

func TestChoiceInputAndOutputPath(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "C", "States": {"C": {"Type": "Choice", "InputPath": "$.inner", "OutputPath": "$.x",
		"Choices": [{"Variable": "$.x.n", "NumericEquals": 1, "Next": "Y"}]},
		"Y": {"Type": "Succeed"}}}`
	m := load(t, def, nil, nil)
	_, res := run(t, m, `{"inner": {"x": {"n": 1}}, "outer": 2}`)
	if diff := jsonDiff(t, res.Output, `{"n": 1}`); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
}
