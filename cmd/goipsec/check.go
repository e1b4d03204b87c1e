package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/daemon"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func runCheck(args []string) error {
	fs := newFlagSet("check", "--config FILE [--conn NAME] [--peer-proposal P] [--peer-esp P] [--peer-ts TSi=TSr] [--json]")
	cfg := fs.String("config", "/etc/swanctl/swanctl.conf", "swanctl.conf `file` to validate")
	conn := fs.String("conn", "", "explain only the connection `NAME`")
	var peerIKE, peerESP listFlag
	fs.Var(&peerIKE, "peer-proposal", "an IKE `proposal` the peer sends, e.g. aes128-sha256-modp2048 (repeat or comma-separate for several)")
	fs.Var(&peerESP, "peer-esp", "an ESP `proposal` the peer sends, e.g. aes128gcm16 (repeat or comma-separate for several)")
	peerTS := fs.String("peer-ts", "", "the peer's traffic selectors `TSi=TSr` (its local_ts=remote_ts), e.g. 10.1.0.0/16=10.2.0.0/24")
	localAddr := fs.String("local-addr", "", "our IKE `address`, for dynamic selectors (default: the first of local_addrs)")
	peerAddr := fs.String("peer-addr", "", "the peer's IKE `address`, for dynamic selectors (default: the first of remote_addrs)")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) == 1 && *cfg == "/etc/swanctl/swanctl.conf" {
		*cfg = pos[0]
	} else if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	offer := daemon.CheckOffer{IKEProposals: peerIKE, ESPProposals: peerESP, TS: *peerTS}
	for _, a := range []struct {
		flag string
		s    string
		out  *netip.Addr
	}{{"--local-addr", *localAddr, &offer.LocalAddr}, {"--peer-addr", *peerAddr, &offer.PeerAddr}} {
		if a.s == "" {
			continue
		}
		ip, err := netip.ParseAddr(a.s)
		if err != nil {
			return fmt.Errorf("%s: %v", a.flag, err)
		}
		*a.out = ip
	}
	if !offer.Empty() && *conn == "" {
		return fmt.Errorf("--peer-proposal, --peer-esp and --peer-ts need --conn NAME")
	}
	c, err := config.Load(*cfg)
	if err != nil {
		return err
	}
	creds, err := daemon.CheckCredentials(c)
	if err != nil {
		return err
	}
	reports, err := daemon.Explain(context.Background(), c, *conn, offer)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"config": *cfg, "connections": reports, "credentials": creds}); err != nil {
			return err
		}
	} else {
		fmt.Printf("%s: OK, %d connection(s), %d secret(s)\n\n", *cfg, len(c.Connections), len(c.Secrets))
		daemon.WriteExplanation(os.Stdout, reports)
		for _, l := range creds {
			fmt.Println(l)
		}
	}
	for _, r := range reports {
		if r.Match != nil && !r.Match.OK {
			return errNoMatch
		}
	}
	return nil
}

// errNoMatch makes `goipsec check` exit 1 when the peer's offer would
// fail, so scripts can test it.
var errNoMatch = fmt.Errorf("the peer's offer would not match (see above)")
