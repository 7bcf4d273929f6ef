// Package drill holds the fault tools of scangate's fault drill and, in its
// tests, the drill itself (TestDrill, run at full size by `make drill`).
//
// The drill pushes several hundred object versions through the real
// pipeline (the committed scan workflow run by local.Workflows, the real
// handlers, a supervised clamd, versitygw over S3, dynalite as DynamoDB)
// while it injects faults: clamd killed with SIGKILL, S3 connections reset
// mid-body, conditional store writes that conflict, throttle or lose their
// answer, events duplicated and reordered, and keys overwritten while their
// older version is being scanned. It then checks that every version ends
// with exactly one acceptable outcome and that no infected version ever
// became readable.
//
// # What each fault may cost
//
// Clean bytes end clean and EICAR ends under review in the quarantine,
// whatever the faults. The only other outcome allowed is failed, for at
// most a small share of the versions, and only for these reasons:
//
//   - clamd killed: a stream cut by the kill gives no verdict and the Scan
//     step is retried; failed (clamd-unavailable) when its retries run out
//     before the supervisor's restart answers;
//   - S3 connections reset: the SDK retries, or the Scan step does on a cut
//     body; failed (source-error) when every attempt is cut. The two share
//     the Scan step's retry budget.
//
// The other faults may cost time, never an outcome: throttled writes and
// lost answers are retried by the steps and by the event's redelivery (a
// Claim whose answer was lost leaves a lease nobody holds, which the sweep
// reclaims once it expires); conflicts are re-read and retried; duplicate
// and late events find their record, and duplicate executions end at
// Claim; a version written mid-scan is a record of its own with its own
// verdict. Gone, unscannable or any other reason breaks the drill.
//
// The tools here are the parts a drill needs that the pipeline has no seam
// for: ResetProxy, a TCP proxy that resets connections after a number of
// response bytes, and FaultStore, a store.Driver wrapper that injects
// faults into conditional writes.
package drill
