//go:build netns

package netns

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// swanctl runs Debian's /usr/sbin/swanctl, unchanged, against a goipsec
// daemon's VICI socket (`swanctl --uri unix://...`), with its own
// strongswan.conf and SWANCTL_DIR so nothing under /etc is read.
type swanctl struct {
	t    *testing.T
	uri  string
	dir  string // SWANCTL_DIR
	conf string // STRONGSWAN_CONF
}

func newSwanctl(t *testing.T, d *daemon) *swanctl {
	t.Helper()
	labtest.RequireStrongSwan(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "strongswan.conf")
	// Only plugins Debian ships, so swanctl does not complain on stderr.
	if err := os.WriteFile(conf, []byte("swanctl {\n  load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &swanctl{t: t, uri: "unix://" + d.control, dir: dir, conf: conf}
}

func (s *swanctl) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/usr/sbin/swanctl", append(args, "--uri", s.uri)...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+s.conf, "SWANCTL_DIR="+s.dir)
	return cmd
}

// run runs swanctl and returns its output without the noise of missing
// credential directories; ok is its exit status.
func (s *swanctl) run(ctx context.Context, args ...string) (out string, ok bool) {
	b, err := s.cmd(ctx, args...).CombinedOutput()
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "opening directory") || strings.HasPrefix(l, "plugin '") || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	out = strings.Join(keep, "\n")
	s.t.Logf("$ swanctl %s\n%s", strings.Join(args, " "), out)
	return out, err == nil
}

// must runs swanctl, failing the test unless it succeeds and prints every
// one of want.
func (s *swanctl) must(ctx context.Context, want []string, args ...string) string {
	s.t.Helper()
	out, ok := s.run(ctx, args...)
	if !ok {
		s.t.Fatalf("swanctl %s failed:\n%s", strings.Join(args, " "), out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			s.t.Fatalf("swanctl %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

// background starts a long-running swanctl (--monitor-sa, --log) and
// returns a function that stops it and returns what it printed.
func (s *swanctl) background(args ...string) (output, stop func() string) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := s.cmd(ctx, args...)
	// Line-buffered, so output can be read while swanctl runs.
	cmd.Args = append([]string{"stdbuf", "-oL", "-eL"}, cmd.Args...)
	cmd.Path = "/usr/bin/stdbuf"
	var buf bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	cmd.Stdout, cmd.Stderr = w, w
	// SIGINT, not SIGKILL: swanctl then flushes what it buffered.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	stopped := false
	output = func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	stop = func() string {
		if !stopped {
			stopped = true
			cancel()
			cmd.Wait()
		}
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	s.t.Cleanup(func() { stop() })
	return output, stop
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

const noConnections = "connections {\n}\n"

// TestSwanctl drives a goipsec daemon with the real swanctl only: the
// configuration goes in with --load-all (load-shared, load-conn), the
// tunnel comes up with --initiate, and --list-conns, --list-sas, --stats,
// --version, --rekey, --terminate, --reload-settings, --monitor-sa
// (ike-updown, child-updown) and --log print what they print for charon.
// After a known transfer the Prometheus endpoint shows the same counts as
// list-sas.
func TestSwanctl(t *testing.T) {
	s := topology(t)
	lc, rc := confs(s, suites[0].ike, suites[0].esp)
	const metricsAddr = "127.0.0.1:9814"
	// The left daemon starts with no connection at all: swanctl loads it.
	left := startDaemon(t, s.Left, "left", noConnections, "--metrics", metricsAddr)
	startDaemon(t, s.Right, "right", rc.String())
	sw := newSwanctl(t, left)
	ctx := ctxFor(t, 120*time.Second)

	sw.must(ctx, []string{"goipsec " /* daemon name */, "(Linux"}, "--version", "--daemon")

	file := filepath.Join(sw.dir, "swanctl.conf")
	if err := os.WriteFile(file, []byte(lc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	sw.must(ctx, []string{"loaded ike secret 'ike-site'", "loaded connection 'site'",
		"successfully loaded 1 connections, 0 unloaded"}, "--load-all", "--file", file)
	sw.must(ctx, []string{"site: IKEv2", "local:  " + s.LeftOuter.String(), "remote: " + s.RightOuter.String(),
		"local pre-shared key authentication:", "id: left.goipsec.test", "net: TUNNEL",
		"local:  " + s.LeftNet.String(), "remote: " + s.RightNet.String()}, "--list-conns")
	if out, _ := sw.run(ctx, "--list-sas"); out != "" {
		t.Fatalf("--list-sas before --initiate printed %q", out)
	}

	monitorOut, monitor := sw.background("--monitor-sa")
	_, logs := sw.background("--log")
	waitUntil(t, "swanctl --monitor-sa and --log registered", 5*time.Second, func() bool {
		return strings.Count(readLog(t, left.log), "vici: event EVENT_REGISTER") >= 3
	})

	// charon streams the SA's log while it initiates; so does goipsec.
	sw.must(ctx, []string{"[IKE] initiating IKE SA", "[IKE] IKE SA established", "[IKE] Child SA installed",
		"initiate completed successfully"}, "--initiate", "--child", "net", "--timeout", "30")
	sas := sw.must(ctx, []string{"site: #", "ESTABLISHED, IKEv2", "local  'left.goipsec.test' @ " + s.LeftOuter.String(),
		"remote 'right.goipsec.test' @ " + s.RightOuter.String(), "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519",
		"net: #", "INSTALLED, TUNNEL, ESP:", // raw ESP: no NAT, encap = no (swanctl writes TUNNEL-in-UDP for encap) "ESP:AES_GCM_16-256",
		"local  " + s.LeftNet.String(), "remote " + s.RightNet.String()}, "--list-sas")
	_ = sas
	sw.must(ctx, []string{"IKE_SAs: 1 total, 0 half-open"}, "--stats")
	// --load-all again with the same file, as operators do after any
	// edit: nothing changed, so the tunnel stays as it is.
	spi := childOf(t, left.sas(ctx))["spi-in"]
	sw.must(ctx, []string{"successfully loaded 1 connections, 0 unloaded"}, "--load-all", "--file", file)
	if c := childOf(t, left.sas(ctx)); c["spi-in"] != spi {
		t.Errorf("re-loading an unchanged connection replaced its Child SA: %v -> %v", spi, c["spi-in"])
	}
	sw.must(ctx, []string{"site/net, TUNNEL", "local:  " + s.LeftNet.String(), "remote: " + s.RightNet.String()}, "--list-pols")

	// A known transfer, then the counters: list-sas and the metrics agree.
	const n = 4 << 20
	res, err := lab.TCPTransfer(ctx, s.Left, s.Right, s.LeftInner, s.RightInner, n)
	if err != nil || !res.Intact || res.Bytes != n {
		t.Fatalf("TCP through the tunnel: %v %v", res, err)
	}
	// The TCP connection's last segments may still be on their way:
	// compare the scrape with list-sas readings taken just before and
	// after it that agree with each other.
	var child map[string]any
	var scrape map[string]float64
	for try := 0; ; try++ {
		before := childOf(t, left.sas(ctx))
		scrape = scrapeMetrics(ctx, t, s.Left, metricsAddr)
		child = childOf(t, left.sas(ctx))
		if before["bytes-out"] == child["bytes-out"] && before["bytes-in"] == child["bytes-in"] {
			break
		}
		if try == 20 {
			t.Fatalf("counters never settle: %v then %v", before, child)
		}
		time.Sleep(100 * time.Millisecond)
	}
	bytesOut, _ := strconv.ParseUint(child["bytes-out"].(string), 10, 64)
	packetsOut, _ := strconv.ParseUint(child["packets-out"].(string), 10, 64)
	if bytesOut < n {
		t.Fatalf("bytes-out %d after sending %d bytes", bytesOut, n)
	}
	// Then one forged ESP packet on the SA (its SPI, a sequence number
	// ahead of the window, a wrong ICV), raw as the SA is (no NAT,
	// encap = no): the data plane drops it as an integrity failure,
	// globally and on the SA.
	spiIn, _ := strconv.ParseUint(child["spi-in"].(string), 16, 32)
	if out, err := s.Right.Run(ctx, "/usr/bin/python3", "-c", `
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
s.sendto(struct.pack("!II", int(sys.argv[2]), 0x7fffff00) + bytes(64), (sys.argv[1], 0))
`, s.LeftOuter.String(), strconv.FormatUint(spiIn, 10)); err != nil {
		t.Fatalf("forged ESP: %v\n%s", err, out)
	}
	cid := child["uniqueid"].(string)
	integrity := `goipsec_child_sa_dropped_packets_total{child="net",child_sa="` + cid + `",conn="site",ike_sa="1",reason="integrity"}`
	waitUntil(t, "the forged packet counted", 5*time.Second, func() bool {
		return scrapeMetrics(ctx, t, s.Left, metricsAddr)[integrity] == 1
	})
	scrape = scrapeMetrics(ctx, t, s.Left, metricsAddr)
	for _, want := range []struct {
		metric string
		value  float64
		cmp    string
	}{
		{`goipsec_child_sa_bytes_total{child="net",child_sa="` + child["uniqueid"].(string) + `",conn="site",direction="out",ike_sa="1"}`, float64(bytesOut), "=="},
		{`goipsec_child_sa_packets_total{child="net",child_sa="` + child["uniqueid"].(string) + `",conn="site",direction="out",ike_sa="1"}`, float64(packetsOut), "=="},
		{`goipsec_child_sa_bytes_total{child="net",child_sa="` + child["uniqueid"].(string) + `",conn="site",direction="in",ike_sa="1"}`, 1, ">="},
		{`goipsec_ike_sa_bytes{conn="site",direction="out",ike_sa="1"}`, float64(bytesOut), "=="},
		{`goipsec_ike_sas{state="ESTABLISHED"}`, 1, "=="},
		{`goipsec_ike_sas_half_open`, 0, "=="},
		{`goipsec_tunnels_configured`, 1, "=="},
		{`goipsec_tunnels_down`, 0, "=="},
		{`goipsec_tunnel_up{child="net",conn="site"}`, 1, "=="},
		{`goipsec_ike_handshake_duration_seconds_count`, 1, "=="},
		{`goipsec_esp_dropped_packets_total{reason="replay"}`, 0, "=="},
		{`goipsec_esp_dropped_packets_total{reason="integrity"}`, 1, "=="},
		{`goipsec_child_sa_dropped_packets_total{child="net",child_sa="` + cid + `",conn="site",ike_sa="1",reason="replay"}`, 0, "=="},
		{`goipsec_esp_dropped_packets_total{reason="no_sa"}`, 0, "=="},
		{`goipsec_rekeys_total{kind="child"}`, 0, "=="},
	} {
		got, ok := scrape[want.metric]
		if !ok {
			t.Errorf("metric %s missing", want.metric)
			continue
		}
		if (want.cmp == "==" && got != want.value) || (want.cmp == ">=" && got < want.value) {
			t.Errorf("%s = %v, want %s %v", want.metric, got, want.cmp, want.value)
		}
	}

	sw.must(ctx, []string{"encryption:", "  AES_CBC[goipsec]", "aead:", "  AES_GCM_16[goipsec]", "  CHACHA20_POLY1305[goipsec]",
		"integrity:", "  HMAC_SHA2_256_128[goipsec]", "prf:", "  PRF_HMAC_SHA2_256[goipsec]", "dh:", "  CURVE_25519[goipsec]"}, "--list-algs")
	for _, args := range [][]string{{"--counters"}} {
		if out, ok := sw.run(ctx, args...); ok || !strings.Contains(out, "not supported yet") {
			t.Errorf("swanctl %v: want a refusal with the reason, got ok=%v %q", args, ok, out)
		}
	}
	// --rekey runs CREATE_CHILD_SA (RFC 7296 1.3.3): a new Child SA
	// replaces the old one, and the metrics count the rekey.
	oldSPI := child["spi-in"]
	sw.must(ctx, []string{"rekey completed successfully"}, "--rekey", "--child", "net")
	waitUntil(t, "Child SA replaced by the rekey", 10*time.Second, func() bool {
		sas := left.sas(ctx)
		if len(sas) != 1 {
			return false
		}
		for _, v := range sas[0] {
			ike, _ := v.(map[string]any)
			cs, _ := ike["child-sas"].(map[string]any)
			for _, c := range cs {
				if cm, _ := c.(map[string]any); cm != nil && cm["spi-in"] != oldSPI && len(cs) == 1 {
					return true
				}
			}
		}
		return false
	})
	if got := scrapeMetrics(ctx, t, s.Left, metricsAddr)[`goipsec_rekeys_total{kind="child"}`]; got != 1 {
		t.Errorf(`goipsec_rekeys_total{kind="child"} = %v after --rekey, want 1`, got)
	}
	if out, ok := sw.run(ctx, "--rekey", "--child", "nosuchchild"); ok || !strings.Contains(out, "no matching SAs") {
		t.Errorf("--rekey of an unknown child: want a refusal, got ok=%v %q", ok, out)
	}
	sw.must(ctx, []string{"terminate completed successfully"}, "--terminate", "--child", "net")
	waitUntil(t, "Child SA gone", 5*time.Second, func() bool {
		out, _ := sw.run(ctx, "--list-sas")
		return strings.Contains(out, "ESTABLISHED") && !strings.Contains(out, "INSTALLED")
	})
	if scrape := scrapeMetrics(ctx, t, s.Left, metricsAddr); scrape[`goipsec_tunnels_down`] != 1 {
		t.Errorf("goipsec_tunnels_down = %v after terminating the child, want 1", scrape[`goipsec_tunnels_down`])
	}
	sw.must(ctx, []string{"[IKE] deleting IKE SA", "terminate completed successfully"}, "--terminate", "--ike-id", "1")
	waitUntil(t, "IKE SA gone", 5*time.Second, func() bool { return len(left.sas(ctx)) == 0 })
	if out, ok := sw.run(ctx, "--terminate", "--ike", "site"); ok || !strings.Contains(out, "no matching SAs") {
		t.Errorf("terminating twice: %q", out)
	}

	// The event streams saw it all.
	// swanctl --monitor-sa prints each ike-updown and child-updown event
	// as list-sas would: IKE up, child up, the rekey's new child up and
	// old child down, child down, IKE down.
	waitUntil(t, "six SA events", 5*time.Second, func() bool { return strings.Count(monitorOut(), "site: #1, ") >= 6 })
	mon := monitor()
	if n := strings.Count(mon, "site: #1, "); n != 6 {
		t.Errorf("swanctl --monitor-sa printed %d SA events, want 6:\n%s", n, mon)
	}
	if n := strings.Count(mon, "net: #"); n != 4 {
		t.Errorf("swanctl --monitor-sa printed %d Child SA events, want 4:\n%s", n, mon)
	}
	if l := logs(); !strings.Contains(l, "[IKE]") || !strings.Contains(l, "IKE SA established") || strings.Contains(l, "vici:") {
		t.Errorf("swanctl --log output lacks the IKE log:\n%s", l)
	}

	// Loading a changed connection deletes its SAs (they were negotiated
	// under the old settings); start_action is none, so nothing restarts.
	sw.must(ctx, []string{"initiate completed successfully"}, "--initiate", "--child", "net", "--timeout", "30")
	changed := filepath.Join(sw.dir, "changed.conf")
	if err := os.WriteFile(changed, []byte(strings.Replace(lc.String(), "esp_proposals = aes256gcm16", "esp_proposals = chacha20poly1305", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	sw.must(ctx, []string{"loaded connection 'site'"}, "--load-conns", "--file", changed)
	waitUntil(t, "SAs of the changed connection deleted", 10*time.Second, func() bool { return len(left.sas(ctx)) == 0 })

	// A file in x509/ that is no certificate is refused by name (the
	// daemon's parse error), the rest loads.
	if err := os.MkdirAll(filepath.Join(sw.dir, "x509"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sw.dir, "x509", "peer.pem"), []byte("not even a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := sw.run(ctx, "--load-all", "--file", file)
	if !strings.Contains(out, "peer.pem' failed: load-cert: parsing X509 certificate failed") || !strings.Contains(out, "loaded connection 'site'") {
		t.Errorf("--load-all with a certificate: %q", out)
	}

	// Reloading settings re-reads the daemon's own file (no connections):
	// VICI-loaded ones stay. Then a file without connections unloads site.
	sw.must(ctx, nil, "--reload-settings")
	sw.must(ctx, []string{"site: IKEv2"}, "--list-conns")
	empty := filepath.Join(sw.dir, "empty.conf")
	if err := os.WriteFile(empty, []byte(noConnections), 0o600); err != nil {
		t.Fatal(err)
	}
	sw.must(ctx, []string{"no connections found, 1 unloaded"}, "--load-all", "--file", empty)
	if out, _ := sw.run(ctx, "--list-conns"); out != "" {
		t.Errorf("--list-conns after unloading: %q", out)
	}
	// A connection goipsec cannot run is refused with the config error.
	bad := filepath.Join(sw.dir, "bad.conf")
	if err := os.WriteFile(bad, []byte(strings.Replace(lc.String(), "esp_proposals = aes256gcm16", "esp_proposals = aes999", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var ok bool
	out, ok = sw.run(ctx, "--load-conns", "--file", bad)
	if ok || !regexp.MustCompile(`loading connection 'site' failed: connections\.site\.children\.net\.esp_proposals: .*aes999`).MatchString(out) {
		t.Errorf("--load-conns with a bad proposal: ok=%v %q", ok, out)
	}
}

// scrapeMetrics fetches http://addr/metrics from inside ns and parses the
// samples (name{labels} -> value).
func scrapeMetrics(ctx context.Context, t *testing.T, ns *lab.Namespace, addr string) map[string]float64 {
	t.Helper()
	out, err := ns.Run(ctx, "/usr/bin/python3", "-c",
		"import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
		"http://"+addr+"/metrics")
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, out)
	}
	samples := map[string]float64{}
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad sample line %q", l)
		}
		samples[l[:i]] = v
	}
	return samples
}

func readLog(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
