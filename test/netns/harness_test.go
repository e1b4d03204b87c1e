//go:build netns

// Package netns holds the integration tests that run goipsec daemons (and
// strongSwan's charon) in network namespaces and push real traffic through
// real tunnels. They need root; run them with
//
//	go test -tags netns ./test/netns/
//
// (scripts/test.sh does, after installing strongSwan and friends).
package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/ctl"
	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// goipsecBin is the daemon binary under test, built once by TestMain.
var goipsecBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "goipsec-netns-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goipsecBin = filepath.Join(dir, "goipsec")
	args := []string{"build", "-o", goipsecBin}
	if os.Getenv("GOIPSEC_RACE") != "" {
		// The daemons under test run with the race detector.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/goipsec/goipsec/cmd/goipsec")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building goipsec:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a goipsec daemon running in a namespace.
type daemon struct {
	t       *testing.T
	ns      *lab.Namespace
	control string
	log     string
	proc    *lab.Process
	client  *ctl.Client
}

// startDaemon writes conf and starts `goipsec daemon` in ns.
func startDaemon(t *testing.T, ns *lab.Namespace, name, conf string, extraArgs ...string) *daemon {
	t.Helper()
	return startDaemonIn(t, ns, name, t.TempDir(), conf, extraArgs...)
}

// startDaemonIn is startDaemon with the config written into dir (where
// swanctl's credential directories may already be).
func startDaemonIn(t *testing.T, ns *lab.Namespace, name, dir, conf string, extraArgs ...string) *daemon {
	t.Helper()
	cfg := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, ns: ns, control: filepath.Join(dir, "vici.sock"), log: filepath.Join(dir, name+".log")}
	var err error
	args := append([]string{goipsecBin, "daemon", "--config", cfg, "--control", d.control, "--log-level", "debug"}, extraArgs...)
	d.proc, err = ns.Start(d.log, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.client != nil {
			d.client.Close()
		}
		d.proc.Stop()
		b, _ := os.ReadFile(d.log)
		if strings.Contains(string(b), "WARNING: DATA RACE") || strings.Contains(string(b), "panic:") {
			t.Errorf("goipsec %s reported a data race or panic", name)
		}
		if t.Failed() {
			t.Logf("--- goipsec %s log ---\n%s", name, b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := ctl.Dial(d.control); err == nil {
			if _, err := c.Version(context.Background()); err == nil {
				d.client = c
				return d
			}
			c.Close()
		}
		if d.proc.Exited() || time.Now().After(deadline) {
			b, _ := os.ReadFile(d.log)
			t.Fatalf("goipsec %s did not start:\n%s", name, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs the goipsec CLI against this daemon's socket.
func (d *daemon) cli(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--control", d.control)
	out, err := exec.CommandContext(ctx, goipsecBin, args...).CombinedOutput()
	return string(out), err
}

func (d *daemon) sas(ctx context.Context) []map[string]any {
	d.t.Helper()
	sas, err := d.client.ListSAs(ctx, "")
	if err != nil {
		d.t.Fatalf("list-sas: %v", err)
	}
	return sas
}

// siteConf is one side's swanctl.conf for SiteToSite, usable by goipsec
// and by strongSwan alike (one key per line, as swanctl.conf wants).
type siteConf struct {
	local, remote           string
	localID, remoteID       string
	localNet, remoteNet     string
	ike, esp, psk, startAct string
	// extraConn and extraChild are added to the connection and child
	// sections (strongSwan-only settings such as rekey_time).
	extraConn, extraChild string
}

func (c siteConf) String() string {
	start := ""
	if c.startAct != "" {
		start = "\n                start_action = " + c.startAct
	}
	if c.extraChild != "" {
		start += "\n                " + c.extraChild
	}
	proposals := c.ike
	if c.extraConn != "" {
		proposals += "\n        " + c.extraConn
	}
	return fmt.Sprintf(`connections {
    site {
        version = 2
        local_addrs = %s
        remote_addrs = %s
        proposals = %s
        local {
            auth = psk
            id = %s
        }
        remote {
            auth = psk
            id = %s
        }
        children {
            net {
                local_ts = %s
                remote_ts = %s
                esp_proposals = %s
                mode = tunnel%s
            }
        }
    }
}
secrets {
    ike-site {
        id-1 = %s
        id-2 = %s
        secret = %q
    }
}
`, c.local, c.remote, proposals, c.localID, c.remoteID, c.localNet, c.remoteNet, c.esp, start,
		c.localID, c.remoteID, c.psk)
}

// confs returns matching configs for the left and right sites.
func confs(s *lab.SiteToSite, ike, esp string) (left, right siteConf) {
	psk := make([]byte, 16)
	rand.Read(psk)
	left = siteConf{
		local: s.LeftOuter.String(), remote: s.RightOuter.String(),
		localID: "left.goipsec.test", remoteID: "right.goipsec.test",
		localNet: s.LeftNet.String(), remoteNet: s.RightNet.String(),
		ike: ike, esp: esp, psk: hex.EncodeToString(psk),
	}
	right = siteConf{
		local: s.RightOuter.String(), remote: s.LeftOuter.String(),
		localID: "right.goipsec.test", remoteID: "left.goipsec.test",
		localNet: s.RightNet.String(), remoteNet: s.LeftNet.String(),
		ike: ike, esp: esp, psk: left.psk,
	}
	return left, right
}

func topology(t *testing.T) *lab.SiteToSite {
	t.Helper()
	labtest.RequireRoot(t)
	s, err := lab.NewSiteToSite("gt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkTraffic pings across the tunnel both ways and sends 10 MB of TCP
// from left to right and back, checking the bytes arrive intact.
func checkTraffic(ctx context.Context, t *testing.T, s *lab.SiteToSite) {
	t.Helper()
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 3); err != nil {
		t.Fatalf("ping left -> right through the tunnel: %v\n%s", err, out)
	}
	if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 3); err != nil {
		t.Fatalf("ping right -> left through the tunnel: %v\n%s", err, out)
	}
	for _, dir := range []struct {
		name     string
		from, to *lab.Namespace
		src, dst string
	}{
		{"left->right", s.Left, s.Right, s.LeftInner.String(), s.RightInner.String()},
		{"right->left", s.Right, s.Left, s.RightInner.String(), s.LeftInner.String()},
	} {
		res, err := lab.TCPTransfer(ctx, dir.from, dir.to, mustAddr(dir.src), mustAddr(dir.dst), 10<<20)
		if err != nil {
			t.Fatalf("TCP %s: %v", dir.name, err)
		}
		if !res.Intact || res.Bytes != 10<<20 {
			t.Fatalf("TCP %s: %v", dir.name, res)
		}
		t.Logf("TCP %s: %v", dir.name, res)
	}
}

// childOf digs the first Child SA out of a list-sas tree.
func childOf(t *testing.T, sas []map[string]any) map[string]any {
	t.Helper()
	if len(sas) != 1 {
		t.Fatalf("want 1 IKE SA, have %d: %v", len(sas), sas)
	}
	sa, _ := sas[0]["site"].(map[string]any)
	if sa == nil || sa["state"] != "ESTABLISHED" {
		t.Fatalf("IKE SA not established: %v", sas[0])
	}
	children, _ := sa["child-sas"].(map[string]any)
	for _, c := range children {
		return c.(map[string]any)
	}
	t.Fatalf("no Child SA: %v", sa)
	return nil
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(s string, words ...string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
