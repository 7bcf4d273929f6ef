package workflow

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// A refPath is an ASL reference path: "$" or "$$" (the context object)
// followed by field names (".name", "['name']") and array indexes ("[0]").
// It identifies at most one node. Filters, wildcards, slices, recursive
// descent and functions are not reference paths and are rejected.
type refPath struct {
	context bool
	segs    []segment
}

// A segment is one step of a refPath: a field name, or an index when
// isIndex is set.
type segment struct {
	name    string
	index   int
	isIndex bool
}

// maxIndex bounds array indexes so that they fit an int everywhere.
const maxIndex = 1<<31 - 1

// parsePath parses a reference path. The dot notation takes names made of
// characters that need no quoting (see plainName); any other name must be
// written in brackets, as in $['a b'] (AWS also accepts $.['a b']).
func parsePath(s string) (refPath, error) {
	var p refPath
	if !strings.HasPrefix(s, "$") {
		return p, fmt.Errorf("path %q does not start with $", s)
	}
	i := 1
	if strings.HasPrefix(s, "$$") {
		p.context, i = true, 2
	}
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			if i < len(s) && s[i] == '[' {
				continue // $.['name'], as the AWS documentation writes it
			}
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			name := s[i:j]
			if !plainName(name) {
				return refPath{}, fmt.Errorf("path %q: %q is not a field name (only reference paths are supported; quote unusual names as ['name'])", s, "."+name)
			}
			p.segs = append(p.segs, segment{name: name})
			i = j
		case '[':
			seg, n, err := parseBracket(s[i:])
			if err != nil {
				return refPath{}, fmt.Errorf("path %q: %w", s, err)
			}
			p.segs = append(p.segs, seg)
			i += n
		default:
			return refPath{}, fmt.Errorf("path %q: unexpected %q at offset %d", s, s[i], i)
		}
	}
	return p, nil
}

// parseBracket parses "[0]", "['name']" or "[\"name\"]" at the start of s
// and returns the segment and the bytes consumed.
func parseBracket(s string) (segment, int, error) {
	if len(s) < 3 {
		return segment{}, 0, fmt.Errorf("unterminated %q", s)
	}
	if q := s[1]; q == '\'' || q == '"' {
		var b strings.Builder
		for i := 2; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\':
				if i+1 >= len(s) {
					return segment{}, 0, fmt.Errorf("unterminated escape in %q", s)
				}
				i++
				b.WriteByte(s[i])
			case c == q:
				if i+1 >= len(s) || s[i+1] != ']' {
					return segment{}, 0, fmt.Errorf("expected ] after quoted name in %q", s)
				}
				return segment{name: b.String()}, i + 2, nil
			default:
				b.WriteByte(c)
			}
		}
		return segment{}, 0, fmt.Errorf("unterminated quoted name in %q", s)
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return segment{}, 0, fmt.Errorf("unterminated %q", s)
	}
	digits := s[1:end]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return segment{}, 0, fmt.Errorf("[%s] is not an array index (only reference paths are supported)", digits)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > maxIndex {
		return segment{}, 0, fmt.Errorf("array index [%s] is too large", digits)
	}
	return segment{index: n, isIndex: true}, end + 1, nil
}

// plainName reports whether name may be written in dot notation. Like the
// JSONPath implementations Step Functions accepts, this allows letters,
// digits, "_" and "-" and non-ASCII, but none of the characters JSONPath
// gives a meaning to.
func plainName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`.[]'"*@?(),:$\{}!=<>&|`, r) {
			return false
		}
	}
	return true
}

// String renders p in canonical form; parsePath(p.String()) gives p back.
func (p refPath) String() string {
	var b strings.Builder
	b.WriteString("$")
	if p.context {
		b.WriteString("$")
	}
	for _, s := range p.segs {
		switch {
		case s.isIndex:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case plainName(s.name):
			b.WriteString("." + s.name)
		default:
			r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
			b.WriteString("['" + r.Replace(s.name) + "']")
		}
	}
	return b.String()
}

// get returns the node p identifies in root, and false if there is none.
func (p refPath) get(root any) (any, bool) {
	v := root
	for _, s := range p.segs {
		if s.isIndex {
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return nil, false
			}
			v = a[s.index]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s.name]; !ok {
			return nil, false
		}
	}
	return v, true
}

// set returns root with the node at p replaced by val, as ResultPath does:
// missing fields along the way are created as objects. Objects and arrays
// on the way are copied, never modified, so values shared with the state's
// input (and with recorded history) stay as they were. It fails when the
// path runs through a value that is not an object (or, for an index, not
// an array long enough).
func (p refPath) set(root any, val any) (any, error) {
	if len(p.segs) > 0 && root == nil {
		return nil, fmt.Errorf("cannot set %s in null", p)
	}
	return setAt(root, p.segs, val)
}

func setAt(v any, segs []segment, val any) (any, error) {
	if len(segs) == 0 {
		return val, nil
	}
	s := segs[0]
	if s.isIndex {
		a, ok := v.([]any)
		if !ok || s.index >= len(a) {
			return nil, fmt.Errorf("no array element [%d] to set", s.index)
		}
		child, err := setAt(a[s.index], segs[1:], val)
		if err != nil {
			return nil, err
		}
		c := append([]any(nil), a...)
		c[s.index] = child
		return c, nil
	}
	var m map[string]any
	switch t := v.(type) {
	case map[string]any:
		m = t
	case nil:
		// A missing field (or an explicit null) becomes an object.
	default:
		return nil, fmt.Errorf("cannot set field %q in a %s", s.name, typeName(v))
	}
	child, err := setAt(m[s.name], segs[1:], val)
	if err != nil {
		return nil, err
	}
	c := make(map[string]any, len(m)+1)
	maps.Copy(c, m)
	c[s.name] = child
	return c, nil
}
