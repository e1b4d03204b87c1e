//go:build netns

package netns

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestTFCPaddingAndReplayWindow: tfc_padding = mtu on the left pads
// every ESP packet it sends to the MTU (RFC 4303 2.4: a capture shows no
// short ESP packet from the left, while the right's pings stay short),
// and the peers still talk; the right runs with replay_window = 4096 and
// the same checks against strongSwan, which takes TFC-padded packets.
func TestTFCPaddingAndReplayWindow(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("!!! SKIPPING: tshark is not installed (scripts/test.sh installs it)")
	}
	for _, peer := range []string{"goipsec", "strongswan"} {
		t.Run(peer, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
			lc.extraChild = "tfc_padding = mtu"
			dir := t.TempDir()
			pcap := filepath.Join(dir, "capture.pcap")
			dump, err := s.Left.Start(filepath.Join(dir, "tcpdump.log"), "tcpdump", "--immediate-mode", "-Z", "root", "-i", lab.OuterIf, "-U", "-w", pcap, "udp port 4500 or ip proto 50") // ESP in UDP to strongSwan, raw to goipsec
			if err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "tcpdump listening", 5*time.Second, func() bool {
				b, _ := os.ReadFile(filepath.Join(dir, "tcpdump.log"))
				return strings.Contains(string(b), "listening on")
			})
			left := startDaemon(t, s.Left, "left", lc.String())
			if peer == "goipsec" {
				rc.extraChild = "replay_window = 4096"
				startDaemon(t, s.Right, "right", rc.String())
			} else {
				startCharon(t, s.Right, rc.String())
			}
			ctx := ctxFor(t, 60*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 3); err != nil {
				t.Fatalf("ping: %v\n%s", err, out)
			}
			time.Sleep(200 * time.Millisecond)
			dump.Stop()
			sizes := func(src string) []int {
				cmd := exec.CommandContext(ctx, "tshark", "-r", pcap, "-Y", "esp && ip.src == "+src, "-T", "fields", "-e", "frame.len")
				out, err := cmd.Output() // stdout only: tshark warns on stderr
				if err != nil {
					t.Fatalf("tshark: %v\n%s", err, out)
				}
				var n []int
				for _, f := range strings.Fields(string(out)) {
					if v, err := strconv.Atoi(f); err == nil {
						n = append(n, v)
					}
				}
				return n
			}
			padded, plain := sizes(s.LeftOuter.String()), sizes(s.RightOuter.String())
			t.Logf("ESP frame sizes: left (tfc_padding = mtu) %v, right %v", padded, plain)
			if len(padded) < 3 || len(plain) < 3 {
				t.Fatalf("captured %d ESP packets from the left, %d from the right", len(padded), len(plain))
			}
			for _, n := range padded {
				if n < 1400 {
					t.Errorf("left sent an ESP packet of %d octets: not padded to the MTU", n)
				}
			}
			for _, n := range plain {
				if n > 400 {
					t.Errorf("right sent an ESP packet of %d octets for a ping: padded without tfc_padding", n)
				}
			}
		})
	}
}
