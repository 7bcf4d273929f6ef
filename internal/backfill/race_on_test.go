//go:build race

package backfill_test

// raceOn: the race detector slows the pipeline about fourfold, so the
// large tests shrink to stay within a minute.
const raceOn = true
