package statemachine

import (
	"errors"
	"testing"

	"github.com/scangate/scangate/domain"
)

// Next answers from decided; every answer must be the one looplab/fsm
// gives when asked afresh, for the table's statuses and events and for
// ones it does not name.
func TestDecidedIsFSMsAnswer(t *testing.T) {
	statuses := []domain.Status{"no-such-status", ""}
	events := []Event{"no-such-event", ""}
	for _, tr := range table {
		statuses = append(statuses, tr.src...)
		statuses = append(statuses, tr.dst)
		events = append(events, tr.event)
	}
	asked := 0
	for _, s := range statuses {
		for _, e := range events {
			got, gotErr := Next(s, e)
			want, wantErr := nextFSM(s, e)
			if got != want || (gotErr == nil) != (wantErr == nil) ||
				(gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Errorf("Next(%q, %q) = %q, %v; looplab/fsm says %q, %v", s, e, got, gotErr, want, wantErr)
			}
			if gotErr != nil && !errors.Is(gotErr, ErrIllegal) {
				t.Errorf("Next(%q, %q) error %v does not wrap ErrIllegal", s, e, gotErr)
			}
			if _, ok := decided[step{s, e}]; ok {
				asked++
			}
		}
	}
	if asked == 0 {
		t.Fatal("decided answered nothing")
	}
}
