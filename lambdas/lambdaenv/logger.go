package lambdaenv

import (
	"io"
	"log/slog"
	"strings"
)

// VarLogLevel is the handlers' log level: DEBUG, INFO (the default: a line
// per ingest, scan and verdict), WARN or ERROR. The mains read it through
// Logger; Config does not, so Vars leaves it out. Lambda's own application
// log level stays INFO (cdk/gate): it counts a line without a level, such
// as the scan function's metric lines, as INFO, so filtering there would
// drop the metrics with the chatter.
const VarLogLevel = "SCANGATE_LOG_LEVEL"

// Logger is the JSON logger every function's main writes with, at the
// level VarLogLevel names. An unknown level logs at INFO and says so
// rather than fail the function: a typo must not silence its errors.
func Logger(w io.Writer, getenv func(string) string) *slog.Logger {
	level := slog.LevelInfo
	v := strings.TrimSpace(getenv(VarLogLevel))
	bad := v != "" && level.UnmarshalText([]byte(v)) != nil
	if bad {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	if bad {
		log.Warn("unknown log level, logging at INFO", "var", VarLogLevel, "value", v)
	}
	return log
}
