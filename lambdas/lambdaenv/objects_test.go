package lambdaenv

import (
	"log/slog"
	"testing"
)

// In AWS, SCANGATE_OBJECTS is an s3:// URL, which urlopen.Objects alone
// refuses.
func TestConfigOpensS3Objects(t *testing.T) {
	env := baseEnv(t)
	env[VarObjects] = "s3://uploads?region=us-east-1"
	_, stop, err := Config(t.Context(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	stop()
	if err != nil {
		t.Fatalf("Config with %s=%s: %v", VarObjects, env[VarObjects], err)
	}
}
