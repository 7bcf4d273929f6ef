package gate_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/cdk/gate"
	"github.com/scangate/scangate/internal/sigset"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// logicalID returns the one resource of typ whose logical id starts with
// prefix.
func (s synthed) logicalID(t *testing.T, typ, prefix string) string {
	t.Helper()
	var ids []string
	for id := range s.resources(typ) {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s %s*: %v, want one", typ, prefix, ids)
	}
	return ids[0]
}

// function returns the properties of the function built from
// lambdas/cmd/name.
func (s synthed) function(t *testing.T, name string) map[string]any {
	t.Helper()
	for _, r := range s.resources("AWS::Lambda::Function") {
		p := props(r)
		if desc, _ := p["Description"].(string); strings.Contains(desc, "(lambdas/cmd/"+name+")") {
			return p
		}
	}
	t.Fatalf("no function for lambdas/cmd/%s", name)
	return nil
}

func envOf(p map[string]any) map[string]any {
	env, _ := p["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	return vars
}

// grants maps each role (logical id) to what its policies allow: action
// to resources.
func (s synthed) grants(t *testing.T) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	for _, r := range s.resources("AWS::IAM::Policy") {
		p := props(r)
		b, _ := json.Marshal(p["PolicyDocument"])
		var doc struct{ Statement []map[string]any }
		json.Unmarshal(b, &doc)
		for _, role := range asStrings(p["Roles"]) {
			role = strings.Trim(role, "<>")
			if out[role] == nil {
				out[role] = map[string][]string{}
			}
			for _, st := range doc.Statement {
				if st["Effect"] != "Allow" {
					continue
				}
				for _, a := range asStrings(st["Action"]) {
					out[role][a] = append(out[role][a], asStrings(st["Resource"])...)
				}
			}
		}
	}
	return out
}

// The signatures bucket: versioned, encrypted, public access blocked,
// TLS only, old sets expired.
func TestSignaturesBucket(t *testing.T) {
	s := get(t, "new")
	id := s.logicalID(t, "AWS::S3::Bucket", "GateSignatures")
	p := props(s.resources("AWS::S3::Bucket")[id])
	if v, _ := p["VersioningConfiguration"].(map[string]any); v["Status"] != "Enabled" {
		t.Errorf("versioning = %v", p["VersioningConfiguration"])
	}
	if !reflect.DeepEqual(p["PublicAccessBlockConfiguration"], map[string]any{
		"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
	}) {
		t.Errorf("public access block = %v", p["PublicAccessBlockConfiguration"])
	}
	if b, _ := json.Marshal(p["BucketEncryption"]); !strings.Contains(string(b), `"SSEAlgorithm":"AES256"`) {
		t.Errorf("encryption = %s", b)
	}
	if b, _ := json.Marshal(p["LifecycleConfiguration"]); !strings.Contains(string(b), `"Prefix":"sets/"`) {
		t.Errorf("lifecycle = %s, want old sets expired", b)
	}
	tls := false
	for _, r := range s.resources("AWS::S3::BucketPolicy") {
		if resolve(props(r)["Bucket"]) != "<"+id+">" {
			continue
		}
		b, _ := json.Marshal(props(r)["PolicyDocument"])
		tls = strings.Contains(string(b), `"aws:SecureTransport":"false"`) && strings.Contains(string(b), `"Effect":"Deny"`)
	}
	if !tls {
		t.Error("no TLS-only policy on the signatures bucket")
	}
}

// The updater is the scan image at its own entrypoint, one run at a time,
// given only the bucket (and the mirror); the scan function loads from
// the bucket into /tmp.
func TestSignatureFunctions(t *testing.T) {
	s := get(t, "new")
	bucket := "<" + s.logicalID(t, "AWS::S3::Bucket", "GateSignatures") + ">"
	up := s.function(t, "sigupdate")
	if up["PackageType"] != "Image" {
		t.Errorf("updater package type %v, want Image (it runs freshclam)", up["PackageType"])
	}
	if b, _ := json.Marshal(up["ImageConfig"]); !strings.Contains(string(b), `"EntryPoint":["/usr/local/bin/sigupdate"]`) {
		t.Errorf("updater image config = %s", b)
	}
	if up["ReservedConcurrentExecutions"] != float64(1) {
		t.Errorf("updater reserved concurrency = %v, want 1: two runs would race to publish", up["ReservedConcurrentExecutions"])
	}
	if up["Timeout"] != float64(gate.DefaultUpdater.TimeoutSeconds) || up["MemorySize"] != float64(gate.DefaultUpdater.MemoryMiB) {
		t.Errorf("updater timeout %v memory %v, want %+v", up["Timeout"], up["MemorySize"], gate.DefaultUpdater)
	}
	var keys []string
	for k := range envOf(up) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{lambdaenv.VarLogLevel, lambdaenv.VarSignaturesBucket}; !slices.Equal(keys, want) {
		t.Errorf("updater variables %v, want only %v", keys, want)
	}
	scan := s.function(t, "scan")
	for fn, vars := range map[string]map[string]any{"sigupdate": envOf(up), "scan": envOf(scan)} {
		if got := resolve(vars[lambdaenv.VarSignaturesBucket]); got != "s3://"+bucket {
			t.Errorf("%s: %s = %s, want s3://%s", fn, lambdaenv.VarSignaturesBucket, got, bucket)
		}
	}
	if got := envOf(scan)[lambdaenv.VarClamAVDB]; got != "/tmp/signatures" {
		t.Errorf("scan: %s = %v, want /tmp/signatures", lambdaenv.VarClamAVDB, got)
	}
	if b, _ := json.Marshal(scan["ImageConfig"]); !strings.Contains(string(b), `"EntryPoint":["/usr/local/bin/scan"]`) {
		t.Errorf("scan image config = %s", b)
	}
	// Sets are swapped one at a time by default, in the memory measured
	// for one database (docs/clamd-memory.md).
	if v, ok := envOf(scan)[lambdaenv.VarSignaturesSwap]; ok {
		t.Errorf("scan: %s = %v by default, want unset (one at a time)", lambdaenv.VarSignaturesSwap, v)
	}
	if scan["MemorySize"] != float64(gate.DefaultScan.MemoryMiB) || gate.DefaultScan.MemoryMiB != 2688 {
		t.Errorf("scan memory %v, want the measured 2688", scan["MemorySize"])
	}
	wide := newBucket
	wide.Signatures.SideBySide, wide.Scan.MemoryMiB = true, gate.SideBySideMiB
	if got := envOf(synth(t, wide).function(t, "scan"))[lambdaenv.VarSignaturesSwap]; got != lambdaenv.SwapSideBySide {
		t.Errorf("side by side: %s = %v, want %s", lambdaenv.VarSignaturesSwap, got, lambdaenv.SwapSideBySide)
	}

	// A private mirror reaches the updater, and only it.
	p := newBucket
	p.Signatures.Mirror = "https://clamav-mirror.example.com/"
	m := synth(t, p)
	if got := envOf(m.function(t, "sigupdate"))[lambdaenv.VarSignaturesMirror]; got != p.Signatures.Mirror {
		t.Errorf("updater mirror = %v, want %s", got, p.Signatures.Mirror)
	}
	if got := envOf(m.function(t, "scan"))[lambdaenv.VarSignaturesMirror]; got != nil {
		t.Errorf("scan has the mirror %v", got)
	}
}

// The updater runs on its schedule and when a deployment completes.
func TestSignatureSchedule(t *testing.T) {
	s := get(t, "new")
	fn := s.logicalID(t, "AWS::Lambda::Function", "GateSigupdateFunction")
	var schedule, deploy bool
	for _, r := range s.resources("AWS::Events::Rule") {
		p := props(r)
		b, _ := json.Marshal(p["Targets"])
		if !strings.Contains(string(b), `"`+fn+`"`) {
			continue
		}
		if p["ScheduleExpression"] == "rate(2 hours)" {
			schedule = true
		}
		if ep, _ := json.Marshal(p["EventPattern"]); strings.Contains(string(ep), `"CloudFormation Stack Status Change"`) &&
			strings.Contains(string(ep), `"CREATE_COMPLETE"`) && strings.Contains(string(ep), `"AWS::StackId"`) {
			deploy = true
		}
	}
	if !schedule {
		t.Error("no rate(2 hours) rule runs the updater")
	}
	if !deploy {
		t.Error("no rule runs the updater when this stack's deployment completes")
	}
	must(t, "outputs", func() {
		s.tmpl.HasOutput(jsii.String("SignaturesBucket"), map[string]any{})
		s.tmpl.HasOutput(jsii.String("SignatureUpdater"), map[string]any{})
	})
}

// Least privilege on the bucket: only the updater writes it (and touches
// no table); the scan function and the task only read it.
func TestSignatureGrants(t *testing.T) {
	s := get(t, "large")
	bucket := "<" + s.logicalID(t, "AWS::S3::Bucket", "GateSignatures")
	grants := s.grants(t)
	onBucket := func(resources []string) bool {
		return slices.ContainsFunc(resources, func(r string) bool { return strings.HasPrefix(r, bucket) })
	}
	readers := map[string]bool{}
	for role, acts := range grants {
		for a, res := range acts {
			if !onBucket(res) {
				continue
			}
			switch {
			case a == "s3:GetObject" || a == "s3:GetObjectVersion":
				readers[role] = true
			case strings.HasPrefix(role, "GateSigupdateRole"):
			default:
				t.Errorf("%s may %s on the signatures bucket", role, a)
			}
		}
	}
	for _, prefix := range []string{"GateScanRole", "GateOffloadTaskRole", "GateSigupdateRole"} {
		id := s.logicalID(t, "AWS::IAM::Role", prefix)
		if !readers[id] {
			t.Errorf("%s cannot read the signatures bucket", id)
		}
	}
	up := grants[s.logicalID(t, "AWS::IAM::Role", "GateSigupdateRole")]
	for _, a := range []string{"s3:PutObject", "s3:ListBucket"} {
		if !onBucket(up[a]) {
			t.Errorf("the updater lacks %s on the signatures bucket", a)
		}
	}
	for a, res := range up {
		if strings.HasPrefix(a, "dynamodb:") || (strings.HasPrefix(a, "s3:") && !onBucket(res)) {
			t.Errorf("the updater may %s on %v", a, res)
		}
	}
}

// Signature props that cannot work fail the synthesis.
func TestSignaturePropsValidated(t *testing.T) {
	for _, sig := range []gate.Signatures{
		{Mirror: "ftp://mirror.example.com"},
		{Mirror: "https://"},
		{EveryHours: 13},
		{Updater: gate.FunctionSize{TimeoutSeconds: 901}},
		{SideBySide: true}, // two databases do not fit the default memory
	} {
		p := newBucket
		p.Signatures = sig
		p.LambdaAssets, p.ImageDir, p.ASLDir = stubAssets(t), imageDir(t), repo+"/asl"
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
		stack := awscdk.NewStack(app, jsii.String("Test"), nil)
		if _, err := gate.New(stack, "Gate", &p); err == nil {
			t.Errorf("Signatures %+v accepted", sig)
		}
	}
}

// The sweep runs the retro-hunt on AWS: it reads the current set's
// pointer (and nothing else of the bucket), and its schedule passes the
// retro window and the rescans one sweep may start.
func TestSweepRetroHunt(t *testing.T) {
	s := get(t, "new")
	bucket := "<" + s.logicalID(t, "AWS::S3::Bucket", "GateSignatures")
	sweep := s.grants(t)[s.logicalID(t, "AWS::IAM::Role", "GateSweepRole")]
	var reads []string
	for a, res := range sweep {
		for _, r := range res {
			if !strings.HasPrefix(r, bucket) {
				continue
			}
			if a != "s3:GetObject" && a != "s3:GetObjectVersion" {
				t.Errorf("the sweep may %s on the signatures bucket", a)
			}
			reads = append(reads, r)
		}
	}
	if len(reads) == 0 {
		t.Fatal("the sweep cannot read the signatures bucket's pointer")
	}
	for _, r := range reads {
		if !strings.HasSuffix(r, "/"+sigset.PointerKey) {
			t.Errorf("the sweep may read %s, want only the pointer %s", r, sigset.PointerKey)
		}
	}
	if envOf(s.function(t, "sweep"))[lambdaenv.VarSignaturesBucket] == nil {
		t.Errorf("the sweep lacks %s", lambdaenv.VarSignaturesBucket)
	}
	fn := s.logicalID(t, "AWS::Lambda::Function", "GateSweepFunction")
	found := false
	for _, r := range s.resources("AWS::Events::Rule") {
		p := props(r)
		b, _ := json.Marshal(p["Targets"])
		if !strings.Contains(string(b), `"`+fn+`"`) {
			continue
		}
		found = true
		for _, want := range []string{`\"retroWindowSeconds\":604800`, `\"retroLimit\":200`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("the sweep's schedule input %s lacks %s", b, want)
			}
		}
	}
	if !found {
		t.Error("no rule runs the sweep")
	}
	must(t, "outputs", func() { s.tmpl.HasOutput(jsii.String("SweepFunction"), map[string]any{}) })
}
