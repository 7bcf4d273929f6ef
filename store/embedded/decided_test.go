package embedded

import (
	"slices"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
)

// TestRecordsUpdatedSince checks that RecordsUpdatedSince returns the
// records of one state from a time on, newest first, up to its limit:
// the newest whatever the limit.
func TestRecordsUpdatedSince(t *testing.T) {
	ctx := t.Context()
	d := tempDriver(t, &Options{NoSync: true})
	t0 := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		id    string
		state domain.Status
		at    time.Duration
	}{
		{"old", domain.StatusClean, -time.Hour},
		{"c1", domain.StatusClean, time.Second},
		{"c0", domain.StatusClean, 0},
		{"c2", domain.StatusClean, time.Minute},
		{"other", domain.StatusScanning, time.Second},
		{"cleaner", domain.StatusAllowlisted, time.Second},
	} {
		rec := record(r.id)
		rec.State, rec.UpdatedAt = r.state, t0.Add(r.at)
		rec.CreatedAt = rec.UpdatedAt
		if err := d.Create(ctx, rec); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	ids := func(recs []*domain.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		state domain.Status
		since time.Time
		limit int
		want  []string
	}{
		{domain.StatusClean, t0, 10, []string{"c2", "c1", "c0"}},
		{domain.StatusClean, t0, 2, []string{"c2", "c1"}},
		{domain.StatusClean, t0.Add(-2 * time.Hour), 10, []string{"c2", "c1", "c0", "old"}},
		{domain.StatusClean, time.Time{}, 1, []string{"c2"}},
		{domain.StatusClean, t0.Add(time.Hour), 10, nil},
		{domain.StatusAllowlisted, t0, 10, []string{"cleaner"}},
		{domain.StatusReleased, t0, 10, nil},
	} {
		got, err := d.RecordsUpdatedSince(ctx, tc.state, tc.since, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("RecordsUpdatedSince(%s, %s, %d) = %v, want %v", tc.state, tc.since.Format(time.TimeOnly), tc.limit, ids(got), tc.want)
		}
	}
	if _, err := d.RecordsUpdatedSince(ctx, domain.StatusClean, t0, 0); err == nil {
		t.Error("RecordsUpdatedSince with limit 0 gave no error")
	}
}
