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
	"github.com/scangate/scangate/internal/backfill"
	"github.com/scangate/scangate/internal/console"
	"github.com/scangate/scangate/internal/engine"
	"github.com/scangate/scangate/internal/httpapi"
	"github.com/scangate/scangate/internal/metrics"
	"github.com/scangate/scangate/internal/notify"
	"github.com/scangate/scangate/internal/policy"
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
		histKeep   = fl.Duration("history-retention", defaultHistoryRetention, "how long a workflow execution's history is kept after its last event (0: for ever); records and their transitions are kept regardless")
		noCache    = fl.Bool("no-verdict-cache", false, "scan identical bytes again instead of reusing a clean verdict")
		intents    = fl.Bool("record-intents", false, "record an upload intent for every URL POST /v1/uploads issues, so that an upload whose event is lost is still found (one store write per URL)")
		grace      = fl.Duration("intent-grace", lambdas.DefaultIntentGrace, "how long after its URL expired an upload may still arrive before its intent is settled")
		logJSON    = fl.Bool("log-json", false, "log JSON lines instead of text")
		retroWin   = fl.Duration("retro-window", lambdas.DefaultRetroWindow, "when the signature database changes, rescan versions found clean within this long under an older one (0: off)")
		retroRate  = fl.Float64("retro-rate", 5, "retro-hunt rescans started per second at most; they also wait while new uploads use half the workers")
		policyFile = fl.String("policy", "", "per-prefix policy and SHA-256 denylist (YAML or JSON, see docs/policy.md), checked at start")
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
	if *histKeep < 0 {
		fmt.Fprintln(stderr, "scangate: --history-retention must not be negative")
		return 2
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logJSON {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	if err := serve(ctx, runConfig{
		engine: ef, listen: *listen, dataDir: *dataDir, storeURL: *storeURL, bucket: *bucket, qBucket: *qBucket,
		policy: *policy, workers: *workers, lease: *lease, adminToken: *adminToken,
		timeScale: *timeScale, sweep: *sweep, historyRetention: *histKeep, noCache: *noCache, largeMax: *largeMax, self: self,
		recordIntents: *intents, intentGrace: *grace, maxPut: *maxPut, allowedHosts: hosts,
		policyFile: *policyFile, retroWindow: *retroWin, retroRate: *retroRate,
		secureCookies: *secureCk, notifyURL: *notifyURL, notifySecret: *notifySec, consoleURL: *consoleURL,
	}, log, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return 1
	}
	return 0
}

// defaultHistoryRetention keeps execution histories as long as the AWS
// stack keeps its logs (cdk/gate's LogRetentionDays).
const defaultHistoryRetention = 90 * 24 * time.Hour

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
	historyRetention        time.Duration
	noCache                 bool
	largeMax                int64
	self                    []string
	recordIntents           bool
	intentGrace             time.Duration
	maxPut                  int64
	allowedHosts            []string
	policyFile              string
	retroWindow             time.Duration
	retroRate               float64
	secureCookies           bool
	notifyURL, notifySecret string
	consoleURL              string
}

func serve(ctx context.Context, c runConfig, log *slog.Logger, stdout, stderr io.Writer) error {
	var rules *policy.Policy
	if c.policyFile != "" {
		// Before anything starts: a bad policy file stops the command,
		// naming its line.
		var err error
		if rules, err = policy.Load(c.policyFile); err != nil {
			return err
		}
		log.Info("policy loaded", "file", c.policyFile, "rules", len(rules.Rules), "denylisted", rules.DenylistSize())
	}
	st, err := openStore(ctx, c.dataDir, c.storeURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkAccess(ctx, st, &c, stdout); err != nil {
		return err
	}
	objs, presigner, closeBucket, err := openBucket(ctx, &c)
	if err != nil {
		return err
	}
	defer closeBucket()
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
	eng, stopEngine, err := startScanner(ctx, c.engine, br, log, func(s string) { fmt.Fprint(stderr, s) })
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
	cfg := lambdas.Config{
		Store: st, Objects: objs, Scanner: eng, Logger: log,
		QuarantineBucket: c.qBucket, UnscannablePolicy: lambdas.Policy(c.policy), LeaseTTL: c.lease,
		MaxScanBytes: c.engine.streamMax, Owner: "local:" + hostname(), DisableVerdictCache: c.noCache,
		Metrics: prom, SelfPrincipals: c.self, Intents: c.recordIntents, IntentGrace: c.intentGrace,
		Policy: rules,
	}
	if hook != nil {
		cfg.Results = hook
	}
	if c.largeMax > 0 {
		large, stopLarge, err := startLargePath(ctx, c, log)
		defer stopLarge()
		if err != nil {
			return err
		}
		cfg.LargeScanner, cfg.LargeMaxBytes = large, c.largeMax
	}
	wopts := local.WorkflowOptions{
		Workers: c.workers, TimeScale: c.timeScale, SweepEvery: c.sweep,
		HistoryDir: filepath.Join(c.dataDir, "executions"), HistoryRetention: c.historyRetention, Logger: log,
	}
	// The embedded store keeps the histories in its own commits; with
	// DynamoDB they stay files in the data folder.
	if hs, ok := st.Driver().(local.HistoryStore); ok {
		wopts.Histories = hs
	}
	flows, h, err := local.New(st, cfg, wopts)
	if err != nil {
		return err
	}
	// The retro-hunt's progress, for the dashboard and alerts.
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scangate_retro_pending", Help: "Versions found clean under an older signature database that the retro-hunt has yet to rescan."},
			func() float64 { return float64(h.RetroProgress().Pending) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "scangate_retro_rescans_total", Help: "Rescans the retro-hunt started."},
			func() float64 { return float64(h.RetroProgress().Started) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "scangate_retro_detected_total", Help: "Versions found clean before and infected by a newer signature database."},
			func() float64 { return float64(h.RetroProgress().Detected) }),
	)
	retroCtx, stopRetro := context.WithCancel(ctx)
	retroDone := make(chan struct{})
	go func() {
		defer close(retroDone)
		h.RetroLoop(retroCtx, lambdas.RetroOptions{Window: c.retroWindow, Rate: c.retroRate, Busy: flows.Busy})
	}()
	defer func() { stopRetro(); <-retroDone }()
	copts := console.Options{
		Handlers: h, Store: st, Accounts: st, History: flows, Engine: eng, Clamd: eng,
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
		Ready:         httpapi.NewReadyHandler(httpapi.ReadyChecks{Clamd: eng, Engine: eng, Breaker: br, Recorder: prom}),
		// Backfills run the committed backfill definition until the
		// server stops; their checkpoints let the next start of the same
		// job resume.
		Backfills: backfill.NewManager(ctx, &backfill.Runner{Store: st, Objects: objs, Ingest: h, Logger: log, Workflow: flows}),
	})
	if err != nil {
		return err
	}
	return listenAndServe(ctx, c, api, flows, log, stdout)
}

// openBucket opens the protected bucket: a local bucket in --data, or
// s3://… (then upload URLs are real presigned ones). c.bucket becomes the
// bucket's name.
func openBucket(ctx context.Context, c *runConfig) (objects.Driver, httpapi.Presigner, func(), error) {
	if !strings.Contains(c.bucket, "://") {
		d, err := localdir.Open(filepath.Join(c.dataDir, "buckets"), nil)
		if err != nil {
			return nil, nil, nil, err
		}
		return d, nil, func() { d.Close() }, nil
	}
	d, name, err := urlopen.OpenBucket(ctx, c.bucket)
	if err != nil {
		return nil, nil, nil, err
	}
	closeFn := func() {}
	if cl, ok := d.(io.Closer); ok {
		closeFn = func() { cl.Close() }
	}
	var presigner httpapi.Presigner
	if s3c, ok := d.(interface{ S3Client() *s3.Client }); ok {
		presigner = httpapi.S3Presigner{Client: s3c.S3Client()}
	}
	c.bucket = name
	return d, presigner, closeFn, nil
}

// startLargePath starts the large-object path's own clamd, which takes
// streams up to --large-stream-max.
func startLargePath(ctx context.Context, c runConfig, log *slog.Logger) (*engine.Generations, func(), error) {
	if c.largeMax <= c.engine.streamMax || c.engine.clamdAddr != "" {
		return nil, func() {}, fmt.Errorf("--large-stream-max must exceed --stream-max, and starts a clamd of its own (not with --clamd)")
	}
	lf := c.engine
	lf.streamMax = c.largeMax
	lf.maxFileSize, lf.maxScanSize = max(lf.maxFileSize, c.largeMax), max(lf.maxScanSize, c.largeMax)
	large, stop, err := startScanner(ctx, lf, nil, log.With("path", "large"), func(string) {})
	if err != nil {
		return nil, stop, fmt.Errorf("large-object path: %w", err)
	}
	log.Info("large-object path ready", "streamMax", c.engine.streamMax, "largeStreamMax", c.largeMax)
	return large, stop, nil
}

// listenAndServe runs the workflows and the API until ctx ends, then
// shuts both down: the API first, so that nothing new starts, then the
// runner, whose in-flight executions get its drain period.
func listenAndServe(ctx context.Context, c runConfig, api http.Handler, flows *local.Workflows, log *slog.Logger, stdout io.Writer) error {
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
