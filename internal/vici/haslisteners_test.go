package vici

import (
	"net"
	"testing"
	"time"
)

// TestHasListeners follows registrations: false before, true while a
// client is registered, false after it unregistered and after it left.
func TestHasListeners(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.RegisterEvent("log") })
	if ts.HasListeners("log") {
		t.Fatal("listeners before any client")
	}
	c, err := net.Dial("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(typ PacketType) {
		t.Helper()
		if err := WritePacket(c, &Packet{Type: typ, Name: "log"}); err != nil {
			t.Fatal(err)
		}
		p, err := ReadPacket(c)
		if err != nil || p.Type != PacketEventConfirm {
			t.Fatalf("%v: %v %v", typ, p, err)
		}
	}
	exchange(PacketEventRegister)
	if !ts.HasListeners("log") || ts.HasListeners("ike-updown") {
		t.Error("HasListeners wrong while registered")
	}
	exchange(PacketEventUnregister)
	if ts.HasListeners("log") {
		t.Error("listener left after unregistering")
	}
	exchange(PacketEventRegister)
	c.Close()
	deadline := time.Now().Add(testTimeout)
	for ts.HasListeners("log") {
		if time.Now().After(deadline) {
			t.Fatal("listener left after the client disconnected")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
