package workflow

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// A template is a compiled payload template (Parameters, ResultSelector)
// or one value inside one. eval takes the template's input and the
// context object ($$); its errors are States.Runtime failures.
type template interface {
	eval(input, ctxObj any) (any, error)
}

type literal struct{ v any }

func (l literal) eval(any, any) (any, error) { return l.v, nil }

type objectTemplate []templateField

type templateField struct {
	name string
	val  template
}

func (o objectTemplate) eval(input, ctxObj any) (any, error) {
	out := make(map[string]any, len(o))
	for _, f := range o {
		v, err := f.val.eval(input, ctxObj)
		if err != nil {
			return nil, err
		}
		out[f.name] = v
	}
	return out, nil
}

type arrayTemplate []template

func (a arrayTemplate) eval(input, ctxObj any) (any, error) {
	out := make([]any, len(a))
	for i, t := range a {
		v, err := t.eval(input, ctxObj)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// pathValue selects a node of the input (or, for $$ paths, of the context
// object). A path that selects nothing is an error, as in Step Functions.
type pathValue struct {
	field string // the template key it fills, for messages
	p     refPath
}

func (pv pathValue) eval(input, ctxObj any) (any, error) {
	root := input
	if pv.p.context {
		root = ctxObj
	}
	v, ok := pv.p.get(root)
	if !ok {
		if pv.field == "" {
			return nil, fmt.Errorf("the JSONPath %s could not be found in the input", pv.p)
		}
		return nil, fmt.Errorf("the JSONPath %s specified for the field %q could not be found in the input", pv.p, pv.field)
	}
	return v, nil
}

// compileTemplate compiles a payload template decoded from the definition.
// Keys ending in ".$" take a path or an intrinsic function call; every
// other value is taken as it is, with objects and arrays compiled in turn.
func compileTemplate(v any) (template, error) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		seen := map[string]string{}
		var obj objectTemplate
		for _, k := range keys {
			name, dynamic := strings.CutSuffix(k, ".$")
			if prev, dup := seen[name]; dup {
				return nil, fmt.Errorf("fields %q and %q name the same key", prev, k)
			}
			seen[name] = k
			if !dynamic {
				val, err := compileTemplate(t[k])
				if err != nil {
					return nil, fmt.Errorf("field %q: %w", k, err)
				}
				obj = append(obj, templateField{name: k, val: val})
				continue
			}
			expr, ok := t[k].(string)
			if !ok {
				return nil, fmt.Errorf("field %q: the value of a key ending in .$ must be a string, not a %s", k, typeName(t[k]))
			}
			val, err := compileExpr(name, expr)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", k, err)
			}
			obj = append(obj, templateField{name: name, val: val})
		}
		return obj, nil
	case []any:
		arr := make(arrayTemplate, len(t))
		for i, x := range t {
			val, err := compileTemplate(x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			arr[i] = val
		}
		return arr, nil
	}
	return literal{v}, nil
}

// compileExpr compiles the value of a ".$" key: a path or an intrinsic
// function call.
func compileExpr(field, expr string) (template, error) {
	if strings.HasPrefix(expr, "$") {
		p, err := parsePath(expr)
		if err != nil {
			return nil, err
		}
		return pathValue{field: field, p: p}, nil
	}
	if strings.HasPrefix(expr, "States.") {
		return parseIntrinsic(expr)
	}
	return nil, fmt.Errorf("%q is neither a path nor an intrinsic function", expr)
}

// Intrinsic functions.

// intrinsics names the supported intrinsic functions with their arity
// (-1: any number, at least min).
var intrinsics = map[string]struct{ min, max int }{
	"States.Format":       {1, -1},
	"States.StringToJson": {1, 1},
	"States.JsonToString": {1, 1},
	"States.Array":        {0, -1},
	"States.UUID":         {0, 0},
}

type call struct {
	fn   string
	args []template
}

// stringArg is a quoted string argument. parts holds it split at the
// unescaped "{}" placeholders, for States.Format.
type stringArg struct {
	value string
	parts []string
}

func (s stringArg) eval(any, any) (any, error) { return s.value, nil }

func (c *call) eval(input, ctxObj any) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		v, err := a.eval(input, ctxObj)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	switch c.fn {
	case "States.Format":
		return c.format(args)
	case "States.StringToJson":
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("States.StringToJson takes a string, not a %s", typeName(args[0]))
		}
		v, err := decode([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("States.StringToJson: %w", err)
		}
		return v, nil
	case "States.JsonToString":
		return string(encode(args[0])), nil
	case "States.Array":
		return args, nil
	case "States.UUID":
		return newUUID(), nil
	}
	return nil, fmt.Errorf("unsupported intrinsic function %s", c.fn)
}

func (c *call) format(args []any) (any, error) {
	var parts []string
	if lit, ok := c.args[0].(stringArg); ok {
		parts = lit.parts
	} else {
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("States.Format takes a string template, not a %s", typeName(args[0]))
		}
		parts = strings.Split(s, "{}")
	}
	if len(parts)-1 != len(args)-1 {
		return nil, fmt.Errorf("States.Format: %d arguments for %d occurrences of {}", len(args)-1, len(parts)-1)
	}
	var b strings.Builder
	b.WriteString(parts[0])
	for i, a := range args[1:] {
		switch v := a.(type) {
		case string:
			b.WriteString(v)
		case json.Number:
			b.WriteString(v.String())
		case bool, nil:
			b.Write(encode(v))
		default:
			return nil, fmt.Errorf("States.Format cannot format a %s", typeName(a))
		}
		b.WriteString(parts[i+1])
	}
	return b.String(), nil
}

func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// parseIntrinsic parses an intrinsic function call such as
// States.Format('{} items', $.count). Arguments are quoted strings (with
// the escapes \' \{ \} \\), numbers, true, false, null, paths and nested
// calls.
func parseIntrinsic(s string) (*call, error) {
	p := &intrinsicParser{s: s}
	c, err := p.call()
	if err != nil {
		return nil, fmt.Errorf("intrinsic %q: %w", s, err)
	}
	p.space()
	if p.i != len(s) {
		return nil, fmt.Errorf("intrinsic %q: unexpected %q after the call", s, s[p.i:])
	}
	return c, nil
}

type intrinsicParser struct {
	s string
	i int
}

func (p *intrinsicParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *intrinsicParser) call() (*call, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != '(' {
		p.i++
	}
	name := strings.TrimSpace(p.s[start:p.i])
	arity, ok := intrinsics[name]
	if !ok {
		return nil, fmt.Errorf("unsupported intrinsic function %q", name)
	}
	if p.i == len(p.s) {
		return nil, fmt.Errorf("%s: missing (", name)
	}
	p.i++ // (
	c := &call{fn: name}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
	} else {
		for {
			a, err := p.arg()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			c.args = append(c.args, a)
			p.space()
			if p.i == len(p.s) {
				return nil, fmt.Errorf("%s: missing )", name)
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return nil, fmt.Errorf("%s: unexpected %q", name, p.s[p.i:])
			}
			p.i++
		}
	}
	if len(c.args) < arity.min || arity.max >= 0 && len(c.args) > arity.max {
		return nil, fmt.Errorf("%s takes %s, not %d", name, arityText(arity.min, arity.max), len(c.args))
	}
	switch name {
	case "States.JsonToString":
		if _, ok := c.args[0].(pathValue); !ok {
			return nil, fmt.Errorf("%s takes a path", name)
		}
	case "States.Format":
		if lit, ok := c.args[0].(stringArg); ok && len(lit.parts)-1 != len(c.args)-1 {
			return nil, fmt.Errorf("%s: %d arguments for %d occurrences of {}", name, len(c.args)-1, len(lit.parts)-1)
		}
	}
	return c, nil
}

func arityText(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("at least %d arguments", lo)
	case lo == hi:
		return fmt.Sprintf("%d arguments", lo)
	}
	return fmt.Sprintf("%d to %d arguments", lo, hi)
}

func (p *intrinsicParser) arg() (template, error) {
	p.space()
	if p.i == len(p.s) {
		return nil, fmt.Errorf("missing argument")
	}
	rest := p.s[p.i:]
	switch {
	case rest[0] == '\'':
		return p.str()
	case rest[0] == '$':
		return p.path()
	case strings.HasPrefix(rest, "States."):
		return p.call()
	}
	// A literal: a number, true, false or null.
	end := strings.IndexAny(rest, ",) \t\n")
	if end < 0 {
		end = len(rest)
	}
	word := rest[:end]
	v, err := decode([]byte(word))
	if err != nil || typeName(v) == "object" || typeName(v) == "array" || typeName(v) == "string" {
		return nil, fmt.Errorf("%q is not an argument (quote strings with ')", word)
	}
	p.i += end
	return literal{v}, nil
}

func (p *intrinsicParser) str() (template, error) {
	p.i++ // opening quote
	var cur strings.Builder
	var parts []string
	var value strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\':
			if p.i+1 == len(p.s) || !strings.ContainsRune(`'{}\`, rune(p.s[p.i+1])) {
				return nil, fmt.Errorf(`open escape in %q: only \' \{ \} and \\ are escapes`, p.s)
			}
			cur.WriteByte(p.s[p.i+1])
			value.WriteByte(p.s[p.i+1])
			p.i += 2
		case c == '\'':
			p.i++
			return stringArg{value: value.String(), parts: append(parts, cur.String())}, nil
		case c == '{' && p.i+1 < len(p.s) && p.s[p.i+1] == '}':
			parts = append(parts, cur.String())
			cur.Reset()
			value.WriteString("{}")
			p.i += 2
		default:
			cur.WriteByte(c)
			value.WriteByte(c)
			p.i++
		}
	}
	return nil, fmt.Errorf("unterminated string in %q", p.s)
}

// path reads a path argument: up to the next , or ) outside brackets.
func (p *intrinsicParser) path() (template, error) {
	start := p.i
	depth, quote := 0, byte(0)
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		if quote != 0 {
			switch c {
			case '\\':
				p.i++
			case quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			if depth > 0 {
				quote = c
			}
		case '[':
			depth++
		case ']':
			depth--
		}
		if depth == 0 && strings.IndexByte(",) \t\n", c) >= 0 {
			break
		}
	}
	pth, err := parsePath(p.s[start:p.i])
	if err != nil {
		return nil, err
	}
	return pathValue{p: pth}, nil
}
