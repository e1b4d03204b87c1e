//go:build netns

package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
)

// inNewNetns runs f on a locked OS thread switched into a fresh, named
// network namespace, which is deleted afterwards. The thread is never
// unlocked, so the Go runtime retires it instead of reusing it in the wrong
// namespace.
func inNewNetns(t *testing.T, f func() error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace, a TUN device and routes")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		name := fmt.Sprintf("goipsec-dp-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
		ns, err := netns.NewNamed(name)
		if err != nil {
			done <- fmt.Errorf("create netns: %w", err)
			return
		}
		err = f()
		ns.Close()
		if derr := netns.DeleteNamed(name); derr != nil && err == nil {
			err = fmt.Errorf("delete netns %s: %w", name, derr)
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRealTUN creates a real TUN in a fresh network namespace, checks that
// routes for the remote selectors are installed with a source address inside
// the local selectors and removed again, and pushes a packet each way through
// the kernel: a UDP datagram sent to the remote subnet comes out as ESP, and
// an ESP packet sent to port 4500 comes out of a local UDP socket.
func TestRealTUN(t *testing.T) {
	inNewNetns(t, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		// The host's address inside the local selectors (on lo: this
		// kernel may lack the dummy driver).
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: mustIPNet("10.1.0.1/32")}); err != nil {
			return err
		}

		db := new(sadb.DB)
		dp, err := New(Config{TUNName: "gitest0", ListenAddr: loopback, DB: db, Logger: testLogger(t)})
		if err != nil {
			return err
		}
		closed := false
		defer func() {
			if !closed {
				dp.Close()
			}
		}()
		dp.Start()
		if dp.TUNName() != "gitest0" {
			return fmt.Errorf("TUNName = %q", dp.TUNName())
		}
		link, err := netlink.LinkByName("gitest0")
		if err != nil {
			return err
		}
		if link.Attrs().Flags&net.FlagUp == 0 || link.Attrs().MTU != DefaultMTU {
			return fmt.Errorf("TUN flags %v MTU %d, want up, %d", link.Attrs().Flags, link.Attrs().MTU, DefaultMTU)
		}
		if b, err := os.ReadFile("/proc/sys/net/ipv4/conf/gitest0/rp_filter"); err != nil || strings.TrimSpace(string(b)) != "0" {
			return fmt.Errorf("rp_filter = %q, %v; want 0", b, err)
		}

		// The "wire": ESP from the data plane goes here, and our
		// crafted ESP comes from here.
		wire, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		defer wire.Close()
		wireAddr := wire.LocalAddr().(*net.UDPAddr).AddrPort()
		_, nattPort := dp.LocalPorts()
		c := &sadb.ChildSA{
			Name:     "ns/child",
			In:       esp.NewInbound(0x1111, newAEAD(t, 0x20), 128),
			Out:      esp.NewOutbound(0x2222, newAEAD(t, 0x30)),
			Local:    netip.AddrPortFrom(loopback, nattPort),
			Remote:   wireAddr,
			Encap:    true,
			LocalTS:  mustTS(t, "10.1.0.0/24"),
			RemoteTS: mustTS(t, "10.2.0.0/24", "10.3.0.0/16"),
		}
		peerOut := esp.NewOutbound(0x1111, newAEAD(t, 0x20)) // the peer's half
		if err := dp.InstallChild(c); err != nil {
			return err
		}
		for _, dst := range []string{"10.2.0.0/24", "10.3.0.0/16"} {
			r, err := findRoute(link, dst)
			if err != nil {
				return err
			}
			if r.Scope != netlink.SCOPE_LINK || !r.Src.Equal(net.IPv4(10, 1, 0, 1)) {
				return fmt.Errorf("route %s: scope %v src %v, want link, 10.1.0.1", dst, r.Scope, r.Src)
			}
		}

		// Outbound through the kernel: a UDP datagram to 10.2.0.7.
		app, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 1, 0, 1)})
		if err != nil {
			return err
		}
		defer app.Close()
		if _, err := app.WriteToUDP([]byte("to the remote site"), &net.UDPAddr{IP: net.IPv4(10, 2, 0, 7), Port: 9}); err != nil {
			return err
		}
		buf := make([]byte, 2048)
		wire.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := wire.ReadFromUDPAddrPort(buf)
		if err != nil {
			return fmt.Errorf("no ESP from the TUN: %w (counters %v)", err, dp.Counters().Map())
		}
		if n < 8 || !bytes.Equal(buf[:4], []byte{0, 0, 0x22, 0x22}) {
			return fmt.Errorf("wire got % x, want ESP for SPI 2222", buf[:n])
		}

		// Inbound through the kernel: ESP carrying 10.2.0.7 -> 10.1.0.1.
		appPort := uint16(app.LocalAddr().(*net.UDPAddr).Port)
		inner := ipv4UDP("10.2.0.7", "10.1.0.1", 9, appPort, []byte("from the remote site"))
		sbuf := make([]byte, 2048)
		copy(sbuf[peerOut.PayloadOffset():], inner)
		espPkt, err := peerOut.Seal(sbuf, len(inner), 4)
		if err != nil {
			return err
		}
		if _, err := wire.WriteToUDPAddrPort(espPkt, netip.AddrPortFrom(loopback, nattPort)); err != nil {
			return err
		}
		app.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := app.ReadFromUDPAddrPort(buf)
		if err != nil {
			return fmt.Errorf("decrypted packet not delivered: %w (counters %v)", err, dp.Counters().Map())
		}
		if string(buf[:n]) != "from the remote site" || from.Addr() != netip.MustParseAddr("10.2.0.7") {
			return fmt.Errorf("app got %q from %s", buf[:n], from)
		}

		dp.RemoveChild(0x1111)
		for _, dst := range []string{"10.2.0.0/24", "10.3.0.0/16"} {
			if r, err := findRoute(link, dst); err == nil {
				return fmt.Errorf("route %v still there after RemoveChild", r)
			}
		}

		if err := dp.InstallChild(&sadb.ChildSA{
			Name: "ns/again", In: esp.NewInbound(0x3333, newAEAD(t, 1), 128), Out: esp.NewOutbound(0x4444, newAEAD(t, 2)),
			Remote: wireAddr, Encap: true, LocalTS: mustTS(t, "10.1.0.0/24"), RemoteTS: mustTS(t, "10.2.0.0/24"),
		}); err != nil {
			return err
		}
		closed = true
		if err := dp.Close(); err != nil {
			return fmt.Errorf("Close: %w", err)
		}
		if _, err := netlink.LinkByName("gitest0"); err == nil {
			return errors.New("TUN still there after Close")
		}
		return nil
	})
}

// TestRealTUNBadName checks the one-line error for a TUN name that
// the kernel refuses.
func TestRealTUNBadName(t *testing.T) {
	inNewNetns(t, func() error {
		_, err := New(Config{TUNName: strings.Repeat("x", 40), ListenAddr: loopback, DB: new(sadb.DB)})
		if err == nil || !strings.HasPrefix(err.Error(), "create TUN ") || strings.Contains(err.Error(), "\n") {
			return fmt.Errorf("err = %v, want a one-line create TUN error", err)
		}
		return nil
	})
}

func findRoute(link netlink.Link, dst string) (*netlink.Route, error) {
	routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for i := range routes {
		if routes[i].Dst != nil && routes[i].Dst.String() == dst {
			return &routes[i], nil
		}
	}
	return nil, fmt.Errorf("no route to %s via %s", dst, link.Attrs().Name)
}

func mustIPNet(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestTUNErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{syscall.EPERM, "create TUN goipsec0: operation not permitted (goipsec daemon needs root or CAP_NET_ADMIN)"},
		{fmt.Errorf("open: %w", syscall.EACCES), "create TUN goipsec0: permission denied (goipsec daemon needs root or CAP_NET_ADMIN)"},
		{errors.New("boom"), "create TUN goipsec0: boom"},
	}
	for _, tt := range tests {
		err := tunError("goipsec0", tt.err)
		if err.Error() != tt.want {
			t.Errorf("tunError(%v) = %q, want %q", tt.err, err, tt.want)
		}
	}
	if !errors.Is(tunError("x", syscall.EPERM), syscall.EPERM) {
		t.Error("tunError does not wrap the errno")
	}
}

// TestCreateTUNUnprivileged checks the error an unprivileged daemon gets.
func TestCreateTUNUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs only without root (checks the permission error)")
	}
	_, err := New(Config{ListenAddr: loopback, DB: new(sadb.DB)})
	// EPERM from the TUNSETIFF ioctl, or EACCES opening /dev/net/tun.
	if err == nil || !strings.HasPrefix(err.Error(), "create TUN goipsec0: ") ||
		!strings.HasSuffix(err.Error(), " (goipsec daemon needs root or CAP_NET_ADMIN)") {
		t.Fatalf("err = %v, want \"create TUN goipsec0: ... (goipsec daemon needs root or CAP_NET_ADMIN)\"", err)
	}
}
