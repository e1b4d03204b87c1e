//go:build netns

package netns

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestStrongSwanFragmentation: IKE fragmentation (RFC 7383) with
// strongSwan. Both sides run with fragmentation = yes and a lowered
// fragment size (goipsec --fragment-size 576; charon.fragment_size 200,
// since strongSwan drops selectors contained in others and so sends an
// IKE_AUTH of under 300 octets), and 12 traffic selectors per side make
// goipsec's IKE_AUTH about 650 octets, so IKE_AUTH travels as SKF fragments
// both ways; both logs must show fragments sent and reassembled, and the
// tunnel must carry traffic.
func TestStrongSwanFragmentation(t *testing.T) {
	for _, initiator := range []string{"goipsec", "strongswan"} {
		t.Run(initiator+"-initiates", func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
			// Port selectors inside the tunnel's subnets: strongSwan's
			// routes need a local address inside each local selector.
			var leftExtra, rightExtra []string
			for i := 1; i < 12; i++ {
				leftExtra = append(leftExtra, fmt.Sprintf("%s[tcp/%d]", lc.localNet, 2000+i))
				rightExtra = append(rightExtra, fmt.Sprintf("%s[tcp/%d]", lc.remoteNet, 2000+i))
			}
			lc.localNet = strings.Join(append([]string{lc.localNet}, leftExtra...), ", ")
			lc.remoteNet = strings.Join(append([]string{lc.remoteNet}, rightExtra...), ", ")
			rc.localNet, rc.remoteNet = lc.remoteNet, lc.localNet
			lc.extraConn = "fragmentation = yes"
			rc.extraConn = "fragmentation = yes"
			charon := startCharonWith(t, s.Right, rc.String(), "fragment_size = 200")
			left := startDaemon(t, s.Left, "left", lc.String(), "--fragment-size", "576")
			ctx := ctxFor(t, 90*time.Second)
			if initiator == "goipsec" {
				if out, err := left.cli(ctx, "up", "site"); err != nil {
					t.Fatalf("goipsec up: %v\n%s", err, out)
				}
			} else if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, out)
			}
			childOf(t, left.sas(ctx))
			if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
				t.Fatalf("ping through the tunnel: %v\n%s", err, out)
			}
			clog := charon.Log()
			for _, want := range []string{"into", "fragments", "reassembled fragmented IKE message"} {
				if !strings.Contains(clog, want) {
					t.Errorf("strongSwan log lacks %q", want)
				}
			}
			b, _ := os.ReadFile(left.log)
			for _, want := range []string{"sending message in fragments", "reassembled fragmented message"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("goipsec log lacks %q", want)
				}
			}
			if strings.Contains(string(b), "retransmitting") {
				// strongSwan installs a policy per selector pair before it
				// answers; a retransmission resends every fragment.
				t.Log("goipsec retransmitted its fragmented IKE_AUTH")
			}
			for _, l := range strings.Split(clog, "\n") {
				if strings.Contains(l, "fragment") {
					t.Logf("strongSwan: %s", l)
				}
			}
			if out, err := left.cli(ctx, "down", "site"); err != nil {
				t.Fatalf("goipsec down: %v\n%s", err, out)
			}
		})
	}
}
