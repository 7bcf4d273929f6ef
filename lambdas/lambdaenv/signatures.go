package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scangate/scangate/internal/sigset"
	"github.com/scangate/scangate/internal/urlopen"
)

// UpdateReport is what one run of the signature updater did.
type UpdateReport struct {
	Set       string    `json:"set"`
	Version   string    `json:"version"`
	BuiltAt   time.Time `json:"builtAt"`
	Published bool      `json:"published"`
}

// updateCommand runs `scangate update`, which the image holds next to the
// updater; tests point it at a stand-in.
var updateCommand = "scangate"

// publishMargin is the time kept back from freshclam for publishing a
// set before the function's timeout.
const publishMargin = 2 * time.Minute

// SignatureUpdater returns the signature updater's handler: each call
// loads the current set, runs `scangate update` on it (freshclam, from
// SCANGATE_SIGNATURES_MIRROR or ClamAV's CDN) and publishes the result as
// a new set when it changed (package sigset). A failure changes nothing
// in the bucket, and the function's error is what the alarm counts.
func SignatureUpdater(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context) (UpdateReport, error), error) {
	url := getenv(VarSignaturesBucket)
	if url == "" {
		return nil, fmt.Errorf("lambdaenv: %s is not set", VarSignaturesBucket)
	}
	mirror := getenv(VarSignaturesMirror)
	d, bucket, err := urlopen.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("lambdaenv: %s: %w", VarSignaturesBucket, err)
	}
	update := func(ctx context.Context, dir string) error {
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-publishMargin))
			defer cancel()
		}
		args := []string{"update", "--clamav-db", dir}
		if mirror != "" {
			args = append(args, "--mirror", mirror)
		}
		out, err := exec.CommandContext(ctx, updateCommand, args...).CombinedOutput()
		log.Info("scangate update", "mirror", mirror, "output", string(out))
		if err != nil {
			return fmt.Errorf("scangate update: %w", err)
		}
		return nil
	}
	return func(ctx context.Context) (UpdateReport, error) {
		work, err := os.MkdirTemp("", "sigupdate-")
		if err != nil {
			return UpdateReport{}, fmt.Errorf("lambdaenv: %w", err)
		}
		// Warm invocations share /tmp: leave nothing behind.
		defer os.RemoveAll(work)
		res, err := sigset.Refresh(ctx, d, bucket, work, update, sigset.Options{})
		if errors.Is(err, sigset.ErrOlder) {
			log.Warn("the mirror served an older database than the current set; kept the current set", "err", err)
		}
		if err != nil {
			return UpdateReport{}, err
		}
		m := res.Manifest
		rep := UpdateReport{Set: m.ID, Version: m.Version, BuiltAt: m.BuiltAt, Published: res.Published}
		log.Info("signature set current", "set", rep.Set, "version", rep.Version, "builtAt", rep.BuiltAt,
			"published", rep.Published, "age", time.Since(rep.BuiltAt).Round(time.Second))
		return rep, nil
	}, nil
}

// MainSignatureUpdater is the whole body of the updater's main.
func MainSignatureUpdater() {
	log := Logger(os.Stdout, os.Getenv)
	h, err := SignatureUpdater(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
