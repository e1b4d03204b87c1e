// Package demo is `goipsec demo`: two network namespaces joined by a veth
// pair, a goipsec daemon in each, an IKEv2 tunnel between their subnets,
// ping and TCP across it, and a report of what happened. Everything it
// creates is removed again, also on Ctrl-C or failure.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/ctl"
	"github.com/goipsec/goipsec/internal/lab"
)

// Options configure the demo.
type Options struct {
	Binary      string        // the goipsec executable to run as daemons
	IKEProposal string        // default aes256gcm16-prfsha256-x25519
	ESPProposal string        // default aes256gcm16
	Duration    time.Duration // TCP throughput run; default 3 s
	Out         io.Writer
}

// site is one daemon of the demo.
type site struct {
	name    string
	ns      *lab.Namespace
	dir     string
	control string
	log     string
	proc    *lab.Process
}

// Run performs the demo and cleans up after itself.
func Run(ctx context.Context, o Options) (err error) {
	if o.IKEProposal == "" {
		o.IKEProposal = "aes256gcm16-prfsha256-x25519"
	}
	if o.ESPProposal == "" {
		o.ESPProposal = "aes256gcm16"
	}
	if o.Duration == 0 {
		o.Duration = 3 * time.Second
	}
	out := o.Out
	if err := lab.CheckRoot(); err != nil {
		return err
	}
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }

	step("creating network namespaces (two sites joined by a veth pair)")
	topo, err := lab.NewSiteToSite("goipsec-demo")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := topo.Close(); cerr != nil && err == nil {
			err = cerr
		}
		step("cleaned up: namespaces deleted, daemons stopped")
	}()
	fmt.Fprintf(out, "    %s: %v (outer), %v (LAN)\n", topo.Left.Name, topo.LeftOuter, topo.LeftNet)
	fmt.Fprintf(out, "    %s: %v (outer), %v (LAN)\n", topo.Right.Name, topo.RightOuter, topo.RightNet)

	dir, err := os.MkdirTemp("", "goipsec-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	psk := make([]byte, 24)
	rand.Read(psk)
	left := &site{name: "left", ns: topo.Left, dir: dir}
	right := &site{name: "right", ns: topo.Right, dir: dir}
	sites := []*site{left, right}
	confs := []string{
		siteConf(topo.LeftOuter.String(), topo.RightOuter.String(), "left.goipsec.test", "right.goipsec.test",
			topo.LeftNet.String(), topo.RightNet.String(), o.IKEProposal, o.ESPProposal, hex.EncodeToString(psk)),
		siteConf(topo.RightOuter.String(), topo.LeftOuter.String(), "right.goipsec.test", "left.goipsec.test",
			topo.RightNet.String(), topo.LeftNet.String(), o.IKEProposal, o.ESPProposal, hex.EncodeToString(psk)),
	}
	step("starting a goipsec daemon in each namespace")
	for i, s := range sites {
		conf := filepath.Join(dir, s.name+".conf")
		if err := os.WriteFile(conf, []byte(confs[i]), 0o600); err != nil {
			return err
		}
		s.control = filepath.Join(dir, s.name+".sock")
		s.log = filepath.Join(dir, s.name+".log")
		s.proc, err = s.ns.Start(s.log, o.Binary, "daemon", "--config", conf, "--control", s.control)
		if err != nil {
			return err
		}
		defer s.proc.Stop()
	}
	defer func() {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
			return
		}
		if err != nil {
			for _, s := range sites {
				fmt.Fprintf(out, "\n--- %s daemon log (last lines) ---\n%s", s.name, tail(s.log, 25))
			}
		}
	}()
	for _, s := range sites {
		if err := waitControl(ctx, s); err != nil {
			return err
		}
	}
	lc, err := ctl.Dial(left.control)
	if err != nil {
		return err
	}
	defer lc.Close()
	rc, err := ctl.Dial(right.control)
	if err != nil {
		return err
	}
	defer rc.Close()

	step("left initiates: IKE_SA_INIT, IKE_AUTH (PSK) and the first Child SA")
	start := time.Now()
	if err := lc.Initiate(ctx, "site", "net", 30*time.Second); err != nil {
		return fmt.Errorf("bringing up the tunnel: %w", err)
	}
	fmt.Fprintf(out, "    tunnel up in %v\n", time.Since(start).Round(time.Millisecond))

	step("ping across the tunnel, both ways")
	for _, p := range []struct {
		from     *lab.Namespace
		src, dst string
	}{{topo.Left, topo.LeftInner.String(), topo.RightInner.String()}, {topo.Right, topo.RightInner.String(), topo.LeftInner.String()}} {
		res, err := lab.Ping(ctx, p.from, mustAddr(p.src), mustAddr(p.dst), 3)
		if err != nil {
			return fmt.Errorf("ping %s -> %s: %w", p.src, p.dst, err)
		}
		fmt.Fprintf(out, "    %s -> %s: %s\n", p.src, p.dst, pingSummary(res))
	}

	step("TCP for %v across the tunnel (%v -> %v)", o.Duration, topo.LeftInner, topo.RightInner)
	tr, err := lab.TCPThroughput(ctx, topo.Left, topo.Right, topo.LeftInner, topo.RightInner, o.Duration)
	if err != nil {
		return fmt.Errorf("TCP through the tunnel: %w", err)
	}
	fmt.Fprintf(out, "    %d MB in %v: %.0f Mbit/s, data intact: %v\n", tr.Bytes>>20, tr.Duration.Round(time.Millisecond), tr.Mbps(), tr.Intact)

	for _, s := range []struct {
		name string
		c    *ctl.Client
	}{{"left", lc}, {"right", rc}} {
		step("SAs on %s (goipsec status)", s.name)
		sas, err := s.c.ListSAs(ctx, "")
		if err != nil {
			return err
		}
		var b strings.Builder
		ctl.PrintSAs(&b, sas)
		fmt.Fprint(out, indent(b.String(), "    "))
	}

	step("left deletes the tunnel (goipsec down site: INFORMATIONAL DELETE)")
	if _, err := lc.Terminate(ctx, "site", "", 10*time.Second); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		sas, err := rc.ListSAs(ctx, "")
		if err != nil {
			return err
		}
		if len(sas) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("right still has SAs after the DELETE")
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(out, "    no SAs left on either side")
	return nil
}

func siteConf(local, remote, localID, remoteID, localNet, remoteNet, ikeP, espP, psk string) string {
	return fmt.Sprintf(`# goipsec demo: %[3]s
connections {
    site {
        version = 2
        local_addrs = %[1]s
        remote_addrs = %[2]s
        proposals = %[7]s
        local {
            auth = psk
            id = %[3]s
        }
        remote {
            auth = psk
            id = %[4]s
        }
        children {
            net {
                local_ts = %[5]s
                remote_ts = %[6]s
                esp_proposals = %[8]s
                mode = tunnel
            }
        }
    }
}
secrets {
    ike-site {
        id-local = %[3]s
        id-remote = %[4]s
        secret = 0x%[9]s
    }
}
`, local, remote, localID, remoteID, localNet, remoteNet, ikeP, espP, psk)
}

func waitControl(ctx context.Context, s *site) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := ctl.Dial(s.control); err == nil {
			_, err = c.Version(ctx)
			c.Close()
			if err == nil {
				return nil
			}
		}
		if s.proc.Exited() {
			return fmt.Errorf("%s daemon exited", s.name)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s daemon did not open its control socket", s.name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func pingSummary(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "packets transmitted") || strings.HasPrefix(l, "rtt") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(out)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error() + "\n"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
