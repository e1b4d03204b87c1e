//go:build netns

package netns

import (
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestGigabyteIntact sends 1 GiB of random bytes over one TCP connection
// through a goipsec <-> goipsec tunnel (AES-256-GCM and ChaCha20-Poly1305,
// ESP in UDP, so the parallel crypto pipeline, UDP GSO/GRO and TUN
// offloads are all in the path) and compares SHA-256 digests of what was
// sent and what arrived (issue 6: correctness under speed).
func TestGigabyteIntact(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB transfer")
	}
	for _, sc := range suites {
		t.Run(sc.name, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, sc.ike, sc.esp)
			left := startDaemon(t, s.Left, "left", lc.String())
			startDaemon(t, s.Right, "right", rc.String())
			ctx := ctxFor(t, 5*time.Minute)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			const n = 1 << 30
			res, err := lab.TCPTransfer(ctx, s.Left, s.Right, s.LeftInner, s.RightInner, n)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Intact || res.Bytes != n {
				t.Fatalf("transfer: %v", res)
			}
			t.Logf("%v", res)
		})
	}
}
