package testsvc

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Dynalite starts dynalite (an open-source DynamoDB stand-in, in memory)
// and returns its endpoint URL.
func Dynalite(t testing.TB) string {
	t.Helper()
	tools := ToolsDir(t)
	port := FreePort(t)
	p := Start(t, t.TempDir(), Node(t), []string{
		filepath.Join(tools, "dynalite", "cli.js"),
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
	}, nil)
	p.WaitTCP(t, Addr(port), 30*time.Second)
	return "http://" + Addr(port)
}
