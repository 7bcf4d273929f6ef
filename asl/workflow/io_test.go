package workflow_test

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/asl/workflow"
)

// TestInputOutputProcessing runs one Task state with the given fields on
// input; the task returns result. It checks what the task got and the
// state's output. Expectations marked "AWS docs" are the examples of the
// AWS Step Functions Developer Guide section named in the comment.
func TestInputOutputProcessing(t *testing.T) {
	t.Parallel()
	const helloResult = `"Hello, AWS Step Functions!"`
	const tutorialInput = `{"comment": "This is a test of the input and output of a Task state.", "details": "Default example", "who": "AWS Step Functions"}`
	for _, tc := range []struct {
		name, fields, input, result string
		wantTaskInput, wantOutput   string
	}{
		{
			// AWS docs, "InputPath and Parameters" > InputPath.
			name:          "InputPath",
			fields:        `"InputPath": "$.dataset2",`,
			input:         `{"comment": "Example for InputPath.", "dataset1": {"val1": 1, "val2": 2, "val3": 3}, "dataset2": {"val1": "a", "val2": "b", "val3": "c"}}`,
			result:        `{}`,
			wantTaskInput: `{"val1": "a", "val2": "b", "val3": "c"}`,
			wantOutput:    `{}`,
		},
		{
			// AWS docs, "InputPath and Parameters" > Parameters.
			name:          "Parameters",
			fields:        `"Parameters": {"comment": "Selecting what I care about.", "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability", "StaticValue": "foo"}},`,
			input:         `{"comment": "Example for Parameters.", "product": {"details": {"color": "blue", "size": "small", "material": "cotton"}, "availability": "in stock", "sku": "2317", "cost": "$23"}}`,
			result:        `1`,
			wantTaskInput: `{"comment": "Selecting what I care about.", "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}}`,
			wantOutput:    `1`,
		},
		{
			// AWS docs, "ResultPath" > Use ResultPath to Replace the Input with the Result.
			name:          "ResultPath default",
			input:         tutorialInput,
			result:        helloResult,
			wantTaskInput: tutorialInput,
			wantOutput:    helloResult,
		},
		{
			// AWS docs, "ResultPath" > Use ResultPath to Include the Result with the Input.
			name:          "ResultPath appends",
			fields:        `"ResultPath": "$.taskresult",`,
			input:         tutorialInput,
			result:        helloResult,
			wantTaskInput: tutorialInput,
			wantOutput:    `{"comment": "This is a test of the input and output of a Task state.", "details": "Default example", "who": "AWS Step Functions", "taskresult": "Hello, AWS Step Functions!"}`,
		},
		{
			// AWS docs, "ResultPath" > Include the Result with the Input, in a child node.
			name:          "ResultPath child node",
			fields:        `"ResultPath": "$.strings.lambdaresult",`,
			input:         `{"comment": "An input comment.", "strings": {"string1": "foo", "string2": "bar", "string3": "baz"}, "who": "AWS Step Functions"}`,
			result:        helloResult,
			wantTaskInput: `{"comment": "An input comment.", "strings": {"string1": "foo", "string2": "bar", "string3": "baz"}, "who": "AWS Step Functions"}`,
			wantOutput:    `{"comment": "An input comment.", "strings": {"string1": "foo", "string2": "bar", "string3": "baz", "lambdaresult": "Hello, AWS Step Functions!"}, "who": "AWS Step Functions"}`,
		},
		{
			// AWS docs, "ResultPath" > Use ResultPath to Update a Node in the Input with the Result.
			name:          "ResultPath overwrites",
			fields:        `"ResultPath": "$.comment",`,
			input:         tutorialInput,
			result:        helloResult,
			wantTaskInput: tutorialInput,
			wantOutput:    `{"comment": "Hello, AWS Step Functions!", "details": "Default example", "who": "AWS Step Functions"}`,
		},
		{
			// AWS docs, "InputPath, ResultPath and OutputPath Example".
			name:          "InputPath ResultPath OutputPath",
			fields:        `"InputPath": "$.lambda", "ResultPath": "$.data.lambdaresult", "OutputPath": "$.data",`,
			input:         `{"comment": "An input comment.", "data": {"val1": 23, "val2": 17}, "extra": "foo", "lambda": {"who": "AWS Step Functions"}}`,
			result:        helloResult,
			wantTaskInput: `{"who": "AWS Step Functions"}`,
			wantOutput:    `{"val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!"}`,
		},
		{
			// AWS docs, "Filtering state output using OutputPath" >
			// ResultSelector (the Amazon EMR createCluster.sync example).
			name:          "ResultSelector",
			fields:        `"ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"}, "ResultPath": "$.EMROutput",`,
			input:         `{"OtherDataFromInput": {}}`,
			result:        `{"resourceType": "elasticmapreduce", "resource": "createCluster.sync", "output": {"SdkHttpMetadata": {"HttpHeaders": {"Content-Length": "1112", "Content-Type": "application/x-amz-JSON-1.1", "Date": "Mon, 25 Nov 2019 19:41:29 GMT", "x-amzn-RequestId": "1234-5678-9012"}, "HttpStatusCode": 200}, "SdkResponseMetadata": {"RequestId": "1234-5678-9012"}, "ClusterId": "AKIAIOSFODNN7EXAMPLE"}}`,
			wantTaskInput: `{"OtherDataFromInput": {}}`,
			wantOutput:    `{"OtherDataFromInput": {}, "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"}}`,
		},
		{
			name:          "ResultPath null discards the result",
			fields:        `"ResultPath": null,`,
			input:         `{"keep": true}`,
			result:        `{"dropped": true}`,
			wantTaskInput: `{"keep": true}`,
			wantOutput:    `{"keep": true}`,
		},
		{
			name:          "InputPath and OutputPath null",
			fields:        `"InputPath": null, "OutputPath": null,`,
			input:         `{"a": 1}`,
			result:        `{"b": 2}`,
			wantTaskInput: `{}`,
			wantOutput:    `{}`,
		},
		{
			name:          "ResultPath creates objects",
			fields:        `"ResultPath": "$.a.b.c",`,
			input:         `{"x": 1}`,
			result:        `[1, 2]`,
			wantTaskInput: `{"x": 1}`,
			wantOutput:    `{"x": 1, "a": {"b": {"c": [1, 2]}}}`,
		},
		{
			name:          "Parameters arrays and nesting",
			fields:        `"Parameters": {"list": [1, {"v.$": "$.v"}, "lit"], "deep": {"deeper": {"w.$": "$.w[1]"}}, "n": null},`,
			input:         `{"v": "V", "w": [0, "W"]}`,
			result:        `{}`,
			wantTaskInput: `{"list": [1, {"v": "V"}, "lit"], "deep": {"deeper": {"w": "W"}}, "n": null}`,
			wantOutput:    `{}`,
		},
		{
			name:          "Parameters from the context object",
			fields:        `"Parameters": {"exec.$": "$$.Execution.Name", "state.$": "$$.State.Name", "sm.$": "$$.StateMachine.Name", "retry.$": "$$.State.RetryCount", "input.$": "$$.Execution.Input.a"},`,
			input:         `{"a": "A"}`,
			result:        `{}`,
			wantTaskInput: `{"exec": "TestInputOutputProcessing_Parameters_from_the_context_object", "state": "T", "sm": "Test", "retry": 0, "input": "A"}`,
			wantOutput:    `{}`,
		},
		{
			// AWS docs, "Intrinsic functions": the examples of each function.
			name: "intrinsic functions",
			fields: `"Parameters": {
				"f1.$": "States.Format('Hello, my name is {}.', $.name)",
				"f2.$": "States.Format($.template, $.name)",
				"f3.$": "States.Format('\\{\\} {} {} {} {}', 1.5, true, null, 'it\\'s')",
				"s2j.$": "States.StringToJson($.escapedJsonString)",
				"j2s.$": "States.JsonToString($.unescapedJson)",
				"BuildId.$": "States.Array($.Id)",
				"nested.$": "States.Array(States.Format('{}', $.Id), States.StringToJson('[1]'), $$.State.Name)",
				"empty.$": "States.Array()"},`,
			input:         `{"name": "Arnav", "template": "Hello, my name is {}.", "escapedJsonString": "{\"foo\": \"bar\"}", "unescapedJson": {"foo": "bar"}, "Id": 123456}`,
			result:        `{}`,
			wantTaskInput: `{"f1": "Hello, my name is Arnav.", "f2": "Hello, my name is Arnav.", "f3": "{} 1.5 true null it's", "s2j": {"foo": "bar"}, "j2s": "{\"foo\":\"bar\"}", "BuildId": [123456], "nested": ["123456", [1], "T"], "empty": []}`,
			wantOutput:    `{}`,
		},
		{
			name:          "numbers pass through exactly",
			fields:        `"ResultPath": "$.r",`,
			input:         `{"big": 12345678901234567890, "f": 1.50}`,
			result:        `1e400`,
			wantTaskInput: `{"big": 12345678901234567890, "f": 1.50}`,
			wantOutput:    `{"big": 12345678901234567890, "f": 1.50, "r": 1e400}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{outputs: []func(json.RawMessage) (json.RawMessage, error){
				func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(tc.result), nil },
			}}
			def := `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", ` + tc.fields + ` "End": true}}}`
			m := load(t, def, handlers{"fn": rec.handle}, &workflow.Options{Name: "Test"})
			_, res := run(t, m, tc.input)
			if res.Status != workflow.StatusSucceeded {
				t.Fatalf("execution %+v", res)
			}
			calls := rec.calls()
			if len(calls) != 1 {
				t.Fatalf("task called %d times", len(calls))
			}
			if diff := jsonDiff(t, []byte(calls[0]), tc.wantTaskInput); diff != "" {
				t.Errorf("task input (-got +want):\n%s", diff)
			}
			if diff := jsonDiff(t, res.Output, tc.wantOutput); diff != "" {
				t.Errorf("output (-got +want):\n%s", diff)
			}
		})
	}
}

// Exact numbers: big integers and trailing zeros survive the interpreter.
func TestNumbersAreKeptVerbatim(t *testing.T) {
	t.Parallel()
	m := load(t, `{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}`, nil, nil)
	_, res := run(t, m, `{"big":12345678901234567890,"f":1.50,"html":"<&>"}`)
	if got, want := string(res.Output), `{"big":12345678901234567890,"f":1.50,"html":"<&>"}`; got != want {
		t.Errorf("output %s; want %s", got, want)
	}
}

func TestPassState(t *testing.T) {
	t.Parallel()
	// AWS docs, "Pass workflow state": Result placed at ResultPath.
	def := `{"StartAt": "No-op", "States": {"No-op": {"Type": "Pass", "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355}, "ResultPath": "$.coords", "Next": "P2"},
		"P2": {"Type": "Pass", "Parameters": {"x.$": "$.coords.x-datum", "name.$": "$$.State.Name"}, "ResultPath": "$.params", "OutputPath": "$.params", "End": true}}}`
	m := load(t, def, nil, nil)
	_, res := run(t, m, `{"georefOf": "Home"}`)
	if diff := jsonDiff(t, res.Output, `{"x": 0.381018, "name": "P2"}`); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
}

func TestTaskTokenInContext(t *testing.T) {
	t.Parallel()
	var got json.RawMessage
	h := handlers{"fn": func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		got = in
		return nil, nil
	}}
	def := `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters": {"FunctionName": "fn", "Payload": {"token.$": "$$.Task.Token", "id.$": "$$.Execution.Id"}}, "End": true}}}`
	m := load(t, def, h, &workflow.Options{Name: "Review"})
	e, err := m.Start(t.Context(), "exec-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task to be submitted", func() bool {
		h := e.History()
		return h[len(h)-1].Type == "TaskSubmitted"
	})
	var payload struct{ Token, ID string }
	if err := json.Unmarshal(got, &payload); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(payload.Token) {
		t.Errorf("token %q is not 32 random bytes in base64url", payload.Token)
	}
	if want := "arn:aws:states:local:000000000000:execution:Review:exec-1"; payload.ID != want || e.ARN() != want {
		t.Errorf("execution id %q, ARN %q; want %q", payload.ID, e.ARN(), want)
	}
	if err := m.SendTaskSuccess(t.Context(), payload.Token, json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	if res := wait(t, e); string(res.Output) != `{"ok":true}` {
		t.Errorf("result %+v", res)
	}
}

func TestLambdaInvokeWrapsTheResult(t *testing.T) {
	t.Parallel()
	rec := &recorder{outputs: []func(json.RawMessage) (json.RawMessage, error){
		func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`{"verdict":"clean"}`), nil },
	}}
	def := `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
		"Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:scan", "Payload.$": "$.object"}, "ResultPath": "$.invoke", "Next": "S"},
		"S": {"Type": "Pass", "Parameters": {"payload.$": "$.invoke.Payload", "status.$": "$.invoke.StatusCode", "version.$": "$.invoke.ExecutedVersion"}, "End": true}}}`
	m := load(t, def, handlers{"arn:aws:lambda:us-east-1:123456789012:function:scan": rec.handle}, nil)
	_, res := run(t, m, `{"object": {"key": "a.txt"}}`)
	if diff := jsonDiff(t, res.Output, `{"payload": {"verdict": "clean"}, "status": 200, "version": "$LATEST"}`); diff != "" {
		t.Errorf("output (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(rec.calls(), []string{`{"key":"a.txt"}`}); diff != "" {
		t.Errorf("the function got (-got +want):\n%s", diff)
	}
}

func TestUUID(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a.$": "States.UUID()", "b.$": "States.UUID()"}, "End": true}}}`
	m := load(t, def, nil, nil)
	_, res := run(t, m, `{}`)
	var out struct{ A, B string }
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatal(err)
	}
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !v4.MatchString(out.A) || !v4.MatchString(out.B) || out.A == out.B {
		t.Errorf("UUIDs %q and %q: want two distinct version 4 UUIDs", out.A, out.B)
	}
}

// A path that selects nothing is States.Runtime: the execution fails, and
// neither Retry nor Catch on States.ALL applies.
func TestMissingPathIsRuntimeError(t *testing.T) {
	t.Parallel()
	const retryCatch = `"Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],`
	for _, tc := range []struct{ name, fields string }{
		{"InputPath", `"InputPath": "$.missing",`},
		{"Parameters", `"Parameters": {"x.$": "$.missing"},`},
		{"Parameters context", `"Parameters": {"x.$": "$$.Task.Token"},`},
		{"ResultSelector", `"ResultSelector": {"x.$": "$.missing"},`},
		{"OutputPath", `"OutputPath": "$.missing",`},
		{"intrinsic argument type", `"Parameters": {"x.$": "States.StringToJson($.n)"},`},
		{"intrinsic on bad JSON", `"Parameters": {"x.$": "States.StringToJson($.s)"},`},
		{"Format of an object", `"Parameters": {"x.$": "States.Format('{}', $.o)"},`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			def := `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", ` + tc.fields + retryCatch + ` "End": true},
				"Caught": {"Type": "Succeed"}}}`
			m := load(t, def, handlers{"fn": rec.handle}, nil)
			e, res := run(t, m, `{"n": 1, "s": "{", "o": {}}`)
			if res.Status != workflow.StatusFailed || res.Error != workflow.ErrorRuntime {
				t.Errorf("result %+v; want FAILED with States.Runtime", res)
			}
			if got := e.States(); len(got) != 1 {
				t.Errorf("states %v; want only T", got)
			}
		})
	}
}

// A ResultPath that cannot be applied is States.ResultPathMatchFailure,
// which a Catch handles.
func TestResultPathMatchFailure(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", "ResultPath": "$.s.x",
		"Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "ResultPath": "$.error", "Next": "Caught"}], "End": true},
		"Caught": {"Type": "Pass", "OutputPath": "$.error.Error", "End": true}}}`
	m := load(t, def, handlers{"fn": echo}, nil)
	_, res := run(t, m, `{"s": "a string"}`)
	if string(res.Output) != `"States.ResultPathMatchFailure"` {
		t.Errorf("result %+v", res)
	}
}
