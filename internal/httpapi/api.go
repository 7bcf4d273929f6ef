package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/authn"
	"github.com/scangate/scangate/internal/backfill"
	"github.com/scangate/scangate/internal/intake"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store"
)

// APIOptions configure the HTTP API.
type APIOptions struct {
	// Bucket is the protected bucket uploads go to.
	Bucket string
	// MaxUpload bounds one upload in bytes; 0 means 5 GiB, S3's PUT limit.
	MaxUpload int64
	// Auth names the caller of each request. Every endpoint that reads a
	// record or changes anything needs an authenticated principal with
	// the endpoint's role; nil means &authn.Authenticator{AdminToken:
	// AdminToken}, which accepts the admin token alone.
	Auth Authenticator
	// AdminToken is the break-glass bearer token when Auth is nil.
	AdminToken string
	// AllowedHosts are the Host header values served (host or host:port,
	// compared case-insensitively); a request for any other host is
	// refused, which stops DNS rebinding. Empty means localhost,
	// 127.0.0.1 and [::1] on any port.
	AllowedHosts []string
	// URLSecret signs upload URLs; nil means a random per-process secret.
	URLSecret []byte
	Logger    *slog.Logger
	// Now is the clock for upload URL expiry; nil means time.Now.
	Now func() time.Time
	// Presigner, when set, issues real S3 presigned URLs for the bucket
	// instead of the local upload URLs.
	Presigner Presigner
	// History serves workflow execution histories; nil serves none.
	History interface {
		History(id string) ([]local.ExecutionHistory, error)
	}
	// Scan, Metrics and Ready, when set, serve POST /scan, GET /metrics and
	// GET /healthz/ready (NewScanHandler, NewMetricsHandler,
	// NewReadyHandler).
	Scan, Metrics, Ready http.Handler
	// RecordIntents makes POST /v1/uploads record an upload intent for
	// every URL it issues, before handing the URL out; a URL whose intent
	// cannot be recorded is not issued. The sweep then finds an upload
	// whose event was lost. It costs a store write per URL, used or not.
	RecordIntents bool
	// Console, when set, serves the admin console under /admin/ (package
	// console), behind the same Host and cross-origin checks as the API.
	// It authenticates with its own session cookie; the API keeps
	// bearer tokens.
	Console http.Handler
	// Backfills, when set, serves POST /v1/backfills and
	// GET /v1/backfills/{id}.
	Backfills *backfill.Manager
}

// Authenticator names the caller of an HTTP request; *authn.Authenticator
// is one. It gives the zero Principal, and no error, for a request that
// carries no credentials.
type Authenticator interface {
	Authenticate(r *http.Request) (domain.Principal, error)
}

// API is the local runtime's HTTP API.
type API struct {
	h    *lambdas.Handlers
	st   *store.Store
	objs objects.Driver
	opts APIOptions
	log  *slog.Logger
	mux  *http.ServeMux
	// handler is mux behind the browser-origin defences (guard).
	handler http.Handler
}

// NewAPI builds the API.
func NewAPI(h *lambdas.Handlers, st *store.Store, objs objects.Driver, opts APIOptions) (*API, error) {
	if opts.Bucket == "" {
		return nil, errors.New("local: the API needs a bucket")
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = 5 << 30
	}
	if opts.URLSecret == nil {
		opts.URLSecret = make([]byte, 32)
		if _, err := rand.Read(opts.URLSecret); err != nil {
			return nil, fmt.Errorf("local: upload URL secret: %w", err)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Auth == nil {
		opts.Auth = &authn.Authenticator{AdminToken: opts.AdminToken}
	}
	a := &API{h: h, st: st, objs: objs, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	a.routes()
	a.handler = guard(a.mux, opts.AllowedHosts, a.log)
	return a, nil
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

func (a *API) routes() {
	m := a.mux
	viewer := func(h http.HandlerFunc) http.HandlerFunc { return a.need(domain.RoleViewer, h) }
	reviewer := func(h http.HandlerFunc) http.HandlerFunc { return a.need(domain.RoleReviewer, h) }
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// The upload endpoints stand in for S3 and for the application that
	// signs upload URLs: uploads are the untrusted input the gate exists
	// for, and what they write is unreadable until scanned.
	m.HandleFunc("PUT /v1/objects/{key...}", a.putObject)
	m.HandleFunc("POST /v1/uploads", a.issueUpload)
	m.HandleFunc("PUT /v1/upload/{token}", a.putSigned)
	m.HandleFunc("GET /v1/objects/{key...}", viewer(a.getObjectRecord))
	m.HandleFunc("GET /v1/uploads", viewer(a.listIntents))
	m.HandleFunc("GET /v1/uploads/{id}", viewer(a.getIntent))
	m.HandleFunc("POST /v1/events", a.need(domain.RoleIngest, a.postEvents))
	m.HandleFunc("GET /v1/records", viewer(a.listRecords))
	m.HandleFunc("GET /v1/records/{id}", viewer(a.getRecord))
	m.HandleFunc("GET /v1/records/{id}/content", viewer(a.getContent))
	m.HandleFunc("GET /v1/records/{id}/history", viewer(a.getHistory))
	m.HandleFunc("POST /v1/records/{id}/decision", reviewer(a.decide))
	m.HandleFunc("POST /v1/records/{id}/rescan", reviewer(a.rescan))
	m.HandleFunc("GET /v1/reviews", viewer(a.listReviews))
	m.HandleFunc("GET /v1/allowlist", viewer(a.listAllowlist))
	m.HandleFunc("POST /v1/allowlist", reviewer(a.addAllowlist))
	m.HandleFunc("DELETE /v1/allowlist/{sha}", reviewer(a.removeAllowlist))
	m.HandleFunc("GET /v1/whoami", viewer(a.whoami))
	admin := func(h http.HandlerFunc) http.HandlerFunc { return a.need(domain.RoleAdmin, h) }
	m.HandleFunc("GET /v1/accounts", admin(a.listAccounts))
	m.HandleFunc("POST /v1/accounts", admin(a.addAccount))
	m.HandleFunc("POST /v1/accounts/{name}/tokens", admin(a.issueToken))
	m.HandleFunc("GET /v1/tokens", admin(a.listTokens))
	m.HandleFunc("DELETE /v1/tokens/{id}", admin(a.revokeToken))
	if a.opts.Scan != nil {
		m.Handle("POST /scan", viewer(a.opts.Scan.ServeHTTP))
	}
	if a.opts.Metrics != nil {
		m.Handle("GET /metrics", viewer(a.opts.Metrics.ServeHTTP))
	}
	if a.opts.Ready != nil {
		m.Handle("GET /healthz/ready", a.opts.Ready)
	}
	if a.opts.Console != nil {
		m.Handle("/admin/", a.opts.Console)
		m.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusSeeOther))
	}
	a.backfillRoutes()
}

// need serves next only to an authenticated principal whose role allows
// need, with the principal in the request's context: 401 without
// credentials or with ones that do not check out, 403 with too small a
// role.
func (a *API) need(need domain.Role, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.opts.Auth.Authenticate(r)
		switch {
		case err != nil:
			a.log.Info("credentials refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="scangate", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, errors.New("credentials not accepted"))
			return
		case p.Name == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="scangate"`)
			writeError(w, http.StatusUnauthorized, errors.New("authentication required"))
			return
		case !p.Can(need):
			writeError(w, http.StatusForbidden, fmt.Errorf("%s (%s) may not do this: it needs the %s role", p.Name, p.Role, need))
			return
		}
		next(w, r.WithContext(authn.WithPrincipal(r.Context(), p)))
	}
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, authn.FromContext(r.Context()))
}

// upload streams the request body into the bucket and ingests the new
// version exactly as an S3 event would: through the same event parser.
func (a *API) upload(w http.ResponseWriter, r *http.Request, key string, maxBytes int64, wantSHA string) {
	if err := objects.ValidateKey(key); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	// Tags are the scanner's to write; an uploader-set tag could claim a
	// verdict, so uploads carrying tags are refused.
	if r.Header.Get("X-Amz-Tagging") != "" || r.URL.Query().Has("tagging") {
		writeError(w, http.StatusForbidden, errors.New("uploads may not set tags"))
		return
	}
	if r.ContentLength > maxBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("upload of %d bytes exceeds %d", r.ContentLength, maxBytes))
		return
	}
	if s := r.Header.Get("X-Amz-Checksum-Sha256"); s != "" && wantSHA == "" {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw) != sha256.Size {
			writeError(w, http.StatusBadRequest, errors.New("x-amz-checksum-sha256 is not a base64 SHA-256"))
			return
		}
		wantSHA = hex.EncodeToString(raw)
	}
	body := http.MaxBytesReader(w, r.Body, maxBytes)
	hash := sha256.New()
	meta := map[string]string{}
	for k, v := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-meta-") && len(v) > 0 {
			meta[strings.TrimPrefix(lk, "x-amz-meta-")] = v[0]
		}
	}
	ref, err := a.objs.Put(r.Context(), a.opts.Bucket, key, io.TeeReader(body, hash), objects.PutOptions{
		ContentType: r.Header.Get("Content-Type"), Metadata: meta,
	})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, err)
			return
		}
		writeError(w, statusOf(err), err)
		return
	}
	if got := hex.EncodeToString(hash.Sum(nil)); wantSHA != "" && !strings.EqualFold(got, wantSHA) {
		_ = a.objs.Delete(context.WithoutCancel(r.Context()), ref)
		writeError(w, http.StatusBadRequest, fmt.Errorf("checksum mismatch: body is sha256 %s", got))
		return
	}
	// Dated now, as S3 dates its events, so that ingest can match the
	// version to an upload intent issued before it.
	res, err := a.h.Ingest(r.Context(), intake.S3NotificationAt(a.opts.Now(), ref))
	if err != nil || len(res.IDs) != 1 {
		if err == nil {
			err = errors.New("upload produced no record")
		}
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	rec, err := a.st.Get(r.Context(), res.IDs[0])
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.Header().Set("Location", "/v1/records/"+rec.ID)
	writeJSON(w, http.StatusCreated, rec)
}

func (a *API) putObject(w http.ResponseWriter, r *http.Request) {
	a.upload(w, r, r.PathValue("key"), a.opts.MaxUpload, "")
}

// uploadClaims are what an upload URL allows.
type uploadClaims struct {
	Bucket   string `json:"b"`
	Key      string `json:"k"`
	Expires  int64  `json:"x"`
	MaxBytes int64  `json:"m"`
	SHA256   string `json:"s,omitempty"`
}

type uploadRequest struct {
	Key string `json:"key"`
	// Method is "PUT" (the default) or "POST", for an S3 POST policy
	// whose content-length range is [1, maxBytes].
	Method    string `json:"method"`
	Tagging   string `json:"tagging"`
	MaxBytes  int64  `json:"maxBytes"`
	ExpiresIn int    `json:"expiresInSeconds"`
	SHA256    string `json:"sha256"`
}

// issueUpload hands out a presigned-style URL: the local stand-in for an S3
// presigned PUT, bound to one key, a size limit, an expiry and optionally
// the SHA-256 the body must have.
func (a *API) issueUpload(w http.ResponseWriter, r *http.Request) {
	var req uploadRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return
	}
	if err := objects.ValidateKey(req.Key); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	asked := max(req.MaxBytes, 0)
	if req.MaxBytes <= 0 || req.MaxBytes > a.opts.MaxUpload {
		req.MaxBytes = a.opts.MaxUpload
	}
	if req.ExpiresIn <= 0 || req.ExpiresIn > 7*24*3600 {
		req.ExpiresIn = 900
	}
	if req.SHA256 != "" {
		sum, err := store.NormalizeSHA256(req.SHA256)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		req.SHA256 = sum
	}
	if req.Tagging != "" {
		writeError(w, http.StatusForbidden, errors.New("uploads may not set tags"))
		return
	}
	now := a.opts.Now()
	expiresIn := time.Duration(req.ExpiresIn) * time.Second
	// Issuing a URL needs no credentials, so the requester is whoever
	// proved it, if anyone did; a bad credential is not fatal here.
	requester, _ := a.opts.Auth.Authenticate(r)
	intent := domain.UploadIntent{
		Bucket: a.opts.Bucket, Key: req.Key, Requester: requester.Name, IssuedAt: now, SHA256: req.SHA256,
	}
	if p := a.opts.Presigner; p != nil {
		// A presigned PUT fixes the length rather than bounding it: the
		// maxBytes asked for is signed as the exact length of the upload.
		if asked > a.opts.MaxUpload {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("an upload of %d bytes exceeds %d", asked, a.opts.MaxUpload))
			return
		}
		pr := PresignRequest{
			Bucket: a.opts.Bucket, Key: req.Key, MaxBytes: asked, SHA256: req.SHA256, Expires: expiresIn,
		}
		var u PresignedUpload
		var err error
		switch strings.ToUpper(req.Method) {
		case "", http.MethodPut:
			u, err = p.PresignPut(r.Context(), pr)
			// A presigned PUT fixes the length, when one was asked for.
			intent.MinBytes, intent.MaxBytes = asked, asked
		case http.MethodPost:
			pr.MaxBytes = req.MaxBytes
			u, err = p.PresignPost(r.Context(), pr)
			intent.MinBytes, intent.MaxBytes = 1, req.MaxBytes
		default:
			err = errcode.Errorf(errcode.Invalid, "presign", req.Key, "method %q is neither PUT nor POST", req.Method)
		}
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		// SigV4 dates the signature at signing and refuses it expiresIn later.
		intent.Method, intent.ExpiresAt = u.Method, now.Add(expiresIn)
		if u.IntentID, err = a.recordIntent(r.Context(), intent); err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusCreated, u)
		return
	}
	c := uploadClaims{Bucket: a.opts.Bucket, Key: req.Key, MaxBytes: req.MaxBytes, SHA256: req.SHA256,
		Expires: now.Add(expiresIn).Unix()}
	// verify accepts the token through the whole second c.Expires.
	intent.Method, intent.MaxBytes, intent.ExpiresAt = http.MethodPut, req.MaxBytes, time.Unix(c.Expires+1, 0).UTC()
	intentID, err := a.recordIntent(r.Context(), intent)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	tok := a.sign(c)
	res := map[string]any{
		"url": "/v1/upload/" + tok, "method": "PUT", "key": req.Key,
		"maxBytes": req.MaxBytes, "expires": time.Unix(c.Expires, 0).UTC(),
	}
	if intentID != "" {
		res["intentId"] = intentID
	}
	writeJSON(w, http.StatusCreated, res)
}

// recordIntent records in when intents are on and returns its ID; "" when
// they are off. It runs before the URL is handed out, so that no URL is
// out whose upload the sweep would not look for.
func (a *API) recordIntent(ctx context.Context, in domain.UploadIntent) (string, error) {
	if !a.opts.RecordIntents {
		return "", nil
	}
	got, err := a.st.RecordIntent(ctx, in)
	if err != nil {
		a.log.Warn("upload intent not recorded; no URL issued", "bucket", in.Bucket, "key", domain.DisplayKey(in.Key), "err", err)
		return "", err
	}
	a.log.Debug("upload intent recorded", "intent", got.ID, "bucket", got.Bucket, "key", domain.DisplayKey(got.Key),
		"requester", got.Requester, "expiresAt", got.ExpiresAt)
	return got.ID, nil
}

// listIntents serves GET /v1/uploads?state=expected|arrived|expired
// (expected by default), soonest expiry first: the URLs issued and what
// became of them.
func (a *API) listIntents(w http.ResponseWriter, r *http.Request) {
	if !a.opts.RecordIntents {
		// An empty list would read as "no URLs outstanding".
		writeError(w, http.StatusNotFound, errors.New("upload intents are off: start scangate run with --record-intents to record them"))
		return
	}
	state := domain.IntentState(r.URL.Query().Get("state"))
	if state == "" {
		state = domain.IntentExpected
	}
	ins, next, err := a.st.ListIntents(r.Context(), state, page(r))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"intents": nonNil(ins), "cursor": next})
}

func (a *API) getIntent(w http.ResponseWriter, r *http.Request) {
	in, err := a.st.Intent(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (a *API) sign(c uploadClaims) string {
	payload, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, a.opts.URLSecret)
	mac.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (a *API) verify(tok string) (uploadClaims, error) {
	var c uploadClaims
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return c, errors.New("malformed upload token")
	}
	mac := hmac.New(sha256.New, a.opts.URLSecret)
	mac.Write([]byte(p))
	want := mac.Sum(nil)
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return c, errors.New("upload token signature does not match")
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return c, errors.New("malformed upload token")
	}
	if a.opts.Now().Unix() > c.Expires {
		return c, errors.New("upload token has expired")
	}
	return c, nil
}

func (a *API) putSigned(w http.ResponseWriter, r *http.Request) {
	c, err := a.verify(r.PathValue("token"))
	if err != nil {
		writeError(w, http.StatusForbidden, err)
		return
	}
	a.upload(w, r, c.Key, c.MaxBytes, c.SHA256)
}

// postEvents takes an event document (an S3 notification, an EventBridge
// event, an SQS batch of either), as an S3-compatible server's webhook
// sends them, and ingests it through the intake parser.
func (a *API) postEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, intake.MaxBatchBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	res, err := a.h.Ingest(r.Context(), body)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) getObjectRecord(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	ref := domain.ObjectRef{Bucket: a.opts.Bucket, Key: key, VersionID: r.URL.Query().Get("versionId")}
	info, err := a.objs.Head(r.Context(), ref)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	rec, err := a.st.Get(r.Context(), info.Ref.ID())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (a *API) getRecord(w http.ResponseWriter, r *http.Request) {
	rec, err := a.st.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// getHistory serves the record's workflow executions, event by event: the
// local counterpart of the Step Functions console's trace.
func (a *API) getHistory(w http.ResponseWriter, r *http.Request) {
	rec, err := a.st.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if a.opts.History == nil {
		writeError(w, http.StatusNotFound, errors.New("no execution history is kept"))
		return
	}
	execs, err := a.opts.History.History(rec.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": rec.ID, "object": rec.Object, "state": rec.State, "executions": nonNil(execs)})
}

// getContent serves an object's bytes only in a readable state: the gate
// the bucket policy enforces in AWS.
func (a *API) getContent(w http.ResponseWriter, r *http.Request) {
	rec, err := a.st.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if !rec.State.Readable() || rec.Quarantine != nil {
		writeError(w, http.StatusForbidden, fmt.Errorf("record %s is %s; its bytes are not readable", rec.ID, rec.State))
		return
	}
	ref := rec.Object
	rc, info, err := a.objs.Open(r.Context(), ref)
	if errcode.Of(err) == errcode.NotFound && (rec.State == domain.StatusReleased || rec.State == domain.StatusAllowlisted) {
		// A reviewed object came back from quarantine as a new version:
		// serve the version the release wrote, found through the proof
		// scangate recorded for it.
		if ref, err = a.releasedVersion(r.Context(), rec); err == nil {
			rc, info, err = a.objs.Open(r.Context(), ref)
		}
	}
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Ref.Size, 10))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(rec.Object.Key)}))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.Copy(w, rc)
}

// releasedVersion finds the version a review of rec wrote back: the newest
// version of its key with a release proof naming rec.
func (a *API) releasedVersion(ctx context.Context, rec *domain.Record) (domain.ObjectRef, error) {
	vl, ok := a.objs.(interface {
		Versions(ctx context.Context, bucket, key string) ([]objects.Info, error)
	})
	if !ok {
		return domain.ObjectRef{}, errcode.Errorf(errcode.NotFound, "content", rec.ID, "the bucket cannot list versions to find the released copy")
	}
	vs, err := vl.Versions(ctx, rec.Object.Bucket, rec.Object.Key)
	if err != nil {
		return domain.ObjectRef{}, err
	}
	for _, vi := range vs { // newest first
		v := vi.Ref
		p, err := a.st.ReleaseProof(ctx, v.Bucket, v.Key, v.VersionID)
		if err != nil {
			return domain.ObjectRef{}, err
		}
		if p != nil && p.RecordID == rec.ID {
			return v, nil
		}
	}
	return domain.ObjectRef{}, errcode.Errorf(errcode.NotFound, "content", rec.ID, "no released copy of this record is in the bucket")
}

func page(r *http.Request) store.Page {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	return store.Page{Cursor: r.URL.Query().Get("cursor"), Limit: limit}
}

func (a *API) listRecords(w http.ResponseWriter, r *http.Request) {
	state := domain.Status(r.URL.Query().Get("state"))
	recs, next, err := a.st.ListByState(r.Context(), state, page(r))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": nonNil(recs), "cursor": next})
}

func (a *API) listReviews(w http.ResponseWriter, r *http.Request) {
	p := page(r)
	res, err := a.h.Review(r.Context(), authn.FromContext(r.Context()), lambdas.ReviewRequest{Action: "list", Cursor: p.Cursor, Limit: p.Limit})
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": nonNil(res.Items), "cursor": res.Cursor})
}

type decisionBody struct {
	Decision domain.Decision `json:"decision"`
	Reviewer string          `json:"reviewer"`
	Comment  string          `json:"comment"`
}

func (a *API) decide(w http.ResponseWriter, r *http.Request) {
	var b decisionBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return
	}
	res, err := a.h.Review(r.Context(), authn.FromContext(r.Context()), lambdas.ReviewRequest{
		Action: "decide", ID: r.PathValue("id"), Decision: b.Decision, Reviewer: b.Reviewer, Comment: b.Comment,
	})
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) rescan(w http.ResponseWriter, r *http.Request) {
	var b decisionBody
	_ = json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&b)
	res, err := a.h.Review(r.Context(), authn.FromContext(r.Context()), lambdas.ReviewRequest{
		Action: "rescan", ID: r.PathValue("id"), Reviewer: b.Reviewer, Comment: b.Comment,
	})
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) listAllowlist(w http.ResponseWriter, r *http.Request) {
	es, next, err := a.st.ListAllowlist(r.Context(), page(r))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": nonNil(es), "cursor": next})
}

func (a *API) addAllowlist(w http.ResponseWriter, r *http.Request) {
	var e domain.AllowlistEntry
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&e); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return
	}
	p := authn.FromContext(r.Context())
	if e.AddedBy != "" && e.AddedBy != p.Name {
		writeError(w, http.StatusBadRequest, fmt.Errorf("the request names %q, but the caller is %q: an entry records who added it", e.AddedBy, p.Name))
		return
	}
	e.AddedBy, e.AddedAt = p.Name, time.Time{}
	got, err := a.st.AddAllowlist(r.Context(), e)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	a.log.Info("allowlist entry added", "sha256", got.SHA256, "by", p.Name, "via", p.Via, "reason", got.Reason)
	writeJSON(w, http.StatusCreated, got)
}

func (a *API) removeAllowlist(w http.ResponseWriter, r *http.Request) {
	p := authn.FromContext(r.Context())
	if err := a.st.RemoveAllowlist(r.Context(), r.PathValue("sha")); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	a.log.Info("allowlist entry removed", "sha256", r.PathValue("sha"), "by", p.Name, "via", p.Via)
	w.WriteHeader(http.StatusNoContent)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func statusOf(err error) int {
	switch errcode.Of(err) {
	case errcode.NotFound:
		return http.StatusNotFound
	case errcode.Invalid:
		return http.StatusBadRequest
	case errcode.ConditionFailed, errcode.AlreadyExists, errcode.Changed:
		return http.StatusConflict
	case errcode.Throttled, errcode.Unavailable:
		return http.StatusServiceUnavailable
	}
	var se *lambdas.StepError
	if errors.As(err, &se) {
		switch se.Type {
		case lambdas.ErrInvalidInput:
			return http.StatusBadRequest
		case lambdas.ErrUnavailable:
			return http.StatusServiceUnavailable
		}
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
