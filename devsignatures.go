// Package scangate is the root of the scangate module. It embeds the test
// signatures so that `scangate run` works out of the box, with no
// signature download.
package scangate

import "embed"

// DevSignatures holds testdata/signatures: signatures that detect only the
// EICAR test string and ClamAV's test corpus. They exist for trying
// scangate out and for tests; they protect against nothing real.
//
//go:embed testdata/signatures/*.hdb testdata/signatures/*.ndb
var DevSignatures embed.FS
