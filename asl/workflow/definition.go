package workflow

//lint:file-ignore ST1005 errors begin with the case-sensitive ASL field at fault (Retry[2]: …, Next must …)

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// State types.
const (
	typeTask    = "Task"
	typePass    = "Pass"
	typeChoice  = "Choice"
	typeWait    = "Wait"
	typeSucceed = "Succeed"
	typeFail    = "Fail"
)

// Resources with a meaning of their own. Any other Resource (a Lambda
// function ARN, an activity ARN) is handed to the Resolver as it is.
const (
	resourceInvoke      = "arn:aws:states:::lambda:invoke"
	resourceInvokeToken = "arn:aws:states:::lambda:invoke.waitForTaskToken"
	serviceIntegration  = "arn:aws:states:::"
)

// maxSeconds is the largest TimeoutSeconds, IntervalSeconds and
// MaxAttempts Step Functions accepts.
const maxSeconds = 99999999

// fieldsFor lists, per state type, the fields the interpreter implements.
// Any other field fails Load rather than being silently ignored.
var fieldsFor = map[string][]string{
	typeTask:    {"Next", "End", "InputPath", "OutputPath", "Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "TimeoutSeconds"},
	typePass:    {"Next", "End", "InputPath", "OutputPath", "Parameters", "Result", "ResultPath"},
	typeChoice:  {"InputPath", "OutputPath", "Choices", "Default"},
	typeWait:    {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
	typeSucceed: {"InputPath", "OutputPath"},
	typeFail:    {"Error", "Cause", "ErrorPath", "CausePath"},
	typeMap:     mapFields,
}

type definition struct {
	startAt string
	states  map[string]*state
	timeout time.Duration // the execution's TimeoutSeconds; 0 means none
}

// optPath is an InputPath, OutputPath or ResultPath: absent (meaning "$"),
// null, or a path.
type optPath struct {
	set  bool
	null bool
	p    refPath
}

type invokeKind int

const (
	invokePlain       invokeKind = iota // Resource is the function: raw result
	invokeLambda                        // lambda:invoke: result wrapped with Payload
	invokeLambdaToken                   // lambda:invoke.waitForTaskToken
)

type state struct {
	name, typ string
	next      string
	end       bool

	inputPath, outputPath, resultPath optPath
	parameters, resultSelector        template

	// Pass
	result    any
	hasResult bool

	// Task
	resource string // what the Resolver was asked for
	invoke   invokeKind
	handler  Handler
	timeout  time.Duration
	retry    []retrier
	catch    []catcher

	// Choice
	choices     []choice
	defaultNext string

	// Wait
	seconds       time.Duration
	timestamp     time.Time
	secondsPath   *refPath
	timestampPath *refPath

	// Fail
	errorName, cause     string
	errorPath, causePath *refPath

	// Map
	mapState *mapState

	// usesContext says whether the state's definition mentions the
	// context object ($$) anywhere. A state that does not cannot read
	// it, so it is built only for those that do: it is several objects
	// per state.
	usesContext bool
}

type choice struct {
	rule rule
	next string
}

type retrier struct {
	errorEquals []string
	interval    float64 // seconds
	maxAttempts int
	backoffRate float64
	maxDelay    float64 // seconds; 0 means no cap
	fullJitter  bool
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  optPath
}

// parseDefinition validates def and compiles it. resolve is asked for the
// handler of every Task state.
func parseDefinition(def []byte, resolve Resolver) (*definition, []string, error) {
	v, err := decode(def)
	if err != nil {
		return nil, nil, fmt.Errorf("definition is not JSON: %w", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("definition is not a JSON object")
	}
	if err := onlyFields(top, "Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"); err != nil {
		return nil, nil, fmt.Errorf("definition: %w", err)
	}
	if ql, has := top["QueryLanguage"]; has && ql != "JSONPath" {
		return nil, nil, fmt.Errorf("definition: QueryLanguage %s is not supported; only JSONPath is", encode(ql))
	}
	d := &definition{states: map[string]*state{}}
	if d.startAt, err = requiredString(top, "StartAt"); err != nil {
		return nil, nil, fmt.Errorf("definition: %w", err)
	}
	if d.timeout, err = seconds(top, "TimeoutSeconds"); err != nil {
		return nil, nil, fmt.Errorf("definition: %w", err)
	}
	states, ok := top["States"].(map[string]any)
	if !ok || len(states) == 0 {
		return nil, nil, fmt.Errorf("definition: States must be a non-empty object")
	}
	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		raw, ok := states[name].(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("state %q is not an object", name)
		}
		if len(name) > 80 {
			return nil, nil, fmt.Errorf("state %q: a state name has at most 80 characters", name)
		}
		s, err := parseState(name, raw, resolve)
		if err != nil {
			return nil, nil, fmt.Errorf("state %q: %w", name, err)
		}
		d.states[name] = s
	}
	if _, ok := d.states[d.startAt]; !ok {
		return nil, nil, fmt.Errorf("definition: StartAt %q is not a state", d.startAt)
	}
	for _, name := range names {
		for _, t := range d.states[name].targets() {
			if _, ok := d.states[t]; !ok {
				return nil, nil, fmt.Errorf("state %q: transition to %q, which is not a state", name, t)
			}
		}
	}
	return d, d.unreachable(), nil
}

// targets lists the states s may transition to.
func (s *state) targets() []string {
	var t []string
	if s.next != "" {
		t = append(t, s.next)
	}
	for _, c := range s.choices {
		t = append(t, c.next)
	}
	if s.defaultNext != "" {
		t = append(t, s.defaultNext)
	}
	for _, c := range s.catch {
		t = append(t, c.next)
	}
	return t
}

// unreachable lists the states no path from StartAt leads to.
func (d *definition) unreachable() []string {
	seen := map[string]bool{d.startAt: true}
	queue := []string{d.startAt}
	for len(queue) > 0 {
		s := d.states[queue[0]]
		queue = queue[1:]
		for _, t := range s.targets() {
			if !seen[t] {
				seen[t] = true
				queue = append(queue, t)
			}
		}
	}
	var out []string
	for name := range d.states {
		if !seen[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func parseState(name string, m map[string]any, resolve Resolver) (*state, error) {
	typ, err := requiredString(m, "Type")
	if err != nil {
		return nil, err
	}
	allowed, ok := fieldsFor[typ]
	if !ok {
		return nil, fmt.Errorf("state type %q is not supported (supported: Task, Pass, Choice, Wait, Succeed, Fail, and the Distributed Map)", typ)
	}
	if err := onlyFields(m, append([]string{"Type", "Comment"}, allowed...)...); err != nil {
		return nil, fmt.Errorf("%s state: %w", typ, err)
	}
	s := &state{name: name, typ: typ, usesContext: strings.Contains(string(encode(m)), "$$")}
	if err := s.parseTransition(m); err != nil {
		return nil, err
	}
	if s.inputPath, err = pathField(m, "InputPath"); err != nil {
		return nil, err
	}
	if s.outputPath, err = pathField(m, "OutputPath"); err != nil {
		return nil, err
	}
	if s.resultPath, err = pathField(m, "ResultPath"); err != nil {
		return nil, err
	}
	if s.parameters, err = payloadTemplate(m, "Parameters"); err != nil {
		return nil, err
	}
	if s.resultSelector, err = payloadTemplate(m, "ResultSelector"); err != nil {
		return nil, err
	}
	switch typ {
	case typeTask:
		err = s.parseTask(m, resolve)
	case typePass:
		s.result, s.hasResult = m["Result"]
	case typeChoice:
		err = s.parseChoice(m)
	case typeWait:
		err = s.parseWait(m)
	case typeFail:
		err = s.parseFail(m)
	case typeMap:
		err = s.parseMap(m, resolve)
	}
	return s, err
}

func (s *state) parseTransition(m map[string]any) error {
	next, hasNext := m["Next"]
	end, hasEnd := m["End"]
	if !slices.Contains(fieldsFor[s.typ], "Next") {
		return nil
	}
	if hasEnd {
		b, ok := end.(bool)
		if !ok || !b {
			return fmt.Errorf("End must be true when present")
		}
		s.end = true
	}
	if hasNext {
		n, ok := next.(string)
		if !ok || n == "" {
			return fmt.Errorf("Next must be a state name")
		}
		s.next = n
	}
	if hasNext == s.end {
		return fmt.Errorf("a %s state needs exactly one of Next and End", s.typ)
	}
	return nil
}

func (s *state) parseTask(m map[string]any, resolve Resolver) error {
	res, err := requiredString(m, "Resource")
	if err != nil {
		return err
	}
	s.resource = res
	if strings.HasPrefix(res, serviceIntegration) {
		switch res {
		case resourceInvoke:
			s.invoke = invokeLambda
		case resourceInvokeToken:
			s.invoke = invokeLambdaToken
		default:
			return fmt.Errorf("Resource %q: only the lambda:invoke and lambda:invoke.waitForTaskToken integrations are supported", res)
		}
		params, ok := m["Parameters"].(map[string]any)
		if !ok {
			return fmt.Errorf("Resource %q needs Parameters with FunctionName and Payload", res)
		}
		if err := onlyFields(params, "FunctionName", "Payload", "Payload.$"); err != nil {
			return fmt.Errorf("Parameters: %w", err)
		}
		fn, ok := params["FunctionName"].(string)
		if !ok || fn == "" {
			return fmt.Errorf("Parameters: FunctionName must be a literal function name or ARN")
		}
		if s.invoke == invokeLambdaToken && !refersToToken(params) {
			return fmt.Errorf("Parameters must pass the task token ($$.Task.Token) to the function")
		}
		s.resource = fn
	}
	if s.timeout, err = seconds(m, "TimeoutSeconds"); err != nil {
		return err
	}
	if resolve == nil {
		return fmt.Errorf("no Resolver to resolve %q", s.resource)
	}
	if s.handler, err = resolve(s.resource, s.name); err != nil {
		return fmt.Errorf("resolving %q: %w", s.resource, err)
	}
	if s.handler == nil {
		return fmt.Errorf("resolving %q: no handler", s.resource)
	}
	if s.retry, err = parseRetry(m["Retry"]); err != nil {
		return err
	}
	s.catch, err = parseCatch(m["Catch"])
	return err
}

// refersToToken reports whether a payload template has a ".$" field that
// uses $$.Task.Token, as Step Functions requires of a callback task.
func refersToToken(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			expr, isString := x.(string)
			if strings.HasSuffix(k, ".$") && isString && strings.Contains(expr, "$$.Task.Token") || refersToToken(x) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(t, refersToToken)
	}
	return false
}

func parseRetry(v any) ([]retrier, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("Retry must be an array")
	}
	out := make([]retrier, len(list))
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Retry[%d] is not an object", i)
		}
		if err := onlyFields(m, "ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"); err != nil {
			return nil, fmt.Errorf("Retry[%d]: %w", i, err)
		}
		r := retrier{interval: 1, maxAttempts: 3, backoffRate: 2}
		var err error
		if r.errorEquals, err = errorEquals(m, i == len(list)-1); err != nil {
			return nil, fmt.Errorf("Retry[%d]: %w", i, err)
		}
		if n, has, err := integer(m, "IntervalSeconds", 1, maxSeconds); err != nil {
			return nil, fmt.Errorf("Retry[%d]: %w", i, err)
		} else if has {
			r.interval = float64(n)
		}
		if n, has, err := integer(m, "MaxAttempts", 0, maxSeconds); err != nil {
			return nil, fmt.Errorf("Retry[%d]: %w", i, err)
		} else if has {
			r.maxAttempts = int(n)
		}
		if n, has, err := integer(m, "MaxDelaySeconds", 1, 31622400); err != nil {
			return nil, fmt.Errorf("Retry[%d]: %w", i, err)
		} else if has {
			r.maxDelay = float64(n)
		}
		if b, has := m["BackoffRate"]; has {
			n, ok := b.(json.Number)
			f, err := n.Float64()
			if !ok || err != nil || f < 1 || math.IsInf(f, 0) {
				return nil, fmt.Errorf("Retry[%d]: BackoffRate must be a number of at least 1.0", i)
			}
			r.backoffRate = f
		}
		switch j := m["JitterStrategy"]; j {
		case nil, "NONE":
		case "FULL":
			r.fullJitter = true
		default:
			return nil, fmt.Errorf("Retry[%d]: JitterStrategy must be FULL or NONE, not %s", i, encode(j))
		}
		out[i] = r
	}
	return out, nil
}

func parseCatch(v any) ([]catcher, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("Catch must be an array")
	}
	out := make([]catcher, len(list))
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Catch[%d] is not an object", i)
		}
		if err := onlyFields(m, "ErrorEquals", "Next", "ResultPath", "Comment"); err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		var c catcher
		var err error
		if c.errorEquals, err = errorEquals(m, i == len(list)-1); err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		if c.next, err = requiredString(m, "Next"); err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		if c.resultPath, err = pathField(m, "ResultPath"); err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		out[i] = c
	}
	return out, nil
}

// errorEquals reads a retrier's or catcher's ErrorEquals. States.ALL must
// stand alone, in the last retrier or catcher.
func errorEquals(m map[string]any, last bool) ([]string, error) {
	list, ok := m["ErrorEquals"].([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("ErrorEquals must be a non-empty array of error names")
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("ErrorEquals[%d] is not an error name", i)
		}
		out[i] = s
	}
	if slices.Contains(out, ErrorAll) && (len(out) > 1 || !last) {
		return nil, fmt.Errorf("%s must appear alone and in the last entry", ErrorAll)
	}
	return out, nil
}

func (s *state) parseChoice(m map[string]any) error {
	list, ok := m["Choices"].([]any)
	if !ok || len(list) == 0 {
		return fmt.Errorf("Choices must be a non-empty array")
	}
	for i, x := range list {
		rm, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("Choices[%d] is not an object", i)
		}
		r, err := compileRule(rm, true)
		if err != nil {
			return fmt.Errorf("Choices[%d]: %w", i, err)
		}
		next, ok := rm["Next"].(string)
		if !ok || next == "" {
			return fmt.Errorf("Choices[%d]: Next must be a state name", i)
		}
		s.choices = append(s.choices, choice{rule: r, next: next})
	}
	if d, has := m["Default"]; has {
		n, ok := d.(string)
		if !ok || n == "" {
			return fmt.Errorf("Default must be a state name")
		}
		s.defaultNext = n
	}
	return nil
}

func (s *state) parseWait(m map[string]any) error {
	var set []string
	for _, k := range []string{"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} {
		if _, has := m[k]; has {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		return fmt.Errorf("a Wait state needs exactly one of Seconds, SecondsPath, Timestamp and TimestampPath")
	}
	switch set[0] {
	case "Seconds":
		n, _, err := integer(m, "Seconds", 0, maxSeconds)
		s.seconds = time.Duration(n) * time.Second
		return err
	case "Timestamp":
		t, ok := timestamp(m["Timestamp"])
		if !ok {
			return fmt.Errorf("Timestamp must be an RFC 3339 timestamp")
		}
		s.timestamp = t.(time.Time)
		return nil
	}
	p, err := pathField(m, set[0])
	if err != nil || p.null {
		return fmt.Errorf("%s must be a path", set[0])
	}
	if set[0] == "SecondsPath" {
		s.secondsPath = &p.p
	} else {
		s.timestampPath = &p.p
	}
	return nil
}

func (s *state) parseFail(m map[string]any) error {
	for _, f := range []struct {
		lit, path string
		val       *string
		p         **refPath
	}{{"Error", "ErrorPath", &s.errorName, &s.errorPath}, {"Cause", "CausePath", &s.cause, &s.causePath}} {
		_, hasLit := m[f.lit]
		_, hasPath := m[f.path]
		switch {
		case hasLit && hasPath:
			return fmt.Errorf("%s and %s cannot both be set", f.lit, f.path)
		case hasLit:
			v, ok := m[f.lit].(string)
			if !ok {
				return fmt.Errorf("%s must be a string", f.lit)
			}
			*f.val = v
		case hasPath:
			p, err := pathField(m, f.path)
			if err != nil || p.null {
				return fmt.Errorf("%s must be a path", f.path)
			}
			*f.p = &p.p
		}
	}
	return nil
}

// Field readers.

func onlyFields(m map[string]any, allowed ...string) error {
	var extra []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return fmt.Errorf("unsupported field(s) %s", strings.Join(extra, ", "))
}

func requiredString(m map[string]any, key string) (string, error) {
	s, ok := m[key].(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%s must be a non-empty string", key)
	}
	return s, nil
}

// integer reads an optional integer field in [lo, hi].
func integer(m map[string]any, key string, lo, hi int64) (int64, bool, error) {
	v, has := m[key]
	if !has {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	i, err := n.Int64()
	if !ok || err != nil || i < lo || i > hi {
		return 0, false, fmt.Errorf("%s must be an integer from %d to %d", key, lo, hi)
	}
	return i, true, nil
}

func seconds(m map[string]any, key string) (time.Duration, error) {
	n, _, err := integer(m, key, 1, maxSeconds)
	return time.Duration(n) * time.Second, err
}

// pathField reads InputPath, OutputPath or ResultPath (reference paths to
// the input only; ResultPath is where a result goes, so it cannot be the
// context object) and the Wait and Fail paths.
func pathField(m map[string]any, key string) (optPath, error) {
	v, has := m[key]
	if !has {
		return optPath{}, nil
	}
	if v == nil {
		return optPath{set: true, null: true}, nil
	}
	s, ok := v.(string)
	if !ok {
		return optPath{}, fmt.Errorf("%s must be a path or null", key)
	}
	p, err := parsePath(s)
	if err != nil {
		return optPath{}, fmt.Errorf("%s: %w", key, err)
	}
	if p.context {
		return optPath{}, fmt.Errorf("%s: %s: the context object ($$) cannot be used here", key, s)
	}
	return optPath{set: true, p: p}, nil
}

func payloadTemplate(m map[string]any, key string) (template, error) {
	v, has := m[key]
	if !has {
		return nil, nil
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("%s must be an object", key)
	}
	t, err := compileTemplate(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return t, nil
}
