package asl_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/scangate/scangate/asl"
)

type definition struct {
	States map[string]state `json:"States"`
}

type state struct {
	Type       string          `json:"Type"`
	Resource   string          `json:"Resource"`
	Parameters json.RawMessage `json:"Parameters"`
	Default    string          `json:"Default"`
	Choices    []struct {
		Variable      string `json:"Variable"`
		StringEquals  string `json:"StringEquals"`
		BooleanEquals *bool  `json:"BooleanEquals"`
		Next          string `json:"Next"`
	} `json:"Choices"`
	// ItemProcessor holds a Map state's own states.
	ItemProcessor *definition `json:"ItemProcessor"`
}

// flatten adds a Map's processor states to d's, so that their Tasks are
// held to the contract too.
func (d definition) flatten() definition {
	out := definition{States: map[string]state{}}
	for name, s := range d.States {
		out.States[name] = s
		if s.ItemProcessor != nil {
			for n, inner := range s.ItemProcessor.flatten().States {
				out.States[name+"/"+n] = inner
			}
		}
	}
	return out
}

func parse(t *testing.T, name string, raw []byte) definition {
	t.Helper()
	var d definition
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d.flatten()
}

// The definitions and the Go side agree: every $.next a Choice tests is a
// declared route and leads where the route says; every route is
// reachable; every function a Task calls is declared, and every declared
// function is called.
func TestContract(t *testing.T) {
	defs := map[string]definition{
		"scan.asl.json":     parse(t, "scan.asl.json", asl.Scan()),
		"review.asl.json":   parse(t, "review.asl.json", asl.Review()),
		"backfill.asl.json": parse(t, "backfill.asl.json", asl.Backfill()),
	}
	reached := map[asl.Route]bool{}
	called := map[asl.Function]bool{}
	for name, d := range defs {
		for stateName, s := range d.States {
			switch s.Type {
			case "Choice":
				testsNext := false
				for _, c := range s.Choices {
					if c.Variable != "$.next" {
						continue
					}
					testsNext = true
					r := asl.Route(c.StringEquals)
					if !slices.Contains(asl.Routes(), r) {
						t.Errorf("%s: Choice %s tests $.next == %q, which is no declared route", name, stateName, c.StringEquals)
						continue
					}
					if c.Next != r.State() {
						t.Errorf("%s: Choice %s sends route %q to %s; the contract says %s", name, stateName, r, c.Next, r.State())
					}
					reached[r] = true
				}
				if testsNext {
					for _, r := range asl.Routes() {
						if r.State() == s.Default {
							reached[r] = true
						}
					}
				}
			case "Task":
				ref := s.Resource
				if strings.HasPrefix(ref, "arn:aws:states:::") {
					var p struct {
						FunctionName string `json:"FunctionName"`
					}
					json.Unmarshal(s.Parameters, &p)
					ref = p.FunctionName
				}
				found := false
				for _, f := range asl.Functions() {
					if ref == "${"+f.Placeholder()+"}" {
						called[f], found = true, true
					}
				}
				if !found {
					t.Errorf("%s: Task %s calls %q, which is no declared function", name, stateName, ref)
				}
			}
		}
	}
	scan := defs["scan.asl.json"]
	for _, r := range asl.Routes() {
		if _, ok := scan.States[r.State()]; !ok {
			t.Errorf("route %q leads to %q, which the scan definition lacks", r, r.State())
		}
		if !reached[r] {
			t.Errorf("route %q is declared but no Choice reaches it", r)
		}
	}
	for _, f := range asl.Functions() {
		if !called[f] {
			t.Errorf("function %s is declared but no Task calls it", f)
		}
	}
}

func TestFunctionPlaceholder(t *testing.T) {
	for f, want := range map[asl.Function]string{asl.FuncClaim: "ClaimFunctionArn", asl.FuncAwaitReview: "AwaitReviewFunctionArn", "": ""} {
		if got := f.Placeholder(); got != want {
			t.Errorf("%q.Placeholder() = %q; want %q", f, got, want)
		}
	}
}
