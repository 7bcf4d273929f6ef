package console

import "net/http"

// OIDC signs in through an OpenID Connect issuer (see NewOIDC).
type OIDC struct{}

func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request, next string) {
	c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not available", Error: "Single sign-on is not configured."})
}

func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not available", Error: "Single sign-on is not configured."})
}
