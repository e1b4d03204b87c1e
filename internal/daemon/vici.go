package daemon

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
	"github.com/goipsec/goipsec/internal/vici"
)

// registerVICI installs the VICI commands this version answers, with the
// request and response keys of strongSwan's vici plugin (README.md there),
// so that swanctl and govici clients work.
func (d *Daemon) registerVICI() {
	d.vici.RegisterEvent("list-sa", "list-conn", "list-policy", "list-cert", "list-authority",
		"control-log", "log", "ike-updown", "child-updown", "ike-rekey", "child-rekey")
	d.vici.Handle("version", d.viciVersion)
	d.vici.Handle("stats", d.viciStats)
	d.vici.Handle("initiate", d.viciInitiate)
	d.vici.Handle("terminate", d.viciTerminate)
	d.vici.Handle("rekey", d.viciRekey)
	d.vici.Handle("list-sas", d.viciListSAs)
	d.vici.Handle("list-conns", d.viciListConns)
	d.vici.Handle("list-policies", d.viciListPolicies)
	d.registerVICIConfig()
}

func msg(kv ...any) *vici.Message {
	m := vici.NewMessage()
	for i := 0; i+1 < len(kv); i += 2 {
		_ = m.Set(kv[i].(string), kv[i+1])
	}
	return m
}

func failure(format string, args ...any) *vici.Message {
	return msg("success", "no", "errmsg", fmt.Sprintf(format, args...))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (d *Daemon) viciVersion(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
	sys, release, machine := uname()
	return msg("daemon", "goipsec", "version", Version, "sysname", sys, "release", release, "machine", machine), nil
}

func (d *Daemon) viciStats(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
	sas := d.engine.SAs()
	half := 0
	for _, s := range sas {
		if s.State == ike.StateConnecting {
			half++
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := msg(
		"uptime", msg("running", uptime(time.Since(d.start)), "since", d.start.Format("Jan 02 15:04:05 2006")),
		// goipsec has goroutines, not charon's worker threads and job
		// queues: the goroutine count stands in for the threads, the
		// queues do not exist.
		"workers", msg("total", strconv.Itoa(runtime.NumGoroutine())),
		"ikesas", msg("total", strconv.Itoa(len(sas)), "half-open", strconv.Itoa(half)),
		"plugins", []string{},
		"mem", msg("total", strconv.FormatUint(ms.HeapAlloc, 10), "allocs", strconv.FormatUint(ms.Mallocs-ms.Frees, 10)),
	)
	counters := vici.NewMessage()
	for k, v := range d.engine.Stats.Snapshot() {
		_ = counters.Set("ike-"+k, strconv.FormatUint(v, 10))
	}
	for k, v := range d.dp.Counters().Map() {
		_ = counters.Set("esp-"+k, strconv.FormatUint(v, 10))
	}
	_ = counters.Set("vici-events_dropped", strconv.FormatUint(d.events.dropped.Load(), 10))
	_ = m.Set("goipsec-drops", counters)
	// Trap policies (start_action = trap): packets held while IKE ran,
	// sent once the SA was there, and acquires raised (one per trap at a
	// time); their drops are esp-trap_* above.
	trapSt := d.dp.TrapStats()
	_ = m.Set("goipsec-traps", msg(
		"held", strconv.FormatUint(trapSt.Held, 10),
		"released", strconv.FormatUint(trapSt.Released, 10),
		"acquires", strconv.FormatUint(trapSt.Acquires, 10),
	))
	return m, nil
}

// uptime renders a duration the way charon's stats do ("42 seconds",
// "3 minutes", "2 hours", "5 days").
func uptime(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 120:
		return plural(s, "second")
	case s < 2*3600:
		return plural(s/60, "minute")
	case s < 2*86400:
		return plural(s/3600, "hour")
	default:
		return plural(s/86400, "day")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// timeoutCtx applies the request's "timeout" (milliseconds; swanctl sends
// it, 0 means wait forever).
func timeoutCtx(ctx context.Context, req *vici.Message) (context.Context, context.CancelFunc) {
	if ms, err := strconv.Atoi(req.GetString("timeout")); err == nil && ms > 0 {
		return context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
	}
	return context.WithTimeout(ctx, 5*time.Minute)
}

// viciInitiate: request {child, ike, timeout, loglevel}; response
// {success, errmsg}. While it runs, the connection's log lines up to
// loglevel (default 1) stream to the client as control-log events, as
// charon's do.
func (d *Daemon) viciInitiate(ctx context.Context, req *vici.Message, emit func(string, *vici.Message)) (*vici.Message, error) {
	child, conn := req.GetString("child"), req.GetString("ike")
	if conn == "" {
		conn = d.connOfChild(child)
		if conn == "" {
			return failure("no connection with child %q found", child), nil
		}
	}
	ctx, cancel := timeoutCtx(ctx, req)
	defer cancel()
	initiate := func() error { return d.engine.Initiate(ctx, conn, child) }
	if child == "" {
		// As charon: initiate with only "ike" sets up the IKE SA alone
		// (childless, RFC 6023; swanctl --initiate --ike).
		initiate = func() error { return d.engine.InitiateIKE(ctx, conn) }
	}
	err := d.withControlLog(req, conn, emit, initiate)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return failure("%s not established after %sms", childOr(conn, child), req.GetString("timeout")), nil
		}
		return failure("initiating %s failed: %v", childOr(conn, child), err), nil
	}
	return msg("success", "yes"), nil
}

// withControlLog runs f, streaming conn's log lines to emit as control-log
// events meanwhile (from this goroutine only: emit may block on a slow
// client, the logging IKE SA goroutine must not).
func (d *Daemon) withControlLog(req *vici.Message, conn string, emit func(string, *vici.Message), f func() error) error {
	level := 1
	if l, err := strconv.Atoi(req.GetString("loglevel")); err == nil {
		level = l
	}
	lines, stop := d.logTee.Follow(conn, level)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- f() }()
	for {
		select {
		case m := <-lines:
			emit("control-log", m)
		case err := <-done:
			stop()
			for {
				select {
				case m := <-lines:
					emit("control-log", m)
				default:
					return err
				}
			}
		}
	}
}

func childOr(conn, child string) string {
	if child == "" {
		return conn
	}
	return conn + "/" + child
}

func (d *Daemon) connOfChild(child string) string {
	for _, p := range d.engine.Peers() {
		if p.Child(child) != nil {
			return p.Name
		}
	}
	return ""
}

// viciTerminate: request {child | ike, timeout}; response {success,
// matches, terminated, errmsg}.
func (d *Daemon) viciTerminate(ctx context.Context, req *vici.Message, emit func(string, *vici.Message)) (*vici.Message, error) {
	child, conn := req.GetString("child"), req.GetString("ike")
	ctx, cancel := timeoutCtx(ctx, req)
	defer cancel()
	if id := req.GetString("ike-id"); id != "" && conn == "" {
		// The engine terminates by name; the unique ID picks the name.
		sas := d.selectSAs(req)
		if len(sas) == 0 {
			return msg("success", "no", "matches", "0", "terminated", "0", "errmsg", "no matching SAs to terminate found"), nil
		}
		conn = sas[0].Name
	}
	var n int
	var err error
	switch {
	case conn != "" && child == "":
		err = d.withControlLog(req, conn, emit, func() (err error) {
			n, err = d.engine.Terminate(ctx, conn)
			return err
		})
	case child != "":
		if conn == "" {
			conn = d.connOfChild(child)
		}
		err = d.withControlLog(req, conn, emit, func() (err error) {
			n, err = d.engine.TerminateChild(ctx, conn, child)
			return err
		})
	default:
		return failure("terminate needs an ike, ike-id or child name"), nil
	}
	if n == 0 {
		return msg("success", "no", "matches", "0", "terminated", "0", "errmsg", "no matching SAs to terminate found"), nil
	}
	if err != nil {
		// The SA is gone locally even if the peer did not answer.
		return msg("success", "yes", "matches", strconv.Itoa(n), "terminated", strconv.Itoa(n),
			"errmsg", err.Error()), nil
	}
	return msg("success", "yes", "matches", strconv.Itoa(n), "terminated", strconv.Itoa(n)), nil
}

// viciListSAs streams one "list-sa" event per IKE SA, keyed by the
// connection name, in the layout of strongSwan's list-sas.
func (d *Daemon) viciListSAs(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) (*vici.Message, error) {
	for _, s := range d.selectSAs(req) {
		emit("list-sa", msg(nameOr(s), ikeSAMessage(s)))
	}
	return vici.NewMessage(), nil
}

func nameOr(s ike.SAInfo) string {
	if s.Name == "" {
		return "(unknown)"
	}
	return s.Name
}

func ikeSAMessage(s ike.SAInfo) *vici.Message {
	m := msg(
		"uniqueid", strconv.FormatUint(uint64(s.UniqueID), 10),
		"version", "2",
		"state", s.State.String(),
		"local-host", s.Local.Addr().String(),
		"local-port", strconv.Itoa(int(s.Local.Port())),
		"local-id", s.LocalID,
		"remote-host", s.Remote.Addr().String(),
		"remote-port", strconv.Itoa(int(s.Remote.Port())),
		"remote-id", s.RemoteID,
		"initiator", yesNo(s.Initiator),
		"initiator-spi", fmt.Sprintf("%016x", s.SPIi),
		"responder-spi", fmt.Sprintf("%016x", s.SPIr),
	)
	// The virtual IPs the peer assigned us and the ones we leased it
	// (RFC 7296 2.19), as lists whether empty or not, as charon does.
	_ = m.Set("local-vips", vipStrings(s.LocalVIPs))
	_ = m.Set("remote-vips", vipStrings(s.RemoteVIPs))
	if s.NATLocal {
		_ = m.Set("nat-local", "yes")
	}
	if s.NATRemote {
		_ = m.Set("nat-remote", "yes")
	}
	if s.NATFake {
		_ = m.Set("nat-fake", "yes")
	}
	if s.NATLocal || s.NATRemote || s.NATFake {
		_ = m.Set("nat-any", "yes")
	}
	if s.State != ike.StateConnecting {
		_ = m.Set("encr-alg", s.EncrAlg)
		if s.EncrKeySize > 0 {
			_ = m.Set("encr-keysize", strconv.Itoa(s.EncrKeySize))
		}
		if s.IntegAlg != "" {
			_ = m.Set("integ-alg", s.IntegAlg)
		}
		_ = m.Set("prf-alg", s.PRFAlg)
		_ = m.Set("dh-group", s.DHGroup)
		_ = m.Set("established", strconv.Itoa(int(s.Established.Seconds())))
		if s.RekeyIn > 0 {
			_ = m.Set("rekey-time", strconv.Itoa(int(s.RekeyIn.Seconds())))
		}
		if s.ReauthIn > 0 {
			_ = m.Set("reauth-time", strconv.Itoa(int(s.ReauthIn.Seconds())))
		}
	}
	children := vici.NewMessage()
	for _, c := range s.Children {
		cm := msg(
			"name", c.Name,
			"uniqueid", strconv.FormatUint(uint64(c.UniqueID), 10),
			"reqid", strconv.FormatUint(uint64(c.ReqID), 10),
			"state", "INSTALLED",
			"mode", c.Mode.String(),
			"protocol", "ESP",
			"encap", "yes",
			"spi-in", fmt.Sprintf("%08x", c.SPIIn),
			"spi-out", fmt.Sprintf("%08x", c.SPIOut),
			"encr-alg", c.EncrAlg,
			"bytes-in", strconv.FormatUint(c.BytesIn, 10),
			"packets-in", strconv.FormatUint(c.PacketsIn, 10),
			"bytes-out", strconv.FormatUint(c.BytesOut, 10),
			"packets-out", strconv.FormatUint(c.PacketsOut, 10),
			"install-time", strconv.Itoa(int(c.Installed.Seconds())),
			"local-ts", tsStrings(c.LocalTS),
			"remote-ts", tsStrings(c.RemoteTS),
		)
		if c.EncrKeySize > 0 {
			_ = cm.Set("encr-keysize", strconv.Itoa(c.EncrKeySize))
		}
		if !c.LastIn.IsZero() {
			_ = cm.Set("use-in", strconv.Itoa(int(time.Since(c.LastIn).Seconds())))
		}
		if !c.LastOut.IsZero() {
			_ = cm.Set("use-out", strconv.Itoa(int(time.Since(c.LastOut).Seconds())))
		}
		// Seconds left, as strongSwan's list-sas reports them.
		if c.RekeyIn > 0 {
			_ = cm.Set("rekey-time", strconv.Itoa(int(c.RekeyIn.Seconds())))
		}
		if c.ExpireIn > 0 {
			_ = cm.Set("life-time", strconv.Itoa(int(c.ExpireIn.Seconds())))
		}
		if c.IntegAlg != "" {
			_ = cm.Set("integ-alg", c.IntegAlg)
		}
		if c.ESN {
			_ = cm.Set("esn", "1")
		}
		_ = children.Set(fmt.Sprintf("%s-%d", c.Name, c.UniqueID), cm)
	}
	_ = m.Set("child-sas", children)
	return m
}

func tsStrings(list []ts.Selector) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.String()
	}
	return out
}

// viciListConns streams one "list-conn" event per configured connection.
func (d *Daemon) viciListConns(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) (*vici.Message, error) {
	filter := req.GetString("ike")
	cfg := d.cfg.Load()
	for _, c := range cfg.Connections {
		if filter != "" && c.Name != filter {
			continue
		}
		children := vici.NewMessage()
		for _, ch := range c.Children {
			_ = children.Set(ch.Name, msg(
				"mode", strings.ToUpper(ch.Mode),
				"rekey_time", secs(ch.Life.RekeyTime),
				"rekey_bytes", strconv.FormatUint(ch.Life.RekeyBytes, 10),
				"rekey_packets", strconv.FormatUint(ch.Life.RekeyPackets, 10),
				"start_action", ch.StartAction,
				"local-ts", ch.LocalTS,
				"remote-ts", ch.RemoteTS,
			))
		}
		emit("list-conn", msg(c.Name, msg(
			"local_addrs", c.LocalAddrs,
			"remote_addrs", c.RemoteAddrs,
			"version", "IKEv2",
			"reauth_time", secs(c.Life.ReauthTime),
			"rekey_time", secs(c.Life.RekeyTime),
			// charon's unique_policy_names
			"unique", "UNIQUE_"+strings.ToUpper(c.Unique),
			"local-1", msg("class", authClass(c.Local.Auth), "id", idOrAny(c.Local.ID)),
			"remote-1", msg("class", authClass(c.Remote.Auth), "id", idOrAny(c.Remote.ID)),
			"children", children,
		)))
	}
	return vici.NewMessage(), nil
}

// authClass names an auth round's class as charon's list-conn does
// (auth_class_names: "public key", "pre-shared key").
func authClass(auth string) string {
	if auth == "pubkey" {
		return "public key"
	}
	return "pre-shared key"
}

func idOrAny(id string) string {
	if id == "" {
		return "%any"
	}
	return id
}

// viciRekey: request {child | ike | child-id | ike-id}; response
// {success, matches, errmsg}. Each matching IKE SA (or, with child or
// child-id, each matching Child SA) is rekeyed with CREATE_CHILD_SA
// (RFC 7296 1.3); the reply comes once every rekey is done.
func (d *Daemon) viciRekey(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	child, childID := req.GetString("child"), req.GetString("child-id")
	matches := 0
	var errs []string
	rekey := func(s ike.SAInfo, childName string) {
		matches++
		if err := d.engine.Rekey(ctx, s.UniqueID, childName); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, s := range d.selectSAs(req) {
		if child == "" && childID == "" {
			rekey(s, "")
			continue
		}
		for _, c := range s.Children {
			if c.Name == child || childID == strconv.FormatUint(uint64(c.UniqueID), 10) {
				rekey(s, c.Name)
			}
		}
	}
	if matches == 0 {
		return msg("success", "no", "matches", "0", "errmsg", "no matching SAs to rekey found"), nil
	}
	if len(errs) > 0 {
		return msg("success", "no", "matches", strconv.Itoa(matches), "errmsg", strings.Join(errs, "; ")), nil
	}
	return msg("success", "yes", "matches", strconv.Itoa(matches)), nil
}

// selectSAs picks the IKE SAs a request names with ike or ike-id (all if
// neither is given).
func (d *Daemon) selectSAs(req *vici.Message) []ike.SAInfo {
	name, id := req.GetString("ike"), req.GetString("ike-id")
	var out []ike.SAInfo
	for _, s := range d.engine.SAs() {
		if name != "" && s.Name != name {
			continue
		}
		if id != "" && strconv.FormatUint(uint64(s.UniqueID), 10) != id {
			continue
		}
		out = append(out, s)
	}
	return out
}

// viciListPolicies streams one "list-policy" event per policy, in the
// layout of strongSwan's list-pols: trap policies (mode TUNNEL, the
// configured selectors), shunts (mode PASS or DROP), and the policies of
// installed Child SAs of children without a trap (their negotiated
// selectors, what the data plane enforces). The request's trap, drop and
// pass flags select kinds (none set: all); child selects by child name.
func (d *Daemon) viciListPolicies(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) (*vici.Message, error) {
	filter := req.GetString("child")
	wantTrap, wantDrop, wantPass := req.GetString("trap") == "yes", req.GetString("drop") == "yes", req.GetString("pass") == "yes"
	if !wantTrap && !wantDrop && !wantPass {
		wantTrap, wantDrop, wantPass = true, true, true
	}
	traps, shunts := d.installedPolicies()
	sort.Slice(traps, func(i, j int) bool { return traps[i].trap.Name < traps[j].trap.Name })
	sort.Slice(shunts, func(i, j int) bool { return shunts[i].Name < shunts[j].Name })
	trapped := map[string]bool{}
	for _, t := range traps {
		trapped[t.trap.Name] = true
		if !wantTrap || (filter != "" && t.child != filter) {
			continue
		}
		emit("list-policy", msg(t.trap.Name, msg(
			"child", t.child,
			"ike", t.conn,
			"mode", "TUNNEL",
			"local-ts", tsStrings(t.trap.LocalTS),
			"remote-ts", tsStrings(t.trap.RemoteTS),
		)))
	}
	for _, sh := range shunts {
		conn, child, _ := strings.Cut(sh.Name, "/")
		mode := "PASS"
		if sh.Action == sadb.Discard {
			mode = "DROP"
		}
		if (mode == "PASS" && !wantPass) || (mode == "DROP" && !wantDrop) || (filter != "" && child != filter) {
			continue
		}
		emit("list-policy", msg(sh.Name, msg(
			"child", child,
			"ike", conn,
			"mode", mode,
			"local-ts", tsStrings(sh.LocalTS),
			"remote-ts", tsStrings(sh.RemoteTS),
		)))
	}
	if !wantTrap {
		return vici.NewMessage(), nil
	}
	for _, s := range d.engine.SAs() {
		for _, c := range s.Children {
			if (filter != "" && c.Name != filter) || trapped[s.Name+"/"+c.Name] {
				continue
			}
			emit("list-policy", msg(s.Name+"/"+c.Name, msg(
				"child", c.Name,
				"ike", s.Name,
				"mode", c.Mode.String(),
				"local-ts", tsStrings(c.LocalTS),
				"remote-ts", tsStrings(c.RemoteTS),
			)))
		}
	}
	return vici.NewMessage(), nil
}

// secs formats d in whole seconds, as list-conns reports lifetimes.
func secs(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) }
