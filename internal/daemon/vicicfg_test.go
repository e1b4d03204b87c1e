package daemon

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/vici"
)

const siteConf = `
connections {
    site {
        local_addrs = 192.0.2.1
        remote_addrs = 192.0.2.2
        proposals = aes256gcm16-prfsha256-x25519
        local {
            auth = psk
            id = moon.example.org
        }
        remote {
            auth = psk
            id = sun.example.org
        }
        children {
            net {
                local_ts = 10.1.0.0/24
                remote_ts = 10.2.0.0/24, 10.3.0.0/24
                esp_proposals = aes256gcm16
            }
        }
    }
}
secrets {
    ike-site {
        id-1 = moon.example.org
        id-2 = sun.example.org
        secret = 0x0102
    }
}
`

// siteMessage is the load-conn request swanctl 5.9.8 sends for siteConf
// (captured between swanctl and charon): list keys as lists, the rest as
// key/values.
func siteMessage(t *testing.T, espProposal string) *vici.Message {
	t.Helper()
	m := vici.NewMessage()
	site := msg(
		"local_addrs", []string{"192.0.2.1"},
		"remote_addrs", []string{"192.0.2.2"},
		"proposals", []string{"aes256gcm16-prfsha256-x25519"},
		"local", msg("auth", "psk", "id", "moon.example.org"),
		"remote", msg("auth", "psk", "id", "sun.example.org"),
		"children", msg("net", msg(
			"local_ts", []string{"10.1.0.0/24"},
			"remote_ts", []string{"10.2.0.0/24", "10.3.0.0/24"},
			"esp_proposals", []string{espProposal},
		)),
	)
	if err := m.Set("site", site); err != nil {
		t.Fatal(err)
	}
	return m
}

// testDaemon is a daemon with an engine but no data plane, sockets or
// TUN: enough for the configuration commands.
func testDaemon(t *testing.T, file string) *Daemon {
	t.Helper()
	cfg, err := config.Parse("test.conf", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{log: slog.New(slog.DiscardHandler), store: newStore(cfg)}
	d.runCtx, d.runCancel = context.WithCancel(context.Background())
	t.Cleanup(d.runCancel)
	eff := d.store.effective()
	d.cfg.Store(eff)
	peers, pools, err := peersAndPools(context.Background(), eff, credsOnce(func() (*credentials, error) { return loadCredentials(eff.Dir) }), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.pools = pools
	d.engine = ike.New(ike.Config{Peers: peers})
	d.index(eff, peers)
	return d
}

func call(t *testing.T, h vici.Handler, req *vici.Message) (*vici.Message, []*vici.Message) {
	t.Helper()
	var events []*vici.Message
	resp, err := h(context.Background(), req, func(_ string, m *vici.Message) { events = append(events, m) })
	if err != nil {
		t.Fatal(err)
	}
	return resp, events
}

// TestLoadConnSameAsFile: a connection loaded over VICI is the same typed
// configuration the file parser makes of the same text.
func TestLoadConnSameAsFile(t *testing.T) {
	file, err := config.Parse("f.conf", []byte(siteConf))
	if err != nil {
		t.Fatal(err)
	}
	conns, err := connectionsFromVICI(siteMessage(t, "aes256gcm16"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 || !sameConnection(conns[0], file.Connections[0]) {
		t.Fatalf("VICI connection differs from the file's:\n%s\n%s", conns[0].Describe(), file.Connections[0].Describe())
	}
	other, _ := connectionsFromVICI(siteMessage(t, "chacha20poly1305"), nil)
	if sameConnection(other[0], file.Connections[0]) {
		t.Error("a different esp_proposals compares equal")
	}
}

// TestLoadConnRejects: load-conn shares the file's validation, so the
// errors name the full key.
func TestLoadConnRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		req  func(t *testing.T) *vici.Message
		want string
	}{
		"bad algorithm": {func(t *testing.T) *vici.Message { return siteMessage(t, "aes999") }, "connections.site.children.net.esp_proposals: unknown algorithm"},
		"unknown key": {func(t *testing.T) *vici.Message {
			m := siteMessage(t, "aes256gcm16")
			_ = m.GetSection("site").Set("frobnicate", "yes")
			return m
		}, "connections.site.frobnicate: unknown key"},
		"unsupported key": {func(t *testing.T) *vici.Message {
			m := siteMessage(t, "aes256gcm16")
			_ = m.GetSection("site").Set("mobike", "no")
			return m
		}, "connections.site.mobike: key not supported yet"},
		"not a section": {func(*testing.T) *vici.Message { return msg("site", "yes") }, "must be a section"},
		"empty":         {func(*testing.T) *vici.Message { return vici.NewMessage() }, "no connection"},
	} {
		t.Run(name, func(t *testing.T) {
			d := testDaemon(t, "")
			resp, _ := call(t, d.viciLoadConn, tc.req(t))
			if resp.GetString("success") != "no" || !strings.Contains(resp.GetString("errmsg"), tc.want) {
				t.Errorf("response %v, want failure with %q", resp, tc.want)
			}
			if n := len(d.cfg.Load().Connections); n != 0 {
				t.Errorf("a refused load-conn left %d connections", n)
			}
		})
	}
}

// TestVICIConfigCommands walks what swanctl --load-all does: get-shared,
// load-shared, get-conns, load-conn, unload-conn, unload-shared.
func TestVICIConfigCommands(t *testing.T) {
	d := testDaemon(t, "")
	resp, _ := call(t, d.viciLoadShared, msg("id", "ike-site", "type", "ike", "data", "\x01\x02",
		"owners", []string{"moon.example.org", "sun.example.org"}))
	if resp.GetString("success") != "yes" {
		t.Fatalf("load-shared: %v", resp)
	}
	if k, ok := d.cfg.Load().SharedKey("moon.example.org", "sun.example.org"); !ok || string(k) != "\x01\x02" {
		t.Errorf("loaded PSK not found: %x %v", k, ok)
	}
	resp, _ = call(t, d.viciGetShared, nil)
	if got := resp.GetList("keys"); len(got) != 1 || got[0] != "ike-site" {
		t.Errorf("get-shared: %v", resp)
	}
	resp, _ = call(t, d.viciLoadShared, msg("id", "x", "type", "eap", "data", "pw"))
	if !strings.Contains(resp.GetString("errmsg"), "eap secrets are not supported yet") {
		t.Errorf("load-shared eap: %v", resp)
	}

	resp, _ = call(t, d.viciLoadConn, siteMessage(t, "aes256gcm16"))
	if resp.GetString("success") != "yes" {
		t.Fatalf("load-conn: %v", resp)
	}
	resp, _ = call(t, d.viciGetConns, nil)
	if got := resp.GetList("conns"); len(got) != 1 || got[0] != "site" {
		t.Errorf("get-conns: %v", resp)
	}
	if p := d.engine.Peers(); len(p) != 1 || p[0].Name != "site" || len(p[0].Children) != 1 {
		t.Errorf("engine peers after load-conn: %v", p)
	}
	_, events := call(t, d.viciListConns, vici.NewMessage())
	if len(events) != 1 || events[0].GetSection("site").GetSection("children").GetSection("net") == nil {
		t.Errorf("list-conns: %v", events)
	}
	peer := d.engine.Peers()[0]

	// Loading the same connection again keeps the engine's peer (its SAs
	// would stay); a change replaces it.
	call(t, d.viciLoadConn, siteMessage(t, "aes256gcm16"))
	if d.engine.Peers()[0] != peer {
		t.Error("re-loading an unchanged connection replaced its peer config")
	}
	call(t, d.viciLoadConn, siteMessage(t, "chacha20poly1305"))
	if d.engine.Peers()[0] == peer {
		t.Error("a changed connection kept its old peer config")
	}

	resp, _ = call(t, d.viciUnloadConn, msg("name", "site"))
	if resp.GetString("success") != "yes" || len(d.engine.Peers()) != 0 {
		t.Errorf("unload-conn: %v, peers %v", resp, d.engine.Peers())
	}
	resp, _ = call(t, d.viciUnloadConn, msg("name", "site"))
	if resp.GetString("success") != "no" || !strings.Contains(resp.GetString("errmsg"), "not found") {
		t.Errorf("unload-conn twice: %v", resp)
	}
	resp, _ = call(t, d.viciUnloadShared, msg("id", "ike-site"))
	if resp.GetString("success") != "yes" {
		t.Errorf("unload-shared: %v", resp)
	}
	if _, ok := d.cfg.Load().SharedKey("moon.example.org", "sun.example.org"); ok {
		t.Error("PSK still there after unload-shared")
	}
}

// TestStoreKeepsCredentialDir: the merged configuration keeps the file's
// directory, under which relative certs/pubkeys/cacerts names and the
// swanctl credential directories are found (without it, every pubkey
// connection failed with "stat x509/...: no such file").
func TestStoreKeepsCredentialDir(t *testing.T) {
	file, err := config.Parse("/etc/swanctl/swanctl.conf", []byte(siteConf))
	if err != nil {
		t.Fatal(err)
	}
	if got := newStore(file).effective().Dir; got != "/etc/swanctl" {
		t.Errorf("effective().Dir = %q, want /etc/swanctl", got)
	}
}

// TestStoreLayers: the file and the VICI layer merge; a reload makes the
// file the truth for the names it defines and keeps VICI-only entries.
func TestStoreLayers(t *testing.T) {
	file, err := config.Parse("f.conf", []byte(siteConf))
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(file)
	chacha, _ := connectionsFromVICI(siteMessage(t, "chacha20poly1305"), nil)
	extra, _ := connectionsFromVICI(siteMessage(t, "aes256gcm16"), nil)
	extra[0].Name = "extra"

	st.loadConn(chacha[0]) // overrides the file's site
	st.loadConn(extra[0])
	eff := st.effective()
	if len(eff.Connections) != 2 || eff.Connections[0] != chacha[0] || eff.Connections[1] != extra[0] {
		t.Fatalf("effective after load-conn: %v", names(eff))
	}
	if !st.unloadConn("site") || len(st.effective().Connections) != 1 {
		t.Fatalf("unload of a file connection: %v", names(st.effective()))
	}
	if st.unloadConn("nope") {
		t.Error("unloading an unknown connection succeeded")
	}
	if !st.unloadSecret("ike-site") || len(st.effective().Secrets) != 0 {
		t.Error("unload of a file secret")
	}

	st.setFile(file) // reload: site and its secret are back, extra stays
	eff = st.effective()
	if len(eff.Connections) != 2 || eff.Connections[0] != file.Connections[0] || eff.Connections[1] != extra[0] {
		t.Errorf("effective after reload: %v", names(eff))
	}
	if len(eff.Secrets) != 1 {
		t.Errorf("secrets after reload: %d", len(eff.Secrets))
	}

	// A failed change leaves no trace: change works on a clone.
	cp := st.clone()
	cp.unloadConn("extra")
	if len(st.effective().Connections) != 2 {
		t.Error("changing a clone changed the store")
	}
}

func names(c *config.Config) []string {
	var out []string
	for _, conn := range c.Connections {
		out = append(out, conn.Name)
	}
	return out
}

// TestRefusedCredentials: features goipsec lacks get a reason,
// not a silent success; credentials that do not parse are refused.
func TestRefusedCredentials(t *testing.T) {
	d := testDaemon(t, "")
	d.vici = vici.NewServer(nil)
	d.registerVICIConfig()
	for cmd, want := range map[string]string{
		"load-cert":      "parsing X509 certificate failed",
		"load-key":       "parsing x509 private key failed",
		"load-authority": "want one authority section",
		"load-token":     "smartcard",
		"get-counters":   "counters are not supported yet",
	} {
		resp, _ := call(t, d.vici.Handler(cmd), msg("type", "X509", "data", "x"))
		if resp.GetString("success") != "no" || !strings.Contains(resp.GetString("errmsg"), want) {
			t.Errorf("%s: %v", cmd, resp)
		}
	}
	for cmd, key := range map[string]string{"get-keys": "keys", "get-authorities": "authorities"} {
		resp, _ := call(t, d.vici.Handler(cmd), nil)
		if l, ok := resp.Get(key).([]string); !ok || len(l) != 0 {
			t.Errorf("%s: %v", cmd, resp)
		}
	}
}

// TestStoreUnloadCompacts: unloads leave holes that effective skips and
// that are compacted once they are half the layer; indexes stay right.
func TestStoreUnloadCompacts(t *testing.T) {
	st := newStore(&config.Config{})
	base, _ := connectionsFromVICI(siteMessage(t, "aes256gcm16"), nil)
	conn := func(name string) *config.Connection {
		c := *base[0]
		c.Name = name
		return &c
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		st.loadConn(conn(n))
	}
	st.unloadConn("b")
	if got := strings.Join(names(st.effective()), ","); got != "a,c,d" {
		t.Fatalf("after unloading b: %s", got)
	}
	st.loadConn(conn("b"))
	st.loadConn(conn("c")) // replaces in place
	if got := strings.Join(names(st.effective()), ","); got != "a,c,d,b" {
		t.Fatalf("after re-loading b and c: %s", got)
	}
	for _, n := range []string{"a", "c", "d"} {
		if !st.unloadConn(n) {
			t.Fatalf("unload %s failed", n)
		}
	}
	if len(st.conns) > 2 || st.viciConn("b") == nil || st.viciConn("a") != nil {
		t.Errorf("layer not compacted or index wrong: %d entries", len(st.conns))
	}
	if got := strings.Join(names(st.effective()), ","); got != "b" {
		t.Errorf("after unloading a, c, d: %s", got)
	}
	st.setFile(&config.Config{Connections: []*config.Connection{conn("x")}})
	if got := strings.Join(names(st.effective()), ","); got != "x,b" {
		t.Errorf("after a reload: %s", got)
	}
}
