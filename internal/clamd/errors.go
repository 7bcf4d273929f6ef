package clamd

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can decide with errors.Is whether to retry (ErrUnavailable,
// ErrTimeout), give up on the object (ErrSource) or page someone
// (ErrProtocol). None of them ever means "clean".
var (
	// ErrUnavailable means clamd could not be reached, or it closed the
	// connection without an answer (it was stopped, crashed or restarted).
	ErrUnavailable = errors.New("clamd unavailable")

	// ErrProtocol means clamd answered, but not with a reply this package
	// recognises exactly. The answer is quoted in the error message.
	ErrProtocol = errors.New("clamd protocol error")

	// ErrTimeout means an I/O deadline passed or the caller's context was
	// cancelled or expired. When the context was the cause, the error also
	// wraps ctx.Err(), so errors.Is(err, context.Canceled) works too.
	ErrTimeout = errors.New("clamd timeout")

	// ErrSource means reading the object to scan failed before its end (for
	// example a truncated S3 body). The scan was abandoned; the stream was
	// never terminated, so clamd gave no verdict for a partial object.
	ErrSource = errors.New("scan source failed")
)
