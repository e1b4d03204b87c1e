package vici

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	govici "github.com/strongswan/govici/vici"
)

// These tests drive the server with the client library the goipsec CLI and
// third-party tools use (github.com/strongswan/govici), plus a raw client
// built on this package's codec where exact packet order matters.

const testTimeout = 10 * time.Second

type testServer struct {
	*Server
	path  string
	serve chan error
}

func startServer(t *testing.T, setup func(s *Server)) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "vici.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if setup != nil {
		setup(s)
	}
	ts := &testServer{Server: s, path: path, serve: make(chan error, 1)}
	go func() { ts.serve <- s.Serve(l) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-ts.serve:
			if err != nil {
				t.Errorf("Serve returned %v after Close, want nil", err)
			}
		case <-time.After(testTimeout):
			t.Error("Serve did not return after Close")
		}
	})
	return ts
}

// testWriter sends server logs to the test log (shown on failure or -v).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (ts *testServer) session(t *testing.T) *govici.Session {
	t.Helper()
	s, err := govici.NewSession(govici.WithSocketPath(ts.path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient speaks VICI with this package's own codec.
type rawClient struct {
	t    *testing.T
	conn net.Conn
}

func (ts *testServer) raw(t *testing.T) *rawClient {
	t.Helper()
	c, err := net.Dial("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t, c}
}

func (r *rawClient) send(p *Packet) {
	r.t.Helper()
	if err := WritePacket(r.conn, p); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) recv() *Packet {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(testTimeout))
	p, err := ReadPacket(r.conn)
	if err != nil {
		r.t.Fatalf("read packet: %v", err)
	}
	return p
}

func (r *rawClient) expect(typ PacketType, name string) *Packet {
	r.t.Helper()
	p := r.recv()
	if p.Type != typ || p.Name != name {
		r.t.Fatalf("got %v %q %s, want %v %q", p.Type, p.Name, p.Message, typ, name)
	}
	return p
}

// expectClosed waits for the server to close the connection.
func (r *rawClient) expectClosed() {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(testTimeout))
	var buf [1]byte
	n, err := r.conn.Read(buf[:])
	if n != 0 || !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(fmt.Sprint(err), "reset") {
		r.t.Fatalf("connection still open: read %d bytes, err %v", n, err)
	}
}

func versionHandler(_ context.Context, req *Message, _ func(string, *Message)) (*Message, error) {
	m := NewMessage()
	m.Set("daemon", "goipsec")
	m.Set("version", "0.1")
	if e := req.GetString("echo"); e != "" {
		m.Set("echo", e)
	}
	return m, nil
}

// listSAs streams one list-sa event per name in req's "names" list, like
// charon's list-sas (README "list-sas()").
func listSAs(_ context.Context, req *Message, emit func(string, *Message)) (*Message, error) {
	for i, name := range req.GetList("names") {
		ike := NewMessage()
		ike.Set("uniqueid", i+1)
		ike.Set("state", "ESTABLISHED")
		children := NewMessage()
		child := NewMessage()
		child.Set("local-ts", []string{"10.1.0.0/24"})
		children.Set(name+"-child", child)
		ike.Set("child-sas", children)
		ev := NewMessage()
		ev.Set(name, ike)
		emit("list-sa", ev)
	}
	return NewMessage(), nil
}

func TestGoviciCommand(t *testing.T) {
	ts := startServer(t, func(s *Server) {
		s.Handle("version", versionHandler)
		s.Handle("load-shared", func(_ context.Context, req *Message, _ func(string, *Message)) (*Message, error) {
			if req.GetString("type") != "IKE" {
				return nil, fmt.Errorf("unsupported secret type %q", req.GetString("type"))
			}
			return nil, nil
		})
	})
	s := ts.session(t)

	req := govici.NewMessage()
	req.Set("echo", "hello")
	resp, err := s.CommandRequest("version", req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Get("daemon") != "goipsec" || resp.Get("version") != "0.1" || resp.Get("echo") != "hello" {
		t.Fatalf("version response: %v", resp)
	}

	ok := govici.NewMessage()
	ok.Set("type", "IKE")
	ok.Set("data", "secret")
	ok.Set("owners", []string{"a", "b"})
	if _, err := s.CommandRequest("load-shared", ok); err != nil {
		t.Fatalf("load-shared: %v", err)
	}

	bad := govici.NewMessage()
	bad.Set("type", "EAP")
	resp, err = s.CommandRequest("load-shared", bad)
	if err == nil || !strings.Contains(err.Error(), `unsupported secret type "EAP"`) {
		t.Fatalf("failing command: err = %v", err)
	}
	if resp == nil || resp.Get("success") != "no" {
		t.Fatalf("failure response: %v", resp)
	}
}

func TestGoviciStreamedCommand(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.Handle("list-sas", listSAs) })
	s := ts.session(t)
	// Several calls with bursts of events on one session: govici v0.8.0
	// loses the tail of a burst (and then fails its next request) unless
	// the response waits for delivery (see streamSettle).
	for _, names := range [][]string{{"site"}, {"a", "b", "c"}, {"roadwarrior", "x", "y", "z", "w"}, {}} {
		req := govici.NewMessage()
		req.Set("names", names)
		msgs, err := s.StreamedCommandRequest("list-sas", "list-sa", req)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(names) {
			t.Fatalf("got %d list-sa events, want %d", len(msgs), len(names))
		}
		for i, name := range names {
			ike, ok := msgs[i].Get(name).(*govici.Message)
			if !ok {
				t.Fatalf("event %d without section %q: %v", i, name, msgs[i])
			}
			if ike.Get("state") != "ESTABLISHED" || ike.Get("uniqueid") != fmt.Sprint(i+1) {
				t.Fatalf("list-sa %s: %v", name, ike)
			}
			child := ike.Get("child-sas").(*govici.Message).Get(name + "-child").(*govici.Message)
			if ts := child.Get("local-ts"); fmt.Sprint(ts) != "[10.1.0.0/24]" {
				t.Fatalf("local-ts = %v", ts)
			}
		}
	}
	// The stream unregistered itself; a plain command still works.
	if _, err := s.CommandRequest("list-sas", nil); err != nil {
		t.Fatal(err)
	}
}

// TestStreamOrder: streamed events reach only a client registered for
// them, in emit order, all before the CMD_RESPONSE (README
// "Client-initiated commands").
func TestStreamOrder(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.Handle("list-sas", listSAs) })
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprint("conn", i)
	}
	req := NewMessage()
	req.Set("names", names)

	c := ts.raw(t)
	c.send(&Packet{Type: PacketCmdRequest, Name: "list-sas", Message: req})
	c.expect(PacketCmdResponse, "") // not registered: no events

	c.send(&Packet{Type: PacketEventRegister, Name: "list-sa"})
	c.expect(PacketEventConfirm, "")
	c.send(&Packet{Type: PacketCmdRequest, Name: "list-sas", Message: req})
	for i, name := range names {
		p := c.expect(PacketEvent, "list-sa")
		if got := p.Message.Keys(); len(got) != 1 || got[0] != name {
			t.Fatalf("event %d: keys %q, want [%s]", i, got, name)
		}
	}
	c.expect(PacketCmdResponse, "")

	c.send(&Packet{Type: PacketEventUnregister, Name: "list-sa"})
	c.expect(PacketEventConfirm, "")
	// Like charon: unregistering what is not registered fails.
	c.send(&Packet{Type: PacketEventUnregister, Name: "list-sa"})
	c.expect(PacketEventUnknown, "")
	c.send(&Packet{Type: PacketCmdRequest, Name: "list-sas", Message: req})
	c.expect(PacketCmdResponse, "")
}

func TestGoviciUnknownCommandAndEvent(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.Handle("version", versionHandler) })
	s := ts.session(t)
	_, err := s.CommandRequest("no-such-command", nil)
	if err == nil || !strings.Contains(err.Error(), "unexpected response type: 2") {
		t.Fatalf("unknown command: err = %v, want CMD_UNKNOWN (2)", err)
	}
	if err := s.Subscribe("no-such-event"); err == nil || !strings.Contains(err.Error(), "unknown event") {
		t.Fatalf("unknown event: err = %v", err)
	}
	// The session stays usable.
	if _, err := s.CommandRequest("version", nil); err != nil {
		t.Fatal(err)
	}
	if got := ts.Counters().Unknown; got != 2 {
		t.Errorf("Unknown counter = %d, want 2", got)
	}
}

func TestGoviciBroadcast(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.RegisterEvent("ike-updown", "child-updown") })
	a := ts.session(t)
	if err := a.Subscribe("ike-updown", "child-updown"); err != nil {
		t.Fatal(err)
	}
	events := make(chan govici.Event, 16)
	a.NotifyEvents(events)

	b := ts.raw(t) // registered for child-updown only
	b.send(&Packet{Type: PacketEventRegister, Name: "child-updown"})
	b.expect(PacketEventConfirm, "")

	for i, ev := range []string{"ike-updown", "child-updown", "ike-updown"} {
		m := NewMessage()
		m.Set("up", "yes")
		m.Set("seq", i)
		ts.Broadcast(ev, m)
	}
	for i, want := range []string{"ike-updown", "child-updown", "ike-updown"} {
		select {
		case ev := <-events:
			if ev.Name != want || ev.Message.Get("seq") != fmt.Sprint(i) || ev.Message.Get("up") != "yes" {
				t.Fatalf("event %d: %s %v, want %s", i, ev.Name, ev.Message, want)
			}
		case <-time.After(testTimeout):
			t.Fatalf("event %d (%s) not received", i, want)
		}
	}
	// b sees only its own event: the ike-updown broadcasts were not sent.
	if p := b.expect(PacketEvent, "child-updown"); p.Message.GetString("seq") != "1" {
		t.Fatalf("child-updown: %s", p.Message)
	}
	b.send(&Packet{Type: PacketCmdRequest, Name: "nothing"})
	b.expect(PacketCmdUnknown, "")
}

// TestMalformedClientDoesNotDisturbOthers: each bad client is disconnected
// and counted; a good client in the middle of a session is unaffected.
func TestMalformedClientDoesNotDisturbOthers(t *testing.T) {
	ts := startServer(t, func(s *Server) {
		s.Handle("version", versionHandler)
		s.RegisterEvent("log")
	})
	good := ts.session(t)
	if err := good.Subscribe("log"); err != nil {
		t.Fatal(err)
	}
	events := make(chan govici.Event, 4)
	good.NotifyEvents(events)

	bad := map[string][]byte{
		"bad element type":     {0, 0, 0, 4, 0, 1, 'x', 9},
		"oversized length":     {0xff, 0xff, 0xff, 0xff, 0},
		"zero length":          {0, 0, 0, 0},
		"server packet type":   {0, 0, 0, 1, byte(PacketCmdResponse)},
		"unknown packet type":  {0, 0, 0, 1, 200},
		"unbalanced section":   {0, 0, 0, 6, 0, 1, 'x', elemSectionStart, 1, 's'},
		"too deep":             append([]byte{0, 0, 0, byte(3 + len(nestedBytes(MaxDepth+1))), 0, 1, 'x'}, nestedBytes(MaxDepth+1)...),
		"register with a body": {0, 0, 0, 4, 3, 1, 'x', 1},
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			c := ts.raw(t)
			if _, err := c.conn.Write(b); err != nil {
				t.Fatal(err)
			}
			c.expectClosed()
		})
	}
	// A client that hangs up mid-packet is not malformed, just gone.
	c := ts.raw(t)
	c.conn.Write([]byte{0, 0, 0, 10, 0})
	c.conn.Close()

	resp, err := good.CommandRequest("version", nil)
	if err != nil || resp.Get("daemon") != "goipsec" {
		t.Fatalf("good client after bad ones: %v, %v", resp, err)
	}
	m := NewMessage()
	m.Set("msg", "still here")
	ts.Broadcast("log", m)
	select {
	case ev := <-events:
		if ev.Message.Get("msg") != "still here" {
			t.Fatalf("event: %v", ev.Message)
		}
	case <-time.After(testTimeout):
		t.Fatal("good client lost its event subscription")
	}
	if got := ts.Counters().Malformed; got != uint64(len(bad)) {
		t.Errorf("Malformed counter = %d, want %d", got, len(bad))
	}
}

func TestHandlerPanicAndDisconnect(t *testing.T) {
	cancelled := make(chan struct{})
	started := make(chan struct{})
	ts := startServer(t, func(s *Server) {
		s.Handle("boom", func(context.Context, *Message, func(string, *Message)) (*Message, error) {
			panic("handler bug")
		})
		s.Handle("initiate", func(ctx context.Context, _ *Message, _ func(string, *Message)) (*Message, error) {
			close(started)
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		})
	})
	s := ts.session(t)
	resp, err := s.CommandRequest("boom", nil)
	if err == nil || resp.Get("errmsg") != "internal error in boom" {
		t.Fatalf("panicking handler: %v, %v", resp, err)
	}

	// A client that goes away cancels its running command.
	c := ts.raw(t)
	c.send(&Packet{Type: PacketCmdRequest, Name: "initiate"})
	<-started
	c.conn.Close()
	select {
	case <-cancelled:
	case <-time.After(testTimeout):
		t.Fatal("handler context not cancelled when the client disconnected")
	}
}

// TestEmitAfterReturnIsIgnored: a handler that leaks emit into a goroutine
// cannot send events after its response.
func TestEmitAfterReturnIsIgnored(t *testing.T) {
	var leaked func(string, *Message)
	ts := startServer(t, func(s *Server) {
		s.Handle("list-sas", func(_ context.Context, _ *Message, emit func(string, *Message)) (*Message, error) {
			leaked = emit
			return nil, nil
		})
		s.Handle("version", versionHandler)
	})
	c := ts.raw(t)
	c.send(&Packet{Type: PacketEventRegister, Name: "list-sa"})
	c.expect(PacketEventConfirm, "")
	c.send(&Packet{Type: PacketCmdRequest, Name: "list-sas"})
	c.expect(PacketCmdResponse, "")
	leaked("list-sa", NewMessage())
	c.send(&Packet{Type: PacketCmdRequest, Name: "version"})
	c.expect(PacketCmdResponse, "")
}

// TestSlowClientIsDisconnected: a client registered for events that never
// reads is dropped once its queue is full, without blocking Broadcast.
func TestSlowClientIsDisconnected(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.RegisterEvent("log") })
	c := ts.raw(t)
	c.send(&Packet{Type: PacketEventRegister, Name: "log"})
	c.expect(PacketEventConfirm, "")

	m := NewMessage()
	m.Set("msg", strings.Repeat("x", MaxValueLen))
	for i := 0; ts.Counters().Overflow == 0; i++ {
		if i > 10000 {
			t.Fatal("no overflow after 10000 broadcasts of 64 KiB")
		}
		ts.Broadcast("log", m)
	}
	if ts.Counters().Clients != 0 {
		t.Errorf("slow client still connected")
	}
}

func TestCloseWithClients(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vici.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(nil)
	s.Handle("initiate", func(ctx context.Context, _ *Message, _ func(string, *Message)) (*Message, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	var wg sync.WaitGroup
	sessions := make([]*govici.Session, 3)
	for i := range sessions {
		if sessions[i], err = govici.NewSession(govici.WithSocketPath(path)); err != nil {
			t.Fatal(err)
		}
		defer sessions[i].Close()
	}
	wg.Go(func() { sessions[0].CommandRequest("initiate", nil) })
	deadline := time.Now().Add(testTimeout)
	for s.Counters().Clients != 3 { // accepted asynchronously
		if time.Now().After(deadline) {
			t.Fatalf("%d clients connected, want 3", s.Counters().Clients)
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	wg.Wait() // the blocked command was answered or cut off
	if _, err := sessions[1].CommandRequest("initiate", nil); err == nil {
		t.Fatal("command succeeded after Close")
	}
	if _, err := govici.NewSession(govici.WithSocketPath(path)); err == nil {
		t.Fatal("connected after Close")
	}
	if err := s.Serve(l); err != nil {
		t.Fatalf("Serve on a closed server: %v", err)
	}
}
