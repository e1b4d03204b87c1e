package ike

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// testNet is an in-memory network between engines, keyed by address. It
// can drop packets to exercise retransmission.
type testNet struct {
	mu      sync.Mutex
	engines map[netip.Addr]*Engine
	drop    func(from netip.AddrPort, pkt []byte) bool
	sent    atomic.Int64
}

func (n *testNet) sender(t testing.TB) func(local, remote netip.AddrPort, pkt []byte) error {
	return func(local, remote netip.AddrPort, pkt []byte) error {
		n.sent.Add(1)
		n.mu.Lock()
		dst := n.engines[remote.Addr()]
		drop := n.drop
		n.mu.Unlock()
		if dst == nil {
			return errors.New("no route")
		}
		if drop != nil && drop(local, pkt) {
			return nil
		}
		cp := slices.Clone(pkt)
		go dst.HandlePacket(remote, local, cp)
		return nil
	}
}

// fakeInstaller records installed Child SAs.
type fakeInstaller struct {
	mu  sync.Mutex
	sas map[uint32]*sadb.ChildSA
}

func (f *fakeInstaller) InstallChild(c *sadb.ChildSA) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sas == nil {
		f.sas = map[uint32]*sadb.ChildSA{}
	}
	f.sas[c.In.SPI()] = c
	return nil
}

func (f *fakeInstaller) RemoveChild(spi uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sas, spi)
}

// RetireOutbound marks the SA as the data plane does (OutboundRetirer).
func (f *fakeInstaller) RetireOutbound(spi uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.sas[spi]; c != nil {
		c.RetireOutbound()
	}
}

func (f *fakeInstaller) all() []*sadb.ChildSA {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*sadb.ChildSA
	for _, c := range f.sas {
		out = append(out, c)
	}
	return out
}

type testPeer struct {
	e    *Engine
	inst *fakeInstaller
	addr netip.Addr
}

var (
	leftAddr  = netip.MustParseAddr("192.0.2.1")
	rightAddr = netip.MustParseAddr("192.0.2.2")
)

func mustProposal(t testing.TB, s string, esp bool) wire.Proposal {
	t.Helper()
	var p wire.Proposal
	var err error
	if esp {
		p, err = suite.ParseESPProposal(s)
	} else {
		p, err = suite.ParseIKEProposal(s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type pairOpts struct {
	leftIKE, rightIKE   string
	leftPSK, rightPSK   string
	leftESP, rightESP   string
	leftRID, rightRID   Identity
	retransmitTimeout   time.Duration
	retransmitTries     int
	leftSubnet, rghtNet string
}

func newPair(t *testing.T, o pairOpts) (*testNet, *testPeer, *testPeer) {
	t.Helper()
	return newPairTB(t, o)
}

func newPairTB(t testing.TB, o pairOpts) (*testNet, *testPeer, *testPeer) {
	t.Helper()
	if o.leftIKE == "" {
		o.leftIKE = "aes256gcm16-prfsha256-x25519"
	}
	if o.rightIKE == "" {
		o.rightIKE = o.leftIKE
	}
	if o.leftESP == "" {
		o.leftESP = "aes256gcm16"
	}
	if o.rightESP == "" {
		o.rightESP = o.leftESP
	}
	if o.leftPSK == "" {
		o.leftPSK = "correct horse battery staple"
	}
	if o.rightPSK == "" {
		o.rightPSK = o.leftPSK
	}
	if o.retransmitTimeout == 0 {
		o.retransmitTimeout = 200 * time.Millisecond
	}
	n := &testNet{engines: map[netip.Addr]*Engine{}}
	mk := func(local, remote netip.Addr, ikeP, espP, psk, lnet, rnet string, rid Identity) *testPeer {
		inst := &fakeInstaller{}
		pc := &PeerConfig{
			Name:        "site",
			RemoteAddrs: []netip.Prefix{netip.PrefixFrom(remote, 32)},
			RemoteHost:  remote,
			LocalPort:   500,
			RemotePort:  500,
			Proposals:   []wire.Proposal{mustProposal(t, ikeP, false)},
			RemoteID:    rid,
			Children: []*ChildConfig{{
				Name:         "net",
				LocalTS:      []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(lnet))},
				RemoteTS:     []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(rnet))},
				ESPProposals: []wire.Proposal{mustProposal(t, espP, true)},
			}},
		}
		e := New(Config{
			Peers:             []*PeerConfig{pc},
			Send:              n.sender(t),
			Installer:         inst,
			SharedKey:         func(Identity, Identity) ([]byte, bool) { return []byte(psk), true },
			LocalAddr:         func(netip.Addr) (netip.Addr, error) { return local, nil },
			RetransmitTimeout: o.retransmitTimeout,
			RetransmitTries:   o.retransmitTries,
			Logger:            testLogger(t),
		})
		n.engines[local] = e
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			e.Close(ctx)
		})
		return &testPeer{e: e, inst: inst, addr: local}
	}
	l := mk(leftAddr, rightAddr, o.leftIKE, o.leftESP, o.leftPSK, "10.1.0.0/24", "10.2.0.0/24", o.leftRID)
	r := mk(rightAddr, leftAddr, o.rightIKE, o.rightESP, o.rightPSK, "10.2.0.0/24", "10.1.0.0/24", o.rightRID)
	return n, l, r
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkChildPair asserts that both sides installed one Child SA and that
// the two halves interoperate: what one seals the other opens.
func checkChildPair(t *testing.T, l, r *testPeer) {
	t.Helper()
	ls, rs := l.inst.all(), r.inst.all()
	if len(ls) != 1 || len(rs) != 1 {
		t.Fatalf("installed child SAs: left %d, right %d; want 1 each", len(ls), len(rs))
	}
	a, b := ls[0], rs[0]
	if a.Out.SPI() != b.In.SPI() || b.Out.SPI() != a.In.SPI() {
		t.Fatalf("SPIs do not pair: left in %x out %x, right in %x out %x", a.In.SPI(), a.Out.SPI(), b.In.SPI(), b.Out.SPI())
	}
	for _, dir := range []struct{ from, to *sadb.ChildSA }{{a, b}, {b, a}} {
		payload := []byte("inner packet through the tunnel")
		buf := make([]byte, 2048) // room for TFC padding
		off := dir.from.Out.PayloadOffset()
		copy(buf[off:], payload)
		pkt, err := dir.from.Out.Seal(buf, len(payload), 4)
		if err != nil {
			t.Fatal(err)
		}
		got, nh, err := dir.to.In.Open(pkt)
		// TFC padding (RFC 4303 2.7), if configured, follows as zeros.
		if err != nil || nh != 4 || !bytes.HasPrefix(got, payload) || len(bytes.Trim(got[len(payload):], "\x00")) != 0 {
			t.Fatalf("open: %q %d %v", got, nh, err)
		}
		if n := dir.from.Out.TFCPadding(); n > 0 && len(got) != n {
			t.Errorf("sealed with TFC padding to %d, opened %d octets", n, len(got))
		}
	}
	if got, want := a.RemoteTS[0].String(), "10.2.0.0/24"; got != want {
		t.Errorf("left remote TS %s, want %s", got, want)
	}
	if got, want := b.RemoteTS[0].String(), "10.1.0.0/24"; got != want {
		t.Errorf("right remote TS %s, want %s", got, want)
	}
	// Both frame ESP alike: in UDP from and to 4500 (RFC 3948), or raw
	// with IKE left on 500 (no NAT, encap = no: RFC 7296 2.23;
	// TestSimNATFlags has the cases).
	port := map[bool]uint16{true: 4500, false: 500}[a.Encap]
	if a.Encap != b.Encap || a.Remote.Port() != port || b.Remote.Port() != port {
		t.Errorf("ESP framing differs: left remote %v encap %v, right remote %v encap %v", a.Remote, a.Encap, b.Remote, b.Encap)
	}
}

func TestEstablishAndDelete(t *testing.T) {
	for _, tc := range []struct{ ike, esp string }{
		{"aes256gcm16-prfsha256-x25519", "aes256gcm16"},
		{"aes128gcm16-prfsha384-ecp256", "aes128gcm16"},
		{"chacha20poly1305-prfsha256-ecp384", "chacha20poly1305"},
		{"aes256gcm16-prfsha256-modp2048", "chacha20poly1305"},
	} {
		t.Run(tc.ike+"/"+tc.esp, func(t *testing.T) {
			_, l, r := newPair(t, pairOpts{leftIKE: tc.ike, leftESP: tc.esp})
			if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
				t.Fatalf("initiate: %v", err)
			}
			checkChildPair(t, l, r)
			waitFor(t, "responder established", func() bool {
				s := r.e.SAs()
				return len(s) == 1 && s[0].State == StateEstablished && len(s[0].Children) == 1
			})
			ls := l.e.SAs()[0]
			// No NAT, encap = no: IKE stays on port 500 (RFC 7296 2.23).
			if !ls.Initiator || ls.Local.Port() != 500 || ls.Children[0].Name != "net" || ls.Children[0].Encap {
				t.Errorf("left SA info: %+v", ls)
			}
			// Initiating again is a no-op while the child is up.
			if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
				t.Fatal(err)
			}
			if n, err := l.e.Terminate(ctxT(t), "site"); err != nil || n != 1 {
				t.Fatalf("terminate: %d %v", n, err)
			}
			waitFor(t, "both sides empty", func() bool {
				return len(l.e.SAs()) == 0 && len(r.e.SAs()) == 0 && len(l.inst.all()) == 0 && len(r.inst.all()) == 0
			})
		})
	}
}

func TestResponderDeletes(t *testing.T) {
	_, l, r := newPair(t, pairOpts{})
	if err := l.e.Initiate(ctxT(t), "site", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "responder up", func() bool { return len(r.inst.all()) == 1 })
	if n, err := r.e.Terminate(ctxT(t), "site"); err != nil || n != 1 {
		t.Fatalf("terminate from responder: %d %v", n, err)
	}
	waitFor(t, "both sides empty", func() bool { return len(l.e.SAs()) == 0 && len(l.inst.all()) == 0 })
}

func TestTerminateChild(t *testing.T) {
	_, l, r := newPair(t, pairOpts{})
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "responder up", func() bool { return len(r.inst.all()) == 1 })
	if n, err := l.e.TerminateChild(ctxT(t), "site", "net"); err != nil || n != 1 {
		t.Fatalf("terminate child: %d %v", n, err)
	}
	waitFor(t, "children gone, IKE SA kept", func() bool {
		return len(l.inst.all()) == 0 && len(r.inst.all()) == 0 && len(r.e.SAs()) == 1 && len(l.e.SAs()) == 1
	})
}

func TestWrongPSK(t *testing.T) {
	_, l, r := newPair(t, pairOpts{leftPSK: "one secret", rightPSK: "another secret"})
	err := l.e.Initiate(ctxT(t), "site", "net")
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed || ne.Sent {
		t.Fatalf("initiate with wrong PSK: %v, want AUTHENTICATION_FAILED from peer", err)
	}
	waitFor(t, "no SA left", func() bool {
		return len(l.e.SAs()) == 0 && len(r.e.SAs()) == 0 && len(l.inst.all()) == 0 && len(r.inst.all()) == 0
	})
}

func TestWrongRemoteID(t *testing.T) {
	_, l, r := newPair(t, pairOpts{leftRID: Identity{Type: wire.IDFQDN, Data: []byte("moon.example")}})
	err := l.e.Initiate(ctxT(t), "site", "net")
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
		t.Fatalf("got %v, want AUTHENTICATION_FAILED", err)
	}
	// Our IDr did not match the responder's identity, so it refused.
	waitFor(t, "no SA left", func() bool { return len(l.e.SAs()) == 0 && len(r.e.SAs()) == 0 })
}

func TestInvalidKEPayloadRetry(t *testing.T) {
	// The initiator's first group is x25519; the responder only takes ecp256.
	_, l, r := newPair(t, pairOpts{
		leftIKE:  "aes256gcm16-prfsha256-x25519-ecp256",
		rightIKE: "aes256gcm16-prfsha256-ecp256",
	})
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	if got := l.e.SAs()[0].DHGroup; got != wire.TransformName(wire.TransformKE, wire.GroupECP256) {
		t.Errorf("group %s, want ECP_256", got)
	}
	checkChildPair(t, l, r)
}

func TestNoProposalChosen(t *testing.T) {
	_, l, r := newPair(t, pairOpts{leftIKE: "aes256gcm16-prfsha256-x25519", rightIKE: "chacha20poly1305-prfsha384-x25519"})
	err := l.e.Initiate(ctxT(t), "site", "net")
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyNoProposalChosen {
		t.Fatalf("got %v, want NO_PROPOSAL_CHOSEN", err)
	}
	waitFor(t, "no SA left", func() bool { return len(l.e.SAs()) == 0 && len(r.e.SAs()) == 0 })
}

func TestChildNoProposalKeepsIKESA(t *testing.T) {
	_, l, r := newPair(t, pairOpts{leftESP: "aes256gcm16", rightESP: "chacha20poly1305"})
	err := l.e.Initiate(ctxT(t), "site", "net")
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyNoProposalChosen {
		t.Fatalf("got %v, want NO_PROPOSAL_CHOSEN for the child", err)
	}
	waitFor(t, "IKE SA up without children", func() bool {
		s := r.e.SAs()
		return len(s) == 1 && s[0].State == StateEstablished && len(r.inst.all()) == 0 && len(l.inst.all()) == 0
	})
}

func TestRetransmissionUnderLoss(t *testing.T) {
	n, l, r := newPair(t, pairOpts{retransmitTimeout: 50 * time.Millisecond, retransmitTries: 8})
	// Drop every first copy of each distinct packet: every exchange needs a
	// retransmission, and responders must answer repeats from their cache.
	var mu sync.Mutex
	seen := map[string]bool{}
	n.drop = func(_ netip.AddrPort, pkt []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		k := string(pkt)
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	checkChildPair(t, l, r)
	if l.e.Stats.Retransmits.Load() == 0 {
		t.Error("no retransmissions counted")
	}
	if _, err := l.e.Terminate(ctxT(t), "site"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sides empty", func() bool { return len(r.e.SAs()) == 0 })
}

func TestGiveUpWhenPeerSilent(t *testing.T) {
	n, l, _ := newPair(t, pairOpts{retransmitTimeout: 10 * time.Millisecond, retransmitTries: 3})
	n.drop = func(netip.AddrPort, []byte) bool { return true }
	err := l.e.Initiate(ctxT(t), "site", "net")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if got := n.sent.Load(); got != 4 {
		t.Errorf("sent %d packets, want 1 + 3 retransmissions", got)
	}
	waitFor(t, "no SA left", func() bool { return len(l.e.SAs()) == 0 })
}

func TestGarbageDoesNotDisturb(t *testing.T) {
	_, l, r := newPair(t, pairOpts{})
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	before := r.e.Stats.Malformed.Load()
	from := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), 500)
	to := netip.AddrPortFrom(rightAddr, 500)
	for _, pkt := range [][]byte{nil, {1, 2, 3}, make([]byte, 28), make([]byte, 200)} {
		r.e.HandlePacket(to, from, pkt)
	}
	// A well-formed message for the established SA with a broken ICV.
	sa := r.e.SAs()[0]
	h := wire.Header{SPIi: sa.SPIi, SPIr: sa.SPIr, Version: 0x20, Exchange: wire.Informational, Flags: wire.FlagInitiator, MessageID: 2}
	forged := append(wire.SKPrefix(h, wire.PayloadNone, 8+1+16), make([]byte, 8+1+16)...)
	r.e.HandlePacket(to, from, forged)
	if r.e.Stats.Malformed.Load() == before {
		t.Error("garbage not counted as malformed")
	}
	waitFor(t, "forgery counted", func() bool { return r.e.Stats.IntegrityFailed.Load() == 1 })
	if s := r.e.SAs(); len(s) != 1 || s[0].State != StateEstablished {
		t.Fatalf("responder SA disturbed: %+v", s)
	}
	if n, err := l.e.Terminate(ctxT(t), "site"); err != nil || n != 1 {
		t.Fatalf("terminate after garbage: %d %v", n, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, 5*time.Second, what, cond)
}

// waitForWithin is waitFor with its own deadline.
func waitForWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testLogger logs through t until the test's cleanups run; stray
// goroutines of the in-memory network may log later and must not.
//
// It also fails the test when a record repeats an attribute key (a log
// call passing "peer" or "conn" that the SA's logger already carries), so
// that log lines keep one value per key for those who parse them.
func testLogger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(&dupKeyHandler{inner: h, w: w})
}

// dupKeyHandler reports records whose attributes, together with the
// logger's, name a key twice.
type dupKeyHandler struct {
	inner slog.Handler
	w     *tWriter
	keys  []string // the logger's attribute keys (no groups are used)
}

func (h *dupKeyHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *dupKeyHandler) Handle(ctx context.Context, r slog.Record) error {
	seen := map[string]bool{}
	for _, k := range h.keys {
		seen[k] = true
	}
	r.Attrs(func(a slog.Attr) bool {
		if seen[a.Key] && !h.w.done.Load() {
			h.w.t.Errorf("log record %q repeats attribute %q (logger has %v)", r.Message, a.Key, h.keys)
		}
		seen[a.Key] = true
		return true
	})
	return h.inner.Handle(ctx, r)
}

func (h *dupKeyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	cp := *h
	cp.keys = slices.Clone(h.keys)
	for _, a := range attrs {
		if slices.Contains(cp.keys, a.Key) && !h.w.done.Load() {
			h.w.t.Errorf("logger attribute %q added twice (logger has %v)", a.Key, h.keys)
		}
		cp.keys = append(cp.keys, a.Key)
	}
	cp.inner = h.inner.WithAttrs(attrs)
	return &cp
}

func (h *dupKeyHandler) WithGroup(name string) slog.Handler {
	cp := *h
	cp.inner = h.inner.WithGroup(name)
	return &cp
}

type tWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *tWriter) Write(b []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

func TestTerminateWhileConnecting(t *testing.T) {
	n, l, _ := newPair(t, pairOpts{retransmitTimeout: time.Second, retransmitTries: 5})
	n.drop = func(netip.AddrPort, []byte) bool { return true } // the peer never answers
	errc := make(chan error, 1)
	go func() { errc <- l.e.Initiate(ctxT(t), "site", "net") }()
	waitFor(t, "SA connecting", func() bool { return len(l.e.SAs()) == 1 })
	start := time.Now()
	if n, err := l.e.Terminate(ctxT(t), "site"); err != nil || n != 1 {
		t.Fatalf("terminate: %d %v", n, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("terminate waited %v for a handshake that never completes", d)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("initiate: %v, want ErrClosed", err)
	}
	waitFor(t, "no SA left", func() bool { return len(l.e.SAs()) == 0 })
}

// TestInitialContactDropsStaleSAs: the initiator restarts without telling
// the responder; its new IKE_AUTH carries INITIAL_CONTACT, so the responder
// drops the stale IKE and Child SAs instead of keeping two overlapping
// tunnels (and sending into the dead one).
func TestInitialContactDropsStaleSAs(t *testing.T) {
	n, l, r := newPair(t, pairOpts{})
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "responder up", func() bool { return len(r.inst.all()) == 1 })
	stale := r.inst.all()[0].In.SPI()

	// "Restart" the initiator: a new engine with no state at the same address.
	restarted := secondClient(t, n, l).e
	if err := restarted.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "responder keeps only the new SAs", func() bool {
		sas := r.inst.all()
		return len(r.e.SAs()) == 1 && len(sas) == 1 && sas[0].In.SPI() != stale
	})
}
