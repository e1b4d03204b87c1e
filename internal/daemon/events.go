package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/vici"
)

// eventQueueLen bounds the SA events waiting to be broadcast; past it
// events are dropped and counted (a burst of 10,000 tunnels coming up must
// not stall the IKE SA goroutines that report them).
const eventQueueLen = 4096

// saEvent is one ike.Events call, queued.
type saEvent struct {
	sa    ike.SAInfo
	child *ike.ChildInfo // nil: an IKE SA event
	up    bool
}

// eventHub implements ike.Events: it feeds the metrics at once and
// queues VICI's ike-updown and child-updown events for broadcasting by
// its own goroutine, so the engine never waits for a VICI client.
type eventHub struct {
	d       *Daemon
	queue   chan saEvent
	dropped atomic.Uint64
}

func newEventHub(d *Daemon) *eventHub {
	return &eventHub{d: d, queue: make(chan saEvent, eventQueueLen)}
}

func (h *eventHub) IKEUpDown(sa ike.SAInfo, up bool) {
	if up && h.d.metrics != nil && sa.HandshakeTime > 0 {
		h.d.metrics.ObserveHandshake(sa.HandshakeTime)
	}
	h.push(saEvent{sa: sa, up: up})
}

func (h *eventHub) ChildUpDown(sa ike.SAInfo, child ike.ChildInfo, up bool) {
	h.push(saEvent{sa: sa, child: &child, up: up})
	if h.d.updown != nil {
		h.d.updown.childUpDown(sa, child, up)
	}
}

func (h *eventHub) push(ev saEvent) {
	select {
	case h.queue <- ev:
	default:
		h.dropped.Add(1)
	}
}

// run broadcasts queued events until ctx ends.
func (h *eventHub) run(ctx context.Context) {
	for {
		select {
		case ev := <-h.queue:
			h.broadcast(ev)
		case <-ctx.Done():
			return
		}
	}
}

// broadcast sends one event in the layout of charon's (vici README,
// "ike-updown", "child-updown"): up = yes only when up, and the IKE SA as
// in list-sas, with no children or just the affected one.
func (h *eventHub) broadcast(ev saEvent) {
	if ev.child != nil {
		ev.sa.Children = []ike.ChildInfo{*ev.child}
	}
	// An IKE SA event keeps an empty child-sas section: swanctl
	// --monitor-sa prints an SA when it reaches that section.
	body := ikeSAMessage(ev.sa)
	m := vici.NewMessage()
	if ev.up {
		_ = m.Set("up", "yes")
	}
	_ = m.Set(nameOr(ev.sa), body)
	name := "ike-updown"
	if ev.child != nil {
		name = "child-updown"
	}
	h.d.vici.Broadcast(name, m)
}

// logTee is a slog.Handler that passes every record to the daemon's own
// handler and, while a VICI client listens, streams it as a "log" event
// (what `swanctl --log` shows). Records of the VICI server itself are not
// streamed: a client too slow for its events is logged, and that log line
// must not be queued for the same client again.
type logTee struct {
	inner  slog.Handler
	server *atomic.Pointer[vici.Server]
	follow *followers // shared by every logger derived from the tee
	// from WithAttrs: the subsystem and SA the logger is bound to.
	subsys, conn, ikeSA string
	attrs               []slog.Attr
	group               string // from WithGroup, prefixed to attribute keys
}

func newLogTee(inner slog.Handler) *logTee {
	return &logTee{inner: inner, server: &atomic.Pointer[vici.Server]{}, follow: &followers{subs: map[*follower]bool{}}}
}

// followLogLen bounds the log lines queued for one initiate or terminate
// command's control-log stream; past it lines are dropped (never block
// the IKE SA goroutine that logs).
const followLogLen = 256

// followers are the running initiate/terminate commands that stream the
// log of one connection as control-log events.
type followers struct {
	mu   sync.Mutex
	subs map[*follower]bool
}

type follower struct {
	conn  string
	level int // the request's loglevel: lines up to it are sent
	ch    chan *vici.Message
}

// Follow streams the log lines of conn at charon level <= level (0..4)
// on the returned channel until stop is called.
func (t *logTee) Follow(conn string, level int) (lines <-chan *vici.Message, stop func()) {
	f := &follower{conn: conn, level: level, ch: make(chan *vici.Message, followLogLen)}
	t.follow.mu.Lock()
	t.follow.subs[f] = true
	t.follow.mu.Unlock()
	return f.ch, func() {
		t.follow.mu.Lock()
		delete(t.follow.subs, f)
		t.follow.mu.Unlock()
	}
}

// following returns the followers interested in a line of conn at level.
func (fs *followers) following(conn string, level int) []*follower {
	if conn == "" {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []*follower
	for f := range fs.subs {
		if f.conn == conn && level <= f.level {
			out = append(out, f)
		}
	}
	return out
}

func (t *logTee) Enabled(ctx context.Context, l slog.Level) bool { return t.inner.Enabled(ctx, l) }

func (t *logTee) Handle(ctx context.Context, r slog.Record) error {
	err := t.inner.Handle(ctx, r)
	if t.subsys == "vici" {
		return err
	}
	srv := t.server.Load()
	listening := srv != nil && srv.HasListeners("log")
	conn, _ := t.recordSA(r)
	level := charonLevel(r.Level)
	followers := t.follow.following(conn, level)
	if !listening && len(followers) == 0 {
		return err
	}
	m := t.message(r, level)
	for _, f := range followers {
		select {
		case f.ch <- m:
		default: // the command's client is slow: drop the line
		}
	}
	if listening {
		srv.Broadcast("log", m)
	}
	return err
}

// recordSA returns the connection name and IKE SA unique ID a record is
// about, from the logger's or the record's attributes.
func (t *logTee) recordSA(r slog.Record) (conn, ikeSA string) {
	conn, ikeSA = t.conn, t.ikeSA
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "conn":
			conn = a.Value.String()
		case "ike_sa":
			ikeSA = a.Value.String()
		}
		return true
	})
	return conn, ikeSA
}

// message renders a record as charon's log event.
func (t *logTee) message(r slog.Record, level int) *vici.Message {
	var b strings.Builder
	b.WriteString(r.Message)
	conn, ikeSA := t.conn, t.ikeSA
	write := func(a slog.Attr) {
		switch a.Key {
		case "conn":
			conn = a.Value.String()
		case "ike_sa":
			ikeSA = a.Value.String()
		default:
			fmt.Fprintf(&b, " %s%s=%v", t.group, a.Key, a.Value)
		}
	}
	for _, a := range t.attrs {
		write(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		write(a)
		return true
	})
	m := msg("group", logGroup(t.subsys), "level", strconv.Itoa(level), "msg", b.String())
	if conn != "" {
		_ = m.Set("ikesa-name", conn)
	}
	if ikeSA != "" {
		_ = m.Set("ikesa-uniqueid", ikeSA)
	}
	return m
}

func (t *logTee) WithAttrs(attrs []slog.Attr) slog.Handler {
	cp := *t
	cp.inner = t.inner.WithAttrs(attrs)
	cp.attrs = append([]slog.Attr(nil), t.attrs...)
	for _, a := range attrs {
		switch a.Key {
		case "subsys":
			cp.subsys = a.Value.String()
			continue // shown as the log group
		case "conn":
			cp.conn = a.Value.String()
		case "ike_sa":
			cp.ikeSA = a.Value.String()
		}
		cp.attrs = append(cp.attrs, a)
	}
	return &cp
}

func (t *logTee) WithGroup(name string) slog.Handler {
	cp := *t
	cp.inner = t.inner.WithGroup(name)
	cp.group = t.group + name + "."
	return &cp
}

// logGroup maps goipsec's subsystems to charon's log groups.
func logGroup(subsys string) string {
	switch subsys {
	case "ike":
		return "IKE"
	case "dataplane":
		return "ESP"
	case "config":
		return "CFG"
	}
	return "DMN"
}

// charonLevel maps slog levels to charon's (0 audit, 1 control, 2 detail).
func charonLevel(l slog.Level) int {
	switch {
	case l >= slog.LevelWarn:
		return 0
	case l >= slog.LevelInfo:
		return 1
	}
	return 2
}
