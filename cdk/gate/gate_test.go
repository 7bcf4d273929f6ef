package gate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/cdk/gate"
	"github.com/scangate/scangate/lambdas/lambdaenv"
	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/store/dynamo"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// stubAssets makes a bootstrap per function: the tests look at the
// template, not at the binaries (make synth builds the real ones).
func stubAssets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, fn := range lambdaenv.Functions() {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("stub "+fn), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// imageDir is a small Docker context: synthesis only hashes it.
func imageDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const repo = "../.."

// synth builds a stack with the gate and returns its template as JSON.
type synthed struct {
	tmpl assertions.Template
	js   map[string]any
}

func synth(t *testing.T, p gate.Props) synthed {
	t.Helper()
	p.LambdaAssets, p.ImageDir, p.ASLDir = stubAssets(t), imageDir(t), filepath.Join(repo, "asl")
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack := awscdk.NewStack(app, jsii.String("Test"), nil)
	if _, err := gate.New(stack, "Gate", &p); err != nil {
		t.Fatal(err)
	}
	tmpl := assertions.Template_FromStack(stack, nil)
	var js map[string]any
	b, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	return synthed{tmpl, js}
}

// must runs an assertion, turning its panic into a test failure.
func must(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// resources returns the template's resources of type typ, by logical id.
func (s synthed) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.js["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

var (
	newBucket      = gate.Props{NewBucket: &gate.NewBucket{}}
	existingBucket = gate.Props{ExistingBuckets: []gate.ExistingBucket{
		{Name: "uploads", Prefixes: []string{"incoming/"}, KMSKeyArn: "arn:aws:kms:us-east-1:111111111111:key/abc"},
		{Name: "avatars"},
	}}
)

const issuerSecret = "arn:aws:secretsmanager:us-east-1:111111111111:secret:scangate-oidc-AbCdEf"

// The templates are synthesized once per configuration: each synthesis
// takes seconds.
var cache = map[string]synthed{}

func get(t *testing.T, name string) synthed {
	t.Helper()
	if s, ok := cache[name]; ok {
		return s
	}
	var p gate.Props
	switch name {
	case "new":
		p = newBucket
	case "existing":
		p = existingBucket
	case "large":
		p = newBucket
		p.LargeObjects = &gate.LargeObjects{VpcID: "vpc-0123456789abcdef0", SubnetIDs: []string{"subnet-0123456789abcdef0", "subnet-0123456789abcdef1"}}
		p.AlarmEmail = "ops@example.com"
		p.Scan.ProvisionedConcurrency = 2
	case "optional-mfa":
		p = newBucket
		p.Console = gate.Console{MFA: "optional", DomainPrefix: "reviews-example"}
	case "no-console":
		p = newBucket
		p.Console.Disabled = true
		p.ResultBus = "default"
	case "issuer":
		p = newBucket
		p.Console = gate.Console{OIDCIssuer: "https://login.example.com", OIDCClientID: "scangate", OIDCClientSecretArn: issuerSecret}
	}
	s := synth(t, p)
	cache[name] = s
	return s
}

// resolveJoin turns an Fn::Join of strings and references into text, a
// reference shown as <LogicalId> (GetAtt as <LogicalId.Attr>).
func resolve(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if j, ok := v["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, resolve(p))
			}
			return strings.Join(parts, j[0].(string))
		}
		if r, ok := v["Ref"].(string); ok {
			return "<" + r + ">"
		}
		if g, ok := v["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("<%s.%s>", g[0], g[1])
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// The definitions deployed are the committed asl/*.asl.json files, byte
// for byte apart from the placeholders, each replaced by the ARN of the
// function it names.
func TestDefinitionsAreTheASLFiles(t *testing.T) {
	s := get(t, "new")
	fns := s.resources("AWS::Lambda::Function")
	byStep := map[string]string{}
	for id, r := range fns {
		desc, _ := props(r)["Description"].(string)
		for _, name := range lambdaenv.Functions() {
			if strings.Contains(desc, "(lambdas/cmd/"+name+")") {
				byStep[name] = id
			}
		}
	}
	for _, tt := range []struct{ file, typ string }{{"scan.asl.json", "EXPRESS"}, {"review.asl.json", "STANDARD"}} {
		t.Run(tt.file, func(t *testing.T) {
			var found map[string]any
			for _, r := range s.resources("AWS::StepFunctions::StateMachine") {
				if strings.HasSuffix(resolve(props(r)["StateMachineName"]), "-"+strings.TrimSuffix(tt.file, ".asl.json")) {
					found = props(r)
				}
			}
			if found == nil {
				t.Fatalf("no state machine for %s", tt.file)
			}
			if found["StateMachineType"] != tt.typ {
				t.Errorf("type = %v, want %s", found["StateMachineType"], tt.typ)
			}
			raw, err := os.ReadFile(filepath.Join(repo, "asl", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			def := string(raw)
			subs := found["DefinitionSubstitutions"].(map[string]any)
			for ph, v := range subs {
				step := strings.ToLower(strings.TrimSuffix(ph, "FunctionArn"))
				if step == "scanlarge" {
					step = "scan"
				}
				want := fmt.Sprintf("<%s.Arn>", byStep[step])
				if got := resolve(v); got != want {
					t.Errorf("${%s} = %s, want %s", ph, got, want)
				}
				def = strings.ReplaceAll(def, "${"+ph+"}", "ARN:"+step)
			}
			if strings.Contains(def, "${") {
				t.Errorf("placeholders left without a substitution in %s", tt.file)
			}
			// The deployed string, with CloudFormation's substitutions
			// applied the same way.
			body := resolve(found["DefinitionString"])
			for ph := range subs {
				step := strings.ToLower(strings.TrimSuffix(ph, "FunctionArn"))
				if step == "scanlarge" {
					step = "scan"
				}
				body = strings.ReplaceAll(body, "${"+ph+"}", "ARN:"+step)
			}
			var got, want any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("deployed definition: %v", err)
			}
			if err := json.Unmarshal([]byte(def), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("deployed %s differs from the file after substitution", tt.file)
			}
		})
	}
}

// The cost defaults (docs/cost.md): workflows log failures only and trace
// nothing, functions log JSON without Lambda's platform lines, at the
// handlers' INFO; each prop turns its part back on, and nothing else.
func TestLoggingAndTracingProps(t *testing.T) {
	loud := newBucket
	loud.WorkflowLogLevel, loud.Tracing, loud.PlatformLogs, loud.FunctionLogLevel = "ALL", true, true, "WARN"
	for _, tt := range []struct {
		name                         string
		s                            synthed
		level, system, handlers, fnX string
		traced                       bool
	}{
		{"defaults", get(t, "new"), "ERROR", "WARN", "INFO", "", false},
		{"all on", synth(t, loud), "ALL", "INFO", "WARN", "Active", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			machines := tt.s.resources("AWS::StepFunctions::StateMachine")
			if len(machines) < 3 {
				t.Fatalf("%d state machines, want scan, review and backfill", len(machines))
			}
			for id, r := range machines {
				p := props(r)
				logs := p["LoggingConfiguration"].(map[string]any)
				if logs["Level"] != tt.level || logs["IncludeExecutionData"] != true {
					t.Errorf("%s logging = %v, want level %s with execution data", id, logs, tt.level)
				}
				tr, _ := p["TracingConfiguration"].(map[string]any)
				if got := tr != nil && tr["Enabled"] == true; got != tt.traced {
					t.Errorf("%s tracing = %v, want enabled %v", id, tr, tt.traced)
				}
			}
			n := 0
			for id, r := range tt.s.resources("AWS::Lambda::Function") {
				p := props(r)
				if desc, _ := p["Description"].(string); !strings.HasPrefix(desc, "scangate ") {
					continue
				}
				n++
				lc, _ := p["LoggingConfig"].(map[string]any)
				if lc["LogFormat"] != "JSON" || lc["ApplicationLogLevel"] != "INFO" || lc["SystemLogLevel"] != tt.system {
					t.Errorf("%s LoggingConfig = %v, want JSON, application INFO, system %s", id, lc, tt.system)
				}
				vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
				if vars[lambdaenv.VarLogLevel] != tt.handlers {
					t.Errorf("%s %s = %v, want %s", id, lambdaenv.VarLogLevel, vars[lambdaenv.VarLogLevel], tt.handlers)
				}
				mode := ""
				if tc, ok := p["TracingConfig"].(map[string]any); ok {
					mode, _ = tc["Mode"].(string)
				}
				if mode != tt.fnX && !(tt.fnX == "" && mode == "PassThrough") {
					t.Errorf("%s tracing mode %q, want %q", id, mode, tt.fnX)
				}
			}
			if n < len(lambdaenv.Functions()) {
				t.Errorf("checked %d functions, want %d", n, len(lambdaenv.Functions()))
			}
		})
	}
}

// The table is store/dynamo.TableSchema, with PITR, deletion protection
// and SSE.
func TestTableFromSchema(t *testing.T) {
	s := get(t, "new")
	schema := dynamo.TableSchema()
	var idx []map[string]any
	for _, ix := range schema.Indexes {
		idx = append(idx, map[string]any{
			"IndexName":  ix.Name,
			"KeySchema":  []any{map[string]any{"AttributeName": ix.PartitionKey.Name, "KeyType": "HASH"}, map[string]any{"AttributeName": ix.SortKey.Name, "KeyType": "RANGE"}},
			"Projection": map[string]any{"ProjectionType": ix.Projection},
		})
	}
	must(t, "table", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"KeySchema": []any{
				map[string]any{"AttributeName": schema.PartitionKey.Name, "KeyType": "HASH"},
				map[string]any{"AttributeName": schema.SortKey.Name, "KeyType": "RANGE"},
			},
			"BillingMode":                      "PAY_PER_REQUEST",
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"DeletionProtectionEnabled":        true,
			"SSESpecification":                 map[string]any{"SSEEnabled": true},
			"GlobalSecondaryIndexes":           idx,
		})
	})
	must(t, "table retained", func() {
		s.tmpl.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{"DeletionPolicy": "Retain"})
	})
}

// Every function is arm64; the zip ones run provided.al2023, and the scan
// function and the signature updater are the image.
func TestFunctionsArchitectureAndRuntime(t *testing.T) {
	s := get(t, "new")
	fns := s.resources("AWS::Lambda::Function")
	seen := map[string]bool{}
	for id, r := range fns {
		p := props(r)
		desc, _ := p["Description"].(string)
		if !strings.HasPrefix(desc, "scangate ") {
			continue // CDK's own handlers
		}
		name := strings.Fields(desc)[1]
		seen[name] = true
		if arch := p["Architectures"]; !reflect.DeepEqual(arch, []any{"arm64"}) {
			t.Errorf("%s (%s): architectures %v, want arm64", name, id, arch)
		}
		if name == "scan" || name == "sigupdate" {
			if p["PackageType"] != "Image" {
				t.Errorf("%s: package type %v, want Image", name, p["PackageType"])
			}
			continue
		}
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
			t.Errorf("%s: runtime %v handler %v, want provided.al2023 bootstrap", name, p["Runtime"], p["Handler"])
		}
	}
	for _, fn := range lambdaenv.Functions() {
		if !seen[fn] {
			t.Errorf("no function for lambdas/cmd/%s", fn)
		}
	}
}

// Every function has each variable lambdaenv says it requires.
func TestFunctionsHaveRequiredVariables(t *testing.T) {
	s := get(t, "new")
	for _, r := range s.resources("AWS::Lambda::Function") {
		p := props(r)
		desc, _ := p["Description"].(string)
		if !strings.HasPrefix(desc, "scangate ") {
			continue
		}
		name := strings.Fields(desc)[1]
		vars := map[string]any{}
		if env, ok := p["Environment"].(map[string]any); ok {
			vars, _ = env["Variables"].(map[string]any)
		}
		missing := lambdaenv.Missing(name, func(k string) string {
			if v, ok := vars[k]; ok && v != nil {
				return resolve(v)
			}
			return ""
		})
		if len(missing) > 0 {
			t.Errorf("%s lacks %v", name, missing)
		}
	}
}

// statement finds the bucket policy statement sid in a policy document.
func statement(doc map[string]any, sid string) map[string]any {
	for _, st := range doc["Statement"].([]any) {
		st := st.(map[string]any)
		if st["Sid"] == sid {
			return st
		}
	}
	return nil
}

func asStrings(v any) []string {
	switch v := v.(type) {
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, resolve(x))
		}
		sort.Strings(out)
		return out
	case nil:
		return nil
	}
	return []string{resolve(v)}
}

// checkStatements checks the allow-list on one bucket's statements.
func checkStatements(t *testing.T, get func(sid string) map[string]any, objectArn string) {
	t.Helper()
	read := get(gate.SidReadOnlyScanned)
	if read == nil {
		t.Fatal("no read statement")
	}
	if read["Effect"] != "Deny" || resolve(read["Principal"]) != `{"AWS":"*"}` {
		t.Errorf("read statement: effect %v principal %v", read["Effect"], read["Principal"])
	}
	if got := asStrings(read["Action"]); !slices.Equal(got, []string{"s3:GetObject", "s3:GetObjectVersion"}) {
		t.Errorf("read actions = %v", got)
	}
	if got := asStrings(read["Resource"]); !slices.Contains(got, objectArn) {
		t.Errorf("read resources = %v, want %s", got, objectArn)
	}
	cond := read["Condition"].(map[string]any)["StringNotEquals"].(map[string]any)
	if got := asStrings(cond["s3:ExistingObjectTag/"+objects.TagStatus]); !slices.Equal(got, []string{"allowlisted", "clean", "released"}) {
		t.Errorf("readable tag values = %v, want allowlisted, clean, released", got)
	}
	exempt := asStrings(cond["aws:PrincipalArn"])
	for _, role := range []string{"Scan", "Record", "Quarantine", "Decide"} {
		if !slices.ContainsFunc(exempt, func(a string) bool { return strings.HasPrefix(a, "<Gate"+role+"Role") }) {
			t.Errorf("the %s role is not exempt from the read deny: %v", role, exempt)
		}
	}
	if slices.ContainsFunc(exempt, func(a string) bool {
		return strings.Contains(a, "Claim") || strings.Contains(a, "Review") && !strings.Contains(a, "Decide")
	}) {
		t.Errorf("a role that never reads objects is exempt: %v", exempt)
	}

	tags := get(gate.SidOnlyScangateTag)
	if got := asStrings(tags["Action"]); !slices.Equal(got, []string{"s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"}) {
		t.Errorf("tag actions = %v", got)
	}
	if got := asStrings(tags["Condition"].(map[string]any)["StringNotEquals"].(map[string]any)["aws:PrincipalArn"]); !slices.Equal(got, exempt) {
		t.Errorf("tag writers = %v, want the exempt roles %v", got, exempt)
	}

	put := get(gate.SidNoScangateTags)
	if got := asStrings(put["Action"]); !slices.Equal(got, []string{"s3:PutObject"}) {
		t.Errorf("upload actions = %v", got)
	}
	c := put["Condition"].(map[string]any)
	keys := asStrings(c["ForAnyValue:StringEquals"].(map[string]any)["s3:RequestObjectTagKeys"])
	if !slices.Contains(keys, objects.TagStatus) || len(keys) != len(gate.TagKeys) {
		t.Errorf("denied upload tag keys = %v, want %v", keys, gate.TagKeys)
	}
	if c["StringNotEquals"] == nil {
		t.Error("the upload deny has no principal exemption (the review role restores with tags)")
	}
	if tls := get(gate.SidTLSOnly); tls == nil || resolve(tls["Condition"]) != `{"Bool":{"aws:SecureTransport":"false"}}` {
		t.Errorf("TLS statement = %v", tls)
	}
}

// The new bucket gets the allow-list attached.
func TestNewBucketPolicy(t *testing.T) {
	s := get(t, "new")
	var doc map[string]any
	for _, r := range s.resources("AWS::S3::BucketPolicy") {
		if strings.HasPrefix(resolve(props(r)["Bucket"]), "<GateUploads") {
			doc = props(r)["PolicyDocument"].(map[string]any)
		}
	}
	if doc == nil {
		t.Fatal("no policy on the new bucket")
	}
	var bucketID string
	for id := range s.resources("AWS::S3::Bucket") {
		if strings.HasPrefix(id, "GateUploads") {
			bucketID = id
		}
	}
	checkStatements(t, func(sid string) map[string]any { return statement(doc, sid) }, "<"+bucketID+".Arn>/*")
	must(t, "new bucket", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"VersioningConfiguration": map[string]any{"Status": "Enabled"},
			"PublicAccessBlockConfiguration": map[string]any{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			},
		})
	})
}

// An existing bucket's policy is not touched: its statements are outputs,
// limited to its prefixes.
func TestExistingBucketPolicyIsOutput(t *testing.T) {
	s := get(t, "existing")
	for _, r := range s.resources("AWS::S3::BucketPolicy") {
		if b := resolve(props(r)["Bucket"]); b == "uploads" || b == "avatars" {
			t.Errorf("the stack attaches a policy to existing bucket %s", b)
		}
	}
	outputs := s.js["Outputs"].(map[string]any)
	get := func(sid string) map[string]any {
		var o map[string]any
		for id, v := range outputs {
			if strings.HasPrefix(id, "GateExisting0"+sid) {
				o = v.(map[string]any)
			}
		}
		if o == nil {
			return nil
		}
		var st map[string]any
		// ToJsonString renders a join whose parts are JSON text and
		// references; references become their placeholders.
		text := resolve(o["Value"])
		if err := json.Unmarshal([]byte(text), &st); err != nil {
			t.Fatalf("output %s is not JSON: %v\n%s", sid, err, text)
		}
		return st
	}
	checkStatements(t, get, "arn:<AWS::Partition>:s3:::uploads/incoming/*")
}

// Turning EventBridge on for an existing bucket goes through CDK's
// BucketNotifications resource in unmanaged mode, whose handler merges
// into the bucket's configuration instead of replacing it.
func TestExistingBucketKeepsNotifications(t *testing.T) {
	s := get(t, "existing")
	n := s.resources("Custom::S3BucketNotifications")
	if len(n) != 2 {
		t.Fatalf("%d notification resources, want one per existing bucket", len(n))
	}
	for id, r := range n {
		p := props(r)
		if p["Managed"] != false {
			t.Errorf("%s: Managed = %v, want false (keep the bucket's other notifications)", id, p["Managed"])
		}
		if got := resolve(p["NotificationConfiguration"]); got != `{"EventBridgeConfiguration":{}}` {
			t.Errorf("%s: configuration %s, want EventBridge only", id, got)
		}
	}
	// The handler's code keeps what it did not write: it reads the
	// current configuration and only replaces the stack's own entries.
	var code string
	for _, r := range s.resources("AWS::Lambda::Function") {
		if c, ok := props(r)["Code"].(map[string]any)["ZipFile"].(string); ok && strings.Contains(c, "put_bucket_notification_configuration") {
			code = c
		}
	}
	for _, want := range []string{"get_bucket_notification_configuration", "handle_unmanaged", "external_notifications"} {
		if !strings.Contains(code, want) {
			t.Errorf("the notifications handler no longer has %q: check that it still merges", want)
		}
	}
}

// EventBridge rules per bucket and prefix into the SQS queue, which has a
// DLQ; the ingest function drains it with partial batch responses.
func TestEventPath(t *testing.T) {
	s := get(t, "existing")
	must(t, "rule with prefix", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
			"EventPattern": map[string]any{
				"source": []any{"aws.s3"}, "detail-type": []any{"Object Created"},
				"detail": map[string]any{"bucket": map[string]any{"name": []any{"uploads"}}, "object": map[string]any{"key": []any{map[string]any{"prefix": "incoming/"}}}},
			},
		})
	})
	queues := s.resources("AWS::SQS::Queue")
	var main map[string]any
	for id, q := range queues {
		if strings.HasPrefix(id, "GateIngestQueue") {
			main = props(q)
		}
	}
	if main == nil {
		t.Fatal("no ingest queue")
	}
	rp := main["RedrivePolicy"].(map[string]any)
	if rp["maxReceiveCount"] != float64(5) || !strings.HasPrefix(resolve(rp["deadLetterTargetArn"]), "<GateDeadLetters") {
		t.Errorf("redrive = %v", rp)
	}
	if main["SqsManagedSseEnabled"] != true {
		t.Errorf("queue SSE = %v", main["SqsManagedSseEnabled"])
	}
	if main["VisibilityTimeout"] != float64(6*60) {
		t.Errorf("visibility = %v, want 6 × the ingest timeout", main["VisibilityTimeout"])
	}
	must(t, "event source mapping", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
			"BatchSize":             10,
			"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
			"EventSourceArn":        map[string]any{"Fn::GetAtt": assertions.Match_AnyValue()},
		})
	})
}

// No policy allows every action, or a service's every action.
func TestNoAllowOnStarActions(t *testing.T) {
	for _, name := range []string{"new", "large"} {
		s := get(t, name)
		for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::Role"} {
			for id, r := range s.resources(typ) {
				b, _ := json.Marshal(props(r))
				var doc struct {
					PolicyDocument struct{ Statement []map[string]any }
				}
				json.Unmarshal(b, &doc)
				for _, st := range doc.PolicyDocument.Statement {
					if st["Effect"] != "Allow" {
						continue
					}
					for _, a := range asStrings(st["Action"]) {
						if a == "*" || strings.HasSuffix(a, ":*") {
							t.Errorf("%s %s allows %s", name, id, a)
						}
					}
				}
			}
		}
	}
}

// The alarms the issue lists exist, with the topic as their action.
func TestAlarms(t *testing.T) {
	s := get(t, "large")
	alarms := s.resources("AWS::CloudWatch::Alarm")
	type want struct{ ns, metric string }
	wants := map[string]want{
		"dead letters":     {"AWS/SQS", "ApproximateNumberOfMessagesVisible"},
		"scan failed":      {"AWS/States", "ExecutionsFailed"},
		"scan timed out":   {"AWS/States", "ExecutionsTimedOut"},
		"lambda errors":    {"AWS/Lambda", "Errors"},
		"lambda throttles": {"AWS/Lambda", "Throttles"},
		"stale signatures": {"scangate", "SignatureAge"},
		"left for sweep":   {"scangate", "SweepRestarted"},
		"failed for good":  {"scangate", "FailedPastRetryWindow"},
		"updater":          {"AWS/Lambda", "Invocations"},
	}
	for what, w := range wants {
		n := 0
		for _, a := range alarms {
			p := props(a)
			if p["Namespace"] == w.ns && p["MetricName"] == w.metric {
				n++
				if acts := asStrings(p["AlarmActions"]); len(acts) != 1 || !strings.HasPrefix(acts[0], "<GateAlarms") {
					t.Errorf("%s alarm actions = %v", what, acts)
				}
			}
		}
		if n == 0 {
			t.Errorf("no %s alarm (%s %s)", what, w.ns, w.metric)
		}
	}
	must(t, "stale threshold", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName": "SignatureAge", "Threshold": 24 * 3600,
		})
	})
	must(t, "updater failed", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName": "Errors", "Threshold": 1, "Period": 2 * 3600,
			"Dimensions": []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^GateSigupdateFunction"))}}},
		})
	})
	must(t, "updater silent", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName": "Invocations", "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching", "Period": 4 * 3600,
		})
	})
	must(t, "e-mail", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{"Protocol": "email", "Endpoint": "ops@example.com"})
	})
	must(t, "dashboard", func() { s.tmpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(1)) })
}

// The large-object option adds the task from the same image, running
// `scangate task`, and the Offload variables on Claim and Offload.
func TestLargeObjects(t *testing.T) {
	s := get(t, "large")
	must(t, "task definition", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), map[string]any{
			"RequiresCompatibilities": []any{"FARGATE"},
			"RuntimePlatform":         map[string]any{"CpuArchitecture": "ARM64"},
			"ContainerDefinitions": []any{assertions.Match_ObjectLike(&map[string]any{
				"Command": []any{"task"}, "EntryPoint": []any{"/usr/local/bin/scangate"},
			})},
		})
	})
	for _, r := range s.resources("AWS::Lambda::Function") {
		p := props(r)
		desc, _ := p["Description"].(string)
		name := ""
		if f := strings.Fields(desc); len(f) > 1 {
			name = f[1]
		}
		if !slices.Contains(lambdaenv.OffloadFunctions, name) {
			continue
		}
		vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		for _, k := range lambdaenv.Offload {
			if vars[k] == nil {
				t.Errorf("%s lacks %s", name, k)
			}
		}
	}
	if n := len(get(t, "new").resources("AWS::ECS::TaskDefinition")); n != 0 {
		t.Errorf("large objects off, yet %d task definitions", n)
	}
	must(t, "provisioned scan", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Alias"), map[string]any{
			"ProvisionedConcurrencyConfig": map[string]any{"ProvisionedConcurrentExecutions": 2},
		})
	})
}
