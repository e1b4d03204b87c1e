package daemon

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/ts"
	"github.com/goipsec/goipsec/internal/vici"
)

// registerVICI installs the VICI commands this version answers, with the
// request and response keys of strongSwan's vici plugin (README.md there),
// so that swanctl and govici clients work.
func (d *Daemon) registerVICI() {
	d.vici.RegisterEvent("list-sa")
	d.vici.RegisterEvent("list-conn")
	d.vici.RegisterEvent("control-log")
	d.vici.Handle("version", d.viciVersion)
	d.vici.Handle("stats", d.viciStats)
	d.vici.Handle("initiate", d.viciInitiate)
	d.vici.Handle("terminate", d.viciTerminate)
	d.vici.Handle("list-sas", d.viciListSAs)
	d.vici.Handle("list-conns", d.viciListConns)
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
	return msg("daemon", "goipsec", "version", Version, "sysname", "Linux", "release", "", "machine", ""), nil
}

func (d *Daemon) viciStats(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
	sas := d.engine.SAs()
	half := 0
	for _, s := range sas {
		if s.State == ike.StateConnecting {
			half++
		}
	}
	up := time.Since(d.start)
	m := msg(
		"uptime", msg("running", up.Truncate(time.Second).String(), "since", d.start.Format(time.RFC1123)),
		"ikesas", msg("total", strconv.Itoa(len(sas)), "half-open", strconv.Itoa(half)),
	)
	counters := vici.NewMessage()
	for k, v := range d.engine.Stats.Snapshot() {
		_ = counters.Set("ike-"+k, strconv.FormatUint(v, 10))
	}
	for k, v := range d.dp.Counters().Map() {
		_ = counters.Set("esp-"+k, strconv.FormatUint(v, 10))
	}
	_ = m.Set("goipsec-drops", counters)
	return m, nil
}

// timeoutCtx applies the request's "timeout" (milliseconds; swanctl sends
// it, 0 means wait forever).
func timeoutCtx(ctx context.Context, req *vici.Message) (context.Context, context.CancelFunc) {
	if ms, err := strconv.Atoi(req.GetString("timeout")); err == nil && ms > 0 {
		return context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
	}
	return context.WithTimeout(ctx, 5*time.Minute)
}

// viciInitiate: request {child, ike, timeout}; response {success, errmsg}.
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
	emit("control-log", msg("group", "CFG", "level", "1", "msg", fmt.Sprintf("initiating %s/%s", conn, child)))
	if err := d.engine.Initiate(ctx, conn, child); err != nil {
		emit("control-log", msg("group", "IKE", "level", "1", "msg", err.Error()))
		return failure("initiating %s failed: %v", childOr(conn, child), err), nil
	}
	return msg("success", "yes"), nil
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
func (d *Daemon) viciTerminate(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	child, conn := req.GetString("child"), req.GetString("ike")
	ctx, cancel := timeoutCtx(ctx, req)
	defer cancel()
	var n int
	var err error
	switch {
	case conn != "" && child == "":
		n, err = d.engine.Terminate(ctx, conn)
	case child != "":
		if conn == "" {
			conn = d.connOfChild(child)
		}
		n, err = d.engine.TerminateChild(ctx, conn, child)
	default:
		return failure("terminate needs an ike or child name"), nil
	}
	if n == 0 {
		return failure("no matching SAs to terminate found"), nil
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
	filter := req.GetString("ike")
	for _, s := range d.engine.SAs() {
		if filter != "" && s.Name != filter {
			continue
		}
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
	if s.NATLocal {
		_ = m.Set("nat-local", "yes")
	}
	if s.NATRemote {
		_ = m.Set("nat-remote", "yes")
	}
	if s.NATLocal || s.NATRemote {
		_ = m.Set("nat-any", "yes")
	}
	if s.State != ike.StateConnecting {
		_ = m.Set("encr-alg", s.EncrAlg)
		if s.EncrKeySize > 0 {
			_ = m.Set("encr-keysize", strconv.Itoa(s.EncrKeySize))
		}
		_ = m.Set("prf-alg", s.PRFAlg)
		_ = m.Set("dh-group", s.DHGroup)
		_ = m.Set("established", strconv.Itoa(int(s.Established.Seconds())))
		if s.RekeyIn > 0 {
			_ = m.Set("rekey-time", strconv.Itoa(int(s.RekeyIn.Seconds())))
		}
	}
	children := vici.NewMessage()
	for _, c := range s.Children {
		cm := msg(
			"name", c.Name,
			"uniqueid", strconv.FormatUint(uint64(c.UniqueID), 10),
			"reqid", strconv.FormatUint(uint64(c.ReqID), 10),
			"state", "INSTALLED",
			"mode", "TUNNEL",
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
				"start_action", ch.StartAction,
				"local-ts", ch.LocalTS,
				"remote-ts", ch.RemoteTS,
			))
		}
		emit("list-conn", msg(c.Name, msg(
			"local_addrs", c.LocalAddrs,
			"remote_addrs", c.RemoteAddrs,
			"version", "IKEv2",
			"local-1", msg("class", "pre-shared key", "id", idOrAny(c.Local.ID)),
			"remote-1", msg("class", "pre-shared key", "id", idOrAny(c.Remote.ID)),
			"children", children,
		)))
	}
	return vici.NewMessage(), nil
}

func idOrAny(id string) string {
	if id == "" {
		return "%any"
	}
	return id
}
