package dataplane

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestVIPAddrNetlink: an IPv4 virtual IP goes on the TUN as /32, an IPv6
// one as /128 with IFA_F_NODAD (no duplicate address detection: the
// address is a route source at once, RFC 4862 5.4).
func TestVIPAddrNetlink(t *testing.T) {
	r := &netlinkRoutes{}
	for _, c := range []struct {
		addr  string
		ones  int
		flags int
	}{
		{"10.3.0.1", 32, 0},
		{"fd00:10::1", 128, unix.IFA_F_NODAD},
	} {
		a := r.vipAddr(netip.MustParseAddr(c.addr))
		ones, bits := a.Mask.Size()
		if a.IP.String() != c.addr || ones != c.ones || bits != c.ones || a.Flags != c.flags {
			t.Errorf("%s: %v/%d (of %d) flags %#x, want /%d flags %#x", c.addr, a.IP, ones, bits, a.Flags, c.ones, c.flags)
		}
	}
}
