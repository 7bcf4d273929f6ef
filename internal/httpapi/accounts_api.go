package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/authn"
)

// The admin endpoints manage accounts and API tokens on a running server,
// where `scangate users` cannot open the embedded store (the server holds
// its lock). Passwords and token secrets are write-only: a token's secret
// is shown once, in the answer that issues it.

type accountBody struct {
	Name     string      `json:"name"`
	Role     domain.Role `json:"role"`
	Password string      `json:"password"`
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request) {
	accts, next, err := a.st.ListAccounts(r.Context(), page(r))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": nonNil(accts), "cursor": next})
}

func (a *API) addAccount(w http.ResponseWriter, r *http.Request) {
	var b accountBody
	if err := decodeStrict(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	acct, err := a.st.AddAccount(r.Context(), b.Name, b.Role, []byte(b.Password))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	p := authn.FromContext(r.Context())
	a.log.Info("account added", "account", acct.Name, "role", acct.Role, "by", p.Name, "via", p.Via)
	writeJSON(w, http.StatusCreated, acct)
}

type tokenBody struct {
	Label string `json:"label"`
}

func (a *API) issueToken(w http.ResponseWriter, r *http.Request) {
	var b tokenBody
	if err := decodeStrict(r, &b); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	name := r.PathValue("name")
	secret, tok, err := a.st.IssueToken(r.Context(), name, b.Label)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	p := authn.FromContext(r.Context())
	a.log.Info("API token issued", "account", name, "token", tok.ID, "by", p.Name, "via", p.Via)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "id": tok.ID, "account": tok.Account, "label": tok.Label})
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	toks, next, err := a.st.ListTokens(r.Context(), r.URL.Query().Get("account"), page(r))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": nonNil(toks), "cursor": next})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.st.RevokeToken(r.Context(), id); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	p := authn.FromContext(r.Context())
	a.log.Info("API token revoked", "token", id, "by", p.Name, "via", p.Via)
	w.WriteHeader(http.StatusNoContent)
}

// decodeStrict reads a small JSON body, refusing unknown fields so that a
// misspelt or smuggled field is an error rather than silently ignored.
func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return err
		}
		return fmt.Errorf("bad request body: %w", err)
	}
	return nil
}
