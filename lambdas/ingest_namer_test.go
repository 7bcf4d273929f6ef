package lambdas_test

import (
	"context"
	"strings"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
)

// namingStarter names its executions before it starts them, as Step
// Functions and the local runtime do; started is what Start returns.
type namingStarter struct {
	started func(rec *domain.Record) string
}

func (n namingStarter) ExecutionID(rec *domain.Record) string { return "arn:planned:" + rec.ID }

func (n namingStarter) Start(ctx context.Context, rec *domain.Record) (string, error) {
	return n.started(rec), nil
}

// Ingest records the execution a starter names in the record's own
// create, so a new record needs no second write; an execution started
// under another name is stored afterwards.
func TestIngestRecordsThePlannedExecution(t *testing.T) {
	tests := []struct {
		name        string
		started     func(rec *domain.Record) string
		wantARN     string
		wantVersion int64
	}{
		{"as planned", func(rec *domain.Record) string { return "arn:planned:" + rec.ID }, "arn:planned:", 1},
		{"another name", func(rec *domain.Record) string { return "arn:restarted:" + rec.ID }, "arn:restarted:", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := localtest.Open(t, nil)
			st, objs := env.Store, env.Bucket
			h, err := lambdas.New(lambdas.Config{Store: st, Objects: objs, Starter: namingStarter{tt.started}, QuarantineBucket: "q"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			ref, err := objs.Put(ctx, "uploads", "a.txt", strings.NewReader("a"), objects.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.Ingest(ctx, intake.S3Notification(ref))
			if err != nil || len(res.IDs) != 1 {
				t.Fatalf("Ingest: %+v, %v", res, err)
			}
			rec, err := st.Get(ctx, res.IDs[0])
			if err != nil {
				t.Fatal(err)
			}
			if rec.ExecutionARN != tt.wantARN+rec.ID || rec.Version != tt.wantVersion {
				t.Errorf("record execution %q at version %d; want %q at version %d", rec.ExecutionARN, rec.Version, tt.wantARN+rec.ID, tt.wantVersion)
			}
		})
	}
}
