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
// The tools here are the parts a drill needs that the pipeline has no seam
// for: ResetProxy, a TCP proxy that resets connections after a number of
// response bytes, and FaultStore, a store.Driver wrapper that injects
// faults into conditional writes.
package drill
