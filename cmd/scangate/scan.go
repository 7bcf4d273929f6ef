package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/engine"
)

// Exit codes of scan, as clamdscan's: 0 all clean, 1 something found,
// 2 an error or an object that could not be scanned completely. 2 wins
// over 1: a run that could not scan everything proves nothing about the
// rest.
const (
	exitClean = 0
	exitFound = 1
	exitError = 2
)

func cmdScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("scan", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var ef engineFlags
	ef.register(fl)
	verbose := fl.Bool("v", false, "log the engine's progress to stderr")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: scangate scan [flags] FILE...")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return parseExit(err)
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return exitError
	}
	// A file that cannot be opened fails before clamd starts: starting it
	// takes a while and prints a banner that would bury the error.
	missing := false
	for _, path := range fl.Args() {
		if f, err := os.Open(path); err != nil {
			fmt.Fprintf(stdout, "%s: error %s\n", domain.DisplayKey(path), oneLine(err.Error()))
			missing = true
		} else {
			f.Close()
		}
	}
	if missing {
		return exitError
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	eng, stop, err := startEngine(ctx, ef, nil, log, func(s string) { fmt.Fprint(stderr, s) })
	defer stop()
	if err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return exitError
	}
	code := exitClean
	for _, path := range fl.Args() {
		outcome, detail, err := scanFile(ctx, eng, path)
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "%s: error %s\n", domain.DisplayKey(path), oneLine(err.Error()))
			code = exitError
		case outcome == domain.OutcomeClean:
			fmt.Fprintf(stdout, "%s: clean\n", domain.DisplayKey(path))
		case outcome == domain.OutcomeInfected:
			fmt.Fprintf(stdout, "%s: infected %s\n", domain.DisplayKey(path), detail)
			if code == exitClean {
				code = exitFound
			}
		default:
			fmt.Fprintf(stdout, "%s: %s %s\n", domain.DisplayKey(path), outcome, detail)
			code = exitError
		}
	}
	return code
}

func scanFile(ctx context.Context, eng *engine.Engine, path string) (domain.Outcome, string, error) {
	if _, err := eng.Describe(ctx); err != nil {
		return "", "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("not a regular file")
	}
	res, err := eng.Instream(ctx, f)
	if err != nil {
		return "", "", err
	}
	outcome, reason, err := engine.Classify(res, res.Bytes == fi.Size())
	if err != nil {
		return "", "", err
	}
	if outcome == domain.OutcomeInfected {
		return outcome, strings.Join(res.Signatures, ","), nil
	}
	return outcome, reason, nil
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
