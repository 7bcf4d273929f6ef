package workflow

//lint:file-ignore ST1005 errors begin with the case-sensitive ASL field at fault (Retry[2]: …, Next must …)

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// A rule is a compiled Choice Rule (without its Next).
type rule interface {
	match(input, ctxObj any) (bool, error)
}

type andRule []rule

func (a andRule) match(input, ctxObj any) (bool, error) {
	for _, r := range a {
		ok, err := r.match(input, ctxObj)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

type orRule []rule

func (o orRule) match(input, ctxObj any) (bool, error) {
	for _, r := range o {
		ok, err := r.match(input, ctxObj)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

type notRule struct{ r rule }

func (n notRule) match(input, ctxObj any) (bool, error) {
	ok, err := n.r.match(input, ctxObj)
	return !ok && err == nil, err
}

type valueKind int

const (
	kindString valueKind = iota
	kindNumber
	kindBoolean
	kindTimestamp
)

type relation int

const (
	relEq relation = iota
	relLt
	relGt
	relLe
	relGe
	relMatches
)

// comparisons are the comparison operators; each but StringMatches also
// has a "...Path" form comparing with another node.
var comparisons = map[string]struct {
	kind valueKind
	rel  relation
}{
	"StringEquals":               {kindString, relEq},
	"StringLessThan":             {kindString, relLt},
	"StringGreaterThan":          {kindString, relGt},
	"StringLessThanEquals":       {kindString, relLe},
	"StringGreaterThanEquals":    {kindString, relGe},
	"StringMatches":              {kindString, relMatches},
	"NumericEquals":              {kindNumber, relEq},
	"NumericLessThan":            {kindNumber, relLt},
	"NumericGreaterThan":         {kindNumber, relGt},
	"NumericLessThanEquals":      {kindNumber, relLe},
	"NumericGreaterThanEquals":   {kindNumber, relGe},
	"BooleanEquals":              {kindBoolean, relEq},
	"TimestampEquals":            {kindTimestamp, relEq},
	"TimestampLessThan":          {kindTimestamp, relLt},
	"TimestampGreaterThan":       {kindTimestamp, relGt},
	"TimestampLessThanEquals":    {kindTimestamp, relLe},
	"TimestampGreaterThanEquals": {kindTimestamp, relGe},
}

// typeTests are the operators whose value is a boolean stating whether the
// Variable has the property.
var typeTests = []string{"IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}

type compareRule struct {
	variable refPath
	op       string
	kind     valueKind
	rel      relation
	value    any      // the operand: string, float64, bool or time.Time
	path     *refPath // the operand's path, for the ...Path operators
	pattern  []patternToken
}

type typeRule struct {
	variable refPath
	op       string
	want     bool
}

func resolveVariable(p refPath, input, ctxObj any) (any, bool) {
	if p.context {
		return p.get(ctxObj)
	}
	return p.get(input)
}

func (t typeRule) match(input, ctxObj any) (bool, error) {
	v, ok := resolveVariable(t.variable, input, ctxObj)
	if t.op == "IsPresent" {
		return ok == t.want, nil
	}
	if !ok {
		return false, invalidVariable(t.variable)
	}
	var has bool
	switch t.op {
	case "IsNull":
		has = v == nil
	case "IsNumeric":
		_, has = v.(json.Number)
	case "IsString":
		_, has = v.(string)
	case "IsBoolean":
		_, has = v.(bool)
	case "IsTimestamp":
		_, has = timestamp(v)
	}
	return has == t.want, nil
}

func invalidVariable(p refPath) error {
	return fmt.Errorf("invalid path %s: the choice state's condition path references an invalid value", p)
}

func (c compareRule) match(input, ctxObj any) (bool, error) {
	v, ok := resolveVariable(c.variable, input, ctxObj)
	if !ok {
		return false, invalidVariable(c.variable)
	}
	operand := c.value
	if c.path != nil {
		pv, ok := resolveVariable(*c.path, input, ctxObj)
		if !ok {
			return false, invalidVariable(*c.path)
		}
		if operand, ok = asKind(c.kind, pv); !ok {
			return false, nil
		}
	}
	lhs, ok := asKind(c.kind, v)
	if !ok {
		return false, nil // Step Functions does not match across types.
	}
	if c.rel == relMatches {
		return matchPattern(c.pattern, lhs.(string)), nil
	}
	var order int
	switch c.kind {
	case kindString:
		order = compareUTF16(lhs.(string), operand.(string))
	case kindNumber:
		order = cmp.Compare(lhs.(float64), operand.(float64))
	case kindBoolean:
		if lhs.(bool) != operand.(bool) {
			order = 1
		}
	case kindTimestamp:
		order = lhs.(time.Time).Compare(operand.(time.Time))
	}
	switch c.rel {
	case relEq:
		return order == 0, nil
	case relLt:
		return order < 0, nil
	case relGt:
		return order > 0, nil
	case relLe:
		return order <= 0, nil
	default:
		return order >= 0, nil
	}
}

// asKind converts a JSON value to the Go type compareRule compares, and
// reports false for a value of another type.
func asKind(k valueKind, v any) (any, bool) {
	switch k {
	case kindString:
		s, ok := v.(string)
		return s, ok
	case kindNumber:
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		return f, err == nil
	case kindBoolean:
		b, ok := v.(bool)
		return b, ok
	default:
		return timestamp(v)
	}
}

// timestamp parses an ASL timestamp: RFC 3339 with an uppercase T and, for
// UTC, an uppercase Z.
func timestamp(v any) (any, bool) {
	s, ok := v.(string)
	if !ok || strings.ContainsAny(s, "tz") {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// compareUTF16 orders strings as Java's String.compareTo does, which is
// what Step Functions documents for string comparisons.
func compareUTF16(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// A patternToken is a literal rune or, when star is set, a "*" wildcard.
type patternToken struct {
	r    rune
	star bool
}

// compilePattern compiles a StringMatches pattern: "*" matches any run of
// characters; "\*" and "\\" stand for a literal star and backslash.
func compilePattern(s string) ([]patternToken, error) {
	var out []patternToken
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '*':
			out = append(out, patternToken{star: true})
		case '\\':
			if i+1 == len(rs) || (rs[i+1] != '*' && rs[i+1] != '\\') {
				return nil, fmt.Errorf(`pattern %q: only \* and \\ are escapes`, s)
			}
			i++
			out = append(out, patternToken{r: rs[i]})
		default:
			out = append(out, patternToken{r: rs[i]})
		}
	}
	return out, nil
}

// matchPattern is the classic greedy wildcard match with backtracking to
// the last star.
func matchPattern(pat []patternToken, s string) bool {
	rs := []rune(s)
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(rs) {
		switch {
		case p < len(pat) && !pat[p].star && pat[p].r == rs[i]:
			p++
			i++
		case p < len(pat) && pat[p].star:
			starP, starI = p, i
			p++
		case starP >= 0:
			p = starP + 1
			starI++
			i = starI
		default:
			return false
		}
	}
	for p < len(pat) && pat[p].star {
		p++
	}
	return p == len(pat)
}

// compileRule compiles a Choice Rule. top is set for the rules directly in
// Choices, which alone carry Next.
func compileRule(m map[string]any, top bool) (rule, error) {
	var ops []string
	for k := range m {
		switch k {
		case "Variable", "Next", "Comment":
		default:
			ops = append(ops, k)
		}
	}
	slices.Sort(ops)
	if len(ops) != 1 {
		return nil, fmt.Errorf("a choice rule needs exactly one operator, found %v", ops)
	}
	if _, has := m["Next"]; has != top {
		if top {
			return nil, fmt.Errorf("a choice rule needs Next")
		}
		return nil, fmt.Errorf("a nested choice rule cannot have Next")
	}
	op := ops[0]
	switch op {
	case "And", "Or":
		if _, has := m["Variable"]; has {
			return nil, fmt.Errorf("%s takes no Variable", op)
		}
		list, ok := m[op].([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("%s must be a non-empty array of choice rules", op)
		}
		rules := make([]rule, len(list))
		for i, x := range list {
			sub, ok := x.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s[%d] is not a choice rule", op, i)
			}
			r, err := compileRule(sub, false)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", op, i, err)
			}
			rules[i] = r
		}
		if op == "And" {
			return andRule(rules), nil
		}
		return orRule(rules), nil
	case "Not":
		if _, has := m["Variable"]; has {
			return nil, fmt.Errorf("Not takes no Variable")
		}
		sub, ok := m[op].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Not must be a choice rule")
		}
		r, err := compileRule(sub, false)
		if err != nil {
			return nil, fmt.Errorf("Not: %w", err)
		}
		return notRule{r}, nil
	}

	vs, ok := m["Variable"].(string)
	if !ok {
		return nil, fmt.Errorf("%s needs a Variable", op)
	}
	variable, err := parsePath(vs)
	if err != nil {
		return nil, fmt.Errorf("Variable: %w", err)
	}
	if slices.Contains(typeTests, op) {
		want, ok := m[op].(bool)
		if !ok {
			return nil, fmt.Errorf("%s takes a boolean", op)
		}
		return typeRule{variable: variable, op: op, want: want}, nil
	}
	base, isPath := strings.CutSuffix(op, "Path")
	spec, known := comparisons[base]
	if !isPath || !known {
		base, isPath = op, false
		spec, known = comparisons[op]
	}
	if !known || isPath && spec.rel == relMatches {
		return nil, fmt.Errorf("unsupported choice operator %q", op)
	}
	c := compareRule{variable: variable, op: op, kind: spec.kind, rel: spec.rel}
	if isPath {
		s, ok := m[op].(string)
		if !ok {
			return nil, fmt.Errorf("%s takes a path", op)
		}
		p, err := parsePath(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		c.path = &p
		return c, nil
	}
	v, ok := asKind(spec.kind, m[op])
	if !ok {
		return nil, fmt.Errorf("%s takes a %s, not %s", op, [...]string{"string", "number", "boolean", "timestamp"}[spec.kind], encode(m[op]))
	}
	c.value = v
	if spec.rel == relMatches {
		if c.pattern, err = compilePattern(v.(string)); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	return c, nil
}
