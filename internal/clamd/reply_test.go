package clamd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scangate/scangate/internal/clamd"
)

func TestParseReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply string
		want  clamd.Result
	}{
		{
			name:  "clean",
			reply: "stream: OK",
			want:  clamd.Result{Status: clamd.StatusClean, Raw: "stream: OK"},
		},
		{
			name:  "found unofficial",
			reply: "stream: Scangate.Test.EICAR.UNOFFICIAL FOUND",
			want: clamd.Result{
				Status:     clamd.StatusFound,
				Signatures: []string{"Scangate.Test.EICAR.UNOFFICIAL"},
				Raw:        "stream: Scangate.Test.EICAR.UNOFFICIAL FOUND",
			},
		},
		{
			name:  "found official with dashes",
			reply: "stream: Win.Test.EICAR_HDB-1 FOUND",
			want: clamd.Result{
				Status:     clamd.StatusFound,
				Signatures: []string{"Win.Test.EICAR_HDB-1"},
				Raw:        "stream: Win.Test.EICAR_HDB-1 FOUND",
			},
		},
		{
			name:  "found name with colon",
			reply: "stream: YARA.rule:x FOUND",
			want: clamd.Result{
				Status:     clamd.StatusFound,
				Signatures: []string{"YARA.rule:x"},
				Raw:        "stream: YARA.rule:x FOUND",
			},
		},
		{
			name:  "a signature named OK is still found",
			reply: "stream: OK FOUND",
			want:  clamd.Result{Status: clamd.StatusFound, Signatures: []string{"OK"}, Raw: "stream: OK FOUND"},
		},
		{
			name:  "max file size",
			reply: "stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
			want: clamd.Result{
				Status:     clamd.StatusLimit,
				Signatures: []string{"Heuristics.Limits.Exceeded.MaxFileSize"},
				Limit:      "MaxFileSize",
				Raw:        "stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
			},
		},
		{
			name:  "max recursion",
			reply: "stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND",
			want: clamd.Result{
				Status:     clamd.StatusLimit,
				Signatures: []string{"Heuristics.Limits.Exceeded.MaxRecursion"},
				Limit:      "MaxRecursion",
				Raw:        "stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND",
			},
		},
		{
			name:  "bare limits name of old clamd",
			reply: "stream: Heuristics.Limits.Exceeded FOUND",
			want: clamd.Result{
				Status:     clamd.StatusLimit,
				Signatures: []string{"Heuristics.Limits.Exceeded"},
				Limit:      "Unknown",
				Raw:        "stream: Heuristics.Limits.Exceeded FOUND",
			},
		},
		{
			name:  "encrypted zip",
			reply: "stream: Heuristics.Encrypted.Zip FOUND",
			want: clamd.Result{
				Status:     clamd.StatusLimit,
				Signatures: []string{"Heuristics.Encrypted.Zip"},
				Limit:      "Encrypted",
				Raw:        "stream: Heuristics.Encrypted.Zip FOUND",
			},
		},
		{
			name:  "unofficial signature cannot pose as a limit alert",
			reply: "stream: Heuristics.Limits.Exceeded.MaxFileSize.UNOFFICIAL FOUND",
			want: clamd.Result{
				Status:     clamd.StatusFound,
				Signatures: []string{"Heuristics.Limits.Exceeded.MaxFileSize.UNOFFICIAL"},
				Raw:        "stream: Heuristics.Limits.Exceeded.MaxFileSize.UNOFFICIAL FOUND",
			},
		},
		{
			name:  "similar prefix is a real detection",
			reply: "stream: Heuristics.Limits.ExceededX FOUND",
			want: clamd.Result{
				Status:     clamd.StatusFound,
				Signatures: []string{"Heuristics.Limits.ExceededX"},
				Raw:        "stream: Heuristics.Limits.ExceededX FOUND",
			},
		},
		{
			name:  "other heuristics are detections",
			reply: "stream: Heuristics.Phishing.Email.SpoofedDomain FOUND",
			want: clamd.Result{
				Status:     clamd.StatusFound,
				Signatures: []string{"Heuristics.Phishing.Email.SpoofedDomain"},
				Raw:        "stream: Heuristics.Phishing.Email.SpoofedDomain FOUND",
			},
		},
		{
			name:  "several matches, real one wins, limit kept",
			reply: "stream: Heuristics.Encrypted.Zip FOUND\nstream: Win.Test.EICAR_HDB-1 FOUND\nstream: Heuristics.Encrypted.Zip FOUND",
			want: clamd.Result{
				Status:     clamd.StatusFound,
				Signatures: []string{"Heuristics.Encrypted.Zip", "Win.Test.EICAR_HDB-1"},
				Limit:      "Encrypted",
				Raw:        "stream: Heuristics.Encrypted.Zip FOUND\nstream: Win.Test.EICAR_HDB-1 FOUND\nstream: Heuristics.Encrypted.Zip FOUND",
			},
		},
		{
			name:  "several limits, first named",
			reply: "stream: Heuristics.Limits.Exceeded.MaxFiles FOUND\nstream: Heuristics.Limits.Exceeded.MaxScanSize FOUND",
			want: clamd.Result{
				Status:     clamd.StatusLimit,
				Signatures: []string{"Heuristics.Limits.Exceeded.MaxFiles", "Heuristics.Limits.Exceeded.MaxScanSize"},
				Limit:      "MaxFiles",
				Raw:        "stream: Heuristics.Limits.Exceeded.MaxFiles FOUND\nstream: Heuristics.Limits.Exceeded.MaxScanSize FOUND",
			},
		},
		{
			name:  "size limit",
			reply: "INSTREAM size limit exceeded. ERROR",
			want:  clamd.Result{Status: clamd.StatusSizeLimit, Limit: "StreamMaxLength", Raw: "INSTREAM size limit exceeded. ERROR"},
		},
		{
			name:  "other error",
			reply: "stream: Can't allocate memory ERROR",
			want:  clamd.Result{Status: clamd.StatusError, Raw: "stream: Can't allocate memory ERROR"},
		},
		{
			name:  "ok error is an error",
			reply: "stream: OK ERROR",
			want:  clamd.Result{Status: clamd.StatusError, Raw: "stream: OK ERROR"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := clamd.ParseReply(tt.reply)
			if err != nil {
				t.Fatalf("ParseReply(%q) error: %v", tt.reply, err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("ParseReply(%q) mismatch (-got +want):\n%s", tt.reply, diff)
			}
			if got.Clean() != (tt.want.Status == clamd.StatusClean) {
				t.Errorf("ParseReply(%q).Clean() = %v", tt.reply, got.Clean())
			}
		})
	}
}

func TestParseReplyRejects(t *testing.T) {
	t.Parallel()
	for _, reply := range []string{
		"",
		"OK",
		"stream: OKX",
		"stream: OK ",
		" stream: OK",
		"stream:OK",
		"Stream: OK",
		"stream: ok",
		"stream: OK\n",
		"stream: OK\x00",
		"stream: OK\x00stream: OK",
		"stream: OK\nstream: OK",
		"stream: OK\nstream: X FOUND",
		"stream: X FOUND\nstream: OK",
		"1: stream: OK",
		"1: stream: X FOUND",
		"stream: FOUND",
		"stream:  FOUND",
		"stream:   FOUND",
		"stream: X  FOUND",
		"stream: X FOUND\n",
		"stream: X FOUND\n\n",
		"stream: X FOUND trailing",
		"stream: X FOUNDX",
		"stream: X\tY FOUND",
		"stream: X\x00 FOUND",
		"stream: \xff FOUND",
		"x: X FOUND",
		"PONG",
		"ERROR",
		" ERROR",
		"stream: OK\n ERROR",
		"COMMAND READ TIMED OUT",
		"UNKNOWN COMMAND",
		"garbage",
	} {
		got, err := clamd.ParseReply(reply)
		if !errors.Is(err, clamd.ErrProtocol) {
			t.Errorf("ParseReply(%q) = %+v, %v; want ErrProtocol", reply, got, err)
		}
		if got.Clean() {
			t.Errorf("ParseReply(%q).Clean() = true", reply)
		}
	}
}

func TestResultZeroIsNotClean(t *testing.T) {
	t.Parallel()
	var r clamd.Result
	if r.Clean() {
		t.Error("zero Result is clean")
	}
	if got := r.Status.String(); got != "unknown" {
		t.Errorf("zero Status.String() = %q, want unknown", got)
	}
}

func TestStatusString(t *testing.T) {
	t.Parallel()
	for s, want := range map[clamd.Status]string{
		clamd.StatusClean:     "clean",
		clamd.StatusFound:     "found",
		clamd.StatusLimit:     "limit",
		clamd.StatusSizeLimit: "size-limit",
		clamd.StatusError:     "error",
		clamd.Status(42):      "status(42)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

// FuzzParseReply checks the one property the project stakes its safety on:
// only the exact clean reply is clean.
func FuzzParseReply(f *testing.F) {
	// Replies seen from clamd 1.4.6, and near misses.
	for _, seed := range []string{
		"stream: OK",
		"stream: Scangate.Test.EICAR.UNOFFICIAL FOUND",
		"stream: Scangate.Test.ClamExe.UNOFFICIAL FOUND",
		"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
		"stream: Heuristics.Limits.Exceeded.MaxFiles FOUND",
		"stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND",
		"stream: Heuristics.Encrypted.Zip FOUND",
		"INSTREAM size limit exceeded. ERROR",
		"COMMAND READ TIMED OUT\n",
		"UNKNOWN COMMAND",
		"1: stream: OK",
		"stream: OK\x00",
		"stream: OK\nstream: OK",
		"stream: A FOUND\nstream: Heuristics.Encrypted.PDF FOUND",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		res, err := clamd.ParseReply(reply)
		if res.Clean() && reply != "stream: OK" {
			t.Fatalf("ParseReply(%q) is clean", reply)
		}
		if err != nil {
			if !errors.Is(err, clamd.ErrProtocol) {
				t.Fatalf("ParseReply(%q) error %v does not wrap ErrProtocol", reply, err)
			}
			if res.Status != clamd.StatusUnknown || res.Raw != "" {
				t.Fatalf("ParseReply(%q) returned %+v with error", reply, res)
			}
			return
		}
		if res.Raw != reply {
			t.Fatalf("ParseReply(%q).Raw = %q", reply, res.Raw)
		}
		switch res.Status {
		case clamd.StatusClean, clamd.StatusError:
		case clamd.StatusFound:
			if len(res.Signatures) == 0 {
				t.Fatalf("ParseReply(%q) found no signature names", reply)
			}
		case clamd.StatusLimit, clamd.StatusSizeLimit:
			if res.Limit == "" {
				t.Fatalf("ParseReply(%q) = %v without Limit", reply, res.Status)
			}
		default:
			t.Fatalf("ParseReply(%q) status %v", reply, res.Status)
		}
		for _, name := range res.Signatures {
			if name == "" || strings.ContainsAny(name, "\x00\n") {
				t.Fatalf("ParseReply(%q) signature %q", reply, name)
			}
		}
	})
}
