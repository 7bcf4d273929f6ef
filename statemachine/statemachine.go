// Package statemachine is the one place that says which lifecycle
// transitions are legal: a table of events, each with the statuses it may
// start from and the status it leads to, run through looplab/fsm.
//
// Package store checks every transition with Next and writes it as one
// conditional write whose condition is the event's Sources plus the
// record's version or lease, so no driver can apply an illegal one. The
// handlers in package lambdas ask Can before a transition a stale step may
// no longer be entitled to (a failure, a rescan). Mermaid draws the table
// for ARCHITECTURE.md, and a test fails when the diagram there is stale.
package statemachine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/looplab/fsm"

	"github.com/scangate/scangate/domain"
)

// Event names a lifecycle transition.
type Event string

const (
	// Claim takes a pending record under a scanner's lease.
	Claim Event = "claim"
	// Reclaim takes over a scanning record whose lease has expired, so that
	// the object of a worker that died is scanned again.
	Reclaim Event = "reclaim"
	// Pass records clamd's OK for the complete stream.
	Pass Event = "pass"
	// Detect records a signature match.
	Detect Event = "detect"
	// Allow records that the bytes' SHA-256 is allowlisted.
	Allow Event = "allow"
	// Refuse records that the object cannot be scanned (a limit was hit).
	Refuse Event = "refuse"
	// Fail parks the record with a reason once retries are exhausted.
	Fail Event = "fail"
	// Vanish records that the exact version no longer exists.
	Vanish Event = "vanish"
	// Quarantine records that the bytes were moved to quarantine and a
	// review item was opened.
	Quarantine Event = "quarantine"
	// Release is an admin's "false positive": the bytes go back.
	Release Event = "release"
	// Confirm is an admin's "true positive": the bytes stay quarantined.
	Confirm Event = "confirm"
	// Allowlist is Release plus an allowlist entry for the bytes' hash.
	Allowlist Event = "allowlist"
	// Rescan sends a decided or parked record back to pending, for example
	// after a signature update or once clamd is back.
	Rescan Event = "rescan"
)

type transition struct {
	event Event
	src   []domain.Status
	dst   domain.Status
}

// table is the lifecycle. Everything else derives from it.
var table = []transition{
	{Claim, []domain.Status{domain.StatusPending}, domain.StatusScanning},
	{Reclaim, []domain.Status{domain.StatusScanning}, domain.StatusScanning},
	{Pass, []domain.Status{domain.StatusScanning}, domain.StatusClean},
	{Detect, []domain.Status{domain.StatusScanning}, domain.StatusInfected},
	{Allow, []domain.Status{domain.StatusScanning}, domain.StatusAllowlisted},
	{Refuse, []domain.Status{domain.StatusScanning}, domain.StatusUnscannable},
	{Fail, []domain.Status{domain.StatusPending, domain.StatusScanning, domain.StatusInfected}, domain.StatusFailed},
	{Vanish, []domain.Status{domain.StatusPending, domain.StatusScanning}, domain.StatusGone},
	{Quarantine, []domain.Status{domain.StatusInfected, domain.StatusUnscannable}, domain.StatusReviewing},
	{Release, []domain.Status{domain.StatusReviewing}, domain.StatusReleased},
	{Confirm, []domain.Status{domain.StatusReviewing}, domain.StatusConfirmed},
	{Allowlist, []domain.Status{domain.StatusReviewing}, domain.StatusAllowlisted},
	{Rescan, []domain.Status{
		domain.StatusClean, domain.StatusReleased, domain.StatusConfirmed,
		domain.StatusAllowlisted, domain.StatusUnscannable, domain.StatusFailed,
		domain.StatusReviewing,
	}, domain.StatusPending},
}

// events is the table in looplab/fsm's form, built once; it is never
// modified after init.
var events = buildEvents()

func fsmEvents() fsm.Events { return events }

func buildEvents() fsm.Events {
	evs := make(fsm.Events, 0, len(table))
	for _, t := range table {
		src := make([]string, len(t.src))
		for i, s := range t.src {
			src[i] = string(s)
		}
		evs = append(evs, fsm.EventDesc{Name: string(t.event), Src: src, Dst: string(t.dst)})
	}
	return evs
}

// ErrIllegal is returned, wrapped, for an event that the table does not
// allow from the given status.
var ErrIllegal = errors.New("illegal transition")

// Next returns the status that event leads to from the status from, or an
// error wrapping ErrIllegal. The answer is looplab/fsm's: for the table's
// own statuses and events it was asked once, when the package loaded
// (decided), since building a machine per question cost every transition
// a few kilobytes of maps; anything else is asked afresh.
func Next(from domain.Status, event Event) (domain.Status, error) {
	if o, ok := decided[step{from, event}]; ok {
		return o.to, o.err
	}
	return nextFSM(from, event)
}

type step struct {
	from  domain.Status
	event Event
}

type outcome struct {
	to  domain.Status
	err error
}

// decided holds looplab/fsm's answer for every status the table names and
// every event in it; it is never modified after init.
var decided = decideAll()

func decideAll() map[step]outcome {
	var statuses []domain.Status
	for _, t := range table {
		for _, s := range append(slices.Clone(t.src), t.dst) {
			if !slices.Contains(statuses, s) {
				statuses = append(statuses, s)
			}
		}
	}
	m := make(map[step]outcome, len(statuses)*len(table))
	for _, s := range statuses {
		for _, t := range table {
			to, err := nextFSM(s, t.event)
			m[step{s, t.event}] = outcome{to, err}
		}
	}
	return m
}

// nextFSM asks looplab/fsm, so that the declared table, not a second copy
// of it, decides.
func nextFSM(from domain.Status, event Event) (domain.Status, error) {
	f := fsm.NewFSM(string(from), fsmEvents(), nil)
	err := f.Event(context.Background(), string(event))
	var noTransition fsm.NoTransitionError
	switch {
	case err == nil, errors.As(err, &noTransition):
		return domain.Status(f.Current()), nil
	default:
		return "", fmt.Errorf("%w: %s from %s: %v", ErrIllegal, event, from, err)
	}
}

// Can reports whether event is legal from status from.
func Can(from domain.Status, event Event) bool {
	_, err := Next(from, event)
	return err == nil
}

// Sources returns the statuses event may start from. Stores put exactly
// these into the condition of the write.
func Sources(event Event) []domain.Status {
	for _, t := range table {
		if t.event == event {
			return slices.Clone(t.src)
		}
	}
	return nil
}

// Target returns the status event leads to, or "" for an unknown event.
func Target(event Event) domain.Status {
	for _, t := range table {
		if t.event == event {
			return t.dst
		}
	}
	return ""
}

// Events lists every event in table order.
func Events() []Event {
	evs := make([]Event, len(table))
	for i, t := range table {
		evs[i] = t.event
	}
	return evs
}

// Available lists the events legal from status from, in table order.
func Available(from domain.Status) []Event {
	var evs []Event
	for _, t := range table {
		if slices.Contains(t.src, from) {
			evs = append(evs, t.event)
		}
	}
	return evs
}

// Terminal reports whether no event but Rescan leaves s.
func Terminal(s domain.Status) bool {
	for _, e := range Available(s) {
		if e != Rescan {
			return false
		}
	}
	return true
}

// Mermaid renders the table as a Mermaid state diagram, as produced by
// looplab/fsm, for ARCHITECTURE.md.
func Mermaid() string {
	f := fsm.NewFSM(string(domain.StatusPending), fsmEvents(), nil)
	out, err := fsm.VisualizeForMermaidWithGraphType(f, fsm.StateDiagram)
	if err != nil {
		// Only an unknown diagram type errors, and the type is a constant.
		panic(err)
	}
	return strings.TrimRight(out, "\n") + "\n"
}
