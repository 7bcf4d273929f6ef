package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

func TestConditionUnmet(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	leased := func(expires time.Time) *domain.Record {
		return &domain.Record{State: domain.StatusScanning, Version: 3,
			Lease: &domain.Lease{Owner: "w", Token: "t", Expires: expires}}
	}
	scanning := []domain.Status{domain.StatusScanning}
	for _, tc := range []struct {
		name string
		rec  *domain.Record
		cond store.Condition
		want string // a part of the reason; "" for a met condition
	}{
		{"met", leased(at), store.Condition{States: scanning, Version: 3, LeaseToken: "t"}, ""},
		{"state", leased(at), store.Condition{States: []domain.Status{domain.StatusPending}}, "state is scanning"},
		{"version", leased(at), store.Condition{States: scanning, Version: 2}, "version is 3"},
		{"no lease", &domain.Record{State: domain.StatusScanning}, store.Condition{States: scanning, LeaseToken: "t"}, "holds no lease"},
		{"token", leased(at), store.Condition{States: scanning, LeaseToken: "u"}, "does not match"},
		{"expired", leased(at), store.Condition{States: scanning, LeaseExpiredBy: at}, ""},
		// Drivers keep milliseconds: a lease that ends within the
		// millisecond of the check has expired by it, in every driver.
		{"expired within the millisecond", leased(at.Add(999 * time.Microsecond)), store.Condition{States: scanning, LeaseExpiredBy: at}, ""},
		{"held", leased(at.Add(time.Millisecond)), store.Condition{States: scanning, LeaseExpiredBy: at}, "lease held until"},
	} {
		got := tc.cond.Unmet(tc.rec)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: Unmet = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestConditionCheck(t *testing.T) {
	for _, c := range []store.Condition{{}, {States: []domain.Status{"nonsense"}}} {
		if err := c.Check("op", "id"); errcode.Of(err) != errcode.Invalid {
			t.Errorf("Check(%+v) = %v, want code Invalid", c, err)
		}
	}
	if err := (store.Condition{States: []domain.Status{domain.StatusPending}}).Check("op", "id"); err != nil {
		t.Errorf("Check of a valid condition: %v", err)
	}
}
