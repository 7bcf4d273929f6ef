package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// The per-prefix policy (docs/policy.md) reaches the functions that scan
// inside the scan image: the Scan step applies it, and both the scan
// function and the large-object task run that image, which cannot take a
// Lambda layer. The Dockerfile copies its build context "policy" (by
// default the repository's cdk/policy/ folder, which holds no policy) to
// policyDir; when Props.PolicyFile is set, the image is built with the
// folder holding that file as the "policy" context instead (docker build
// --build-context, BuildKit), so that the denylist files the policy names
// relative to itself come along. SCANGATE_POLICY_FILE then names the copy,
// and lambdaenv reads it at init (policy.Load): a bad policy fails the
// function's start, naming the line. The stack does not read the policy.
const policyDir = "/etc/scangate/policy"

// policyContext is the Dockerfile's build context (and stage) name for
// the policy folder.
const policyContext = "policy"

// policyFunctions are the functions that apply the policy: only the Scan
// step does (lambdas/scan.go). The large-object task is the other
// scanner; it gets the variable from offload().
var policyFunctions = []string{"scan"}

// policyImage returns the scan image's build contexts and extra hash for
// the policy: nil and "" without one. The hash covers every file of the
// folder, so that editing the policy or a denylist rebuilds the image and
// redeploys the scanners.
func policyImage(file string) (map[string]*string, string, error) {
	if file == "" {
		return nil, "", nil
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, "", fmt.Errorf("gate: policy file: %w", err)
	}
	if st, err := os.Stat(abs); err != nil {
		return nil, "", fmt.Errorf("gate: policy file: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, "", fmt.Errorf("gate: policy file %s is not a file", file)
	}
	dir := filepath.Dir(abs)
	h := sha256.New()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("gate: policy folder: %w", err)
	}
	return map[string]*string{policyContext: jsii.String(dir)}, "policy:" + hex.EncodeToString(h.Sum(nil)), nil
}

// policyPath is SCANGATE_POLICY_FILE in the image, or "" without a policy.
func (g *Gate) policyPath() string {
	if g.props.PolicyFile == "" {
		return ""
	}
	return path.Join(policyDir, filepath.Base(g.props.PolicyFile))
}

// shipPolicy sets SCANGATE_POLICY_FILE on the functions that scan, and in
// values, which the large-object task's environment is copied from. It
// runs after functions() (the image already carries the folder) and
// before offload().
func (g *Gate) shipPolicy(values map[string]*string) {
	p := g.policyPath()
	if p == "" {
		return
	}
	values[lambdaenv.VarPolicyFile] = jsii.String(p)
	for _, name := range policyFunctions {
		g.Functions[name].AddEnvironment(jsii.String(lambdaenv.VarPolicyFile), jsii.String(p), nil)
	}
}
