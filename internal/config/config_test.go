package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
	"github.com/goipsec/goipsec/internal/wire/ike"
)

// exampleConf follows the structure of swanctl.conf(5)'s example and of
// strongSwan's ikev2/net2net-psk test scenario, limited to what is supported.
const exampleConf = `# swanctl.conf for moon
connections {

   gw-gw {
      local_addrs  = 192.168.0.1
      remote_addrs = 192.168.0.2, sun.strongswan.org
      version = 2
      proposals = aes128gcm16-prfsha256-x25519, aes256gcm16-prfsha384-ecp384

      local {
         auth = psk
         id = moon.strongswan.org
      }
      remote {
         auth = psk
         id = sun.strongswan.org
      }
      children {
         net-net {
            local_ts  = 10.1.0.0/16
            remote_ts = 10.2.0.0/16, 10.3.0.0/16[tcp/443]
            esp_proposals = aes128gcm16-x25519-esn
            start_action = start
            mode = tunnel
         }
         host {
         }
      }
   }

   rw {
      remote_port = 4500
      local-1 {
         auth = PSK
      }
      remote-1 {
         auth = psk
         id = "C=CH, O=strongSwan, CN=carol"
      }
   }
}

secrets {
   ike-1 {
      id-1 = moon.strongswan.org
      id-2 = sun.strongswan.org
      secret = 0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL
   }
   ike-any {
      secret = "a shared # secret, with spaces "
   }
}
`

func mustParseIKE(t *testing.T, s string) ike.Proposal {
	t.Helper()
	p, err := suite.ParseIKEProposal(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseExample(t *testing.T) {
	cfg, err := Parse("/etc/swanctl/swanctl.conf", []byte(exampleConf))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Connections) != 2 || cfg.Connections[0].Name != "gw-gw" || cfg.Connections[1].Name != "rw" {
		t.Fatalf("connections: %+v", cfg.Connections)
	}
	gw := cfg.Connection("gw-gw")
	if gw.Pos != (Pos{"/etc/swanctl/swanctl.conf", 4}) || gw.Version != 2 {
		t.Errorf("gw-gw pos/version: %+v %d", gw.Pos, gw.Version)
	}
	if !reflect.DeepEqual(gw.LocalAddrs, []string{"192.168.0.1"}) ||
		!reflect.DeepEqual(gw.RemoteAddrs, []string{"192.168.0.2", "sun.strongswan.org"}) {
		t.Errorf("addrs: %q %q", gw.LocalAddrs, gw.RemoteAddrs)
	}
	if gw.LocalPort != 500 || gw.RemotePort != 500 {
		t.Errorf("ports: %d %d", gw.LocalPort, gw.RemotePort)
	}
	p1, p2 := mustParseIKE(t, "aes128gcm16-prfsha256-x25519"), mustParseIKE(t, "aes256gcm16-prfsha384-ecp384")
	p1.Number, p2.Number = 1, 2
	if !reflect.DeepEqual(gw.Proposals, []ike.Proposal{p1, p2}) {
		t.Errorf("proposals:\n got %+v\nwant %+v", gw.Proposals, []ike.Proposal{p1, p2})
	}
	if !reflect.DeepEqual(gw.Local, AuthRound{Auth: "psk", ID: "moon.strongswan.org"}) || !reflect.DeepEqual(gw.Remote, AuthRound{Auth: "psk", ID: "sun.strongswan.org"}) {
		t.Errorf("auth: %+v %+v", gw.Local, gw.Remote)
	}
	if len(gw.Children) != 2 || gw.Children[0].Name != "net-net" || gw.Children[1].Name != "host" {
		t.Fatalf("children: %+v", gw.Children)
	}
	nn := gw.Children[0]
	if nn.Pos.Line != 19 || nn.StartAction != "start" || nn.Mode != "tunnel" {
		t.Errorf("net-net: %+v", nn)
	}
	if !reflect.DeepEqual(nn.LocalTS, []string{"10.1.0.0/16"}) ||
		!reflect.DeepEqual(nn.RemoteTS, []string{"10.2.0.0/16", "10.3.0.0/16[tcp/443]"}) {
		t.Errorf("ts: %q %q", nn.LocalTS, nn.RemoteTS)
	}
	if len(nn.RemoteSelectors) != 2 || nn.RemoteSelectors[1].String() != "10.3.0.0/16[tcp/443]" || nn.LocalSelectors[0].String() != "10.1.0.0/16" {
		t.Errorf("selectors: %v %v", nn.LocalSelectors, nn.RemoteSelectors)
	}
	esp, _ := suite.ParseESPProposal("aes128gcm16-x25519-esn")
	if !reflect.DeepEqual(nn.ESPProposals, []ike.Proposal{esp}) {
		t.Errorf("esp proposals: %+v", nn.ESPProposals)
	}

	// Defaults.
	host := gw.Children[1]
	if !reflect.DeepEqual(host.LocalTS, []string{"dynamic"}) || !reflect.DeepEqual(host.RemoteTS, []string{"dynamic"}) ||
		!host.LocalSelectors[0].IsDynamic() || host.StartAction != "none" || host.Mode != "tunnel" ||
		!reflect.DeepEqual(host.ESPProposals, suite.DefaultESPProposals()) {
		t.Errorf("child defaults: %+v", host)
	}
	rw := cfg.Connection("rw")
	if !reflect.DeepEqual(rw.LocalAddrs, []string{"%any"}) || !reflect.DeepEqual(rw.RemoteAddrs, []string{"%any"}) ||
		rw.LocalPort != 500 || rw.RemotePort != 4500 || rw.Version != 2 ||
		!reflect.DeepEqual(rw.Proposals, suite.DefaultIKEProposals()) || len(rw.Children) != 0 {
		t.Errorf("connection defaults: %+v", rw)
	}
	if !reflect.DeepEqual(rw.Local, AuthRound{Auth: "psk"}) || rw.Remote.ID != "C=CH, O=strongSwan, CN=carol" {
		t.Errorf("rw auth: %+v %+v", rw.Local, rw.Remote)
	}
	if cfg.Connection("nope") != nil {
		t.Error("Connection(nope) != nil")
	}

	// Secrets.
	if len(cfg.Secrets) != 2 {
		t.Fatalf("secrets: %+v", cfg.Secrets)
	}
	s := cfg.Secrets[0]
	if s.Name != "ike-1" || s.Type != "ike" || s.Pos.Line != 44 ||
		!reflect.DeepEqual(s.IDs, []string{"moon.strongswan.org", "sun.strongswan.org"}) {
		t.Errorf("secret: %+v", s)
	}
	if want := "\xbf\xe3\x64\xc5\x8f\x4b\x2d\x9b\xf0\x8f\x8a\x82\x0b\x6a\x3f\x80\x6a\xd6\x0c\x5d\x9d\xdb\x58\xcb"; string(s.Data) != want {
		t.Errorf("base64 secret = %x", s.Data)
	}
	if got := string(cfg.Secrets[1].Data); got != "a shared # secret, with spaces " {
		t.Errorf("quoted secret = %q", got)
	}

	if d := gw.Describe(); !strings.Contains(d, "gw-gw: IKEv2 192.168.0.1:500 -> 192.168.0.2,sun.strongswan.org:500") ||
		!strings.Contains(d, "net-net: 10.1.0.0/16 === 10.2.0.0/16,10.3.0.0/16[tcp/443], tunnel, start_action start") {
		t.Errorf("Describe:\n%s", d)
	}
}

// template has three one-line slots: connection level (line 9), child level
// (line 12) and secret level (line 19).
const template = `connections {
  site {
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    %s
    children {
      net {
        %s
      }
    }
  }
}
secrets {
  ike-1 {
    %s
    secret = x
  }
}
`

func TestTemplateParses(t *testing.T) {
	if _, err := Parse("t.conf", []byte(fmt.Sprintf(template, "", "", ""))); err != nil {
		t.Fatal(err)
	}
}

func TestFragmentation(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"", "yes"}, {"fragmentation = yes", "yes"}, {"fragmentation = accept", "accept"},
		{"fragmentation = Force", "force"}, {"fragmentation = no", "no"},
	} {
		c, err := Parse("t.conf", []byte(fmt.Sprintf(template, tc.line, "", "")))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := c.Connections[0].Fragmentation; got != tc.want {
			t.Errorf("%q: fragmentation %q, want %q", tc.line, got, tc.want)
		}
	}
}

// TestMode checks children.<child>.mode: tunnel by default, transport
// accepted (swanctl.conf(5)).
func TestMode(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"", "tunnel"}, {"mode = tunnel", "tunnel"}, {"mode = transport", "transport"}, {"mode = Transport", "transport"},
	} {
		c, err := Parse("t.conf", []byte(fmt.Sprintf(template, "", tc.line, "")))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := c.Connections[0].Children[0].Mode; got != tc.want {
			t.Errorf("%q: mode %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestChildless(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"", "allow"}, {"childless = prefer", "prefer"}, {"childless = FORCE", "force"}, {"childless = never", "never"},
	} {
		c, err := Parse("t.conf", []byte(fmt.Sprintf(template, tc.line, "", "")))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := c.Connections[0].Childless; got != tc.want {
			t.Errorf("%q: childless %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestChildESPSettings(t *testing.T) {
	for _, tc := range []struct {
		lines      string
		replay     int
		tfcPadding int
	}{
		{"", DefaultReplayWindow, 0},
		{"replay_window = 0", 0, 0},
		{"replay_window = 4096\n        tfc_padding = 1200", 4096, 1200},
		{"tfc_padding = MTU", DefaultReplayWindow, TFCPaddingMTU},
		{"replay_window = 32\n        esp_proposals = aes128gcm16-esn", 32, 0},
	} {
		c, err := Parse("t.conf", []byte(fmt.Sprintf(template, "", tc.lines, "")))
		if err != nil {
			t.Fatalf("%q: %v", tc.lines, err)
		}
		ch := c.Connections[0].Children[0]
		if ch.ReplayWindow != tc.replay || ch.TFCPadding != tc.tfcPadding {
			t.Errorf("%q: replay_window %d, tfc_padding %d; want %d, %d", tc.lines, ch.ReplayWindow, ch.TFCPadding, tc.replay, tc.tfcPadding)
		}
	}
}

func TestUpdown(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"", ""},
		{"updown = /usr/lib/ipsec/_updown iptables", "/usr/lib/ipsec/_updown iptables"},
		{`updown = "/etc/ipsec/up.sh --log, --quiet"`, "/etc/ipsec/up.sh --log, --quiet"},
	} {
		c, err := Parse("t.conf", []byte(fmt.Sprintf(template, "", tc.line, "")))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := c.Connections[0].Children[0].Updown; got != tc.want {
			t.Errorf("%q: updown %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestUnique(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"", "no"}, {"unique = never", "never"}, {"unique = Keep", "keep"}, {"unique = replace", "replace"},
	} {
		c, err := Parse("t.conf", []byte(fmt.Sprintf(template, tc.line, "", "")))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := c.Connections[0].Unique; got != tc.want {
			t.Errorf("%q: unique %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	const file = "/etc/swanctl/swanctl.conf"
	tests := []struct {
		conn, child, secret string
		want                string // full error text after "FILE:"
		kind                error  // ErrUnknown, ErrUnsupported or nil
	}{
		{conn: "reauth_time = 4 h", want: `9: connections.site.reauth_time: invalid time "4 h" (want a number with an optional unit s, m, h or d)`},
		{conn: "reauth_time = 1h\n    rekey_time = 8h\n    rand_time = 1h", want: "11: connections.site.rand_time: rand_time (1h0m0s) must be shorter than reauth_time (1h0m0s)"},
		{conn: "dpd_timeout = 30s", want: "9: connections.site.dpd_timeout: key not supported yet", kind: ErrUnsupported},
		{conn: "rekey_time = 4 hours", want: `9: connections.site.rekey_time: invalid time "4 hours" (want a number with an optional unit s, m, h or d)`},
		{conn: "rekey_time = -1h", want: `9: connections.site.rekey_time: invalid time "-1h" (want a number with an optional unit s, m, h or d)`},
		{conn: "rekey_time = 1h\n    rand_time = 2h", want: "10: connections.site.rand_time: rand_time (2h0m0s) must be shorter than rekey_time (1h0m0s)"},
		{conn: "keyingtries = -2", want: `9: connections.site.keyingtries: invalid keyingtries "-2" (want 0 for forever, or a count)`},
		{conn: "dpd_delay = 30x", want: `9: connections.site.dpd_delay: invalid time "30x" (want a number with an optional unit s, m, h or d)`},
		{conn: "pools = ipv4", want: `9: connections.site.pools: unknown pool "ipv4" (no pools.ipv4 section)`},
		{conn: "vips = ::, fd00::1", want: `9: connections.site.vips: one virtual IP per address family at most (a responder assigns one address per family)`},
		{conn: "remote_adrs = 10.0.0.1", want: "9: connections.site.remote_adrs: unknown key", kind: ErrUnknown},
		{conn: "version = 1", want: "9: connections.site.version: IKEv1 not supported yet", kind: ErrUnsupported},
		{conn: "fragmentation = maybe", want: `9: connections.site.fragmentation: invalid fragmentation "maybe" (want yes, accept, force or no)`},
		{conn: "childless = maybe", want: `9: connections.site.childless: invalid childless "maybe" (want allow, prefer, force or never)`},
		{conn: "unique = sometimes", want: `9: connections.site.unique: invalid unique "sometimes" (want no, never, keep or replace)`},
		{conn: "version = 3", want: `9: connections.site.version: invalid version "3" (want 0 or 2)`},
		{conn: "proposals = aes256-sha256-modp1024", want: `9: connections.site.proposals: unsupported algorithm "modp1024"`, kind: suite.ErrUnsupportedAlgorithm},
		{conn: "proposals = aes999gcm16-prfsha256-x25519", want: `9: connections.site.proposals: unknown algorithm "aes999gcm16"`, kind: suite.ErrUnknownAlgorithm},
		{conn: "proposals = default,", want: `9: connections.site.proposals: empty list item in "default,"`},
		{conn: "local_port = 0", want: `9: connections.site.local_port: invalid port "0" (want 1..65535)`},
		{conn: "remote_port = 65536", want: `9: connections.site.remote_port: invalid port "65536" (want 1..65535)`},
		{conn: "local_port = http", want: `9: connections.site.local_port: invalid port "http" (want 1..65535)`},
		{conn: "local_port =", want: `9: connections.site.local_port: empty value`},
		{conn: "remote_addrs = 10.1.0", want: `9: connections.site.remote_addrs: "10.1.0" is not an IP address, subnet, range, %any or DNS name`},
		{conn: "remote_addrs = 10.0.0.1, bad_name", want: `9: connections.site.remote_addrs: "bad_name" is not an IP address, subnet, range, %any or DNS name`},
		{conn: "remote_addrs = 10.0.0.0/33", want: `9: connections.site.remote_addrs: invalid subnet "10.0.0.0/33"`},
		{conn: "remote_addrs = 10.0.0.9-10.0.0.1", want: `9: connections.site.remote_addrs: invalid address range "10.0.0.9-10.0.0.1"`},
		{conn: "local-2 { }", want: "9: connections.site.local-2: a second local authentication round (RFC 4739, after local at /etc/swanctl/swanctl.conf:3) is not supported yet", kind: ErrUnsupported},
		{conn: "certs { }", want: "9: connections.site.certs: unknown section", kind: ErrUnknown},
		{conn: "local = x", want: "3: connections.site.local: is both a key and a section"},
		{conn: "children = x", want: "10: connections.site.children: is both a key and a section"},
		{child: "mode = beet", want: `12: connections.site.children.net.mode: mode "beet" not supported yet (tunnel, transport, pass or drop)`, kind: ErrUnsupported},
		{child: "replay_window = 16", want: `12: connections.site.children.net.replay_window: invalid replay_window "16" (want 0 to turn replay protection off, or 32 to 65536 packets)`},
		{child: "replay_window = lots", want: `12: connections.site.children.net.replay_window: invalid replay_window "lots" (want 0 to turn replay protection off, or 32 to 65536 packets)`},
		{child: "tfc_padding = 70000", want: `12: connections.site.children.net.tfc_padding: invalid tfc_padding "70000" (want 0, mtu or 1 to 65535 octets)`},
		{child: "replay_window = 0\n        esp_proposals = aes128gcm16-esn", want: `12: connections.site.children.net.replay_window: replay_window = 0 cannot be used with extended sequence numbers (esn in esp_proposals)`},
		{child: "mode = tunnels", want: `12: connections.site.children.net.mode: invalid mode "tunnels" (want tunnel, transport, pass or drop)`},
		{child: "start_action = trap|start", want: `12: connections.site.children.net.start_action: "trap|start" not supported yet (none, start or trap)`, kind: ErrUnsupported},
		{child: "start_action = go", want: `12: connections.site.children.net.start_action: invalid start_action "go" (want none, start or trap)`},
		{child: "mode = pass\n        local_ts = 10.1.0.0/24\n        remote_ts = 10.2.0.0/24[tcp]", want: `12: connections.site.children.net.mode: mode = pass with a protocol or ports in the selectors is not supported yet (pass works by routing, by address only)`, kind: ErrUnsupported},
		{child: "mode = drop\n        local_ts = 10.1.0.0/24", want: `12: connections.site.children.net.mode: mode = drop needs explicit local_ts and remote_ts (dynamic has no IKE address to resolve to)`},
		{child: "mode = drop\n        local_ts = 10.1.0.0/24\n        remote_ts = 10.2.0.0/24\n        start_action = start", want: `12: connections.site.children.net.mode: mode = drop takes start_action = none or trap (a shunt policy negotiates nothing)`},
		{child: "local_ts = 10.0.0.0/33", want: `12: connections.site.children.net.local_ts: invalid traffic selector "10.0.0.0/33": bad subnet "10.0.0.0/33"`, kind: ts.ErrSyntax},
		{child: "remote_ts = 10.0.0.0/8[tcp/99999]", want: `12: connections.site.children.net.remote_ts: invalid traffic selector "10.0.0.0/8[tcp/99999]": bad port "99999"`, kind: ts.ErrSyntax},
		{child: "esp_proposals = aes128-md5", want: `12: connections.site.children.net.esp_proposals: unsupported algorithm "md5"`, kind: suite.ErrUnsupportedAlgorithm},
		{child: "esp_proposals = aes256gcm16-x25519-ke1_mlkem768", want: `12: connections.site.children.net.esp_proposals: proposal "aes256gcm16-x25519-ke1_mlkem768": additional key exchange "ke1_mlkem768" for a Child SA (RFC 9370 2.2.4, IKE_FOLLOWUP_KE) is not supported yet`, kind: suite.ErrNotYetSupported},
		{child: "life_time = 30m", want: "12: connections.site.children.net.life_time: life_time (30m0s) must be greater than rekey_time (1h0m0s)"},
		{child: "rekey_bytes = 1M\n        life_bytes = 1024K", want: "13: connections.site.children.net.life_bytes: life_bytes (1048576) must be greater than rekey_bytes (1048576)"},
		{child: "rekey_packets = 100\n        rand_packets = 100", want: "13: connections.site.children.net.rand_packets: rand_packets (100) must be less than rekey_packets (100)"},
		{child: "rekey_bytes = 12X", want: `12: connections.site.children.net.rekey_bytes: invalid number "12X" (want digits with an optional K, M or G)`},
		{child: "dpd_action = trap|start", want: `12: connections.site.children.net.dpd_action: "trap|start" not supported yet; use clear|trap|restart`, kind: ErrUnsupported},
		{child: "dpd_action = hold", want: `12: connections.site.children.net.dpd_action: invalid value "hold" (want clear|trap|restart)`},
		{child: "close_action = start|trap", want: `12: connections.site.children.net.close_action: "start|trap" not supported yet; use none|trap|start`, kind: ErrUnsupported},
		{child: "ah_proposals = sha256", want: "12: connections.site.children.net.ah_proposals: key not supported yet", kind: ErrUnsupported},
		{child: "local_tss = dynamic", want: "12: connections.site.children.net.local_tss: unknown key", kind: ErrUnknown},
		{child: "x { }", want: "12: connections.site.children.net.x: unknown section", kind: ErrUnknown},
		{secret: "owners = moon", want: "19: secrets.ike-1.owners: unknown key", kind: ErrUnknown},
		{secret: "id-1 =", want: "19: secrets.ike-1.id-1: empty value"},
		{secret: `id = "@#zz"`, want: `19: secrets.ike-1.id: key ID "zz" is not hex`},
		{secret: `id = @#00ff`, want: `19: secrets.ike-1.id: empty identity`}, // '#' starts a comment: quote key IDs
		{secret: "secret = y", want: "20: secrets.ike-1.secret: duplicate key (first set at /etc/swanctl/swanctl.conf:19)"},
	}
	for _, tt := range tests {
		data := fmt.Sprintf(template, tt.conn, tt.child, tt.secret)
		_, err := Parse(file, []byte(data))
		checkErr(t, tt.conn+tt.child+tt.secret, err, file+":"+tt.want, tt.kind)
	}
}

func checkErr(t *testing.T, name string, err error, want string, kind error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %q", name, want)
		return
	}
	if err.Error() != want {
		t.Errorf("%s:\n got %q\nwant %q", name, err, want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: %T is not *Error", name, err)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("%s: %v does not wrap %v", name, err, kind)
	}
	if kind == nil && (errors.Is(err, ErrUnknown) || errors.Is(err, ErrUnsupported)) {
		t.Errorf("%s: %v wraps an unknown/unsupported sentinel", name, err)
	}
}

func TestWholeFileErrors(t *testing.T) {
	const file = "s.conf"
	auth := "    local {\n      auth = psk\n    }\n    remote {\n      auth = psk\n    }\n"
	tests := []struct {
		name, data, want string
		kind             error
	}{
		{"root key", "\nfoo = bar\n", "s.conf:2: foo: unknown key", ErrUnknown},
		{"root section", "bogus {\n}\n", "s.conf:1: bogus: unknown section", ErrUnknown},
		{"authorities", "authorities {\n}\n", "s.conf:1: authorities: section not supported yet", ErrUnsupported},
		{"pools value", "pools {\n  addrs = 10.3.0.0/24\n}\n", "s.conf:2: pools.addrs: unknown key: a pool must be a section (name { ... })", nil},
		{"value in connections", "connections {\n  x = 1\n}\n", "s.conf:2: connections.x: unknown key: a connection must be a section (name { ... })", nil},
		{"duplicate connection", "connections {\n  a {\n" + auth + "  }\n}\nconnections {\n  a {\n  }\n}\n",
			"s.conf:12: connections.a: duplicate connection (first defined at s.conf:2)", nil},
		{"duplicate connection in one block", "connections {\n  a {\n" + auth + "  }\n  a {\n  }\n}\n",
			"s.conf:10: connections.a: duplicate connection (first defined at s.conf:2)", nil},
		{"duplicate child", "connections {\n  a {\n" + auth + "    children {\n      c {\n      }\n    }\n    children {\n      c {\n      }\n    }\n  }\n}\n",
			"s.conf:14: connections.a.children.c: duplicate child (first defined at s.conf:10)", nil},
		{"duplicate local", "connections {\n  a {\n" + auth + "    local {\n    }\n  }\n}\n",
			"s.conf:9: connections.a.local: duplicate section (first defined at s.conf:3)", nil},
		{"no local", "connections {\n  a {\n    remote {\n      auth = psk\n    }\n  }\n}\n",
			"s.conf:2: connections.a.local.auth: missing: a connection needs a local and a remote section (auth = pubkey or psk)", nil},
		{"auth eap", "connections {\n  a {\n    remote {\n      auth = eap-md5\n    }\n  }\n}\n",
			`s.conf:4: connections.a.remote.auth: auth "eap-md5" not supported yet (psk or pubkey)`, ErrUnsupported},
		{"auth unknown", "connections {\n  a {\n    local {\n      auth = pks\n    }\n  }\n}\n",
			`s.conf:4: connections.a.local.auth: unknown auth method "pks" (want psk, pubkey, rsa, rsa/pss, ecdsa or ed25519)`, nil},
		{"auth bad hash", "connections {\n  a {\n    local {\n      auth = rsa-md5\n    }\n  }\n}\n",
			`s.conf:4: connections.a.local.auth: auth "rsa-md5": unknown signature hash "md5" (sha1, sha256, sha384, sha512, identity)`, nil},
		{"certs with psk", "connections {\n  a {\n    local {\n      auth = psk\n      certs = moon.pem\n    }\n  }\n}\n",
			"s.conf:5: connections.a.local.certs: only applies with auth = pubkey (auth is psk)", nil},
		{"local cacerts", "connections {\n  a {\n    local {\n      cacerts = ca.pem\n    }\n  }\n}\n",
			"s.conf:4: connections.a.local.cacerts: cacerts constrains the peer's CA: set it in a remote section", nil},
		{"send_cert", "connections {\n  a {\n    send_cert = sometimes\n  }\n}\n",
			`s.conf:3: connections.a.send_cert: invalid send_cert "sometimes" (want always, ifasked or never)`, nil},
		{"send_certreq", "connections {\n  a {\n    send_certreq = maybe\n  }\n}\n",
			`s.conf:3: connections.a.send_certreq: invalid boolean "maybe" (want yes or no)`, nil},
		{"empty certs", "connections {\n  a {\n    remote {\n      certs = a.pem,,b.pem\n    }\n  }\n}\n",
			`s.conf:4: connections.a.remote.certs: empty list item in "a.pem,,b.pem"`, nil},
		{"cert section", "connections {\n  a {\n    local {\n      auth = psk\n      cert-1 {\n      }\n    }\n  }\n}\n",
			"s.conf:5: connections.a.local.cert-1: section not supported yet", ErrUnsupported},
		{"bad id", "connections {\n  a {\n    local {\n      auth = psk\n      id = CN=moon, XX=y\n    }\n  }\n}\n",
			`s.conf:5: connections.a.local.id: distinguished name attribute "XX": not supported yet`, ErrUnsupported},
		{"eap secret", "secrets {\n  eap-carol {\n    secret = x\n  }\n}\n", "s.conf:2: secrets.eap-carol: eap secrets are not supported yet", ErrUnsupported},
		{"private key", "secrets {\n  private-moon {\n  }\n}\n", "s.conf:2: secrets.private-moon: private secrets are not supported yet", ErrUnsupported},
		{"unknown secret", "secrets {\n  psk-1 {\n  }\n}\n", "s.conf:2: secrets.psk-1: unknown section", ErrUnknown},
		{"missing secret", "secrets {\n  ike-1 {\n    id = moon\n  }\n}\n", "s.conf:2: secrets.ike-1.secret: missing", nil},
		{"empty secret", "secrets {\n  ike-1 {\n    secret = \"\"\n  }\n}\n", "s.conf:3: secrets.ike-1.secret: empty secret", nil},
		{"empty hex secret", "secrets {\n  ike-1 {\n    secret = 0x\n  }\n}\n", "s.conf:3: secrets.ike-1.secret: empty secret", nil},
		{"bad hex secret", "secrets {\n  ike-1 {\n    secret = 0xabc\n  }\n}\n", "s.conf:3: secrets.ike-1.secret: invalid hex after 0x", nil},
		{"bad base64 secret", "secrets {\n  ike-1 {\n    secret = 0s!!\n  }\n}\n", "s.conf:3: secrets.ike-1.secret: invalid base64 after 0s", nil},
		{"duplicate secret", "secrets {\n  ike-1 {\n    secret = a\n  }\n}\nsecrets {\n  ike-1 {\n    secret = b\n  }\n}\n",
			"s.conf:7: secrets.ike-1: duplicate secret (first defined at s.conf:2)", nil},
		{"secret subsection", "secrets {\n  ike-1 {\n    secret = a\n    x {\n    }\n  }\n}\n", "s.conf:4: secrets.ike-1.x: unknown section", ErrUnknown},
	}
	for _, tt := range tests {
		_, err := Parse(file, []byte(tt.data))
		checkErr(t, tt.name, err, tt.want, tt.kind)
	}
}

func TestSecretEncodings(t *testing.T) {
	tests := []struct{ value, want string }{
		{`plain`, "plain"},
		{`"quoted with spaces and # hash"`, "quoted with spaces and # hash"},
		{`"0x41"`, "A"}, // quotes do not stop decoding: strongSwan decodes the value text
		{`0x414243`, "ABC"},
		{`0xDEADbeef`, "\xde\xad\xbe\xef"},
		{`0sQUJD`, "ABC"},
		{`0sAAEC/w==`, "\x00\x01\x02\xff"},
		{`a,b`, "a,b"}, // not a list key: commas are kept
	}
	for _, tt := range tests {
		data := "secrets {\n  ike {\n    secret = " + tt.value + "\n  }\n}\n"
		cfg, err := Parse("s.conf", []byte(data))
		if err != nil {
			t.Errorf("%s: %v", tt.value, err)
			continue
		}
		if got := string(cfg.Secrets[0].Data); got != tt.want {
			t.Errorf("%s: data %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestLists(t *testing.T) {
	data := fmt.Sprintf(template,
		`remote_addrs = 192.0.2.1,2001:db8::1 , 10.0.0.0/8, 10.1.0.1-10.1.0.9, vpn-gw.example.org., %any6`,
		`local_ts = "10.1.0.0/24, 10.1.1.0/24[udp/53]",dynamic[tcp/80]`, "")
	cfg, err := Parse("l.conf", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	if want := []string{"192.0.2.1", "2001:db8::1", "10.0.0.0/8", "10.1.0.1-10.1.0.9", "vpn-gw.example.org.", "%any6"}; !reflect.DeepEqual(c.RemoteAddrs, want) {
		t.Errorf("remote_addrs %q, want %q", c.RemoteAddrs, want)
	}
	// swanctl splits list keys at commas even inside quotes.
	ch := c.Children[0]
	if want := []string{"10.1.0.0/24", "10.1.1.0/24[udp/53]", "dynamic[tcp/80]"}; !reflect.DeepEqual(ch.LocalTS, want) {
		t.Errorf("local_ts %q, want %q", ch.LocalTS, want)
	}
	if !ch.LocalSelectors[2].IsDynamic() || ch.LocalSelectors[2].Proto != ts.ProtoTCP {
		t.Errorf("dynamic[tcp/80] = %#v", ch.LocalSelectors[2])
	}
}

func TestVersionZero(t *testing.T) {
	cfg, err := Parse("v.conf", []byte(fmt.Sprintf(template, "version = 0", "", "")))
	if err != nil || cfg.Connections[0].Version != 2 {
		t.Fatalf("version 0: %v", err)
	}
}

func TestSharedKey(t *testing.T) {
	cfg := &Config{Secrets: []*Secret{
		{Name: "ike-any", Type: "ike", Data: []byte("no-ids")},
		{Name: "ike-moon", Type: "ike", Data: []byte("moon-only"), IDs: []string{"moon.strongswan.org"}},
		{Name: "ike-pair", Type: "ike", Data: []byte("pair"), IDs: []string{"moon.strongswan.org", "sun.strongswan.org"}},
		{Name: "ike-wild", Type: "ike", Data: []byte("wild"), IDs: []string{"*@strongswan.org"}},
		{Name: "ike-ip", Type: "ike", Data: []byte("ip"), IDs: []string{"2001:db8::1", "192.0.2.1"}},
		{Name: "ike-later-pair", Type: "ike", Data: []byte("later-pair"), IDs: []string{"sun.strongswan.org", "moon.strongswan.org"}},
	}}
	tests := []struct {
		local, remote, want string
	}{
		{"moon.strongswan.org", "sun.strongswan.org", "pair"}, // both match beats one; first of equals wins
		{"sun.strongswan.org", "moon.strongswan.org", "pair"}, // order of the pair does not matter
		{"MOON.strongswan.org", "venus.strongswan.org", "moon-only"},
		{"venus.strongswan.org", "carol@strongswan.org", "wild"},
		{"2001:0db8::0001", "192.0.2.1", "ip"},
		{"venus.strongswan.org", "mars.strongswan.org", "no-ids"},
		{"", "", "no-ids"},
	}
	for _, tt := range tests {
		got, ok := cfg.SharedKey(tt.local, tt.remote)
		if !ok || string(got) != tt.want {
			t.Errorf("SharedKey(%q, %q) = %q, %v; want %q", tt.local, tt.remote, got, ok, tt.want)
		}
	}
	only := &Config{Secrets: cfg.Secrets[1:2]}
	if got, ok := only.SharedKey("venus", "mars"); ok {
		t.Errorf("SharedKey without a match = %q", got)
	}
	if _, ok := (&Config{}).SharedKey("a", "b"); ok {
		t.Error("SharedKey on empty config found a key")
	}
	anyID := &Config{Secrets: []*Secret{
		{Type: "ike", Data: []byte("any"), IDs: []string{"%any"}},
		{Type: "ike", Data: []byte("exact"), IDs: []string{"%any", "sun"}},
	}}
	if got, _ := anyID.SharedKey("moon", "sun"); string(got) != "exact" {
		t.Errorf("%%any plus an exact id: got %q", got)
	}
}

// TestFromTree builds the tree a VICI load-conn/load-shared would carry:
// lists as separate items, no file positions.
func TestFromTree(t *testing.T) {
	root := &Section{Sections: []*Section{
		{Name: "connections", Sections: []*Section{{
			Name: "vici-conn",
			Values: []*Value{
				{Key: "remote_addrs", Items: []string{"192.0.2.2", "192.0.2.3"}},
				{Key: "proposals", Items: []string{"aes256gcm16-prfsha256-x25519"}},
			},
			Sections: []*Section{
				{Name: "local", Values: []*Value{{Key: "auth", Items: []string{"psk"}}, {Key: "id", Items: []string{"moon"}}}},
				{Name: "remote", Values: []*Value{{Key: "auth", Items: []string{"psk"}}}},
				{Name: "children", Sections: []*Section{{
					Name:   "c",
					Values: []*Value{{Key: "remote_ts", Items: []string{"10.2.0.0/16", "10.3.0.0/16"}}},
				}}},
			},
		}}},
		{Name: "secrets", Sections: []*Section{{
			Name:   "ike-vici",
			Values: []*Value{{Key: "secret", Items: []string{"0x00ff"}}, {Key: "id", Items: []string{"moon"}}},
		}}},
	}}
	cfg, err := FromTree(root)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connection("vici-conn")
	if c == nil || !reflect.DeepEqual(c.RemoteAddrs, []string{"192.0.2.2", "192.0.2.3"}) || c.Local.ID != "moon" ||
		len(c.Proposals) != 1 || c.Proposals[0].Number != 1 {
		t.Fatalf("connection: %+v", c)
	}
	if got := c.Children[0].RemoteTS; !reflect.DeepEqual(got, []string{"10.2.0.0/16", "10.3.0.0/16"}) {
		t.Errorf("remote_ts %q", got)
	}
	if k, ok := cfg.SharedKey("moon", "x"); !ok || string(k) != "\x00\xff" {
		t.Errorf("secret %x", k)
	}

	// A list where a single value belongs; errors without a file position.
	root.Sections[0].Sections[0].Values = append(root.Sections[0].Sections[0].Values,
		&Value{Key: "local_port", Items: []string{"500", "4500"}})
	_, err = FromTree(root)
	if err == nil || err.Error() != "connections.vici-conn.local_port: takes a single value, not a list of 2" {
		t.Errorf("list for a scalar: %v", err)
	}
	if cfg, err := FromTree(nil); err != nil || len(cfg.Connections) != 0 {
		t.Errorf("FromTree(nil) = %v, %v", cfg, err)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Pos: Pos{"/etc/swanctl/swanctl.conf", 12}, Key: "connections.site.proposals", Msg: `unsupported algorithm "aes256"`},
			`/etc/swanctl/swanctl.conf:12: connections.site.proposals: unsupported algorithm "aes256"`},
		{Error{Pos: Pos{"a.conf", 3}, Msg: "unexpected '}'"}, "a.conf:3: unexpected '}'"},
		{Error{Key: "connections.x", Msg: "m"}, "connections.x: m"},
		{Error{Pos: Pos{File: "a.conf"}, Key: "k", Msg: "m"}, "a.conf: k: m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestLifetimeDefaults: swanctl.conf(5)'s defaults, and values derived
// from the keys that were set.
func TestLifetimeDefaults(t *testing.T) {
	for _, tc := range []struct {
		conn, child string
		ike         IKELifetime
		life        ChildLifetime
		dpd         time.Duration
		tries       int
		dpdAction   string
		closeAction string
	}{
		{
			ike:   IKELifetime{RekeyTime: 4 * time.Hour, OverTime: 24 * time.Minute, RandTime: 24 * time.Minute},
			life:  ChildLifetime{RekeyTime: time.Hour, LifeTime: 66 * time.Minute, RandTime: 6 * time.Minute},
			tries: 1, dpdAction: "clear", closeAction: "none",
		},
		{
			conn:  "rekey_time = 1d\n    over_time = 1h\n    dpd_delay = 30\n    keyingtries = 0",
			child: "rekey_time = 10m\n        rekey_bytes = 1G\n        life_packets = 500\n        dpd_action = restart\n        close_action = start",
			ike:   IKELifetime{RekeyTime: 24 * time.Hour, OverTime: time.Hour, RandTime: time.Hour},
			life: ChildLifetime{RekeyTime: 10 * time.Minute, LifeTime: 11 * time.Minute, RandTime: time.Minute,
				RekeyBytes: 1 << 30, LifeBytes: 1<<30 + 1<<30/10, RandBytes: 1 << 30 / 10, LifePackets: 500},
			dpd: 30 * time.Second, tries: 0, dpdAction: "restart", closeAction: "start",
		},
		{
			conn:  "rekey_time = 0",
			child: "rekey_time = 0s",
			tries: 1, dpdAction: "clear", closeAction: "none",
		},
		{
			// swanctl.conf(5): with reauth_time set, rekey_time defaults to 0.
			conn:  "reauth_time = 2h",
			ike:   IKELifetime{ReauthTime: 2 * time.Hour, OverTime: 12 * time.Minute, RandTime: 12 * time.Minute},
			life:  ChildLifetime{RekeyTime: time.Hour, LifeTime: 66 * time.Minute, RandTime: 6 * time.Minute},
			tries: 1, dpdAction: "clear", closeAction: "none",
		},
		{
			// Both set: over_time is 10% of the longer.
			conn:  "reauth_time = 10h\n    rekey_time = 1h",
			ike:   IKELifetime{RekeyTime: time.Hour, ReauthTime: 10 * time.Hour, OverTime: time.Hour, RandTime: time.Hour},
			life:  ChildLifetime{RekeyTime: time.Hour, LifeTime: 66 * time.Minute, RandTime: 6 * time.Minute},
			tries: 1, dpdAction: "clear", closeAction: "none",
		},
	} {
		c, err := Parse("t.conf", []byte(fmt.Sprintf(template, tc.conn, tc.child, "")))
		if err != nil {
			t.Fatal(err)
		}
		conn := c.Connections[0]
		ch := conn.Children[0]
		if conn.Life != tc.ike || ch.Life != tc.life || conn.DPDDelay != tc.dpd || conn.KeyingTries != tc.tries ||
			ch.DPDAction != tc.dpdAction || ch.CloseAction != tc.closeAction {
			t.Errorf("%q/%q:\n got %+v %+v dpd %v tries %d %s %s\nwant %+v %+v dpd %v tries %d %s %s", tc.conn, tc.child,
				conn.Life, ch.Life, conn.DPDDelay, conn.KeyingTries, ch.DPDAction, ch.CloseAction,
				tc.ike, tc.life, tc.dpd, tc.tries, tc.dpdAction, tc.closeAction)
		}
	}
}
