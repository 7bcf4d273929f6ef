package intake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/scangate/scangate/domain"
)

// WriteDecoded writes each ref of b as one JSON object per line, with the
// members bucket, key (decoded), versionId, etag, size and sequencer;
// versionId, etag and sequencer are left out when empty. It backs
// `scangate events decode`. Ignored events and failures are not written:
// the lines are exactly the versions a scan would start for.
//
// Keys are written as JSON strings, so control characters in them are
// escaped and cannot reach a terminal raw, and so are bidirectional
// overrides and other invisible characters (EscapeHidden); "<", ">" and
// "&" are written as they are.
func WriteDecoded(w io.Writer, b Batch) error {
	bw := bufio.NewWriter(w)
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	for _, r := range b.Refs {
		line.Reset()
		if err := enc.Encode(r.ObjectRef); err != nil {
			return err
		}
		if _, err := bw.Write(EscapeHidden(line.Bytes())); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// EscapeHidden rewrites every character of a JSON document that
// domain.DisplayKey would escape as a JSON \u escape. The document still
// decodes to the same values, but a person reading it in a terminal sees
// a key's bidirectional overrides and zero-width characters instead of
// being misled by them. JSON's structure is ASCII, so such characters can
// only stand inside strings, where an escape means the same.
func EscapeHidden(doc []byte) []byte {
	var out []byte
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		if r >= 0x80 && domain.DisplayKey(string(r)) != string(r) {
			if out == nil {
				out = append(make([]byte, 0, len(doc)+16), doc[:i]...)
			}
			if r > 0xFFFF {
				r1, r2 := utf16.EncodeRune(r)
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
		} else if out != nil {
			out = append(out, doc[i:i+size]...)
		}
		i += size
	}
	if out == nil {
		return doc
	}
	return out
}
