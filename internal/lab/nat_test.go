//go:build netns

package lab_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// udpVia sends one datagram from the client's fromPort to the server's
// port 500 and returns the source address the server saw.
func udpVia(t *testing.T, s *lab.NATSites, srv *net.UDPConn, fromPort int) netip.AddrPort {
	t.Helper()
	if err := s.Left.Do(func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{Port: fromPort}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.RightOuter, 500)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("through the NAT"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "through the NAT" {
		t.Fatalf("server read: %q, %v", buf[:n], err)
	}
	return from
}

// TestNATSites: UDP from the client site reaches the server from the
// router's public address and a port in NATPortRange, never the client's
// own port 500; the server cannot reach the client's private address; and
// after FlushNAT the same client socket gets a new mapping.
func TestNATSites(t *testing.T) {
	labtest.RequireRoot(t)
	labtest.RequireNFT(t)
	t.Parallel()
	s, err := lab.NewNATSites("labnat")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var srv *net.UDPConn
	if err := s.Right.Do(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 500})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	first := udpVia(t, s, srv, 500)
	if first.Addr() != s.RouterPublic {
		t.Errorf("server saw %v, want the router's address %v", first, s.RouterPublic)
	}
	if p := first.Port(); p < 20000 || p > 29999 {
		t.Errorf("server saw source port %d, want one in %s (port 500 must not survive the NAT)", p, lab.NATPortRange)
	}
	if again := udpVia(t, s, srv, 500); again != first {
		t.Errorf("same flow mapped to %v, then %v", first, again)
	}

	// A fresh mapping after the router forgets its state: with the port
	// range moved, the new port cannot equal the old one by chance.
	if err := s.SetNATPorts(t.Context(), "30000-39999"); err != nil {
		t.Fatal(err)
	}
	if again := udpVia(t, s, srv, 500); again != first {
		t.Errorf("new rules changed an existing mapping: %v, then %v", first, again)
	}
	if err := s.FlushNAT(); err != nil {
		t.Fatal(err)
	}
	after := udpVia(t, s, srv, 500)
	if after.Addr() != s.RouterPublic || after.Port() < 30000 || after.Port() > 39999 {
		t.Errorf("after FlushNAT the server saw %v, want %v with a port in 30000-39999", after, s.RouterPublic)
	}

	// No route from the server to the private side: only mappings get back.
	if out, err := lab.Ping(t.Context(), s.Right, s.RightOuter, s.LeftOuter, 1); err == nil {
		t.Errorf("server reached the client's private address directly:\n%s", out)
	}
	if out, err := lab.Ping(t.Context(), s.Left, s.LeftOuter, s.RightOuter, 1); err != nil {
		t.Errorf("client cannot ping the server through the NAT: %v\n%s", err, out)
	}
}
