//go:build netns

package netns

import (
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestVolumeLifetimes: Child SAs with byte and packet lifetimes
// (swanctl.conf rekey_bytes/life_bytes, rekey_packets/life_packets; RFC
// 4301 4.4.2.1 soft and hard limits). A TCP transfer several times the
// soft limit crosses rekeys that the volume triggers (the time limits are
// strongSwan's default hour, far away); every rekey completes before the
// hard limit, so the data arrives intact, no ESP packet meets a missing SA
// and the metrics count the rekeys.
func TestVolumeLifetimes(t *testing.T) {
	for _, tc := range []struct {
		name, life string
		bytes      int64
		minRekeys  float64
	}{
		// 40 MB at a rekey every 8 MB on the sender's outbound SA.
		{"bytes", "rekey_bytes = 8M\n                life_bytes = 64M\n                rand_bytes = 0", 40 << 20, 4},
		// 24 MB is about 17,000 full-size packets: a rekey every 4,000.
		{"packets", "rekey_packets = 4000\n                life_packets = 40000\n                rand_packets = 0", 24 << 20, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
			lc.extraChild = tc.life
			const metricsAddr = "127.0.0.1:9815"
			left := startDaemon(t, s.Left, "left", lc.String(), "--metrics", metricsAddr)
			right := startDaemon(t, s.Right, "right", rc.String())
			ctx := ctxFor(t, 120*time.Second)
			if out, err := left.cli(ctx, "up", "site"); err != nil {
				t.Fatalf("goipsec up: %v\n%s", err, out)
			}
			first := childOf(t, left.sas(ctx))["spi-in"]
			res, err := lab.TCPTransfer(ctxFor(t, 60*time.Second), s.Left, s.Right, s.LeftInner, s.RightInner, tc.bytes)
			if err != nil || !res.Intact {
				t.Fatalf("TCP across volume rekeys: %v %v", res, err)
			}
			t.Logf("TCP across volume rekeys: %v", res)
			waitUntil(t, "one IKE SA with one Child SA on each side", 15*time.Second, func() bool {
				return oneChild(left.sas(ctx)) && oneChild(right.sas(ctx))
			})
			if c := childOf(t, left.sas(ctx)); c["spi-in"] == first {
				t.Errorf("Child SA was not rekeyed: SPI %v", first)
			}
			scrape := scrapeMetrics(ctx, t, s.Left, metricsAddr)
			rekeys := scrape[`goipsec_rekeys_total{kind="child"}`]
			t.Logf("child rekeys: %v", rekeys)
			if rekeys < tc.minRekeys {
				t.Errorf("%v Child SA rekeys, want at least %v for %d bytes", rekeys, tc.minRekeys, tc.bytes)
			}
			for name, d := range map[string]*daemon{"left": left, "right": right} {
				drops := dropsOf(ctx, t, d)
				for _, k := range []string{"esp-no_sa", "esp-no_policy", "esp-auth"} {
					if drops[k] != "0" {
						t.Errorf("%s dropped ESP (%s = %v): a volume rekey lost packets", name, k, drops[k])
					}
				}
			}
		})
	}
}
