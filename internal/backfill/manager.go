package backfill

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/scangate/scangate/domain/errcode"
)

// Manager runs backfill jobs for a server: at most one run of a job at a
// time in this process, each outliving the request that started it.
type Manager struct {
	r    *Runner
	base context.Context
	mu   sync.Mutex
	jobs map[string]*Job
}

// NewManager runs jobs with r until ctx ends; a job interrupted so keeps
// its checkpoint, and the next start of the same spec resumes it.
func NewManager(ctx context.Context, r *Runner) *Manager {
	return &Manager{r: r, base: ctx, jobs: map[string]*Job{}}
}

// Start starts the job spec describes, or, when it is running here
// already, returns its progress.
func (m *Manager) Start(ctx context.Context, spec Spec) (Progress, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if j, ok := m.jobs[spec.JobID()]; ok {
		select {
		case <-j.Done():
		default:
			return j.Progress(), nil
		}
	}
	j, err := m.r.Start(m.base, spec)
	if err != nil {
		return Progress{}, err
	}
	m.jobs[spec.JobID()] = j
	return j.Progress(), nil
}

// Get returns a job's progress: live for a job this process runs or ran,
// else from its checkpoint (a job interrupted by a restart shows as
// running until it is started again). An unknown job gives code NotFound.
func (m *Manager) Get(ctx context.Context, id string) (Progress, error) {
	m.mu.Lock()
	j, ok := m.jobs[id]
	m.mu.Unlock()
	if ok {
		return j.Progress(), nil
	}
	cp, err := m.r.Store.Checkpoint(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	var spec Spec
	if err := json.Unmarshal([]byte(cp.Detail), &spec); err != nil || spec.JobID() != id {
		return Progress{}, errcode.Errorf(errcode.NotFound, "backfill: get", id, "not a backfill job")
	}
	return Progress{
		ID: id, State: cp.State, Spec: spec, Error: cp.Error, StartedAt: cp.CreatedAt, UpdatedAt: cp.UpdatedAt,
		Listed: cp.Counters["listed"], Known: cp.Counters["known"], Queued: cp.Counters["queued"], Failed: cp.Counters["failed"],
	}, nil
}
