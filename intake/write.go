package intake

import (
	"bufio"
	"encoding/json"
	"io"
)

// WriteDecoded writes each ref of b as one JSON object per line, with the
// members bucket, key (decoded), versionId, etag, size and sequencer;
// versionId, etag and sequencer are left out when empty. It backs
// `scangate events decode`. Ignored events and failures are not written:
// the lines are exactly the versions a scan would start for.
//
// Keys are written as JSON strings, so control characters in them are
// escaped and cannot reach a terminal raw; "<", ">" and "&" are written
// as they are.
func WriteDecoded(w io.Writer, b Batch) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range b.Refs {
		if err := enc.Encode(r.ObjectRef); err != nil {
			return err
		}
	}
	return bw.Flush()
}
