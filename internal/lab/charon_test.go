//go:build netns

package lab_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// pskConn is a minimal swanctl.conf for one side of SiteToSite: subnet to
// subnet, because kernel-libipsec refuses host-to-host selectors
// (DESIGN.md). One key per line: swanctl.conf wants that.
func pskConn(local, remote, localTS, remoteTS, localID, remoteID, start string) string {
	return `connections {
  lab {
    version = 2
    local_addrs = ` + local + `
    remote_addrs = ` + remote + `
    proposals = aes256gcm16-prfsha256-x25519
    local {
      auth = psk
      id = ` + localID + `
    }
    remote {
      auth = psk
      id = ` + remoteID + `
    }
    children {
      net {
        local_ts = ` + localTS + `
        remote_ts = ` + remoteTS + `
        esp_proposals = aes256gcm16
        start_action = ` + start + `
      }
    }
  }
}
secrets {
  ike-lab {
    id-1 = left
    id-2 = right
    secret = "lab test secret, not a real one"
  }
}
`
}

// charonRunning reports whether pid is alive and is a charon (a reaped PID
// may be reused by something else).
func charonRunning(pid int) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return err == nil && strings.TrimSpace(string(comm)) == "charon"
}

func TestCharonStartStop(t *testing.T) {
	labtest.RequireRoot(t)
	labtest.RequireStrongSwan(t)
	t.Parallel()
	s, err := lab.NewSiteToSite("labtest")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := lab.StartCharon(s.Left, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("charon log:\n%s", c.Log())
		}
	}()
	defer c.Stop()
	pid := c.Process().PID()
	if !charonRunning(pid) {
		t.Fatalf("pid %d is not charon (ip/unshare/sh should all exec)", pid)
	}
	// charon's tmpfs /run must stay in its own mount namespace: the host's
	// /run still has our namespace files.
	if _, err := os.Stat("/run/netns/" + s.Left.Name); err != nil {
		t.Errorf("host /run lost %s: %v", s.Left.Name, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.Swanctl(ctx, "--stats")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "kernel-libipsec") || !strings.Contains(out, "vici") {
		t.Errorf("swanctl --stats does not list the plugins:\n%s", out)
	}

	if err := c.LoadConfig(pskConn(s.LeftOuter.String(), s.RightOuter.String(),
		s.LeftNet.String(), s.RightNet.String(), "left", "right", "none")); err != nil {
		t.Fatal(err)
	}
	out, err = c.Swanctl(ctx, "--list-conns")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lab:", "net:", s.LeftNet.String(), s.RightNet.String()} {
		if !strings.Contains(out, want) {
			t.Errorf("swanctl --list-conns lacks %q:\n%s", want, out)
		}
	}
	if err := c.LoadConfig("connections {\n  broken {\n    local { auth = psk id = x }\n  }\n}\n"); err == nil {
		t.Error("LoadConfig of a malformed swanctl.conf succeeded")
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if charonRunning(pid) {
		t.Errorf("charon pid %d still running after Stop", pid)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if !strings.Contains(c.Log(), "charon") {
		t.Errorf("charon log looks empty:\n%s", c.Log())
	}
}

// Two charons in the two sites bring up a tunnel and carry traffic between
// the LANs, which have no route to each other without it: proof that the
// lab's strongSwan setup (kernel-libipsec, separate /run) works end to end.
func TestCharonTunnel(t *testing.T) {
	labtest.RequireRoot(t)
	labtest.RequireStrongSwan(t)
	t.Parallel()
	s, err := lab.NewSiteToSite("labtest")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	left, err := lab.StartCharon(s.Left, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer left.Stop()
	right, err := lab.StartCharon(s.Right, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer right.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("left charon log:\n%s\nright charon log:\n%s", left.Log(), right.Log())
		}
	}()
	if err := right.LoadConfig(pskConn(s.RightOuter.String(), s.LeftOuter.String(),
		s.RightNet.String(), s.LeftNet.String(), "right", "left", "none")); err != nil {
		t.Fatal(err)
	}
	if err := left.LoadConfig(pskConn(s.LeftOuter.String(), s.RightOuter.String(),
		s.LeftNet.String(), s.RightNet.String(), "left", "right", "none")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := left.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "20"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 3); err != nil {
		t.Fatalf("ping through the tunnel: %v\n%s", err, out)
	}
	res, err := lab.TCPTransfer(ctx, s.Left, s.Right, s.LeftInner, s.RightInner, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TCPTransfer through strongSwan: %v", res)
	out, err := right.Swanctl(ctx, "--list-sas")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ESTABLISHED") || !strings.Contains(out, "INSTALLED") {
		t.Errorf("right --list-sas:\n%s", out)
	}
}
