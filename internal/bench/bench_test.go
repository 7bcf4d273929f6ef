package bench

import (
	"errors"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

// A mode that calls an infected file clean, or a clean file infected,
// fails the run.
func TestCheckVerdict(t *testing.T) {
	bad, good := File{Key: "bad", Infected: true}, File{Key: "good"}
	eicar := []string{clamdtest.EICARSignature}
	for _, tc := range []struct {
		f        File
		infected bool
		sigs     []string
		wrong    bool
	}{
		{bad, true, eicar, false},
		{bad, false, nil, true},
		{bad, true, []string{"Other.Sig"}, true},
		{good, false, nil, false},
		{good, true, eicar, true},
	} {
		err := checkVerdict(tc.f, tc.infected, tc.sigs)
		if got := errors.Is(err, errVerdict); got != tc.wrong {
			t.Errorf("%s reported infected=%v %v: err %v", tc.f.Key, tc.infected, tc.sigs, err)
		}
	}
	// scangate's verdict must also cover the whole object.
	f := File{Key: "f", Size: 10, SHA256: "aa"}
	short := &domain.Verdict{Outcome: domain.OutcomeClean, BytesScanned: 9, SHA256: "aa"}
	if err := checkScangateVerdict(f, short); !errors.Is(err, errVerdict) {
		t.Errorf("a verdict on 9 of 10 bytes passed: %v", err)
	}
	unscannable := &domain.Verdict{Outcome: domain.OutcomeUnscannable, BytesScanned: 10, SHA256: "aa"}
	if err := checkScangateVerdict(f, unscannable); !errors.Is(err, errVerdict) {
		t.Errorf("an unscannable verdict passed: %v", err)
	}
}

func TestFoundNames(t *testing.T) {
	out := "/tmp/x y: Scangate.Test.EICAR.UNOFFICIAL FOUND\n/tmp/z: OK\n"
	got := foundNames(out)
	if len(got) != 1 || got[0] != clamdtest.EICARSignature {
		t.Fatalf("foundNames = %q", got)
	}
}
