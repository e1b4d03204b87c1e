//go:build netns

package netns

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// TestDemo runs `goipsec demo`, the README's first command, end to end.
func TestDemo(t *testing.T) {
	labtest.RequireRoot(t)
	ctx := ctxFor(t, 2*time.Minute)
	out, err := exec.CommandContext(ctx, goipsecBin, "demo", "--duration", "1s").CombinedOutput()
	t.Logf("goipsec demo:\n%s", out)
	if err != nil {
		t.Fatalf("goipsec demo: %v", err)
	}
	for _, want := range []string{"tunnel up", "3 received", "data intact: true", "ESTABLISHED", "INSTALLED",
		"no SAs left on either side", "cleaned up"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
