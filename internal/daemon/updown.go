package daemon

// The updown script (swanctl.conf children.<child>.updown): a shell
// command line run when a child's tunnel comes up and when it goes down,
// with the environment of strongSwan's updown plugin (PLUTO_VERB,
// PLUTO_ME, PLUTO_MY_CLIENT, ...), so that scripts written for charon
// (routes, firewall rules, notifications) work unchanged.
//
// One difference, on purpose: the script sees the tunnel, not each SA.
// A rekey or a make-before-break reauthentication installs the new SA
// before the old one goes, and runs nothing (charon too runs nothing on
// a rekey, but "down" then "up" around a reauthentication). "down" runs
// with the same environment as the "up" it undoes (the same
// PLUTO_UNIQUEID and PLUTO_REQID, even if the SAs were replaced since),
// so a script can remove exactly what it added.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/ts"
)

const (
	// updownQueueLen bounds the script runs waiting; past it they are
	// dropped with an error in the log.
	updownQueueLen = 1024
	// updownTimeout ends a script that hangs: the tunnels of other
	// children must not wait for it forever.
	updownTimeout = 30 * time.Second
)

// updownRunner runs updown scripts, one at a time and in event order, on
// its own goroutine, so that the IKE engine never waits for a script.
type updownRunner struct {
	log     *slog.Logger
	command func(conn, child string) string // the child's updown, "" for none
	queue   chan saEvent
	stop    chan struct{}
	done    chan struct{}
	// up holds the environments of the tunnels that are up, by
	// tunnelKey, with how many SAs carry each (goroutine-owned).
	up map[string]*upTunnel
	// active is len(up), for childUpDown to skip the downs of daemons
	// that have no script up at all.
	active atomic.Int64
	// run executes one script; tests replace it.
	run func(ctx context.Context, command string, env []string) (string, error)
}

type upTunnel struct {
	users   int
	command string
	envs    [][]string // one per (local, remote) selector pair, as run for "up"
}

func newUpdownRunner(log *slog.Logger, command func(conn, child string) string) *updownRunner {
	return &updownRunner{
		log: log, command: command,
		queue: make(chan saEvent, updownQueueLen),
		stop:  make(chan struct{}), done: make(chan struct{}),
		up:  map[string]*upTunnel{},
		run: runShell,
	}
}

// childUpDown queues a Child SA event; it never blocks.
func (u *updownRunner) childUpDown(sa ike.SAInfo, child ike.ChildInfo, up bool) {
	if u.command(sa.Name, child.Name) == "" && (up || u.active.Load() == 0) {
		// Nothing to run. A down must still find its up, even if a
		// reload removed the updown since: only when none is up can it
		// be skipped here.
		return
	}
	select {
	case u.queue <- saEvent{sa: sa, child: &child, up: up}:
	default:
		u.log.Error("updown queue full: script not run", "conn", sa.Name, "child", child.Name, "up", up)
	}
}

// loop runs scripts until close; then it runs those already queued.
func (u *updownRunner) loop() {
	defer close(u.done)
	for {
		select {
		case ev := <-u.queue:
			u.handle(ev)
		case <-u.stop:
			for {
				select {
				case ev := <-u.queue:
					u.handle(ev)
				default:
					return
				}
			}
		}
	}
}

// close runs what is queued (the downs of a shutdown) and stops.
func (u *updownRunner) close() {
	close(u.stop)
	<-u.done
}

// tunnelKey identifies a tunnel across the SAs that carry it: the child
// of a connection between two identities and addresses, with its
// selectors.
func tunnelKey(sa ike.SAInfo, c ike.ChildInfo) string {
	return fmt.Sprint(sa.Name, "/", c.Name, "|", sa.LocalID, "|", sa.RemoteID, "|", sa.Remote.Addr(), "|", c.LocalTS, "|", c.RemoteTS)
}

func (u *updownRunner) handle(ev saEvent) {
	key := tunnelKey(ev.sa, *ev.child)
	t := u.up[key]
	if ev.up {
		if t != nil {
			t.users++
			return // a rekey or reauthentication: the tunnel was up already
		}
		cmd := u.command(ev.sa.Name, ev.child.Name)
		t = &upTunnel{users: 1, command: cmd, envs: updownEnvs(ev.sa, *ev.child, localInterface(ev.sa.Local.Addr()))}
		u.up[key] = t
		u.active.Add(1)
		u.runAll(t, "up")
		return
	}
	if t == nil {
		return // never up with a script (or dropped from a full queue)
	}
	if t.users--; t.users > 0 {
		return
	}
	delete(u.up, key)
	u.active.Add(-1)
	u.runAll(t, "down")
}

// runAll runs t's command once per selector pair with PLUTO_VERB's
// first word set to verb.
func (u *updownRunner) runAll(t *upTunnel, verb string) {
	for _, env := range t.envs {
		env = withVerb(env, verb)
		ctx, cancel := context.WithTimeout(context.Background(), updownTimeout)
		out, err := u.run(ctx, t.command, env)
		cancel()
		for line := range strings.Lines(out) {
			u.log.Info("updown: "+strings.TrimRight(line, "\n"), "verb", verbOf(env))
		}
		if err != nil {
			u.log.Warn("updown script failed", "verb", verbOf(env), "command", t.command, "err", err)
		}
	}
}

// runShell runs command with /bin/sh and exactly env, stderr into
// stdout, as charon does ("2>&1 %s" through process_start_shell).
func runShell(ctx context.Context, command string, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "2>&1 "+command)
	cmd.Env = env
	var b strings.Builder
	cmd.Stdout = &b
	cmd.Stderr = &b // also for the later commands of a command list
	err := cmd.Run()
	return b.String(), err
}

func withVerb(env []string, verb string) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		if rest, ok := strings.CutPrefix(kv, "PLUTO_VERB=up"); ok {
			kv = "PLUTO_VERB=" + verb + rest
		}
		out[i] = kv
	}
	return out
}

func verbOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PLUTO_VERB="); ok {
			return v
		}
	}
	return ""
}

// updownEnvs builds the "up" environment of each (local, remote)
// selector pair of one address family, in the order and with the names
// of strongSwan's updown plugin (invoke_once in updown_listener.c).
func updownEnvs(sa ike.SAInfo, c ike.ChildInfo, iface string) [][]string {
	if iface == "" {
		iface = "unknown"
	}
	me, peer := sa.Local.Addr().Unmap(), sa.Remote.Addr().Unmap()
	var out [][]string
	for _, l := range c.LocalTS {
		for _, r := range c.RemoteTS {
			if l.Is4() != r.Is4() {
				continue
			}
			isHost := l.IsHost() && l.Start.Unmap() == me
			v6 := l.Is6()
			if isHost {
				v6 = me.Is6()
			}
			verb := "PLUTO_VERB=up-client"
			if isHost {
				verb = "PLUTO_VERB=up-host"
			}
			if v6 {
				verb += "-v6"
			}
			env := []string{
				"PLUTO_VERSION=1.1",
				verb,
				"PLUTO_CONNECTION=" + c.Name,
				"PLUTO_INTERFACE=" + iface,
				"PLUTO_REQID=" + strconv.FormatUint(uint64(c.ReqID), 10),
				"PLUTO_PROTO=esp",
				"PLUTO_UNIQUEID=" + strconv.FormatUint(uint64(sa.UniqueID), 10),
				"PLUTO_ME=" + me.String(),
				"PLUTO_MY_ID=" + sa.LocalID,
				"PLUTO_MY_CLIENT=" + subnetOf(l).String(),
				"PLUTO_MY_PORT=" + strconv.Itoa(int(updownPort(l, r, true))),
				"PLUTO_MY_PROTOCOL=" + strconv.Itoa(int(l.Proto)),
				"PLUTO_PEER=" + peer.String(),
				"PLUTO_PEER_ID=" + sa.RemoteID,
				"PLUTO_PEER_CLIENT=" + subnetOf(r).String(),
				"PLUTO_PEER_PORT=" + strconv.Itoa(int(updownPort(l, r, false))),
				"PLUTO_PEER_PROTOCOL=" + strconv.Itoa(int(r.Proto)),
			}
			env = append(env, vipEnv(sa.LocalVIPs)...)
			if sa.NATLocal || sa.NATRemote || sa.NATFake {
				env = append(env, "PLUTO_UDP_ENC="+strconv.Itoa(int(sa.Remote.Port())))
			}
			out = append(out, env)
		}
	}
	return out
}

// vipEnv is PLUTO_MY_SOURCEIP (the first virtual IP, charon's legacy
// variable) and PLUTO_MY_SOURCEIP4_n / PLUTO_MY_SOURCEIP6_n.
func vipEnv(vips []netip.Addr) []string {
	var out []string
	v4, v6 := 0, 0
	for i, a := range vips {
		if i == 0 {
			out = append(out, "PLUTO_MY_SOURCEIP="+a.String())
		}
		if a.Is4() {
			v4++
			out = append(out, fmt.Sprintf("PLUTO_MY_SOURCEIP4_%d=%s", v4, a))
		} else {
			v6++
			out = append(out, fmt.Sprintf("PLUTO_MY_SOURCEIP6_%d=%s", v6, a))
		}
	}
	return out
}

// subnetOf is the smallest prefix that covers the selector's range
// (charon's traffic_selector to_subnet).
func subnetOf(s ts.Selector) netip.Prefix {
	a, b := s.Start.AsSlice(), s.End.AsSlice()
	bits := 0
	for i := range a {
		x := a[i] ^ b[i]
		if x == 0 {
			bits += 8
			continue
		}
		for x&0x80 == 0 {
			bits++
			x <<= 1
		}
		break
	}
	p, _ := s.Start.Prefix(bits)
	return p
}

// updownPort is PLUTO_MY_PORT (local) or PLUTO_PEER_PORT: the start
// port, except for ICMP, whose type and code the selectors carry in the
// port fields (RFC 4301 4.4.1.3): the type is "my" port, the code the
// peer's, as charon gives them.
func updownPort(l, r ts.Selector, local bool) uint16 {
	if p := max(l.Proto, r.Proto); p == 1 || p == 58 {
		port := max(l.StartPort, r.StartPort)
		if local {
			return port >> 8
		}
		return port & 0xff
	}
	if local {
		return l.StartPort
	}
	return r.StartPort
}

// localInterface is the name of the interface that has addr, or "".
func localInterface(addr netip.Addr) string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == addr.Unmap() {
				return ifc.Name
			}
		}
	}
	return ""
}

// updownIndex is the updown commands of one configuration by
// "conn/child", built once per configuration: every Child SA event asks,
// from the IKE SA goroutines, and a walk over 10,000 connections each
// time would not do.
type updownIndex struct {
	cfg *config.Config
	cmd map[string]string
}

// updownCommand is the updown of child in connection conn in the current
// configuration, "" for none.
func (d *Daemon) updownCommand(conn, child string) string {
	cfg := d.cfg.Load()
	ix := d.updownIx.Load()
	if ix == nil || ix.cfg != cfg {
		// A new configuration; racing rebuilds build the same index.
		ix = &updownIndex{cfg: cfg, cmd: map[string]string{}}
		for _, c := range cfg.Connections {
			for _, ch := range c.Children {
				if ch.Updown != "" {
					ix.cmd[c.Name+"/"+ch.Name] = ch.Updown
				}
			}
		}
		d.updownIx.Store(ix)
	}
	if len(ix.cmd) == 0 {
		return ""
	}
	return ix.cmd[conn+"/"+child]
}
