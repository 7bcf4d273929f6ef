package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds JSON nesting. S3, EventBridge, SNS and SQS documents nest
// five or six levels deep.
const maxDepth = 64

// checkJSON verifies what encoding/json would silently accept: invalid
// UTF-8 and unpaired surrogate escapes (both decoded to U+FFFD, so a key
// would change), member names repeated within one object (the last one
// wins, while another parser may take the first), excessive nesting, and
// anything after the first value.
func checkJSON(data []byte) error {
	if !utf8.Valid(data) {
		return malformed("document is not valid utf-8")
	}
	if err := checkSurrogates(data); err != nil {
		return err
	}
	if plainJSON(data) {
		return nil
	}
	return checkTokens(data)
}

// checkTokens is checkJSON's own pass over the tokens, which also names
// what is wrong.
func checkTokens(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object  bool
		wantKey bool
		names   map[string]struct{}
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) != 0 {
				return malformed("document is truncated")
			}
			return malformed("document is empty")
		}
		if err != nil {
			return malformed("document is not json: %s", jsonErrText(err))
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
			} else {
				name, _ := tok.(string)
				f := foldName(name)
				if _, dup := stack[n-1].names[f]; dup {
					return malformed("document repeats the member name %q in one object", truncate(name, 64))
				}
				if stack[n-1].names == nil {
					stack[n-1].names = map[string]struct{}{}
				}
				stack[n-1].names[f] = struct{}{}
				stack[n-1].wantKey = false
				continue
			}
		} else if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
			if len(stack) >= maxDepth {
				return malformed("document nests deeper than %d levels", maxDepth)
			}
			stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			continue
		} else if ok && d == ']' {
			stack = stack[:len(stack)-1]
		}
		// A value (scalar or a just-closed container) is complete.
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			}
			continue
		}
		if _, err := dec.Token(); err != io.EOF {
			return malformed("document has data after its json value")
		}
		return nil
	}
}

// checkSurrogates rejects \u escapes of UTF-16 surrogates that do not form
// a high-low pair. Backslashes occur only inside JSON strings, so skipping
// each escape pair is enough to stay in step.
func checkSurrogates(data []byte) error {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		if i+1 < len(data) && data[i+1] == 'u' {
			r, ok := hex4(data[i+2:])
			switch {
			case ok && r >= 0xD800 && r < 0xDC00:
				lo, ok := rune(0), false
				if i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
					lo, ok = hex4(data[i+8:])
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return malformed("document has an unpaired utf-16 surrogate escape")
				}
				i += 11
				continue
			case ok && r >= 0xDC00 && r <= 0xDFFF:
				return malformed("document has an unpaired utf-16 surrogate escape")
			}
		}
		i++ // skip the escaped character
	}
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// foldName maps a member name to the form under which encoding/json
// considers two names equal: every rune is replaced by the smallest rune of
// its simple case-folding orbit ("k", "K" and the Kelvin sign all fold to
// "K").
func foldName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b.WriteRune(r)
	}
	return b.String()
}

// jsonErrText describes a decoding error without the Go type names
// encoding/json puts in its messages.
func jsonErrText(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid json at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "document"
		}
		return fmt.Sprintf("%s is a json %s, want %s", field, typ.Value, jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "document is truncated"
	}
	return "invalid json"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "struct", "map", "ptr":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return "another type"
}

// truncate shortens s to at most n bytes on a rune boundary, for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
