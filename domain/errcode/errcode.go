// Package errcode is the small closed set of error kinds shared by every
// port (store, objects) and their drivers. Drivers translate native errors
// (SDK types, syscall errors) into these codes; the workflow's Retry and
// Catch rules, the HTTP API and the CLI act on the codes alone.
package errcode

import (
	"errors"
	"fmt"
)

// Code is an error kind.
type Code int

const (
	// Unknown is any error a driver could not classify. Treated as retryable
	// by nobody: it lands in a visible failure state.
	Unknown Code = iota
	// NotFound: no such record or item.
	NotFound
	// AlreadyExists: a create found the key taken.
	AlreadyExists
	// ConditionFailed: the compare-and-set did not hold (wrong state, stale
	// version or a lease that belongs to someone else).
	ConditionFailed
	// Throttled: the backend asked us to slow down; retry with backoff.
	Throttled
	// Invalid: the request itself is malformed.
	Invalid
	// Unavailable: the backend could not be reached or answered with a
	// server error; retry with backoff.
	Unavailable
	// Changed: the object is no longer the version asked for (its ETag
	// differs). Never retried: a newer version is a new record.
	Changed
)

var codeNames = map[Code]string{
	Unknown:         "Unknown",
	NotFound:        "NotFound",
	AlreadyExists:   "AlreadyExists",
	ConditionFailed: "ConditionFailed",
	Throttled:       "Throttled",
	Invalid:         "Invalid",
	Unavailable:     "Unavailable",
	Changed:         "Changed",
}

func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Retryable reports whether the same call may succeed later unchanged.
func (c Code) Retryable() bool { return c == Throttled || c == Unavailable }

// Error carries a code, the operation and the identity of the item.
type Error struct {
	Code Code
	Op   string
	ID   string
	Err  error
}

func (e *Error) Error() string {
	msg := e.Op
	if e.ID != "" {
		msg += " " + e.ID
	}
	msg += ": " + e.Code.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, errcode.ErrNotFound) and friends match on the code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.ID == "" && t.Err == nil && t.Code == e.Code
}

// Sentinels for errors.Is. They match any *Error with the same code.
var (
	ErrNotFound        = &Error{Code: NotFound}
	ErrAlreadyExists   = &Error{Code: AlreadyExists}
	ErrConditionFailed = &Error{Code: ConditionFailed}
	ErrThrottled       = &Error{Code: Throttled}
	ErrInvalid         = &Error{Code: Invalid}
	ErrUnavailable     = &Error{Code: Unavailable}
	ErrChanged         = &Error{Code: Changed}
)

// Errorf builds an *Error. Drivers use it to report codes.
// op names the operation with its package, such as "store: claim".
func Errorf(code Code, op, id string, format string, args ...any) error {
	return &Error{Code: code, Op: op, ID: id, Err: fmt.Errorf(format, args...)}
}

// Of returns the code of err, or Unknown.
func Of(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Unknown
}
