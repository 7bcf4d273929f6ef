// Package bench is the benchmark harness behind `make bench`. On one
// corpus and one signature database, in one run, it measures:
//
//  1. raw clamd: INSTREAM of local files with package clamd's client, the
//     ceiling every other mode is compared with;
//  2. scangate's Scan step (lambdas.Handlers.Scan) reading the local bucket
//     (objects/localdir);
//  3. the Scan step reading versitygw over S3 (connect.OpenBucket, the
//     s3obj driver);
//  4. the whole local pipeline, from ingest to the last write of the scan
//     workflow (local.Workflows running the committed definition over the
//     same handlers and the embedded store), durable as `scangate run`
//     is, and once more without fsync to show what durability costs;
//  5. the clamscan-per-file design of bucket-antivirus-function and
//     cdk-serverless-clamscan: the object copied to a temporary file and
//     `clamscan -d DBDIR --no-summary FILE` run for it, which loads the
//     whole database every time.
//
// Every mode keeps several objects in flight, and every verdict is checked
// against the corpus's ground truth: a mode that calls an EICAR-bearing
// file clean, or a clean file anything else, fails the run.
//
// Separately it reads the peak RSS of a process that runs the Scan step
// alone on a 1 GiB object over S3 (cmd/scanstep, clamd excluded), started
// through cmd/maxrss so that the figure is the child's and not the
// harness's, and counts the store's reads and writes per object in the
// pipeline.
//
// The setup helpers it uses (clamd, versitygw) take a testing.TB, so the
// harness runs as a test: TestHarness runs a small smoke version by
// default, and the full one, which writes docs/benchmarks.md, with
// -harness.full (see the Makefile's bench target).
package bench
