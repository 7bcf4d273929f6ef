package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Values flowing through an execution are decoded JSON: map[string]any,
// []any, string, json.Number, bool and nil. Numbers stay json.Number so
// that they leave the interpreter exactly as they came in. Values are
// never modified in place (see refPath.set), so they may be shared
// between states, the context object and the history.

// decode parses one JSON text.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid character after top-level value")
	}
	return v, nil
}

// encode renders v as compact JSON without HTML escaping, as Step Functions
// does. v is always a decoded JSON value, so encoding cannot fail.
func encode(v any) json.RawMessage {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		// Unreachable for decoded JSON values; keep the history readable.
		return json.RawMessage(fmt.Sprintf("%q", err.Error()))
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// typeName names a JSON value's type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}
