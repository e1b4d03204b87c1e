package daemon

import (
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/vici"
)

// viciClient connects to a test VICI server and registers for events.
func viciClient(t *testing.T, srv *vici.Server, events ...string) net.Conn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vici.sock")
	l, err := vici.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, ev := range events {
		if err := vici.WritePacket(c, &vici.Packet{Type: vici.PacketEventRegister, Name: ev}); err != nil {
			t.Fatal(err)
		}
		if p, err := vici.ReadPacket(c); err != nil || p.Type != vici.PacketEventConfirm {
			t.Fatalf("register %s: %v %v", ev, p, err)
		}
	}
	return c
}

func nextEvent(t *testing.T, c net.Conn) *vici.Packet {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := vici.ReadPacket(c)
	if err != nil || p.Type != vici.PacketEvent {
		t.Fatalf("want an event: %v %v", p, err)
	}
	return p
}

// TestLogEvents: log records reach "log" listeners in charon's layout
// (group, level, ikesa-name, ikesa-uniqueid, msg); the VICI server's own
// records do not (they would feed back into a slow client's queue).
func TestLogEvents(t *testing.T) {
	tee := newLogTee(slog.NewTextHandler(io.Discard, nil))
	log := slog.New(tee)
	srv := vici.NewServer(log.With("subsys", "vici"))
	srv.RegisterEvent("log")
	tee.server.Store(srv)
	c := viciClient(t, srv, "log")

	log.With("subsys", "vici").Warn("vici: client does not read its events")
	log.With("subsys", "ike", "ike_sa", 7).Info("IKE SA established", "conn", "site", "local_id", "moon")
	p := nextEvent(t, c)
	m := p.Message
	if p.Name != "log" || m.GetString("group") != "IKE" || m.GetString("level") != "1" ||
		m.GetString("ikesa-name") != "site" || m.GetString("ikesa-uniqueid") != "7" ||
		!strings.HasPrefix(m.GetString("msg"), "IKE SA established") || !strings.Contains(m.GetString("msg"), "local_id=moon") {
		t.Errorf("log event %v", m)
	}
	log.With("subsys", "dataplane").Warn("TUN write failed")
	if m := nextEvent(t, c).Message; m.GetString("group") != "ESP" || m.GetString("level") != "0" {
		t.Errorf("data plane warning: %v", m)
	}
}

// TestUpDownEvents: ike-updown and child-updown carry up = yes only when
// up, the IKE SA as in list-sas, and only the affected Child SA.
func TestUpDownEvents(t *testing.T) {
	srv := vici.NewServer(nil)
	srv.RegisterEvent("ike-updown", "child-updown")
	d := &Daemon{vici: srv}
	h := newEventHub(d)
	c := viciClient(t, srv, "ike-updown", "child-updown")
	sa := ike.SAInfo{Name: "site", UniqueID: 3, State: ike.StateEstablished, Initiator: true}
	h.broadcast(saEvent{sa: sa, up: true})
	h.broadcast(saEvent{sa: sa, child: &ike.ChildInfo{Name: "net", UniqueID: 9}, up: false})

	p := nextEvent(t, c)
	if p.Name != "ike-updown" || p.Message.GetString("up") != "yes" ||
		p.Message.GetSection("site").GetString("uniqueid") != "3" ||
		p.Message.GetSection("site").GetSection("child-sas").Len() != 0 {
		t.Errorf("ike-updown: %v %v", p.Name, p.Message)
	}
	p = nextEvent(t, c)
	children := p.Message.GetSection("site").GetSection("child-sas")
	if p.Name != "child-updown" || p.Message.Get("up") != nil || children.Len() != 1 ||
		children.GetSection("net-9").GetString("uniqueid") != "9" {
		t.Errorf("child-updown: %v %v", p.Name, p.Message)
	}
}

// TestEventQueueBounded: a burst beyond the queue is dropped and counted,
// never blocking the engine.
func TestEventQueueBounded(t *testing.T) {
	h := newEventHub(&Daemon{})
	for range eventQueueLen + 10 {
		h.IKEUpDown(ike.SAInfo{}, false)
	}
	if h.dropped.Load() != 10 {
		t.Errorf("dropped %d, want 10", h.dropped.Load())
	}
}
