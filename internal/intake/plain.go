package intake

import "bytes"

// plainJSON reports whether data is one JSON value that checkTokens would
// accept, found in one pass without allocating: the notifications of a busy
// bucket pass through here one by one, and encoding/json's tokenizer
// allocates for every token. It answers false for everything it does not
// decide alone (an error, a member name with an escape or a non-ASCII
// byte, an object with many members), and checkJSON then asks
// checkTokens, which names the error. So it may refuse too much, never too
// little; FuzzPlainJSON holds it to that. The caller has checked UTF-8
// and surrogate escapes.
func plainJSON(data []byte) bool {
	p := plainParser{data: data}
	p.space()
	if !p.value(0) {
		return false
	}
	p.space()
	return p.i == len(data)
}

// plainMaxMembers bounds the names of one object that plainJSON compares
// pairwise; a larger object is left to checkTokens, whose sets of names do
// not grow quadratically.
const plainMaxMembers = 32

type plainParser struct {
	data []byte
	i    int
	// names holds the member names (offsets into data) of the objects
	// open on the way to the current value, innermost last.
	names [][2]int
}

func (p *plainParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *plainParser) value(depth int) bool {
	if p.i >= len(p.data) {
		return false
	}
	switch c := p.data[p.i]; {
	case c == '{':
		return depth < maxDepth && p.object(depth+1)
	case c == '[':
		return depth < maxDepth && p.array(depth+1)
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return false
}

func (p *plainParser) object(depth int) bool {
	p.i++ // {
	first := len(p.names)
	defer func() { p.names = p.names[:first] }()
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return true
	}
	for {
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return false
		}
		start := p.i + 1
		plain, ok := p.str()
		if !ok || !plain || len(p.names)-first >= plainMaxMembers {
			return false
		}
		name := p.data[start : p.i-1]
		for _, n := range p.names[first:] {
			// ASCII names without escapes: encoding/json's case folding
			// is ASCII case.
			if bytes.EqualFold(p.data[n[0]:n[1]], name) {
				return false
			}
		}
		p.names = append(p.names, [2]int{start, p.i - 1})
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return false
		}
		p.i++
		p.space()
		if !p.value(depth) {
			return false
		}
		if done, ok := p.after('}'); done || !ok {
			return ok
		}
	}
}

func (p *plainParser) array(depth int) bool {
	p.i++ // [
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return true
	}
	for {
		if !p.value(depth) {
			return false
		}
		if done, ok := p.after(']'); done || !ok {
			return ok
		}
	}
}

// after reads what follows a member or an element: a comma (another one
// comes: done is false), or the container's closing bracket (done).
func (p *plainParser) after(closing byte) (done, ok bool) {
	p.space()
	if p.i >= len(p.data) {
		return false, false
	}
	switch p.data[p.i] {
	case ',':
		p.i++
		p.space()
		return false, true
	case closing:
		p.i++
		return true, true
	}
	return false, false
}

// str reads a string and reports whether it was plain: ASCII without
// escapes.
func (p *plainParser) str() (plain, ok bool) {
	p.i++ // "
	plain = true
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return plain, true
		case c < 0x20:
			return false, false
		case c == '\\':
			plain = false
			if p.i+1 >= len(p.data) {
				return false, false
			}
			switch p.data[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if _, ok := hex4(p.data[p.i+2:]); !ok {
					return false, false
				}
				p.i += 6
			default:
				return false, false
			}
		default:
			if c >= 0x80 {
				plain = false
			}
			p.i++
		}
	}
	return false, false
}

func (p *plainParser) number() bool {
	if p.data[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.data) && p.data[p.i] == '0':
		p.i++
	case p.digits() == 0:
		return false
	}
	if p.i < len(p.data) && p.data[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return false
		}
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return false
		}
	}
	return true
}

func (p *plainParser) digits() int {
	n := 0
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *plainParser) literal(lit string) bool {
	if !bytes.HasPrefix(p.data[p.i:], []byte(lit)) {
		return false
	}
	p.i += len(lit)
	return true
}
