// Package workflow interprets Amazon States Language definitions (JSONPath
// mode) in-process. scangate's local runtime runs the scan and review
// workflows with it, from the very JSON that is deployed to AWS Step
// Functions (package asl).
//
// It implements the part of the language scangate's definitions use,
// following the States Language specification and Step Functions'
// documented behaviour, and Load rejects the rest with an error naming it
// rather than ignoring it.
//
// # Supported
//
//   - States: Task, Pass, Choice, Wait, Succeed and Fail, and the
//     Distributed Map: an ItemReader (s3:listObjectsV2 or s3:getObject,
//     read by the runtime's Options.ItemReader), an ItemBatcher
//     (MaxItemsPerBatch, BatchInput), MaxConcurrency or
//     MaxConcurrencyPath, ToleratedFailurePercentage 0, and an
//     ItemProcessor whose states run as child executions (their events
//     are not in the parent's history; it records MapRunStarted and
//     MapRunSucceeded or MapRunFailed). Parallel and the inline Map are
//     rejected, as are fields the interpreter does not implement
//     (HeartbeatSeconds, TimeoutSecondsPath, ItemSelector, JSONata
//     fields, ...).
//   - Input and output processing in Step Functions' order: InputPath,
//     Parameters, the task, ResultSelector, ResultPath (null discards the
//     result; a path like $.error creates the objects it needs) and
//     OutputPath. A Catch puts the error output {"Error", "Cause"} at its
//     ResultPath in the state's raw input.
//   - Paths are reference paths: $, $.a.b, $['a b'], $.a[0], and $$ for the
//     context object (Execution.Id, Input, Name, RoleArn, StartTime;
//     State.EnteredTime, Name, RetryCount; StateMachine.Id, Name; and
//     Task.Token in callback tasks). Filters, wildcards, slices and
//     recursive descent are rejected. A path that selects nothing fails the
//     execution with States.Runtime, as in Step Functions.
//   - Payload templates (Parameters, ResultSelector): "key.$" fields with
//     paths or the intrinsic functions States.Format, States.StringToJson,
//     States.JsonToString, States.Array and States.UUID, nested objects and
//     arrays. Other intrinsic functions are rejected.
//   - Choice rules: the String, Numeric, Boolean and Timestamp comparisons
//     with their ...Path forms, StringMatches, IsNull, IsPresent,
//     IsNumeric, IsString, IsBoolean, IsTimestamp, And, Or, Not and
//     Default. A Variable that selects nothing is States.Runtime (use
//     IsPresent to test for it); no match and no Default is
//     States.NoChoiceMatched.
//   - Task resources: a plain resource (a Lambda function ARN) gets the
//     effective input and its result is the raw output;
//     arn:aws:states:::lambda:invoke gets the Payload of Parameters
//     {FunctionName, Payload} and its result is wrapped as Step Functions
//     wraps it ({"Payload": ..., "StatusCode": 200, ...});
//     arn:aws:states:::lambda:invoke.waitForTaskToken mints a task token
//     ($$.Task.Token), calls the function, discards its output and waits
//     for Machine.SendTaskSuccess or SendTaskFailure. The Resolver given to
//     Load supplies every handler. TimeoutSeconds bounds a task, including
//     the wait for its token.
//   - Retry (IntervalSeconds, MaxAttempts, BackoffRate, MaxDelaySeconds,
//     JitterStrategy) and Catch, with retries counted per retrier within a
//     visit to the state.
//   - The definition's TimeoutSeconds, which ends an execution TIMED_OUT.
//
// # Errors
//
// A failed handler's error is named by its ErrorType() string method, or
// is States.TaskFailed; its Cause is Options.Cause(err). In ErrorEquals,
// States.ALL matches every error but States.Runtime, and States.TaskFailed
// every error but States.Runtime and States.Timeout. States.Runtime (a
// path that selects nothing, a failed intrinsic function, a bad
// Variable) is never retried or caught: it fails the execution.
// An execution whose context ends (the ctx given to Start, or
// Machine.Close) is ABORTED; its handler's error is not retried.
//
// # History
//
// Every execution records events modelled on GetExecutionHistory (see
// Event); Execution.History and Execution.States may be called while it
// runs, and Options.OnEvent sees each event as it is recorded.
//
// # Goroutines
//
// Start runs each execution in one goroutine, which calls the handlers
// and waits for task tokens. It ends with the execution. Machine.Close
// aborts the executions still running and waits for their goroutines, so
// after Close returns no goroutine of the Machine is left and no handler
// is running, provided handlers honour their context.
package workflow
