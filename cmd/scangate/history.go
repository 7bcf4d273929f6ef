package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/scangate/scangate/internal/intake"
)

var recordID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// cmdHistory is `scangate history OBJECT`: the local counterpart of the
// Step Functions console's trace. OBJECT is a record ID or a key in the
// protected bucket (its latest version, or KEY?versionId=V).
func cmdHistory(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("history", flag.ContinueOnError)
	fl.SetOutput(stderr)
	api := fl.String("api", "http://127.0.0.1:8080", "the running scangate's HTTP API")
	asJSON := fl.Bool("json", false, "print the raw JSON")
	token := fl.String("token", os.Getenv("SCANGATE_TOKEN"), "API token of an account with the viewer role (default $SCANGATE_TOKEN)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: scangate history [--api URL] [--token TOKEN] [--json] RECORD-ID|KEY[?versionId=V]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return parseExit(err)
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return 2
	}
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(path string, v any) error {
		req, err := http.NewRequest(http.MethodGet, strings.TrimRight(*api, "/")+path, nil)
		if err != nil {
			return err
		}
		if *token != "" {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	id := fl.Arg(0)
	if !recordID.MatchString(id) {
		key, query, _ := strings.Cut(id, "?")
		segs := strings.Split(key, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		var rec struct{ ID string }
		path := "/v1/objects/" + strings.Join(segs, "/")
		if query != "" {
			path += "?" + query
		}
		if err := get(path, &rec); err != nil {
			fmt.Fprintln(stderr, "scangate:", err)
			return 1
		}
		id = rec.ID
	}
	var h struct {
		ID     string          `json:"id"`
		State  string          `json:"state"`
		Object json.RawMessage `json:"object"`
		Execs  []struct {
			Execution string `json:"execution"`
			Events    []struct {
				Time    time.Time `json:"timestamp"`
				Type    string    `json:"type"`
				State   string    `json:"state"`
				Error   string    `json:"error"`
				Attempt int       `json:"attempt"`
				Delay   string    `json:"delay"`
			} `json:"events"`
		} `json:"executions"`
	}
	var raw json.RawMessage
	if err := get("/v1/records/"+id+"/history", &raw); err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return 1
	}
	if *asJSON {
		stdout.Write(append(intake.EscapeHidden(raw), '\n'))
		return 0
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		fmt.Fprintln(stderr, "scangate:", err)
		return 1
	}
	var obj bytes.Buffer
	if err := json.Compact(&obj, h.Object); err != nil {
		obj.Write(h.Object)
	}
	fmt.Fprintf(stdout, "record %s  %s  now %s\n", h.ID, intake.EscapeHidden(obj.Bytes()), h.State)
	for _, e := range h.Execs {
		fmt.Fprintf(stdout, "\nexecution %s\n", e.Execution)
		for _, ev := range e.Events {
			line := fmt.Sprintf("  %s  %-22s %s", ev.Time.Format("15:04:05.000"), ev.Type, ev.State)
			if ev.Attempt > 1 || ev.Type == "TaskRetry" {
				line += fmt.Sprintf("  attempt %d", ev.Attempt)
			}
			if ev.Error != "" {
				line += "  " + ev.Error
			}
			if ev.Delay != "" {
				line += "  retry in " + ev.Delay
			}
			fmt.Fprintln(stdout, line)
		}
	}
	return 0
}
