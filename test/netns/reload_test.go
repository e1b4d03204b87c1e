//go:build netns

package netns

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// spareConn is a second connection that never comes up: adding it must
// not disturb the tunnel of the first.
const spareConn = `
connections {
    spare {
        remote_addrs = 192.0.2.99
        local {
            auth = psk
        }
        remote {
            auth = psk
        }
        children {
            other {
                local_ts = 10.7.0.0/24
                remote_ts = 10.8.0.0/24
            }
        }
    }
}
`

// TestReload changes a running daemon's config file and reloads it with
// SIGHUP and with `goipsec reload`: an added connection leaves the
// established tunnel alone (same SAs, same SPIs, traffic flows), a changed
// connection is torn down and, with start_action = start, comes back with
// the new settings, a broken file changes nothing, and a removed
// connection's SAs are deleted on both sides.
func TestReload(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, "aes256gcm16")
	lc.startAct = "start"
	rc.esp = "aes256gcm16,chacha20poly1305"
	right := startDaemon(t, s.Right, "right", rc.String())
	left := startDaemon(t, s.Left, "left", lc.String())
	ctx := ctxFor(t, 120*time.Second)
	leftConf := filepath.Join(filepath.Dir(left.control), "left.conf")
	write := func(conf string) {
		t.Helper()
		if err := os.WriteFile(leftConf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reloads := func() int { return strings.Count(readLog(t, left.log), "configuration reloaded") }
	sighup := func() {
		t.Helper()
		n := reloads()
		if err := left.proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "reload after SIGHUP", 10*time.Second, func() bool { return reloads() > n })
	}
	up := func() map[string]any {
		t.Helper()
		var c map[string]any
		waitUntil(t, "tunnel up", 30*time.Second, func() bool {
			sas := left.sas(ctx)
			if len(sas) != 1 {
				return false
			}
			sa, _ := sas[0]["site"].(map[string]any)
			children, _ := sa["child-sas"].(map[string]any)
			for _, ch := range children {
				c = ch.(map[string]any)
			}
			return sa["state"] == "ESTABLISHED" && c != nil
		})
		return c
	}
	first := up()
	rightFirst := childOf(t, right.sas(ctx))
	ping := func(what string) {
		t.Helper()
		if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
			t.Fatalf("ping %s: %v\n%s", what, err, out)
		}
	}
	ping("before any reload")

	// 1. A new connection: the tunnel stays exactly as it was.
	write(lc.String() + spareConn)
	sighup()
	ping("after adding a connection")
	after := childOf(t, left.sas(ctx))
	if after["spi-in"] != first["spi-in"] || after["uniqueid"] != first["uniqueid"] {
		t.Errorf("adding a connection replaced the Child SA: %v -> %v", first, after)
	}
	if r := childOf(t, right.sas(ctx)); r["spi-in"] != rightFirst["spi-in"] {
		t.Errorf("adding a connection disturbed the peer: %v -> %v", rightFirst, r)
	}
	if out, err := left.cli(ctx, "status"); err != nil || !strings.Contains(out, "ESTABLISHED") {
		t.Errorf("status after reload: %v %s", err, out)
	}

	// 2. A broken file: the reload fails with the reason, nothing changes.
	write(lc.String() + "connections {\n    broken {\n        bogus_key = 1\n    }\n}\n")
	if out, err := left.cli(ctx, "reload"); err == nil || !strings.Contains(out, "left.conf:") || !strings.Contains(out, "bogus_key") {
		t.Errorf("reload of a broken file: err=%v %s", err, out)
	}
	if c := childOf(t, left.sas(ctx)); c["spi-in"] != first["spi-in"] {
		t.Errorf("a failed reload replaced the Child SA: %v", c)
	}

	// 3. A changed connection (another ESP algorithm): torn down, and
	// brought up again with the new proposal (start_action = start).
	lc.esp = "chacha20poly1305"
	write(lc.String() + spareConn)
	if out, err := left.cli(ctx, "reload"); err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("goipsec reload: %v %s", err, out)
	}
	var second map[string]any
	waitUntil(t, "tunnel back with ChaCha20-Poly1305", 30*time.Second, func() bool {
		second = up()
		return second["encr-alg"] == "CHACHA20_POLY1305"
	})
	if second["spi-in"] == first["spi-in"] {
		t.Errorf("changed connection kept its Child SA: %v", second)
	}
	waitUntil(t, "peer has only the new SA", 10*time.Second, func() bool {
		sas := right.sas(ctx)
		return len(sas) == 1 && childOf(t, sas)["encr-alg"] == "CHACHA20_POLY1305"
	})
	ping("after changing the connection")

	// 4. The connection removed: its SAs are deleted on both sides.
	write(spareConn)
	sighup()
	waitUntil(t, "SAs deleted on both sides", 10*time.Second, func() bool {
		return len(left.sas(ctx)) == 0 && len(right.sas(ctx)) == 0
	})
	if _, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 1); err == nil {
		t.Error("ping still passes after the connection was removed")
	}
}
