package clamd

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Status is the verdict class of an INSTREAM scan. Only StatusClean means
// the object may be released; every other value, including the zero value,
// means it may not.
type Status int

const (
	// StatusUnknown is the zero value. No successful call returns it; it
	// exists so that a zero Result is never clean.
	StatusUnknown Status = iota
	// StatusClean: clamd answered exactly "stream: OK" for a complete stream.
	StatusClean
	// StatusFound: clamd found a signature (Result.Signatures names it).
	StatusFound
	// StatusLimit: clamd could not scan the object completely and said so
	// with a Heuristics.Limits.Exceeded.* or Heuristics.Encrypted.* alert
	// (Result.Limit names which).
	StatusLimit
	// StatusSizeLimit: the stream was longer than clamd's StreamMaxLength
	// or the client's Options.MaxStreamBytes. The object was not scanned
	// to its end.
	StatusSizeLimit
	// StatusError: clamd answered "... ERROR".
	StatusError
)

var statusNames = [...]string{
	StatusUnknown:   "unknown",
	StatusClean:     "clean",
	StatusFound:     "found",
	StatusLimit:     "limit",
	StatusSizeLimit: "size-limit",
	StatusError:     "error",
}

// String returns a short lowercase name, suitable as a metric label.
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Result is clamd's verdict on one stream.
type Result struct {
	Status Status
	// Signatures lists the names clamd reported, in order, without
	// duplicates. For StatusLimit it holds the heuristic alert names.
	Signatures []string
	// Limit names the limit that stopped a complete scan: the <X> of a
	// Heuristics.Limits.Exceeded.<X> alert (for example "MaxFileSize"),
	// "Encrypted" for a Heuristics.Encrypted.* alert, "StreamMaxLength" for
	// clamd's INSTREAM size limit and "MaxStreamBytes" for the client's own.
	// It may be set together with StatusFound, when a real signature and a
	// limit alert were both reported.
	Limit string
	// Raw is clamd's reply without its NUL terminator; several replies are
	// joined with "\n". It is empty when the client stopped on its own
	// (MaxStreamBytes).
	Raw string
	// Bytes is the number of object bytes sent to clamd.
	Bytes int64
}

// Clean reports whether the object may be treated as clean. It is true only
// for StatusClean, which only ParseReply("stream: OK") produces.
func (r Result) Clean() bool { return r.Status == StatusClean }

const (
	replyClean     = "stream: OK"
	replySizeLimit = "INSTREAM size limit exceeded. ERROR"
	foundPrefix    = "stream: "
	foundSuffix    = " FOUND"
	errorSuffix    = " ERROR"

	limitsPrefix    = "Heuristics.Limits.Exceeded"
	encryptedPrefix = "Heuristics.Encrypted."
	// unofficialSuffix is what clamd appends to names from databases it did
	// not sign itself. Engine alerts never carry it, so a third-party
	// signature that happens to be called "Heuristics.Limits.Exceeded.X" is
	// treated as a real detection, not as a limit.
	unofficialSuffix = ".UNOFFICIAL"
)

// ParseReply parses clamd's answer to INSTREAM, without the trailing NUL.
//
// It is strict, because the caller releases the object on StatusClean:
//
//   - "stream: OK" exactly is StatusClean. Nothing else is: no surrounding
//     space, no newline, no NUL, no IDSESSION number.
//   - "stream: NAME FOUND" is StatusFound, or StatusLimit when every NAME is
//     an engine limit or encryption alert. NAME is non-empty printable text
//     without leading or trailing space. Several such lines separated by
//     "\n" are accepted; a real signature then wins over limit alerts, but
//     Limit is still set. (clamd 1.4 has no all-match mode for INSTREAM: it
//     always sends one reply, whatever AllowAllMatchScan says; only
//     zALLMATCHSCAN on a file path sends one NUL-terminated reply per
//     match, duplicates included. Client.Instream joins several
//     NUL-terminated replies with "\n", should a future clamd send them.)
//   - "INSTREAM size limit exceeded. ERROR" is StatusSizeLimit; any other
//     single-line "MESSAGE ERROR" is StatusError.
//
// Anything else returns an error wrapping ErrProtocol and a zero Result.
func ParseReply(reply string) (Result, error) {
	switch {
	case reply == replyClean:
		return Result{Status: StatusClean, Raw: reply}, nil
	case reply == replySizeLimit:
		return Result{Status: StatusSizeLimit, Limit: "StreamMaxLength", Raw: reply}, nil
	case strings.HasSuffix(reply, errorSuffix):
		msg := strings.TrimSuffix(reply, errorSuffix)
		if !validText(msg) {
			return Result{}, protocolError(reply)
		}
		return Result{Status: StatusError, Raw: reply}, nil
	}

	res := Result{Status: StatusLimit, Raw: reply}
	seen := make(map[string]bool)
	for _, line := range strings.Split(reply, "\n") {
		name, ok := strings.CutPrefix(line, foundPrefix)
		if !ok {
			return Result{}, protocolError(reply)
		}
		name, ok = strings.CutSuffix(name, foundSuffix)
		if !ok || !validText(name) {
			return Result{}, protocolError(reply)
		}
		if limit, ok := limitOf(name); ok {
			if res.Limit == "" {
				res.Limit = limit
			}
		} else {
			res.Status = StatusFound
		}
		if !seen[name] {
			seen[name] = true
			res.Signatures = append(res.Signatures, name)
		}
	}
	return res, nil
}

// limitOf reports whether name is one of clamd's "could not scan it all"
// alerts, and which limit it names.
func limitOf(name string) (string, bool) {
	if strings.HasSuffix(name, unofficialSuffix) {
		return "", false
	}
	if rest, ok := strings.CutPrefix(name, limitsPrefix); ok {
		switch {
		case rest == "":
			// ClamAV before 0.104 sent the bare name for every limit.
			return "Unknown", true
		case len(rest) > 1 && rest[0] == '.':
			return rest[1:], true
		}
		return "", false
	}
	if strings.HasPrefix(name, encryptedPrefix) && len(name) > len(encryptedPrefix) {
		return "Encrypted", true
	}
	return "", false
}

// validText reports whether s is non-empty, valid UTF-8, free of control
// characters (so one line, no NUL) and without leading or trailing space.
func validText(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	return !unicode.IsSpace(first) && !unicode.IsSpace(last)
}

func protocolError(reply string) error {
	const maxQuoted = 200
	if len(reply) > maxQuoted {
		reply = reply[:maxQuoted] + "..."
	}
	return fmt.Errorf("clamd: unexpected reply %q: %w", reply, ErrProtocol)
}
