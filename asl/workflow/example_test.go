package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scangate/scangate/asl/workflow"
)

func Example() {
	def := []byte(`{"StartAt": "Greet", "States": {
		"Greet": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:greet",
			"Parameters": {"name.$": "$.who"}, "ResultPath": "$.greeting", "Next": "Done"},
		"Done": {"Type": "Succeed"}}}`)
	greet := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var p struct{ Name string }
		if err := json.Unmarshal(in, &p); err != nil {
			return nil, err
		}
		return json.Marshal("Hello, " + p.Name)
	}
	resolve := func(resource, state string) (workflow.Handler, error) { return greet, nil }

	m, err := workflow.Load(def, resolve, &workflow.Options{Name: "hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	ctx := context.Background()
	e, err := m.Start(ctx, "first", json.RawMessage(`{"who": "World"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := e.Wait(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status, string(res.Output))
	fmt.Println(e.States())
	// Output:
	// SUCCEEDED {"greeting":"Hello, World","who":"World"}
	// [Greet Done]
}

// A callback task waits until its token is answered.
func ExampleMachine_SendTaskSuccess() {
	def := []byte(`{"StartAt": "Approve", "States": {
		"Approve": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
			"Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
			"ResultPath": "$.approval", "End": true}}}`)
	tokens := make(chan string, 1)
	notify := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var p struct{ Token string }
		if err := json.Unmarshal(in, &p); err != nil {
			return nil, err
		}
		tokens <- p.Token // a real function would store it for a person to act on
		return nil, nil
	}
	resolve := func(resource, state string) (workflow.Handler, error) { return notify, nil }
	m, err := workflow.Load(def, resolve, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	ctx := context.Background()
	e, err := m.Start(ctx, "approval-1", json.RawMessage(`{"id": 7}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := m.SendTaskSuccess(ctx, <-tokens, json.RawMessage(`{"approved": true}`)); err != nil {
		fmt.Println(err)
		return
	}
	res, _ := e.Wait(ctx)
	fmt.Println(res.Status, string(res.Output))
	// Output:
	// SUCCEEDED {"approval":{"approved":true},"id":7}
}
