package daemon

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

func TestPeersFromConfig(t *testing.T) {
	cfg, err := config.Parse("test.conf", []byte(`
connections {
    site {
        local_addrs = 192.0.2.1
        remote_addrs = 192.0.2.2, 198.51.100.0/24, 203.0.113.1-203.0.113.2
        proposals = aes256gcm16-prfsha256-x25519
        rekey_time = 2h
        dpd_delay = 30s
        keyingtries = 0
        local {
            auth = psk
            id = moon.example.org
        }
        remote {
            auth = psk
            id = 192.0.2.2
        }
        children {
            net {
                local_ts = 10.1.0.0/24
                remote_ts = dynamic
                start_action = start
                rekey_time = 20m
                rekey_bytes = 1M
                dpd_action = restart
            }
        }
    }
    road {
        local {
            auth = psk
        }
        remote {
            auth = psk
            id = %any
        }
    }
}
secrets {
    ike-1 {
        id = 192.0.2.2
        secret = 0x0102
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	peers, err := peersFromConfig(context.Background(), cfg, credsOnce(func() (*credentials, error) { return loadCredentials(cfg.Dir) }))
	if err != nil {
		t.Fatal(err)
	}
	site, road := peers[0], peers[1]
	if site.RemoteHost != netip.MustParseAddr("192.0.2.2") || site.RemotePort != 500 {
		t.Errorf("remote host %v:%d", site.RemoteHost, site.RemotePort)
	}
	wantRemote := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.2/32"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.1/32"), netip.MustParsePrefix("203.0.113.2/32"),
	}
	if len(site.RemoteAddrs) != len(wantRemote) {
		t.Fatalf("remote addrs %v, want %v", site.RemoteAddrs, wantRemote)
	}
	for i := range wantRemote {
		if site.RemoteAddrs[i] != wantRemote[i] {
			t.Errorf("remote addr %d: %v, want %v", i, site.RemoteAddrs[i], wantRemote[i])
		}
	}
	if site.LocalID.Type != wire.IDFQDN || string(site.LocalID.Data) != "moon.example.org" {
		t.Errorf("local id %v", site.LocalID)
	}
	if !site.RemoteID.Equal(ike.IdentityFromAddr(netip.MustParseAddr("192.0.2.2"))) {
		t.Errorf("remote id %v", site.RemoteID)
	}
	c := site.Children[0]
	if c.StartAction != "start" || len(c.RemoteTS) != 1 || !c.RemoteTS[0].IsDynamic() {
		t.Errorf("child %+v", c)
	}
	if site.IKELife != (ike.IKELifetimes{RekeyTime: 2 * time.Hour, OverTime: 12 * time.Minute, RandTime: 12 * time.Minute}) ||
		site.DPDDelay != 30*time.Second || site.KeyingTries != -1 {
		t.Errorf("IKE lifetimes %+v, dpd %v, keyingtries %d", site.IKELife, site.DPDDelay, site.KeyingTries)
	}
	if c.Life.RekeyTime != 20*time.Minute || c.Life.LifeTime != 22*time.Minute || c.Life.RekeyBytes != 1<<20 ||
		c.DPDAction != ike.ActionRestart || c.CloseAction != ike.ActionNone {
		t.Errorf("child lifetimes %+v, dpd_action %q, close_action %q", c.Life, c.DPDAction, c.CloseAction)
	}
	if road.KeyingTries != 1 || road.IKELife.RekeyTime != 4*time.Hour {
		t.Errorf("defaults: keyingtries %d, IKE %+v", road.KeyingTries, road.IKELife)
	}
	if road.RemoteHost.IsValid() || len(road.RemoteAddrs) != 0 || !road.RemoteID.IsZero() {
		t.Errorf("responder-only connection: %+v", road)
	}
	key := sharedKey(func() *config.Config { return cfg })
	if k, ok := key(site.LocalID, site.RemoteID); !ok || string(k) != "\x01\x02" {
		t.Errorf("shared key %x %v", k, ok)
	}
}

// fakeDNS answers for gw-1.example.test only, without sending a query.
func fakeDNS(t *testing.T) {
	old := lookupNetIP
	lookupNetIP = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if host == "gw-1.example.test" {
			return []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.77")}, nil
		}
		return nil, errors.New("no such host")
	}
	t.Cleanup(func() { lookupNetIP = old })
}

func TestPeersFromConfigDNS(t *testing.T) {
	fakeDNS(t)
	cfg, err := config.Parse("test.conf", []byte(`
connections {
    site {
        remote_addrs = gw-1.example.test
        local {
            auth = psk
        }
        remote {
            auth = psk
        }
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	peers, err := peersFromConfig(context.Background(), cfg, credsOnce(func() (*credentials, error) { return loadCredentials(cfg.Dir) }))
	if err != nil {
		t.Fatal(err)
	}
	// The dash is part of the name, not a range; IPv4 is preferred.
	if got := peers[0].RemoteHost; got != netip.MustParseAddr("192.0.2.77") {
		t.Errorf("remote host %v", got)
	}
}

func TestPeersFromConfigUnresolvable(t *testing.T) {
	fakeDNS(t)
	cfg, err := config.Parse("test.conf", []byte(`
connections {
    site {
        remote_addrs = no-such-host.invalid
        local {
            auth = psk
        }
        remote {
            auth = psk
        }
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = peersFromConfig(context.Background(), cfg, credsOnce(func() (*credentials, error) { return loadCredentials(cfg.Dir) }))
	if err == nil || !strings.HasPrefix(err.Error(), "test.conf:3: connections.site.remote_addrs: cannot resolve") {
		t.Fatalf("got %v, want an error naming file, line and key", err)
	}
}
