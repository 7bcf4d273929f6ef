package domain

import "time"

// Checkpoint is the saved position of a long job that walks a listing
// (a backfill): where it stopped, what it counted, and the job's own
// description, so that a job interrupted by a restart goes on where it
// stopped instead of starting over. Version grows by one with every
// write; writes are conditional on it, so two runners of one job cannot
// both advance it.
type Checkpoint struct {
	ID string `json:"id"`
	// Cursor is the listing's position: everything before it is done.
	// "" is the start.
	Cursor string `json:"cursor,omitempty"`
	// State is the job's own word for where it is ("running", "done",
	// "failed").
	State    string           `json:"state"`
	Counters map[string]int64 `json:"counters,omitempty"`
	// Detail is the job's description, opaque to the store (JSON).
	Detail    string    `json:"detail,omitempty"`
	Error     string    `json:"error,omitempty"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}
