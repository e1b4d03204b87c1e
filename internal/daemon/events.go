package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
	// from WithAttrs: the subsystem and SA the logger is bound to.
	subsys, conn, ikeSA string
	attrs               []slog.Attr
	group               string // from WithGroup, prefixed to attribute keys
}

func newLogTee(inner slog.Handler) *logTee {
	return &logTee{inner: inner, server: &atomic.Pointer[vici.Server]{}}
}

func (t *logTee) Enabled(ctx context.Context, l slog.Level) bool { return t.inner.Enabled(ctx, l) }

func (t *logTee) Handle(ctx context.Context, r slog.Record) error {
	err := t.inner.Handle(ctx, r)
	srv := t.server.Load()
	if srv == nil || t.subsys == "vici" || !srv.HasListeners("log") {
		return err
	}
	var b strings.Builder
	b.WriteString(r.Message)
	conn, ikeSA := t.conn, t.ikeSA
	write := func(a slog.Attr) {
		switch a.Key {
		case "conn":
			conn = a.Value.String()
		case "ike_sa":
			ikeSA = a.Value.String()
		}
		fmt.Fprintf(&b, " %s%s=%v", t.group, a.Key, a.Value)
	}
	for _, a := range t.attrs {
		write(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		write(a)
		return true
	})
	m := msg("group", logGroup(t.subsys), "level", logLevel(r.Level), "msg", b.String())
	if conn != "" {
		_ = m.Set("ikesa-name", conn)
	}
	if ikeSA != "" {
		_ = m.Set("ikesa-uniqueid", ikeSA)
	}
	srv.Broadcast("log", m)
	return err
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

// logLevel maps slog levels to charon's (0 audit, 1 control, 2 detail).
func logLevel(l slog.Level) string {
	switch {
	case l >= slog.LevelWarn:
		return "0"
	case l >= slog.LevelInfo:
		return "1"
	}
	return "2"
}
