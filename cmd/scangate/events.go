package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/scangate/scangate/internal/intake"
)

// cmdEvents is `scangate events decode`: read one event document on stdin
// and print the object versions it would have scanned, through the very
// parser the intake uses.
func cmdEvents(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintln(stderr, "usage: scangate events decode [--quarantine-bucket B] [--quarantine-prefix P] [--self-principal ID]... < EVENT.json")
		return 2
	}
	if len(args) == 0 || args[0] != "decode" {
		return usage()
	}
	fl := flag.NewFlagSet("events decode", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var f intake.Filter
	fl.StringVar(&f.QuarantineBucket, "quarantine-bucket", "", "events for this bucket are scangate's own copies")
	fl.StringVar(&f.QuarantinePrefix, "quarantine-prefix", "", "events under this key prefix are scangate's own copies")
	fl.Func("self-principal", "scangate's own principal; its writes are not scanned (repeatable)", func(v string) error {
		f.SelfPrincipals = append(f.SelfPrincipals, v)
		return nil
	})
	if err := fl.Parse(args[1:]); err != nil || fl.NArg() != 0 {
		return usage()
	}
	data, err := io.ReadAll(io.LimitReader(stdin, intake.MaxBatchBytes+1))
	if err != nil {
		fmt.Fprintln(stderr, "scangate: read stdin:", err)
		return 2
	}
	b, err := intake.Decode(data)
	if err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return 2
	}
	b = f.Apply(b)
	b.Refs = intake.Dedup(b.Refs)
	if err := intake.WriteDecoded(stdout, b); err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return 2
	}
	for _, f := range b.Failures {
		fmt.Fprintf(stderr, "scangate: message %s: %v\n", f.MessageID, f.Err)
	}
	if len(b.Failures) > 0 {
		return 2
	}
	return 0
}
