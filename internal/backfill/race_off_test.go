//go:build !race

package backfill_test

const raceOn = false
