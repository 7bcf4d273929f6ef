package intake

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scangate/scangate/domain"
)

// plainJSON may refuse a document checkTokens accepts (checkTokens then
// decides), never accept one it refuses.
func FuzzPlainJSON(f *testing.F) {
	addEventSeeds(f)
	for _, s := range plainCases {
		f.Add([]byte(s.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) || checkSurrogates(data) != nil {
			return // checkJSON refuses these before either pass
		}
		if plainJSON(data) {
			if err := checkTokens(data); err != nil {
				t.Fatalf("plainJSON accepts %q, which checkTokens refuses: %v", data, err)
			}
		}
	})
}

var plainCases = []struct {
	doc   string
	plain bool // plainJSON decides it alone
}{
	{`{"a":1,"b":[true,false,null,-0.5e+3,"x\"y"],"c":{}}`, true},
	{` [ ] `, true},
	{`"s"`, true},
	{`0`, true},
	{`{"a":1,"A":2}`, false},       // a repeated name, as encoding/json folds it
	{`{"K":1,"k":2}`, false},       // the same
	{`{"a":1,"a\u0041":2}`, false}, // an escape in a name: checkTokens decides
	{`{"é":1}`, false},             // a non-ASCII name: checkTokens decides
	{`{"a":1}{}`, false},
	{`{"a":1,}`, false},
	{`[1,]`, false},
	{`01`, false},
	{`-`, false},
	{`1.`, false},
	{`1e`, false},
	{`tru`, false},
	{`"a` + "\x01" + `"`, false},
	{`"\x"`, false},
	{``, false},
	{strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth), true},
	{strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), false},
	{`{` + strings.Repeat(`"n":0,`, 0) + manyMembers(plainMaxMembers) + `}`, true},
	{`{` + manyMembers(plainMaxMembers+1) + `}`, false},
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m`)
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(`":0`)
	}
	return b.String()
}

func TestPlainJSON(t *testing.T) {
	for _, tc := range plainCases {
		if got := plainJSON([]byte(tc.doc)); got != tc.plain {
			t.Errorf("plainJSON(%.60q) = %v, want %v", tc.doc, got, tc.plain)
		}
		if tc.plain {
			if err := checkTokens([]byte(tc.doc)); err != nil {
				t.Errorf("checkTokens(%.60q) = %v, want nil", tc.doc, err)
			}
		}
	}
	// What a bucket sends takes the one-pass check.
	ref := domain.ObjectRef{Bucket: "uploads", Key: "dir/a file+name é.pdf", VersionID: "v1", ETag: "e", Size: 1, Sequencer: "s"}
	for name, doc := range map[string][]byte{
		"s3":          S3Notification(ref),
		"eventbridge": EventBridgeEvent(ref, ""),
	} {
		if !plainJSON(doc) {
			t.Errorf("plainJSON(%s notification) = false, want true", name)
		}
	}
}
