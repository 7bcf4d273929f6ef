package main

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/scangate/scangate/asl/local"
	"github.com/scangate/scangate/internal/authn"
	"github.com/scangate/scangate/internal/console"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/httpapi"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var ef engineFlags
	ef.register(fl)
	var (
		listen     = fl.String("listen", "127.0.0.1:8080", "HTTP API address")
		dataDir    = fl.String("data", "scangate-data", "directory for the embedded store, the local bucket and execution histories")
		storeURL   = fl.String("store", "", storeFlagUsage)
		bucket     = fl.String("bucket", "uploads", "the protected bucket: a name (a local bucket in --data) or s3://BUCKET?endpoint=URL&region=R")
		qBucket    = fl.String("quarantine-bucket", "quarantine", "bucket that receives quarantined objects")
		policy     = fl.String("unscannable-policy", "quarantine", "what to do with objects that cannot be scanned: quarantine or block")
		workers    = fl.Int("workers", 4, "concurrent scans")
		lease      = fl.Duration("lease", 5*time.Minute, "how long a scan may hold an object before another worker may take over")
		adminToken = fl.String("admin-token", os.Getenv("SCANGATE_ADMIN_TOKEN"), "break-glass bearer token that acts as an admin named admin-token (default $SCANGATE_ADMIN_TOKEN; empty: none)")
		maxPut     = fl.Int64("max-put", 5<<30, "largest direct upload (PUT /v1/objects) and upload URL, in bytes")
		timeScale  = fl.Float64("time-scale", 1, "multiply the workflow's retry delays and timeouts by this (tests and demos compress them)")
		sweep      = fl.Duration("sweep", 30*time.Second, "how often to look for stranded records")
		noCache    = fl.Bool("no-verdict-cache", false, "scan identical bytes again instead of reusing a clean verdict")
		intents    = fl.Bool("record-intents", false, "record an upload intent for every URL POST /v1/uploads issues, so that an upload whose event is lost is still found (one store write per URL)")
		grace      = fl.Duration("intent-grace", lambdas.DefaultIntentGrace, "how long after its URL expired an upload may still arrive before its intent is settled")
		logJSON    = fl.Bool("log-json", false, "log JSON lines instead of text")
		notifyURL  = fl.String("notify-url", "", "POST every final outcome to this URL as a signed JSON result event (see docs/console.md)")
		notifySec  = fl.String("notify-secret", os.Getenv("SCANGATE_NOTIFY_SECRET"), "the HMAC-SHA256 key that signs result notifications, and the console links they carry (default $SCANGATE_NOTIFY_SECRET; required with --notify-url)")
		consoleURL = fl.String("console-url", "", "the console's address as reviewers reach it, for links in notifications (default http://--listen)")
		secureCk   = fl.Bool("secure-cookies", false, "mark the console's session cookie Secure even over plain HTTP: set it behind a TLS-terminating proxy")
		largeMax   = fl.Int64("large-stream-max", 0, "the large-object path: scan objects above --stream-max, up to this many bytes, through a second clamd started for them (a second copy of the signatures in memory); 0: such objects are not scannable")
	)
	var hosts []string
	fl.Func("allowed-host", "a Host the API answers to, host or host:port (repeatable; default: the --listen host and localhost); other Hosts get 421, which stops DNS rebinding", func(v string) error {
		hosts = append(hosts, v)
		return nil
	})
	var self []string
	fl.Func("self-principal", "a principal whose writes are not scanned, as the events name it (repeatable): only the identity that releases objects, never one that signs upload URLs", func(v string) error {
		self = append(self, v)
		return nil
	})
	if err := fl.Parse(args); err != nil {
		return parseExit(err)
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logJSON {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	if err := serve(ctx, runConfig{
		engine: ef, listen: *listen, dataDir: *dataDir, storeURL: *storeURL, bucket: *bucket, qBucket: *qBucket,
		policy: *policy, workers: *workers, lease: *lease, adminToken: *adminToken,
		timeScale: *timeScale, sweep: *sweep, noCache: *noCache, largeMax: *largeMax, self: self,
		recordIntents: *intents, intentGrace: *grace, maxPut: *maxPut, allowedHosts: hosts,
		secureCookies: *secureCk, notifyURL: *notifyURL, notifySecret: *notifySec, consoleURL: *consoleURL,
	}, log, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return 1
	}
	return 0
}

type runConfig struct {
	engine                  engineFlags
	listen, dataDir         string
	storeURL                string
	bucket, qBucket, policy string
	workers                 int
	lease                   time.Duration
	adminToken              string
	timeScale               float64
	sweep                   time.Duration
	noCache                 bool
	largeMax                int64
	self                    []string
	recordIntents           bool
	intentGrace             time.Duration
	maxPut                  int64
	allowedHosts            []string
	secureCookies           bool
	notifyURL, notifySecret string
	consoleURL              string
}

func serve(ctx context.Context, c runConfig, log *slog.Logger, stdout, stderr io.Writer) error {
	st, err := openStore(ctx, c.dataDir, c.storeURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkAccess(ctx, st, &c, stdout); err != nil {
		return err
	}
	var objs objects.Driver
	var presigner httpapi.Presigner
	if strings.Contains(c.bucket, "://") {
		d, name, err := urlopen.OpenBucket(ctx, c.bucket)
		if err != nil {
			return err
		}
		if cl, ok := d.(io.Closer); ok {
			defer cl.Close()
		}
		if s3c, ok := d.(interface{ S3Client() *s3.Client }); ok {
			presigner = httpapi.S3Presigner{Client: s3c.S3Client()}
		}
		objs, c.bucket = d, name
	} else {
		d, err := localdir.Open(filepath.Join(c.dataDir, "buckets"), nil)
		if err != nil {
			return err
		}
		defer d.Close()
		objs = d
	}
	// Metrics on a registry of our own, served on GET /metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom, err := metrics.New(reg)
	if err != nil {
		return err
	}
	// One breaker for every scan in this process, the workflow's and
	// POST /scan's.
	br := engine.NewBreaker(engine.BreakerOptions{OnChange: func(state string) {
		log.Warn("scan engine circuit breaker", "state", state)
	}})
	eng, stopEngine, err := startEngine(ctx, c.engine, br, log, func(s string) { fmt.Fprint(stderr, s) })
	defer stopEngine()
	if err != nil {
		return err
	}
	info, err := eng.Describe(ctx)
	if err != nil {
		return fmt.Errorf("scan engine: %w", err)
	}
	log.Info("scan engine ready", "engine", info.Engine, "db", info.DBVersion, "dbTime", info.DBTime, "devSignatures", info.DevSignatures)

	var hook *notify.Webhook
	var linkKey []byte
	if c.notifyURL != "" {
		if c.notifySecret == "" {
			return errors.New("--notify-url needs --notify-secret (or $SCANGATE_NOTIFY_SECRET)")
		}
		base := c.consoleURL
		if base == "" {
			base = "http://" + c.listen
		}
		// Links are signed with a key derived from the notification
		// secret, so that they stay valid across restarts.
		linkKey = notify.DeriveKey([]byte(c.notifySecret), "console-links")
		if hook, err = notify.NewWebhook(notify.WebhookOptions{
			URL: c.notifyURL, Secret: []byte(c.notifySecret), ConsoleURL: strings.TrimSuffix(base, "/"), LinkKey: linkKey, Logger: log,
		}); err != nil {
			return err
		}
		defer hook.Close()
	}
	flows := local.NewWorkflows(st, local.WorkflowOptions{
		Workers: c.workers, TimeScale: c.timeScale, SweepEvery: c.sweep,
		HistoryDir: filepath.Join(c.dataDir, "executions"), Logger: log,
	})
	cfg := lambdas.Config{
		Store: st, Objects: objs, Scanner: eng, Starter: flows, Resumer: flows, Reviews: flows, Logger: log,
		QuarantineBucket: c.qBucket, UnscannablePolicy: c.policy, LeaseTTL: c.lease,
		MaxScanBytes: c.engine.streamMax, Owner: "local:" + hostname(), DisableVerdictCache: c.noCache,
		Metrics: prom, SelfPrincipals: c.self, Intents: c.recordIntents, IntentGrace: c.intentGrace,
	}
	if hook != nil {
		cfg.Results = hook
	}
	if c.largeMax > 0 {
		if c.largeMax <= c.engine.streamMax || c.engine.clamdAddr != "" {
			return fmt.Errorf("--large-stream-max must exceed --stream-max, and starts a clamd of its own (not with --clamd)")
		}
		lf := c.engine
		lf.streamMax = c.largeMax
		lf.maxFileSize, lf.maxScanSize = max(lf.maxFileSize, c.largeMax), max(lf.maxScanSize, c.largeMax)
		large, stopLarge, err := startEngine(ctx, lf, nil, log.With("path", "large"), func(string) {})
		defer stopLarge()
		if err != nil {
			return fmt.Errorf("large-object path: %w", err)
		}
		cfg.Offloader, cfg.LargeScanner, cfg.LargeMaxBytes = flows, large, c.largeMax
		log.Info("large-object path ready", "streamMax", c.engine.streamMax, "largeStreamMax", c.largeMax)
	}
	h, err := lambdas.New(cfg)
	if err != nil {
		return err
	}
	if err := flows.SetHandlers(h); err != nil {
		return err
	}
	copts := console.Options{
		Handlers: h, Store: st, Accounts: st, History: flows, Engine: eng, Clamd: eng.Client(),
		SecureCookies: c.secureCookies, Logger: log, LinkKey: linkKey,
	}
	if hook != nil {
		copts.Deliveries = hook
	}
	con, err := console.New(copts)
	if err != nil {
		return err
	}
	api, err := httpapi.NewAPI(h, st, objs, httpapi.APIOptions{
		Console: con,
		Bucket:  c.bucket, Logger: log, History: flows, Presigner: presigner,
		Auth:         &authn.Authenticator{Tokens: st, AdminToken: c.adminToken},
		AllowedHosts: c.allowedHosts, MaxUpload: c.maxPut,
		RecordIntents: c.recordIntents,
		Scan:          httpapi.NewScanHandler(eng, br, prom, httpapi.ScanOptions{MaxSyncBytes: c.engine.streamMax, Logger: log}),
		Metrics:       httpapi.NewMetricsHandler(reg),
		Ready:         httpapi.NewReadyHandler(httpapi.ReadyChecks{Clamd: eng.Client(), Engine: eng, Breaker: br, Recorder: prom}),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	runCtx, stopRunner := context.WithCancel(ctx)
	defer stopRunner()
	runDone := make(chan error, 1)
	go func() { runDone <- flows.Run(runCtx) }()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "scangate listening on http://%s (bucket %q, data in %s)\n", ln.Addr(), c.bucket, c.dataDir)
	fmt.Fprintf(stdout, "admin console: http://%s/admin/ (sign in with an account's password)\n", ln.Addr())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-srvDone:
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	// In-flight executions get the runner's drain period to finish.
	stopRunner()
	<-runDone
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
