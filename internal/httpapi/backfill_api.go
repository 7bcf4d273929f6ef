package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/authn"
	"github.com/scangate/scangate/internal/backfill"
)

// Backfills are started and watched by reviewers and admins: a backfill
// records and scans a whole bucket, which is more than a viewer may
// cause, and an ingest token (a webhook's) announces single uploads only.

func (a *API) backfillRoutes() {
	if a.opts.Backfills == nil {
		return
	}
	reviewer := func(h http.HandlerFunc) http.HandlerFunc { return a.need(domain.RoleReviewer, h) }
	a.mux.HandleFunc("POST /v1/backfills", reviewer(a.startBackfill))
	a.mux.HandleFunc("GET /v1/backfills/{id}", reviewer(a.getBackfill))
}

// startBackfill starts (or resumes, or joins) the backfill the body
// describes: a backfill.Spec as JSON. Only the protected bucket may be
// walked: the backend may hold others (the quarantine among them) whose
// versions must never be ingested.
func (a *API) startBackfill(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(raw) > 64<<10 {
		writeError(w, http.StatusBadRequest, errors.New("bad request body: unreadable or above 64 KiB"))
		return
	}
	var spec backfill.Spec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return
	}
	if spec.Bucket == "" {
		spec.Bucket = a.opts.Bucket
	}
	if spec.Bucket != a.opts.Bucket {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bucket %q is not the protected bucket %q", spec.Bucket, a.opts.Bucket))
		return
	}
	if err := spec.Check(); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	p, err := a.opts.Backfills.Start(r.Context(), spec)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	who := authn.FromContext(r.Context())
	a.log.Info("backfill started", "job", p.ID, "by", who.Name, "via", who.Via, "bucket", spec.Bucket,
		"prefix", domain.DisplayKey(spec.Prefix), "inventory", spec.Inventory, "dryRun", spec.DryRun, "resumed", p.Resumed)
	w.Header().Set("Location", "/v1/backfills/"+p.ID)
	writeJSON(w, http.StatusAccepted, p)
}

func (a *API) getBackfill(w http.ResponseWriter, r *http.Request) {
	p, err := a.opts.Backfills.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
