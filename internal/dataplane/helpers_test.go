package dataplane

import (
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/dataplane/tuntest"
	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
)

// encrAESGCM16 is ENCR_AES_GCM_16 (RFC 4106; IANA IKEv2 transform ID 20).
const encrAESGCM16 = 20

var loopback = netip.MustParseAddr("127.0.0.1")

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// ikeMsg is one HandleIKE call.
type ikeMsg struct {
	local, remote netip.AddrPort
	pkt           []byte
}

// peer is one data plane on loopback with an in-memory TUN.
type peer struct {
	addr    netip.Addr // where its sockets listen: loopback unless changed
	dp      *Dataplane
	tun     *tuntest.Device
	db      *sadb.DB
	fromTUN chan []byte // packets the data plane wrote to its TUN
	ike     chan ikeMsg
}

func newPeer(t testing.TB, batch int) *peer {
	t.Helper()
	return newPeerWith(t, batch, nil)
}

// newPeerWith is newPeer with a hook to change the Config before New.
func newPeerWith(t testing.TB, batch int, change func(*Config)) *peer {
	t.Helper()
	p := &peer{
		tun:     tuntest.New("memtun", DefaultMTU, batch, 4*batch),
		db:      new(sadb.DB),
		fromTUN: make(chan []byte, 4096),
		ike:     make(chan ikeMsg, 64),
	}
	p.tun.SetWriteHandler(func(pkt []byte) {
		select {
		case p.fromTUN <- append([]byte(nil), pkt...):
		default:
			t.Error("test TUN queue full")
		}
	})
	cfg := Config{
		ListenAddr: loopback,
		Logger:     testLogger(t),
		DB:         p.db,
		TUN:        p.tun,
		HandleIKE: func(local, remote netip.AddrPort, pkt []byte) {
			p.ike <- ikeMsg{local, remote, pkt}
		},
	}
	if change != nil {
		change(&cfg)
	}
	dp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.dp = dp
	p.addr = loopback
	if cfg.ListenAddr.Is6() {
		p.addr = cfg.ListenAddr
	}
	dp.Start()
	t.Cleanup(func() {
		if err := dp.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func (p *peer) nattAddr() netip.AddrPort {
	_, natt := p.dp.LocalPorts()
	return netip.AddrPortFrom(p.addr, natt)
}

func (p *peer) ikeAddr() netip.AddrPort {
	ike, _ := p.dp.LocalPorts()
	return netip.AddrPortFrom(p.addr, ike)
}

// keymat returns deterministic AES-128-GCM key material (key || salt).
func keymat(b byte) []byte {
	k := make([]byte, 16+4)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func newAEAD(t testing.TB, b byte) *suite.AEAD {
	t.Helper()
	a, err := suite.NewAEAD(encrAESGCM16, 128, keymat(b))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustTS(t testing.TB, list ...string) []ts.Selector {
	t.Helper()
	var out []ts.Selector
	for _, s := range list {
		sel, err := ts.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sel)
	}
	return out
}

// saPair describes a hand-made Child SA between a and b.
type saPair struct {
	spiA, spiB         uint32 // inbound SPIs at a and at b
	aLocal, aRemote    []string
	bLocal, bRemote    []string
	keyAB, keyBA       byte
	bRemoteOverride    *netip.AddrPort // where a's SA sends (default b's NAT-T socket)
	aRemoteOverride    *netip.AddrPort
	installA, installB bool
	aLimits, bLimits   sadb.Limits
	raw                bool // raw ESP (raw.go) rather than ESP in UDP
}

// install builds both halves of the pair (the same keys, mirrored) and
// installs them; it returns a's and b's ChildSA.
func (sp saPair) install(t testing.TB, a, b *peer) (*sadb.ChildSA, *sadb.ChildSA) {
	t.Helper()
	if sp.keyAB == 0 {
		sp.keyAB, sp.keyBA = 0x10, 0x80
	}
	aRemote, bRemote := b.nattAddr(), a.nattAddr()
	if sp.bRemoteOverride != nil {
		aRemote = *sp.bRemoteOverride
	}
	if sp.aRemoteOverride != nil {
		bRemote = *sp.aRemoteOverride
	}
	ca := &sadb.ChildSA{
		Name:     "test/a",
		ReqID:    1,
		In:       esp.NewInbound(sp.spiA, newAEAD(t, sp.keyBA), 128),
		Out:      esp.NewOutbound(sp.spiB, newAEAD(t, sp.keyAB)),
		Local:    a.nattAddr(),
		Remote:   aRemote,
		Encap:    !sp.raw,
		LocalTS:  mustTS(t, sp.aLocal...),
		RemoteTS: mustTS(t, sp.aRemote...),
		Limits:   sp.aLimits,
	}
	cb := &sadb.ChildSA{
		Name:     "test/b",
		ReqID:    1,
		In:       esp.NewInbound(sp.spiB, newAEAD(t, sp.keyAB), 128),
		Out:      esp.NewOutbound(sp.spiA, newAEAD(t, sp.keyBA)),
		Local:    b.nattAddr(),
		Remote:   bRemote,
		Encap:    !sp.raw,
		LocalTS:  mustTS(t, sp.bLocal...),
		RemoteTS: mustTS(t, sp.bRemote...),
		Limits:   sp.bLimits,
	}
	if err := a.dp.InstallChild(ca); err != nil {
		t.Fatal(err)
	}
	if err := b.dp.InstallChild(cb); err != nil {
		t.Fatal(err)
	}
	return ca, cb
}

// defaultPair is site A 10.1.0.0/24 <-> site B 10.2.0.0/24.
var defaultPair = saPair{
	spiA: 0xa0000001, spiB: 0xb0000001,
	aLocal: []string{"10.1.0.0/24"}, aRemote: []string{"10.2.0.0/24"},
	bLocal: []string{"10.2.0.0/24"}, bRemote: []string{"10.1.0.0/24"},
}

// ipv4UDP builds an IPv4/UDP packet (RFC 791, RFC 768) with a valid header
// checksum, independent of package packet.
func ipv4UDP(src, dst string, sport, dport uint16, payload []byte) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	total := 20 + 8 + len(payload)
	b := make([]byte, total)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	b[8] = 64
	b[9] = 17
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], ipChecksum(b[:20]))
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	copy(b[28:], payload)
	return b
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// recv waits for a packet from ch.
func recv(t testing.TB, ch <-chan []byte, what string) []byte {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatalf("timeout waiting for %s", what)
		return nil
	}
}

// expectNone checks nothing arrives on ch for a short while.
func expectNone(t testing.TB, ch <-chan []byte, what string) {
	t.Helper()
	select {
	case p := <-ch:
		t.Fatalf("%s: got unexpected packet % x", what, p)
	case <-time.After(100 * time.Millisecond):
	}
}

// waitCounter polls until get() reaches want.
func waitCounter(t testing.TB, what string, want uint64, get func() uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for get() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", what, get(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if got := get(); got != want {
		t.Fatalf("%s = %d, want %d", what, got, want)
	}
}

// udpClient is a plain loopback UDP socket standing in for a peer.
func udpClient(t testing.TB) *net.UDPConn {
	t.Helper()
	return udpClientOn(t, loopback)
}

// udpClientOn is udpClient on address a (e.g. ::1).
func udpClientOn(t testing.TB, a netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readUDP(t testing.TB, c *net.UDPConn) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 65535)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}
