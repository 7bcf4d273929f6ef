package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
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

// renderMemo remembers the renderings of the last few objects an
// execution rendered for its history. A state document usually passes
// unchanged through several events (a state's output is the next state's
// input, a Choice passes its input on, a task's input is its state's),
// and rendering it again each time was most of the interpreter's cost.
type renderMemo struct {
	objs  [4]map[string]any
	texts [4]json.RawMessage
	next  int
}

// render is encode for the execution's history and task inputs. An object
// it rendered recently is not rendered again: values are never modified
// in place, so the same map (the same object, not merely an equal one)
// always renders to the same text. The text returned may be shared with
// other events and must not be modified.
func (e *Execution) render(v any) json.RawMessage {
	obj, ok := v.(map[string]any)
	if !ok || obj == nil {
		return encode(v)
	}
	m := &e.rendered
	p := reflect.ValueOf(obj).UnsafePointer()
	for i, o := range m.objs {
		if o != nil && reflect.ValueOf(o).UnsafePointer() == p {
			return m.texts[i]
		}
	}
	b := encode(v)
	m.objs[m.next], m.texts[m.next] = obj, b
	m.next = (m.next + 1) % len(m.objs)
	return b
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
