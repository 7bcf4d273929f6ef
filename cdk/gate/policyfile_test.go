package gate_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/cdk/gate"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// policyFolder writes a policy and a denylist it names into a folder of
// their own.
func policyFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"uploads.yaml": "rules:\n  - prefix: avatars/\n    contentTypes: [image/png]\n    action: quarantine\ndenylist:\n  files: [intel.sha256]\n",
		"intel.sha256": strings.Repeat("0", 64) + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "uploads.yaml")
}

// envVars maps each scangate function to its environment.
func envVars(s synthed) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range s.resources("AWS::Lambda::Function") {
		p := props(r)
		desc, _ := p["Description"].(string)
		if !strings.HasPrefix(desc, "scangate ") {
			continue
		}
		vars := map[string]any{}
		if env, ok := p["Environment"].(map[string]any); ok {
			vars, _ = env["Variables"].(map[string]any)
		}
		out[strings.Fields(desc)[1]] = vars
	}
	return out
}

// taskEnv is the large-object task container's environment.
func taskEnv(t *testing.T, s synthed) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range s.resources("AWS::ECS::TaskDefinition") {
		for _, c := range props(r)["ContainerDefinitions"].([]any) {
			for _, e := range c.(map[string]any)["Environment"].([]any) {
				e := e.(map[string]any)
				out[e["Name"].(string)] = resolve(e["Value"])
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no task environment")
	}
	return out
}

// With a policy file, SCANGATE_POLICY_FILE names its copy in the scan
// image on exactly the scanners: the scan function and the large-object
// task. Without one, nothing has it.
func TestPolicyFileShippedToScanners(t *testing.T) {
	file := policyFolder(t)
	p := newBucket
	p.PolicyFile = file
	p.LargeObjects = &gate.LargeObjects{VpcID: "vpc-0123456789abcdef0", SubnetIDs: []string{"subnet-0123456789abcdef0"}}
	s := synth(t, p)
	const want = "/etc/scangate/policy/uploads.yaml"
	var with []string
	for name, vars := range envVars(s) {
		if v, ok := vars[lambdaenv.VarPolicyFile]; ok {
			with = append(with, name)
			if resolve(v) != want {
				t.Errorf("%s: %s = %s, want %s", name, lambdaenv.VarPolicyFile, resolve(v), want)
			}
		}
	}
	if !slices.Equal(with, []string{"scan"}) {
		t.Errorf("functions with %s: %v, want only scan", lambdaenv.VarPolicyFile, with)
	}
	if got := taskEnv(t, s)[lambdaenv.VarPolicyFile]; got != want {
		t.Errorf("task: %s = %q, want %s", lambdaenv.VarPolicyFile, got, want)
	}

	for _, name := range []string{"new", "large"} {
		s := get(t, name)
		for fn, vars := range envVars(s) {
			if _, ok := vars[lambdaenv.VarPolicyFile]; ok {
				t.Errorf("%s: %s has %s without a policy file", name, fn, lambdaenv.VarPolicyFile)
			}
		}
		if name == "large" {
			if _, ok := taskEnv(t, s)[lambdaenv.VarPolicyFile]; ok {
				t.Errorf("the task has %s without a policy file", lambdaenv.VarPolicyFile)
			}
		}
	}
}

// imageAsset synthesizes p into a cloud assembly and returns the scan
// image's entry in its asset manifest.
func imageAsset(t *testing.T, p gate.Props) map[string]any {
	t.Helper()
	p.LambdaAssets, p.ImageDir, p.ASLDir = stubAssets(t), imageDir(t), filepath.Join(repo, "asl")
	out := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	stack := awscdk.NewStack(app, jsii.String("Test"), nil)
	if _, err := gate.New(stack, "Gate", &p); err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	b, err := os.ReadFile(filepath.Join(out, "Test.assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		DockerImages map[string]map[string]any `json:"dockerImages"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.DockerImages) != 1 {
		t.Fatalf("%d docker images, want the scan image", len(m.DockerImages))
	}
	for hash, img := range m.DockerImages {
		img["hash"] = hash
		return img
	}
	return nil
}

// The policy's folder is the image's "policy" build context, and its
// contents are in the image's hash: editing a denylist rebuilds the
// scanners' image.
func TestPolicyFolderIsTheImageBuildContext(t *testing.T) {
	file := policyFolder(t)
	p := newBucket
	p.PolicyFile = file
	img := imageAsset(t, p)
	src, _ := img["source"].(map[string]any)
	b, _ := json.Marshal(src)
	if !strings.Contains(string(b), filepath.Dir(file)) {
		t.Errorf("image source %s does not name the policy folder %s", b, filepath.Dir(file))
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "intel.sha256"), []byte(strings.Repeat("1", 64)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if again := imageAsset(t, p); again["hash"] == img["hash"] {
		t.Error("the image's hash did not change with the denylist")
	}
	if none := imageAsset(t, newBucket); strings.Contains(func() string { b, _ := json.Marshal(none["source"]); return string(b) }(), "policy") {
		t.Errorf("without a policy the image has a policy build context: %v", none["source"])
	}

	p.PolicyFile = filepath.Join(t.TempDir(), "missing.yaml")
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	p.LambdaAssets, p.ImageDir, p.ASLDir = stubAssets(t), imageDir(t), filepath.Join(repo, "asl")
	if _, err := gate.New(awscdk.NewStack(app, jsii.String("Test"), nil), "Gate", &p); err == nil {
		t.Error("a missing policy file was accepted")
	}
}
