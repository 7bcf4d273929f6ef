package scangate_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/scangate/scangate"

// layers ranks the module's packages: a package may import packages of
// its own layer or a lower one, never a higher one. ARCHITECTURE.md has
// the same table in words. The longest matching prefix decides.
var layers = []struct {
	prefix string
	rank   int
}{
	{"domain", 0},
	{"statemachine", 1},
	{"asl", 1}, // the definitions and the workflow contract
	{"asl/workflow", 1},
	{"internal/authn", 1},
	{"internal/clamd", 2},
	{"internal/engine", 2},
	{"internal/intake", 2},
	{"internal/metrics", 2},
	{"internal/policy", 1}, // the policy file and denylist parser
	{"store", 2},
	{"objects", 2},
	{"internal/testsvc", 2}, // starts real servers for tests
	{"store/storetest", 3},
	{"objects/objectstest", 3},
	{"internal/clamd/clamdtest", 3},
	{"internal/localtest", 3}, // the embedded store and a local bucket for tests
	{"internal/urlopen", 3},
	{"lambdas/stepfunctions", 3},
	{"lambdas/fargate", 3},
	{"internal/sqspoll", 3},
	{"internal/sigset", 3},
	{"lambdas", 4},         // the step handlers
	{"internal/notify", 5}, // result events: webhook, EventBridge
	{"internal/lambdahttp", 1},
	{"lambdas/lambdaenv", 5},
	{"asl/local", 5},
	{"asl/localsfn", 5},
	{"internal/console", 6},
	{"internal/backfill", 5}, // walks a bucket through the ingest handler
	{"internal/httpapi", 6},
	{"cmd", 7},
	{"lambdas/cmd", 7},
	{"internal/bench", 7},
	{"internal/drill", 7},
	{"", 7}, // the module root
}

func rank(pkg string) (int, bool) {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	best, r := -1, 0
	for _, l := range layers {
		if (rel == l.prefix || strings.HasPrefix(rel, l.prefix+"/") || l.prefix == "") && len(l.prefix) > best {
			best, r = len(l.prefix), l.rank
		}
	}
	return r, best >= 0
}

// No package imports one of a higher layer: the arrows run down.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		from := fields[0]
		fr, _ := rank(from)
		for _, to := range fields[1:] {
			if !strings.HasPrefix(to, module) {
				continue
			}
			if tr, _ := rank(to); tr > fr {
				t.Errorf("%s (layer %d) imports %s (layer %d)", strings.TrimPrefix(from, module+"/"), fr, strings.TrimPrefix(to, module+"/"), tr)
			}
		}
	}
}
