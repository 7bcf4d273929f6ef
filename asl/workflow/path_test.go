package workflow

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The input of the reference path examples in the AWS documentation
// ("Using JSONPath paths", Reference Paths).
const docPathInput = `{"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}, "sp ace": {"it's": 1}}`

func TestParsePath(t *testing.T) {
	t.Parallel()
	in, err := decode([]byte(docPathInput))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, canonical, want string // want "" means: selects nothing
	}{
		{"$", "$", docPathInput},
		{"$.foo", "$.foo", `123`},
		{"$.bar", "$.bar", `["a","b","c"]`},
		{"$.car.cdr", "$.car.cdr", `true`},
		{"$.bar[1]", "$.bar[1]", `"b"`},
		{"$['car']['cdr']", "$.car.cdr", `true`},
		{`$["car"].cdr`, "$.car.cdr", `true`},
		{"$.['sp ace']", "$['sp ace']", `{"it's":1}`},
		{`$['sp ace']['it\'s']`, `$['sp ace']['it\'s']`, `1`},
		{"$.bar[3]", "$.bar[3]", ""},
		{"$.foo.x", "$.foo.x", ""},
		{"$.nope", "$.nope", ""},
		{"$.error-info", "$.error-info", ""},
		{"$$.Execution.Name", "$$.Execution.Name", ""},
	} {
		p, err := parsePath(tc.path)
		if err != nil {
			t.Errorf("parsePath(%q): %v", tc.path, err)
			continue
		}
		if got := p.String(); got != tc.canonical {
			t.Errorf("parsePath(%q).String() = %q; want %q", tc.path, got, tc.canonical)
		}
		v, ok := p.get(in)
		got := ""
		if ok {
			got = string(encode(v))
		}
		var want string
		if tc.want != "" {
			w, _ := decode([]byte(tc.want))
			want = string(encode(w))
		}
		if got != want {
			t.Errorf("%s selects %s; want %s", tc.path, got, want)
		}
	}
}

func TestParsePathRejects(t *testing.T) {
	t.Parallel()
	for _, path := range []string{
		"", "foo", "$.", "$..foo", "$.*", "$[*]", "$.a[-1]", "$.a[0:2]", "$.a[?(@.x)]",
		"$.a.length()", "$[", "$['a'", "$['a]", "$.a b", "$a", "$.a[1,2]", "$.a[]",
		"$.a[99999999999]", "$['a'x]", `$['a\`,
	} {
		if p, err := parsePath(path); err == nil {
			t.Errorf("parsePath(%q) = %v; want an error", path, p)
		}
	}
}

func TestResultPathSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, path, val, want string // want "" means: fails
	}{
		{`{"a":1}`, "$", `2`, `2`},
		{`{"a":1}`, "$.b", `2`, `{"a":1,"b":2}`},
		{`{"a":1}`, "$.a", `2`, `{"a":2}`},
		{`{"a":1}`, "$.x.y.z", `2`, `{"a":1,"x":{"y":{"z":2}}}`},
		{`{"a":{"b":1}}`, "$.a.c", `2`, `{"a":{"b":1,"c":2}}`},
		{`{"a":[1,2]}`, "$.a[1]", `3`, `{"a":[1,3]}`},
		{`{"a":null}`, "$.a.b", `1`, `{"a":{"b":1}}`},
		{`{"a":"s"}`, "$.a.b", `1`, ""},
		{`{"a":[1]}`, "$.a[1]", `1`, ""},
		{`"s"`, "$.a", `1`, ""},
		{`null`, "$.a", `1`, ""},
	} {
		in, _ := decode([]byte(tc.in))
		val, _ := decode([]byte(tc.val))
		p, err := parsePath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		before := string(encode(in))
		out, err := p.set(in, val)
		if tc.want == "" {
			if err == nil {
				t.Errorf("set(%s, %s) = %s; want an error", tc.in, tc.path, encode(out))
			}
			continue
		}
		if err != nil {
			t.Errorf("set(%s, %s): %v", tc.in, tc.path, err)
			continue
		}
		var got, want any
		_ = json.Unmarshal(encode(out), &got)
		_ = json.Unmarshal([]byte(tc.want), &want)
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("set(%s, %s) (-got +want):\n%s", tc.in, tc.path, diff)
		}
		if after := string(encode(in)); after != before {
			t.Errorf("set modified its input: %s became %s", before, after)
		}
	}
}

// FuzzParsePath: the parser never panics, and every path it accepts
// renders to a canonical form that parses back to the same path.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"$", "$$", "$.a", "$.a.b", "$['a b']", `$["x"]`, "$.a[0]", "$.a[12].b", "$$.Task.Token",
		"$.['def ghi']", `$['it\'s']`, "$..a", "$.a[?(@.b)]", "$[*]", "$.a[-1]", "$.error-info",
		`$['\\']`, "$.ü", "$[0][1]['x']",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePath(s)
		if err != nil {
			return
		}
		canon := p.String()
		q, err := parsePath(canon)
		if err != nil {
			t.Fatalf("%q parsed, but its canonical form %q does not: %v", s, canon, err)
		}
		if diff := cmp.Diff(p, q, cmp.AllowUnexported(refPath{}, segment{})); diff != "" {
			t.Fatalf("%q and its canonical form %q differ:\n%s", s, canon, diff)
		}
		if !strings.HasPrefix(canon, "$") {
			t.Fatalf("canonical form %q", canon)
		}
		_, _ = p.get(map[string]any{"a": []any{map[string]any{}}})
	})
}

// FuzzIntrinsic: the intrinsic function parser never panics, and what it
// accepts evaluates without panicking.
func FuzzIntrinsic(f *testing.F) {
	for _, s := range []string{
		"States.Format('Hello, my name is {}.', $.name)", "States.Format($.template, $.name)",
		`States.Format('\{\} {}', 'it\'s')`, "States.StringToJson($.escapedJsonString)",
		"States.JsonToString($.unescapedJson)", "States.Array($.Id, 1, -2.5e3, true, null)",
		"States.Array(States.UUID(), States.Format('{}', $$.State.Name))", "States.UUID()",
		"States.Array($['a b'], $.c[0])", "States.Format('{}', $['x,y'])", "States.Array(", "States.Hash($.x, 'SHA-1')",
	} {
		f.Add(s)
	}
	input := map[string]any{"name": "Arnav", "template": "Hello, {}", "escapedJsonString": `{"foo": "bar"}`,
		"unescapedJson": map[string]any{"foo": "bar"}, "Id": json.Number("1"), "a b": "x", "c": []any{"y"}, "x,y": "z"}
	ctxObj := map[string]any{"State": map[string]any{"Name": "S"}}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseIntrinsic(s)
		if err != nil {
			return
		}
		_, _ = c.eval(input, ctxObj)
	})
}
