package embedded

import (
	"path/filepath"
	"testing"
)

// tempDriver opens a driver on a file in a fresh temporary folder and
// closes it when t ends.
func tempDriver(t *testing.T, opts *Options) *Driver {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "scangate.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
