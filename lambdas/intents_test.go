package lambdas_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/internal/localtest"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
)

// starts records the workflows the handlers start.
type starts struct {
	mu  sync.Mutex
	ids []string
}

func (s *starts) Start(ctx context.Context, rec *domain.Record) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, rec.ID)
	return "arn:aws:states:::execution:scan:" + rec.ID, nil
}

func (s *starts) started(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, got := range s.ids {
		if got == id {
			return true
		}
	}
	return false
}

// headOnly hides the local driver's version listing, as an object backend
// that can only HEAD the current version would.
type headOnly struct{ objects.Driver }

type intentFixture struct {
	h      *lambdas.Handlers
	st     *store.Store
	objs   *localdir.Driver
	starts *starts
	now    atomic.Int64
}

// newIntentFixture builds handlers with intents on over an embedded store
// whose clock starts at the real time and moves when told.
func newIntentFixture(t *testing.T, hideVersions bool) *intentFixture {
	t.Helper()
	f := &intentFixture{starts: &starts{}}
	f.now.Store(time.Now().UnixNano())
	env := localtest.Open(t, &localtest.Options{Store: &store.Options{Now: f.clock}})
	f.st, f.objs = env.Store, env.Bucket
	var objs objects.Driver = f.objs
	if hideVersions {
		objs = headOnly{f.objs}
	}
	var err error
	f.h, err = lambdas.New(lambdas.Config{
		Store: f.st, Objects: objs, Scanner: &fakeScanner{}, Starter: f.starts, QuarantineBucket: "quarantine",
		Intents: true, IntentGrace: 15 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *intentFixture) clock() time.Time { return time.Unix(0, f.now.Load()).UTC() }

func (f *intentFixture) advance(d time.Duration) { f.now.Add(int64(d)) }

func (f *intentFixture) intent(t *testing.T, key string, issued time.Time, lifetime time.Duration) *domain.UploadIntent {
	t.Helper()
	in, err := f.st.RecordIntent(context.Background(), domain.UploadIntent{
		Bucket: "uploads", Key: key, IssuedAt: issued, ExpiresAt: issued.Add(lifetime),
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (f *intentFixture) put(t *testing.T, key, body string) domain.ObjectRef {
	t.Helper()
	ref, err := f.objs.Put(context.Background(), "uploads", key, strings.NewReader(body), objects.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (f *intentFixture) state(t *testing.T, id string) *domain.UploadIntent {
	t.Helper()
	in, err := f.st.Intent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestIngestLinksIntentsInTheirWindow: an event links an expected intent
// of its key only if the intent was issued before the event (give or take
// the clock slack) and its URL had not expired longer than the grace
// before it.
func TestIngestLinksIntentsInTheirWindow(t *testing.T) {
	tests := []struct {
		name            string
		issued, expires time.Duration // relative to the event
		want            domain.IntentState
	}{
		{"issued before, still valid", -10 * time.Minute, 5 * time.Minute, domain.IntentArrived},
		{"issued a second after (clock slack)", time.Second, 15 * time.Minute, domain.IntentArrived},
		{"issued after the event", time.Minute, 15 * time.Minute, domain.IntentExpected},
		{"expired within the grace", -time.Hour, -10 * time.Minute, domain.IntentArrived},
		{"expired longer than the grace", -time.Hour, -30 * time.Minute, domain.IntentExpected},
		{"issued a week ago, valid a week", -7*24*time.Hour + time.Minute, time.Minute, domain.IntentArrived},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newIntentFixture(t, false)
			ctx := context.Background()
			event := f.clock().Add(time.Hour)
			in := f.intent(t, "k.txt", event.Add(tc.issued), tc.expires-tc.issued)
			ref := f.put(t, "k.txt", "body")
			res, err := f.h.Ingest(ctx, intake.S3NotificationAt(event, ref))
			if err != nil || len(res.IDs) != 1 {
				t.Fatalf("Ingest: %+v, %v", res, err)
			}
			got := f.state(t, in.ID)
			if got.State != tc.want {
				t.Errorf("intent %s, want %s", got.State, tc.want)
			}
			if tc.want == domain.IntentArrived && got.RecordID != res.IDs[0] {
				t.Errorf("intent links %q, want %q", got.RecordID, res.IDs[0])
			}
			// A re-delivered event links no second intent of the key.
			other := f.intent(t, "k.txt", event.Add(-time.Minute), time.Hour)
			if _, err := f.h.Ingest(ctx, intake.S3NotificationAt(event, ref)); err != nil {
				t.Fatal(err)
			}
			if tc.want == domain.IntentArrived {
				if got := f.state(t, other.ID); got.State != domain.IntentExpected {
					t.Errorf("re-delivery linked a second intent: %+v", got)
				}
			}
		})
	}
}

// TestSweepSettlesIntents: what the sweep makes of an expired intent,
// with a backend that lists versions and with one that can only HEAD.
func TestSweepSettlesIntents(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the intent and the version the test wrote, if any.
		setup         func(t *testing.T, f *intentFixture) (*domain.UploadIntent, *domain.ObjectRef)
		want          domain.IntentState
		wantRecovered bool
	}{
		{
			name: "upload whose event was lost",
			setup: func(t *testing.T, f *intentFixture) (*domain.UploadIntent, *domain.ObjectRef) {
				in := f.intent(t, "lost.txt", f.clock(), time.Minute)
				ref := f.put(t, "lost.txt", "bytes without an event")
				return in, &ref
			},
			want: domain.IntentArrived, wantRecovered: true,
		},
		{
			name: "only a released copy scangate wrote back",
			setup: func(t *testing.T, f *intentFixture) (*domain.UploadIntent, *domain.ObjectRef) {
				in := f.intent(t, "released.txt", f.clock(), time.Minute)
				ref, err := f.objs.Put(context.Background(), "uploads", "released.txt", strings.NewReader("released"),
					objects.PutOptions{Tags: map[string]string{objects.TagStatus: string(domain.StatusReleased)}})
				if err != nil {
					t.Fatal(err)
				}
				return in, &ref
			},
			want: domain.IntentExpired,
		},
		{
			name: "nothing uploaded",
			setup: func(t *testing.T, f *intentFixture) (*domain.UploadIntent, *domain.ObjectRef) {
				return f.intent(t, "never.txt", f.clock(), time.Minute), nil
			},
			want: domain.IntentExpired,
		},
		{
			name: "only a version older than the intent",
			setup: func(t *testing.T, f *intentFixture) (*domain.UploadIntent, *domain.ObjectRef) {
				f.put(t, "old.txt", "written before the URL was issued")
				return f.intent(t, "old.txt", f.clock().Add(time.Minute), time.Minute), nil
			},
			want: domain.IntentExpired,
		},
	}
	for _, hide := range []bool{false, true} {
		backend := "versions"
		if hide {
			backend = "head-only"
		}
		for _, tc := range tests {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				f := newIntentFixture(t, hide)
				ctx := context.Background()
				in, ref := tc.setup(t, f)
				// Not before the URL expired and the grace passed.
				f.advance(in.ExpiresAt.Sub(f.clock()) + 14*time.Minute)
				res, err := f.h.Sweep(ctx, lambdas.SweepRequest{})
				if err != nil || res.IntentsArrived+res.IntentsExpired != 0 {
					t.Fatalf("sweep within the grace: %+v, %v; want nothing settled", res, err)
				}
				f.advance(2 * time.Minute)
				res, err = f.h.Sweep(ctx, lambdas.SweepRequest{})
				if err != nil || res.IntentErrors != 0 {
					t.Fatalf("sweep: %+v, %v", res, err)
				}
				got := f.state(t, in.ID)
				if got.State != tc.want || got.ResolvedBy != "sweep" {
					t.Errorf("intent %+v, want %s by the sweep", got, tc.want)
				}
				if tc.wantRecovered {
					id := ref.ID()
					if got.RecordID != id || len(res.Recovered) != 1 || res.Recovered[0] != id {
						t.Errorf("intent links %q, recovered %v; want %s", got.RecordID, res.Recovered, id)
					}
					rec, err := f.st.Get(ctx, id)
					if err != nil || rec.State != domain.StatusPending || !f.starts.started(id) {
						t.Errorf("recovered record %+v, %v, started %t; want pending with its workflow started", rec, err, f.starts.started(id))
					}
				} else if len(res.Recovered) != 0 {
					t.Errorf("recovered %v, want nothing", res.Recovered)
				}
				if tc.name == "only a released copy scangate wrote back" {
					if _, err := f.st.Get(ctx, ref.ID()); errcode.Of(err) != errcode.NotFound {
						t.Errorf("the released copy was ingested: %v", err)
					}
				}
				if tc.name == "only a version older than the intent" {
					// Not this intent's upload: left to its own event.
					vs, _ := f.objs.Versions(ctx, "uploads", "old.txt")
					if _, err := f.st.Get(ctx, vs[0].Ref.ID()); errcode.Of(err) != errcode.NotFound {
						t.Errorf("the older version was ingested: %v", err)
					}
				}
			})
		}
	}
}
