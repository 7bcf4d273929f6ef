// Package policy reads scangate's per-prefix policy: rules that map bucket
// and key-prefix patterns to limits on what may be stored there (size,
// content type judged by magic bytes, archives), with an action for a
// violation, plus a SHA-256 denylist of bytes that are infected without a
// scan.
//
// The file is YAML (JSON, a subset, works too). Every error names the file
// and line, since an operator fixes the file, not a stack trace:
//
//	rules:
//	  - name: avatars
//	    bucket: uploads        # path.Match glob; omitted: any bucket
//	    prefix: avatars/       # key prefix; omitted: any key
//	    maxSize: 5MiB
//	    contentTypes: [image/png, image/jpeg]
//	    archives: false
//	    action: quarantine     # block, quarantine or review
//	denylist:
//	  files: [threat-intel.sha256]   # relative to the policy file
//	  sha256: [<64 hex digits>]
//
// Uploader input (key, Content-Type, metadata) never decides anything
// here but which rule applies by key: content types come from the bytes.
package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Action is what happens to a version that violates its rule.
type Action string

// The actions.
const (
	// ActionBlock leaves the version in place, tagged so that the bucket
	// policy keeps it unreadable; no review.
	ActionBlock Action = "block"
	// ActionQuarantine moves it to the quarantine and opens a review.
	ActionQuarantine Action = "quarantine"
	// ActionReview leaves it in place, unreadable, and opens a review: a
	// reviewer's release makes it readable where it is.
	ActionReview Action = "review"
)

// Reasons name a violation on the verdict. They start with "policy:" so
// that alerts and reviewers tell them apart from scan limits.
const (
	ReasonMaxSize     = "policy:max-size"
	ReasonContentType = "policy:content-type"
	ReasonArchive     = "policy:archive"
)

// DenylistSignature is the signature a denylisted hash is reported under.
const DenylistSignature = "Denylist.SHA256"

// SniffLen is how many leading bytes content detection looks at: what
// net/http.DetectContentType reads, and enough for tar's magic at 257.
const SniffLen = 512

// Rule is one entry of the policy. The zero limits mean "no limit".
type Rule struct {
	// Name identifies the rule in verdicts; it defaults to "rule N".
	Name string
	// Bucket is a path.Match pattern; empty matches any bucket.
	Bucket string
	// Prefix is a literal key prefix; empty matches any key.
	Prefix string
	// MaxSize is the largest allowed version in bytes; 0: no limit.
	MaxSize int64
	// ContentTypes are the allowed media types ("image/png", "image/*");
	// empty allows any.
	ContentTypes []string
	// Archives says whether archives (zip, 7z, rar, gzip, tar, …) are
	// allowed; nil allows them.
	Archives *bool
	// Action is what a violation leads to.
	Action Action
	// Line is where the rule starts in the file.
	Line int
}

// Violation is a version's breach of its rule.
type Violation struct {
	Rule   string
	Reason string
	Action Action
	Detail string
}

// Policy is a parsed policy file. The zero value (and nil) has no rules and
// an empty denylist.
type Policy struct {
	Rules []Rule
	deny  map[string]bool
}

// Match returns the first rule that applies to the key in bucket, or nil.
func (p *Policy) Match(bucket, key string) *Rule {
	if p == nil {
		return nil
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Bucket != "" {
			if ok, _ := path.Match(r.Bucket, bucket); !ok {
				continue
			}
		}
		if strings.HasPrefix(key, r.Prefix) {
			return r
		}
	}
	return nil
}

// Denied reports whether the hex SHA-256 sum is on the denylist.
func (p *Policy) Denied(sum string) bool {
	return p != nil && sum != "" && p.deny[strings.ToLower(sum)]
}

// DenylistSize returns the number of denylisted hashes.
func (p *Policy) DenylistSize() int {
	if p == nil {
		return 0
	}
	return len(p.deny)
}

// ChecksContent reports whether the rule needs the leading bytes.
func (r *Rule) ChecksContent() bool {
	return r != nil && (len(r.ContentTypes) > 0 || (r.Archives != nil && !*r.Archives))
}

// CheckSize returns the violation of a version of size bytes, or nil.
func (r *Rule) CheckSize(size int64) *Violation {
	if r == nil || r.MaxSize <= 0 || size <= r.MaxSize {
		return nil
	}
	return &Violation{Rule: r.Name, Reason: ReasonMaxSize, Action: r.Action,
		Detail: fmt.Sprintf("%d bytes, the rule allows %d", size, r.MaxSize)}
}

// CheckType returns the violation of a version whose bytes sniff as
// mediaType (see Sniff), or nil. The archive check comes first: a zip is
// refused as an archive even where application/zip is not an allowed type.
func (r *Rule) CheckType(mediaType string) *Violation {
	if r == nil {
		return nil
	}
	if r.Archives != nil && !*r.Archives && IsArchive(mediaType) {
		return &Violation{Rule: r.Name, Reason: ReasonArchive, Action: r.Action,
			Detail: "archive " + mediaType + " is not allowed"}
	}
	if len(r.ContentTypes) == 0 {
		return nil
	}
	for _, want := range r.ContentTypes {
		if want == mediaType {
			return nil
		}
		if major, ok := strings.CutSuffix(want, "/*"); ok && strings.HasPrefix(mediaType, major+"/") {
			return nil
		}
	}
	return &Violation{Rule: r.Name, Reason: ReasonContentType, Action: r.Action,
		Detail: "content is " + mediaType + ", the rule allows " + strings.Join(r.ContentTypes, ", ")}
}

// Load reads and validates the policy file at name. Denylist files are
// read relative to its directory.
func Load(name string) (*Policy, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	dir := filepath.Dir(name)
	return Parse(name, data, func(f string) ([]byte, error) {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		return os.ReadFile(f)
	})
}

// file is the document's shape. Nodes, not values, so that every error
// can name its line.
type file struct {
	Rules    []yaml.Node `yaml:"rules"`
	Denylist yaml.Node   `yaml:"denylist"`
}

type ruleDoc struct {
	Name         string    `yaml:"name"`
	Bucket       string    `yaml:"bucket"`
	Prefix       string    `yaml:"prefix"`
	MaxSize      yaml.Node `yaml:"maxSize"`
	ContentTypes []string  `yaml:"contentTypes"`
	Archives     *bool     `yaml:"archives"`
	Action       string    `yaml:"action"`
}

type denyDoc struct {
	Files  []string  `yaml:"files"`
	SHA256 yaml.Node `yaml:"sha256"`
}

// Error is a problem in a policy or denylist file, with its line (0 when
// the file as a whole is at fault).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("policy: %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("policy: %s: %s", e.File, e.Msg)
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// yamlErr turns yaml.v3's errors ("yaml: line 3: …", or a TypeError with
// several) into an *Error naming the first line.
func yamlErr(name string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: n, Msg: m[2]}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// Parse validates a policy document named name. readFile reads the
// denylist files it names; nil refuses them.
func Parse(name string, data []byte, readFile func(string) ([]byte, error)) (*Policy, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Msg: "empty policy file"}
		}
		return nil, yamlErr(name, err)
	}
	p := &Policy{deny: map[string]bool{}}
	names := map[string]int{}
	for i := range f.Rules {
		n := &f.Rules[i]
		r, err := parseRule(name, n, i)
		if err != nil {
			return nil, err
		}
		if prev, dup := names[r.Name]; dup {
			return nil, &Error{File: name, Line: n.Line, Msg: fmt.Sprintf("rule name %q is used already on line %d", r.Name, prev)}
		}
		names[r.Name] = n.Line
		p.Rules = append(p.Rules, r)
	}
	if !f.Denylist.IsZero() {
		if err := p.parseDenylist(name, &f.Denylist, readFile); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseRule(name string, n *yaml.Node, i int) (Rule, error) {
	var d ruleDoc
	if n.Kind != yaml.MappingNode {
		return Rule{}, &Error{File: name, Line: n.Line, Msg: "a rule is a mapping (name, bucket, prefix, maxSize, contentTypes, archives, action)"}
	}
	if err := decodeStrict(n, &d); err != nil {
		return Rule{}, yamlErr(name, err)
	}
	r := Rule{Name: d.Name, Bucket: d.Bucket, Prefix: d.Prefix, Archives: d.Archives, Action: Action(d.Action), Line: n.Line}
	if r.Name == "" {
		r.Name = "rule " + strconv.Itoa(i+1)
	}
	at := func(key string) int { return keyLine(n, key) }
	if r.Bucket != "" {
		if _, err := path.Match(r.Bucket, ""); err != nil {
			return Rule{}, &Error{File: name, Line: at("bucket"), Msg: fmt.Sprintf("bucket pattern %q: %v", r.Bucket, err)}
		}
	}
	switch r.Action {
	case ActionBlock, ActionQuarantine, ActionReview:
	case "":
		return Rule{}, &Error{File: name, Line: n.Line, Msg: fmt.Sprintf("rule %q needs an action: block, quarantine or review", r.Name)}
	default:
		return Rule{}, &Error{File: name, Line: at("action"), Msg: fmt.Sprintf("unknown action %q (want block, quarantine or review)", r.Action)}
	}
	if !d.MaxSize.IsZero() {
		size, err := ParseSize(d.MaxSize.Value)
		if err != nil || d.MaxSize.Kind != yaml.ScalarNode {
			return Rule{}, &Error{File: name, Line: d.MaxSize.Line, Msg: fmt.Sprintf("maxSize %q: want a positive size such as 1048576, 500KB or 5MiB", d.MaxSize.Value)}
		}
		r.MaxSize = size
	}
	for _, ct := range d.ContentTypes {
		if !validMediaType(ct) {
			return Rule{}, &Error{File: name, Line: at("contentTypes"), Msg: fmt.Sprintf("content type %q: want type/subtype or type/*, lower case, no parameters", ct)}
		}
		r.ContentTypes = append(r.ContentTypes, ct)
	}
	if r.MaxSize == 0 && !r.ChecksContent() {
		return Rule{}, &Error{File: name, Line: n.Line, Msg: fmt.Sprintf("rule %q limits nothing: give maxSize, contentTypes or archives: false", r.Name)}
	}
	return r, nil
}

// decodeStrict decodes n into v refusing unknown keys, which yaml.v3's
// Node.Decode does not do by itself.
func decodeStrict(n *yaml.Node, v any) error {
	if n.Kind == yaml.MappingNode {
		fields := map[string]bool{}
		t := reflectFields(v)
		for _, f := range t {
			fields[f] = true
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if !fields[k.Value] {
				return fmt.Errorf("yaml: line %d: unknown field %q (known: %s)", k.Line, k.Value, strings.Join(t, ", "))
			}
		}
	}
	return n.Decode(v)
}

func reflectFields(v any) []string {
	switch v.(type) {
	case *ruleDoc:
		return []string{"name", "bucket", "prefix", "maxSize", "contentTypes", "archives", "action"}
	case *denyDoc:
		return []string{"files", "sha256"}
	}
	return nil
}

// keyLine returns the line of key in mapping n, or n's own line.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return n.Line
}

var mediaTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]*/([a-z0-9][a-z0-9!#$&^_.+-]*|\*)$`)

func validMediaType(s string) bool { return mediaTypeRE.MatchString(s) }

func (p *Policy) parseDenylist(name string, n *yaml.Node, readFile func(string) ([]byte, error)) error {
	var d denyDoc
	if n.Kind != yaml.MappingNode {
		return &Error{File: name, Line: n.Line, Msg: "denylist is a mapping (files, sha256)"}
	}
	if err := decodeStrict(n, &d); err != nil {
		return yamlErr(name, err)
	}
	if !d.SHA256.IsZero() {
		if d.SHA256.Kind != yaml.SequenceNode {
			return &Error{File: name, Line: d.SHA256.Line, Msg: "denylist sha256 is a list of hex SHA-256 sums"}
		}
		for _, h := range d.SHA256.Content {
			sum, ok := normalize(h.Value)
			if !ok || h.Kind != yaml.ScalarNode {
				return &Error{File: name, Line: h.Line, Msg: fmt.Sprintf("%q is not a hex SHA-256", h.Value)}
			}
			p.deny[sum] = true
		}
	}
	for _, f := range d.Files {
		if readFile == nil {
			return &Error{File: name, Line: keyLine(n, "files"), Msg: "denylist files cannot be read here"}
		}
		data, err := readFile(f)
		if err != nil {
			return &Error{File: name, Line: keyLine(n, "files"), Msg: fmt.Sprintf("denylist file: %v", err)}
		}
		sums, err := ParseDenylist(f, bytes.NewReader(data))
		if err != nil {
			return err
		}
		for _, s := range sums {
			p.deny[s] = true
		}
	}
	return nil
}

// ParseDenylist reads a file of SHA-256 sums, one a line: a bare hex sum,
// or sha256sum's "<sum>  <file name>" form. Blank lines and lines starting
// with # are skipped. An error names the line.
func ParseDenylist(name string, r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		field, _, _ := strings.Cut(s, " ")
		field, _, _ = strings.Cut(field, "\t")
		sum, ok := normalize(field)
		if !ok {
			return nil, &Error{File: name, Line: line, Msg: fmt.Sprintf("%q is not a hex SHA-256", truncate(field, 80))}
		}
		out = append(out, sum)
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{File: name, Line: line + 1, Msg: err.Error()}
	}
	return out, nil
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func normalize(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	return s, sha256RE.MatchString(s)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// ParseSize reads a byte count: digits, optionally followed by B, KB, MB,
// GB (powers of 1000) or KiB, MiB, GiB (powers of 1024). It must be
// positive and fit an int64.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q has no number", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	mult := map[string]int64{
		"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	}
	m, ok := mult[strings.TrimSpace(s[i:])]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit", s)
	}
	if n <= 0 || n > (1<<63-1)/m {
		return 0, fmt.Errorf("size %q out of range", s)
	}
	return n * m, nil
}
