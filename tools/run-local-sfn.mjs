// run-local-sfn.mjs runs one execution of an Amazon States Language
// definition in aws-local-stepfunctions (the version pinned by
// package-lock.json) and prints what happened as one JSON document.
//
// It needs Node.js 22 or later: on Node 20 every Task fails on
// Promise.withResolvers, and a States.ALL Catch hides that.
//
// Input, a JSON job on stdin:
//
//   {
//     "definition": <ASL object, or its JSON text>,
//     "input": <any JSON>,
//     "name": "execution-name",          // optional
//     "retryIntervalScale": 0.001,       // optional, see below
//     "retryIntervalMs": 5,              // optional, see below
//     "retryIntervalOverrides": {...},   // optional, passed through
//     "taskToken": "..."                 // optional, see below
//   }
//
// Output, on stdout:
//
//   {"status": "SUCCEEDED"|"FAILED"|"TIMED_OUT"|"ABORTED"|"INVALID_DEFINITION",
//    "output": ..., "error": "...", "cause": "...", "events": [...]}
//
// events is every entry of the interpreter's event log, in order, as
// aws-local-stepfunctions produced it (see its docs/execution-event-logs.md).
//
// Task states invoke their Resource through the Lambda Invoke API of the
// AWS SDK for JavaScript, configured from the environment:
// AWS_ENDPOINT_URL_LAMBDA, AWS_REGION, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY. Things to know about that path in 3.0.0:
//
//   - A Resource is passed to Invoke as the FunctionName, whatever it is.
//     "arn:aws:states:::lambda:invoke.waitForTaskToken" is invoked as a
//     function of that name, with the state's effective input (after
//     Parameters: {FunctionName, Payload}) as the payload; the endpoint
//     must unwrap it. There is no callback: the invocation's return value
//     is the task result.
//   - $$.Task.Token is not in the default Context Object. This runner puts
//     one token per execution there (job.taskToken, or a random one).
//   - A function error (X-Amz-Function-Error set, body {errorType,
//     errorMessage}) becomes a state error named errorType. Retry and
//     Catch match that name; the caught Cause is the string
//     "<errorType>: <errorMessage>" (AWS gives the error body's JSON
//     text), while StateFailed events carry the error body as an object.
//   - A Task without TimeoutSeconds times out after 60 s (States.Timeout),
//     also a waitForTaskToken task.
//
// Retry waits: retryIntervalOverrides replaces a retrier's whole wait (no
// backoff, no jitter) with a fixed number of milliseconds, still capped by
// MaxDelaySeconds. retryIntervalScale sets, for every retrier of every
// state, IntervalSeconds (default 1) times the scale; retryIntervalMs sets
// every retrier's wait to that many milliseconds. Explicit
// retryIntervalOverrides entries win over both; in an array, -1 keeps the
// scaled (or fixed) wait of that retrier.
import { randomUUID } from 'node:crypto';
import { StateMachine, ExecutionError, ExecutionTimeoutError, ExecutionAbortedError } from 'aws-local-stepfunctions';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`run-local-sfn: Node.js ${process.versions.node}; aws-local-stepfunctions needs 22 or later\n`);
  process.exit(2);
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

// retryOverrides builds retryIntervalOverrides for every state with a Retry
// field, in the states of the top level and of nested Parallel and Map
// definitions (the override is keyed by state name).
function retryOverrides(definition, job) {
  const out = {};
  const visit = (states) => {
    for (const [name, state] of Object.entries(states ?? {})) {
      if (Array.isArray(state.Retry)) {
        if (typeof job.retryIntervalMs === 'number') {
          out[name] = state.Retry.map(() => job.retryIntervalMs);
        } else if (typeof job.retryIntervalScale === 'number') {
          out[name] = state.Retry.map((r) => Math.round((r.IntervalSeconds ?? 1) * 1000 * job.retryIntervalScale));
        }
      }
      for (const branch of state.Branches ?? []) visit(branch.States);
      visit(state.Iterator?.States);
      visit(state.ItemProcessor?.States);
    }
  };
  visit(definition.States);
  // Explicit overrides win: a number for all of a state's retriers, or
  // one entry per retrier where -1 keeps the wait computed above.
  for (const [name, o] of Object.entries(job.retryIntervalOverrides ?? {})) {
    if (typeof o === 'number' || !Array.isArray(out[name])) {
      out[name] = o;
    } else {
      out[name] = out[name].map((ms, i) => (o[i] !== undefined && o[i] >= 0 ? o[i] : ms));
    }
  }
  return out;
}

function causeText(c) {
  if (c === undefined || c === null) return '';
  return typeof c === 'string' ? c : JSON.stringify(c);
}

function print(doc) {
  process.stdout.write(JSON.stringify(doc) + '\n', () => process.exit(0));
}

const job = JSON.parse(await readStdin());
const definition = typeof job.definition === 'string' ? JSON.parse(job.definition) : job.definition;
const name = job.name || `local-${randomUUID()}`;

let machine;
try {
  machine = new StateMachine(definition);
} catch (e) {
  print({ status: 'INVALID_DEFINITION', error: 'States.InvalidDefinition', cause: String(e.message), events: [] });
}

if (machine) {
  const execution = machine.run(job.input ?? {}, {
    overrides: { retryIntervalOverrides: retryOverrides(definition, job) },
    context: {
      Execution: { Id: `arn:aws:states:us-east-1:123456789012:execution:local:${name}`, Name: name },
      Task: { Token: job.taskToken || `${name}:${randomUUID()}` },
    },
  });
  const events = [];
  const logged = (async () => {
    for await (const ev of execution.eventLogs) events.push(ev);
  })();
  const doc = { status: 'SUCCEEDED', output: null, error: '', cause: '', events };
  try {
    doc.output = await execution.result;
  } catch (e) {
    if (e instanceof ExecutionTimeoutError) {
      doc.status = 'TIMED_OUT';
      doc.error = 'States.Timeout';
    } else if (e instanceof ExecutionAbortedError) {
      doc.status = 'ABORTED';
    } else if (e instanceof ExecutionError) {
      // The state error that ended the execution.
      const err = e.cause ?? e;
      doc.status = 'FAILED';
      doc.error = err.name ?? 'Error';
      doc.cause = causeText(err.message);
    } else {
      throw e;
    }
  }
  await logged;
  print(doc);
}
