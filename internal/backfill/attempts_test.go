package backfill

import (
	"context"
	"errors"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/lambdas"
)

// flakyIngester fails the first failures calls, then queues.
type flakyIngester struct {
	failures, calls int
}

func (f *flakyIngester) BackfillOne(context.Context, domain.ObjectRef, bool) (lambdas.BackfillOutcome, error) {
	f.calls++
	if f.calls <= f.failures {
		return "", errors.New("throttled")
	}
	return lambdas.BackfillQueued, nil
}

func TestBackfillOneTriesAgain(t *testing.T) {
	tests := []struct {
		failures  int
		wantErr   bool
		wantCalls int
	}{
		{failures: 0, wantCalls: 1},
		{failures: backfillAttempts - 1, wantCalls: backfillAttempts},
		{failures: backfillAttempts, wantErr: true, wantCalls: backfillAttempts},
	}
	for _, tt := range tests {
		in := &flakyIngester{failures: tt.failures}
		out, err := backfillOne(t.Context(), in, domain.ObjectRef{Bucket: "b", Key: "k"}, false)
		if (err != nil) != tt.wantErr || in.calls != tt.wantCalls {
			t.Errorf("%d failures: %q, %v after %d calls; want error %v after %d", tt.failures, out, err, in.calls, tt.wantErr, tt.wantCalls)
		}
	}
}
