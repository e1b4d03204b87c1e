// Package archtest checks the layout rules of DESIGN.md ("Layout and the
// direction of imports") and the formatting rule of STYLE.md, so that they
// stay true as the code grows.
package archtest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/goipsec/goipsec/"

// allowed lists, for each package, the packages of ours it may depend on
// (directly or not). Imports point down the list of DESIGN.md only: leaves
// import nothing of ours, esp does no I/O, ike never sees the data plane
// or the config, config knows nothing of ike; only daemon and cmd see
// everything.
var allowed = map[string][]string{
	"internal/wire/ike":    {},
	"internal/wire/packet": {},
	"internal/replay":      {},
	"internal/ts":          {},
	"internal/suite":       {"internal/wire/ike"},
	"internal/esp":         {"internal/suite", "internal/replay", "internal/wire/packet", "internal/wire/ike"},
	"internal/sadb":        {"internal/esp", "internal/ts", "internal/suite", "internal/replay", "internal/wire/packet", "internal/wire/ike"},
	"internal/pki":         {"internal/wire/ike"},
	"internal/pki/pkitest": {},
	"internal/ike":         {"internal/pki", "internal/sadb", "internal/esp", "internal/ts", "internal/suite", "internal/replay", "internal/wire/packet", "internal/wire/ike"},
	"internal/dataplane":   {"internal/sadb", "internal/esp", "internal/ts", "internal/suite", "internal/replay", "internal/wire/packet", "internal/wire/ike"},
	"internal/config":      {"internal/ts", "internal/suite", "internal/wire/ike"},
	"internal/vici":        {},
	"internal/lab":         {},
	"internal/ctl":         {},
	"internal/keylog":      {"internal/wire/ike"},
	"internal/metrics":     {},
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestImportDirection(t *testing.T) {
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.HasPrefix(dep, mod) {
				continue
			}
			dep = strings.TrimPrefix(dep, mod)
			if dep == pkg {
				continue
			}
			if !slices.Contains(ok, dep) {
				t.Errorf("%s depends on %s, which DESIGN.md's import direction forbids", pkg, dep)
			}
		}
	}
}

// TestEveryPackageHasARule makes sure new packages get a line in allowed
// (or are one of the top-level wiring packages).
func TestEveryPackageHasARule(t *testing.T) {
	out, err := exec.Command("go", "list", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	wiring := []string{"internal/daemon", "internal/demo", "internal/archtest", "cmd/goipsec", "bench/scale"}
	for _, p := range strings.Fields(string(out)) {
		p = strings.TrimPrefix(p, mod)
		if strings.HasPrefix(p, "internal/lab/") || strings.HasPrefix(p, "internal/dataplane/") {
			continue // test helpers of their parent package
		}
		if _, ok := allowed[p]; !ok && !slices.Contains(wiring, p) {
			t.Errorf("package %s has no import rule in archtest", p)
		}
	}
}

func TestGofmt(t *testing.T) {
	root := repoRoot(t)
	out, err := exec.Command("gofmt", "-l", filepath.Join(root, "cmd"), filepath.Join(root, "internal"), filepath.Join(root, "test"), filepath.Join(root, "bench")).CombinedOutput()
	if err != nil {
		t.Fatalf("gofmt: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("files need gofmt:\n%s", s)
	}
}
