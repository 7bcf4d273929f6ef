package store

import (
	"context"
	"maps"

	"github.com/scangate/scangate/domain"
)

// Checkpoint returns the checkpoint id, or an error with code NotFound.
func (s *Store) Checkpoint(ctx context.Context, id string) (*domain.Checkpoint, error) {
	return s.d.GetCheckpoint(ctx, id)
}

// SaveCheckpoint writes c as the next version of its checkpoint: c.Version
// names the version it replaces (0 for a new one) and is advanced, with
// UpdatedAt (and, for a new one, CreatedAt), only when the write succeeds.
// Another writer that saved in between gives ConditionFailed.
func (s *Store) SaveCheckpoint(ctx context.Context, c *domain.Checkpoint) error {
	next := *c
	next.Counters = maps.Clone(c.Counters)
	next.Version = c.Version + 1
	next.UpdatedAt = s.Now()
	if next.Version == 1 || next.CreatedAt.IsZero() {
		next.CreatedAt = next.UpdatedAt
	}
	if err := s.d.PutCheckpoint(ctx, &next); err != nil {
		return err
	}
	c.Version, c.UpdatedAt, c.CreatedAt = next.Version, next.UpdatedAt, next.CreatedAt
	return nil
}
