package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/lambdas/lambdaenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	if synthed != "" {
		os.RemoveAll(synthed)
	}
	os.Exit(code)
}

// fakeRepo is a repository folder with stub function assets, the real
// ASL files and a Dockerfile: what build reads.
func fakeRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, fn := range lambdaenv.Functions() {
		d := filepath.Join(dir, "bin", "lambda", fn)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "bootstrap"), []byte("stub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "asl"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"scan.asl.json", "review.asl.json", "backfill.asl.json"} {
		b, err := os.ReadFile(filepath.Join("..", "asl", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "asl", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// synthApp synthesizes the app as main does, with every option on, into
// a temporary cdk.out, and returns that folder.
func synthApp(t *testing.T) string {
	t.Helper()
	// Shared by the tests: removed by TestMain, not by the first test.
	out, err := os.MkdirTemp("", "scangate-cdk-")
	if err != nil {
		t.Fatal(err)
	}
	ctx := map[string]any{
		"repoDir":           fakeRepo(t),
		"newBucket":         "true",
		"existingBuckets":   "uploads,avatars",
		"prefixes.uploads":  "incoming/",
		"kmsKeyArn.uploads": "arn:aws:kms:us-east-1:111111111111:key/0a1b2c3d-0000-0000-0000-000000000000",
		"alarmEmail":        "ops@example.com",
		"inventoryBuckets":  "inventory-reports",
		"largeObjects":      "true",
		"vpcId":             "vpc-0123456789abcdef0",
		"subnetIds":         "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out), Context: &ctx})
	if _, err := build(app, contextOf(app)); err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	return out
}

var synthed string

func outdir(t *testing.T) string {
	if synthed == "" {
		synthed = synthApp(t)
	}
	return synthed
}

// cdk-nag's AwsSolutions pack finds nothing unsuppressed: its findings
// are error annotations in the stack's metadata, which app.Synth does not
// fail on by itself. The report is kept (make synth leaves it in cdk.out).
func TestNag(t *testing.T) {
	out := outdir(t)
	b, err := os.ReadFile(filepath.Join(out, "Scangate.metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var md map[string][]struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	for path, entries := range md {
		for _, e := range entries {
			if e.Type == "aws:cdk:error" {
				t.Errorf("%s: %v", path, e.Data)
			}
		}
	}
	reports, _ := filepath.Glob(filepath.Join(out, "AwsSolutions-*NagReport.csv"))
	if len(reports) != 1 {
		t.Fatalf("NagReport CSVs: %v, want one", reports)
	}
	f, err := os.Open(reports[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	suppressed := 0
	for _, r := range rows[1:] {
		switch r[2] {
		case "Non-Compliant":
			t.Errorf("cdk-nag %s (%s) on %s", r[0], r[4], r[1])
		case "Suppressed":
			suppressed++
			if strings.TrimSpace(r[3]) == "" {
				t.Errorf("%s on %s suppressed without a reason", r[0], r[1])
			}
		}
	}
	t.Logf("%d rules checked, %d findings suppressed with a reason", len(rows)-1, suppressed)
}

// guardAccepted are the cfn-guard (Control Tower rules) findings that are
// accepted, with why; any other finding fails the test.
var guardAccepted = map[string]string{
	"cloudwatch_log_group_encrypted_check":               "Log groups use CloudWatch Logs' own encryption at rest; a CMK per log group adds a key policy to maintain and $1/month for no reader scangate does not already trust.",
	"cloudwatch_log_group_retention_period_check":        "The rule wants a year; retention is a prop (logRetentionDays, default 90) because workflow logs at level ALL hold object keys.",
	"lambda_inside_vpc_check":                            "No VPC by default (issue 14): the functions reach only AWS APIs, and a VPC would need NAT or endpoints, the users' most common complaint.",
	"s3_bucket_default_encryption_kms_check":             "SSE-S3 by default; the new bucket takes a KMS key (newBucketKmsKeyArn) when the user wants one. The signatures bucket holds ClamAV's public databases: a key would guard nothing secret, and their integrity is checked by SHA-256 on load.",
	"s3_bucket_object_lock_enabled_check":                "Object Lock would stop the quarantine step from deleting the infected version from its key, and old signature sets from expiring (a set's files are pinned by version and checked by SHA-256 instead).",
	"s3_event_notifications_enabled_check":               "Only the protected buckets need events (EventBridge is on for them); the quarantine, log and signatures buckets must not feed the scanner.",
	"s3_lifecycle_policy_check":                          "Uploads belong to the user, who decides their lifecycle; quarantined copies are evidence kept until decided (quarantineExpireDays).",
	"s3_version_lifecycle_policy_check":                  "Same: noncurrent versions of uploads are the user's; the quarantine bucket expires noncurrent versions when quarantineExpireDays is set.",
	"s3_bucket_acl_prohibited_check":                     "The access-log bucket must accept S3 log delivery's ACL-based writes (BucketOwnerPreferred).",
	"s3_bucket_logging_enabled_check":                    "The access-log bucket itself: logging it into itself would loop.",
	"s3_bucket_versioning_enabled_check":                 "The access-log bucket: logs are written once and expire after a year.",
	"ecs_containers_readonly_access_check":               "clamd writes its socket, configuration and temporary copies of the stream under /tmp; a read-only root with a /tmp volume is the next step.",
	"sqs_dlq_check":                                      "The dead-letter queue itself has no dead-letter queue.",
	"step_functions_state_machine_tracing_enabled_check": "X-Ray is off by default (tracing=true turns it on): about $5 per million uploads per trace recorded (docs/cost.md), and each object's record keeps its history. TestLoggingAndTracingProps checks that the prop turns it on.",
	"lambda_function_url_auth_check":                     publicConsole,
	"lambda_function_public_access_prohibited_check":     publicConsole,
}

// publicConsole is why the console's Function URL has no IAM auth.
const publicConsole = "The admin console's Function URL (the review function, unqualified) is public by design: a browser reaches it before anyone has signed in, and the console authenticates every page itself with OpenID Connect (code flow with PKCE, state and nonce; an encrypted, expiring session cookie; same-origin and per-session form tokens on every POST). The review JSON API on the same function refuses any caller without a verified identity, which only the AWS_IAM Function URL on the api alias supplies. -c console=false removes the URL."

// cfn-guard with the Control Tower rules that @cdklabs/cdk-validator-cfnguard
// ships, over the synthesized template, offline.
func TestCfnGuard(t *testing.T) {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	base := filepath.Join("..", "tools", "node_modules", "@cdklabs", "cdk-validator-cfnguard")
	bin := filepath.Join(base, "bin", "ubuntu", arch, "cfn-guard")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no cfn-guard (make tools installs it): %v", err)
	}
	out := outdir(t)
	cmd := exec.Command(bin, "validate", "-r", filepath.Join(base, "rules", "control-tower", "cfn-guard"),
		"-d", filepath.Join(out, "Scangate.template.json"), "--show-summary", "none", "-o", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output() // exits 19 when a rule fails; the JSON says which
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("cfn-guard: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	found := map[string]map[string]bool{}
	docs := 0
	for dec.More() {
		var doc struct {
			NotCompliant []struct {
				Rule struct {
					Name string `json:"name"`
				} `json:"Rule"`
			} `json:"not_compliant"`
		}
		var rawDoc json.RawMessage
		if err := dec.Decode(&rawDoc); err != nil {
			t.Fatalf("cfn-guard output: %v\n%s", err, raw)
		}
		docs++
		json.Unmarshal(rawDoc, &doc)
		for _, nc := range doc.NotCompliant {
			if found[nc.Rule.Name] == nil {
				found[nc.Rule.Name] = map[string]bool{}
			}
			for _, id := range resourceIDs(rawDoc, nc.Rule.Name) {
				found[nc.Rule.Name][id] = true
			}
		}
	}
	if docs == 0 {
		t.Fatalf("cfn-guard printed nothing: %s", stderr.String())
	}
	var rules []string
	for r := range found {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		ids := sortedKeys(found[r])
		reason := guardAccepted[r]
		if reason == "" {
			t.Errorf("cfn-guard %s fails on %v", r, ids)
			continue
		}
		t.Logf("accepted %s %v: %s", r, ids, reason)
	}
}

// resourceIDs finds the logical ids a rule's finding names.
func resourceIDs(doc json.RawMessage, rule string) []string {
	var v any
	json.Unmarshal(doc, &v)
	ids := map[string]bool{}
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if r, ok := x["Rule"].(map[string]any); ok && r["name"] != rule {
				return
			}
			for k, v := range x {
				if s, ok := v.(string); ok && k == "path" && strings.HasPrefix(s, "/Resources/") {
					ids[strings.Split(s, "/")[2]] = true
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(v)
	return sortedKeys(ids)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
