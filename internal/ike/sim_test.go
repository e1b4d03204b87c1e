package ike

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// The simulator: engines in one process on a virtual clock, joined by an
// in-memory network that loses, duplicates, delays and reorders packets
// as a seeded RNG says. Nothing sleeps: after every event the simulator
// waits until every IKE SA goroutine is blocked with nothing queued
// (Engine.quiescent), then moves the clock to the next packet arrival or
// timer. A run is deterministic given its seed, except for the key
// exchange values (Go's crypto draws those from the system).

type simNet struct {
	t     testing.TB
	clock *VirtualClock
	rng   *rand.Rand
	nodes map[netip.Addr]*simNode

	// Faults, applied to each packet as it is sent.
	Loss, Dup          float64
	MinDelay, MaxDelay time.Duration
	// Hold, if set, keeps matching packets back until Release.
	Hold func(p *simPacket) bool
	// Cut drops everything to or from these addresses (a dead peer).
	Cut map[netip.Addr]bool
	// Translate, if set, rewrites each packet's addresses as it is sent
	// (a NAT, sim_nat_test.go); false drops the packet.
	Translate func(p *simPacket) bool

	mu     sync.Mutex // guards outbox (senders are SA goroutines)
	outbox []simPacket

	queue     []simPacket // scheduled, by arrival time
	held      []simPacket
	seq       uint64
	Delivered int
	Dropped   int
	// Check, if set, runs whenever the engines are quiescent.
	Check func()
}

type simPacket struct {
	from, to netip.AddrPort
	data     []byte
	at       time.Time
	seq      uint64
	srcSeq   uint64
	sentAt   time.Time
}

// exchange, request/response and message ID, parsed from the header.
func (p *simPacket) header() wire.Header {
	m, err := wire.Parse(p.data)
	if err != nil {
		return wire.Header{}
	}
	return m.Header
}

func (p *simPacket) String() string {
	h := p.header()
	dir := "request"
	if h.IsResponse() {
		dir = "response"
	}
	return fmt.Sprintf("%v->%v %v %s #%d", p.from.Addr(), p.to.Addr(), h.Exchange, dir, h.MessageID)
}

type simNode struct {
	s       *simNet
	e       *Engine
	inst    *simInstaller
	addr    netip.Addr
	peer    *PeerConfig
	sendSeq uint64
	Sent    []simPacket // every packet this node sent, for timing checks
}

var simStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newSimNet(t testing.TB, seed uint64) *simNet {
	return &simNet{
		t:     t,
		clock: NewVirtualClock(simStart),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes: map[netip.Addr]*simNode{},
		Cut:   map[netip.Addr]bool{},
	}
}

// addNode creates an engine at addr whose only connection goes to remote.
func (s *simNet) addNode(addr netip.Addr, pc *PeerConfig, seed uint64, psk string) *simNode {
	n := &simNode{s: s, addr: addr, inst: newSimInstaller(), peer: pc}
	rnd := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), addr.As4()[3]})
	n.e = New(Config{
		Peers:             []*PeerConfig{pc},
		Send:              n.send,
		Installer:         n.inst,
		SharedKey:         func(Identity, Identity) ([]byte, bool) { return []byte(psk), true },
		LocalAddr:         func(netip.Addr) (netip.Addr, error) { return addr, nil },
		RetransmitTimeout: time.Second,
		RetransmitTries:   5,
		Logger:            testLogger(s.t),
		Rand:              rnd,
		Clock:             s.clock,
	})
	s.nodes[addr] = n
	return n
}

func (n *simNode) send(local, remote netip.AddrPort, pkt []byte) error {
	s := n.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n.sendSeq++
	p := simPacket{from: local, to: remote, data: slices.Clone(pkt), srcSeq: n.sendSeq, sentAt: s.clock.Now()}
	s.outbox = append(s.outbox, p)
	n.Sent = append(n.Sent, p)
	return nil
}

// settle waits, without sleeping, until every engine is idle.
func (s *simNet) settle() {
	deadline := time.Now().Add(20 * time.Second)
	for spins := 0; ; spins++ {
		idle := true
		for _, n := range s.sortedNodes() {
			if !n.e.quiescent() {
				idle = false
				break
			}
		}
		if idle {
			return
		}
		if spins%1024 == 1023 && time.Now().After(deadline) {
			for _, n := range s.sortedNodes() {
				n.e.liveMu.Lock()
				for sa := range n.e.live {
					w := sa.sched.word.Load()
					s.t.Logf("%v: IKE SA %d parked %v consumed %d delivered %d", n.addr, sa.unique, w&1 == 1, w>>1, sa.sched.delivered.Load())
				}
				n.e.liveMu.Unlock()
			}
			s.t.Fatalf("simulator: engines did not settle")
		}
		runtime.Gosched()
	}
}

func (s *simNet) sortedNodes() []*simNode {
	out := make([]*simNode, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr.Less(out[j].addr) })
	return out
}

// flush moves what was sent into the schedule, drawing the faults in a
// fixed order (by sender, then by send order) so the run is repeatable.
func (s *simNet) flush() {
	s.mu.Lock()
	out := s.outbox
	s.outbox = nil
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].from.Addr() != out[j].from.Addr() {
			return out[i].from.Addr().Less(out[j].from.Addr())
		}
		return out[i].srcSeq < out[j].srcSeq
	})
	for _, p := range out {
		if s.Cut[p.from.Addr()] || s.Cut[p.to.Addr()] {
			s.Dropped++
			continue
		}
		if s.Translate != nil && !s.Translate(&p) {
			s.Dropped++
			continue
		}
		if s.Hold != nil && s.Hold(&p) {
			s.held = append(s.held, p)
			continue
		}
		s.schedule(p, true)
	}
}

func (s *simNet) schedule(p simPacket, faults bool) {
	copies := 1
	if faults {
		if s.Loss > 0 && s.rng.Float64() < s.Loss {
			s.Dropped++
			return
		}
		if s.Dup > 0 && s.rng.Float64() < s.Dup {
			copies = 2
		}
	}
	for range copies {
		d := s.MinDelay
		if faults && s.MaxDelay > s.MinDelay {
			d += time.Duration(s.rng.Int64N(int64(s.MaxDelay - s.MinDelay + 1)))
		}
		s.seq++
		q := p
		q.at, q.seq = s.clock.Now().Add(d), s.seq
		s.queue = append(s.queue, q)
	}
	sort.SliceStable(s.queue, func(i, j int) bool {
		if !s.queue[i].at.Equal(s.queue[j].at) {
			return s.queue[i].at.Before(s.queue[j].at)
		}
		return s.queue[i].seq < s.queue[j].seq
	})
}

// Release sends the held packets that match (all if match is nil), in
// the order they were held, with no further faults.
func (s *simNet) Release(match func(p *simPacket) bool) int {
	var keep []simPacket
	n := 0
	for _, p := range s.held {
		if match == nil || match(&p) {
			s.schedule(p, false)
			n++
		} else {
			keep = append(keep, p)
		}
	}
	s.held = keep
	return n
}

// step settles the engines and runs the next event (a packet arrival or
// a timer), reporting false if there is none before limit.
func (s *simNet) step(limit time.Time) bool {
	s.settle()
	s.flush()
	if s.Check != nil {
		s.Check()
	}
	tNext, timer := s.clock.Next()
	if len(s.queue) > 0 && (!timer || !s.queue[0].at.After(tNext)) {
		p := s.queue[0]
		if p.at.After(limit) {
			return false
		}
		s.queue = s.queue[1:]
		s.clock.Set(p.at)
		if n := s.nodes[p.to.Addr()]; n != nil {
			s.Delivered++
			n.e.HandlePacket(p.to, p.from, p.data)
		}
		return true
	}
	if !timer || tNext.After(limit) {
		return false
	}
	s.clock.Set(tNext)
	s.clock.FireDue()
	return true
}

// run steps until cond holds (true) or virtual time d has passed (false).
func (s *simNet) run(d time.Duration, cond func() bool) bool {
	limit := s.clock.Now().Add(d)
	for {
		s.settle()
		s.flush()
		if cond != nil && cond() {
			return true
		}
		if !s.step(limit) {
			s.clock.Set(limit)
			s.settle()
			s.flush()
			return cond != nil && cond()
		}
	}
}

// mustRun is run that fails the test when cond does not come true.
func (s *simNet) mustRun(d time.Duration, what string, cond func() bool) {
	s.t.Helper()
	if !s.run(d, cond) {
		s.t.Fatalf("simulator: after %v of virtual time: not %s", d, what)
	}
}

// close shuts the engines down, running the network while they say goodbye.
func (s *simNet) close() {
	s.Check = nil // going down is what closing does
	var wg sync.WaitGroup
	for _, n := range s.sortedNodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n.e.Close(ctx)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return
		default:
		}
		if !s.step(s.clock.Now().Add(time.Minute)) {
			runtime.Gosched()
		}
	}
}

// initiate starts the node's connection (its first child) without blocking.
func (n *simNode) initiate() chan error {
	done := make(chan error, 1)
	var child *ChildConfig
	if len(n.peer.Children) > 0 {
		child = n.peer.Children[0]
	}
	if _, err := n.e.spawnInitiator(n.peer, child, nil, done, 0); err != nil {
		done <- err
	}
	return done
}

// established returns the node's established IKE SAs that were not
// replaced by a rekey.
func (n *simNode) established() []*ikeSA {
	var out []*ikeSA
	for _, sa := range n.e.snapshot() {
		if sa.State() == StateEstablished && !sa.isRekeyed() {
			out = append(out, sa)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].unique < out[j].unique })
	return out
}

// command hands a command to the node's (only) current IKE SA.
func (n *simNode) command(kind cmdKind, child string) chan error {
	return n.queue(command{kind: kind, child: child})
}

// createChild asks for a Child SA of cfg with CREATE_CHILD_SA; trig is
// an acquire's packet or nil.
func (n *simNode) createChild(cfg *ChildConfig, trig *Trigger) chan error {
	return n.queue(command{kind: cmdCreateChild, cfg: cfg, trig: trig})
}

// queue queues c on the node's one established IKE SA and returns its
// reply channel.
func (n *simNode) queue(c command) chan error {
	sas := n.established()
	if len(sas) != 1 {
		n.s.t.Fatalf("%v: %d established IKE SAs, want 1", n.addr, len(sas))
	}
	c.reply = make(chan error, 1)
	sas[0].sched.delivered.Add(1)
	sas[0].commands <- c
	return c.reply
}

// simInstaller is the data plane as the engine sees it: installed SAs in
// insertion order, outbound from the oldest SA not retired (as sadb does).
type simInstaller struct {
	mu      sync.Mutex
	sas     []*sadb.ChildSA
	retired map[uint32]bool
	// Installs and Removes count calls.
	Installs, Removes int
	// vips counts AddVIP minus RemoveVIP per address (VIPInstaller).
	vips map[netip.Addr]int
}

func (f *simInstaller) AddVIP(a netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vips == nil {
		f.vips = map[netip.Addr]int{}
	}
	f.vips[a]++
	return nil
}

func (f *simInstaller) RemoveVIP(a netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vips[a]--; f.vips[a] <= 0 {
		delete(f.vips, a)
	}
}

func (f *simInstaller) vipCount(a netip.Addr) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vips[a]
}

func newSimInstaller() *simInstaller { return &simInstaller{retired: map[uint32]bool{}} }

func (f *simInstaller) InstallChild(c *sadb.ChildSA) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.sas {
		if x.In.SPI() == c.In.SPI() {
			return sadb.ErrDuplicateSPI
		}
	}
	f.sas = append(f.sas, c)
	f.Installs++
	return nil
}

func (f *simInstaller) RemoveChild(spi uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.sas {
		if x.In.SPI() == spi {
			f.sas = append(f.sas[:i:i], f.sas[i+1:]...)
			f.Removes++
		}
	}
	delete(f.retired, spi)
}

func (f *simInstaller) RetireOutbound(spi uint32) {
	f.mu.Lock()
	f.retired[spi] = true
	f.mu.Unlock()
}

func (f *simInstaller) all() []*sadb.ChildSA {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sas)
}

// outbound is the SA that carries outbound traffic for the child name.
func (f *simInstaller) outbound(name string) *sadb.ChildSA {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.sas {
		if c.Name == name && !f.retired[c.In.SPI()] {
			return c
		}
	}
	return nil
}

func (f *simInstaller) inbound(spi uint32) *sadb.ChildSA {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.sas {
		if c.In.SPI() == spi {
			return c
		}
	}
	return nil
}

// simPair is two nodes with one connection "site" and child "net".
type simPair struct {
	s    *simNet
	l, r *simNode
}

type simOpts struct {
	esp              string
	ikeLife          IKELifetimes
	childLife        ChildLifetimes
	dpdDelay         time.Duration
	dpdAction        string
	closeAction      string
	keyingTries      int
	retransmitTries  int
	retransmitTimout time.Duration
}

func newSimPair(t *testing.T, seed uint64, o simOpts) *simPair {
	t.Helper()
	if o.esp == "" {
		o.esp = "aes256gcm16"
	}
	s := newSimNet(t, seed)
	mk := func(local, remote netip.Addr, lnet, rnet string) *simNode {
		pc := &PeerConfig{
			Name:        "site",
			RemoteAddrs: []netip.Prefix{netip.PrefixFrom(remote, 32)},
			RemoteHost:  remote,
			LocalPort:   500,
			RemotePort:  500,
			Proposals:   []wire.Proposal{mustProposal(t, "aes256gcm16-prfsha256-x25519", false)},
			IKELife:     o.ikeLife,
			DPDDelay:    o.dpdDelay,
			KeyingTries: o.keyingTries,
			Children: []*ChildConfig{{
				Name:         "net",
				LocalTS:      []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(lnet))},
				RemoteTS:     []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(rnet))},
				ESPProposals: []wire.Proposal{mustProposal(t, o.esp, true)},
				Life:         o.childLife,
				DPDAction:    o.dpdAction,
				CloseAction:  o.closeAction,
			}},
		}
		n := s.addNode(local, pc, seed, "correct horse battery staple")
		if o.retransmitTries != 0 {
			n.e.cfg.RetransmitTries = o.retransmitTries
		}
		if o.retransmitTimout != 0 {
			n.e.cfg.RetransmitTimeout = o.retransmitTimout
		}
		return n
	}
	p := &simPair{s: s}
	p.l = mk(leftAddr, rightAddr, "10.1.0.0/24", "10.2.0.0/24")
	p.r = mk(rightAddr, leftAddr, "10.2.0.0/24", "10.1.0.0/24")
	t.Cleanup(s.close)
	return p
}

// up establishes the IKE SA and the child from the left.
func (p *simPair) up(t *testing.T) {
	t.Helper()
	done := p.l.initiate()
	p.s.mustRun(10*time.Minute, "established", func() bool { return len(done) > 0 })
	if err := <-done; err != nil {
		t.Fatalf("initiate: %v", err)
	}
	p.s.mustRun(time.Minute, "responder has the child", func() bool { return len(p.r.inst.all()) == 1 })
}

// checkTunnel asserts one IKE SA on each side with the same SPIs, one
// Child SA pair that interoperates, and returns the left's inbound SPI.
func (p *simPair) checkTunnel(t *testing.T) uint32 {
	t.Helper()
	ls, rs := p.l.established(), p.r.established()
	if len(ls) != 1 || len(rs) != 1 {
		t.Fatalf("IKE SAs: left %d, right %d; want 1 each", len(ls), len(rs))
	}
	if ls[0].spiI != rs[0].spiI || ls[0].spiR != rs[0].spiR {
		t.Fatalf("IKE SPIs differ: left %x/%x right %x/%x", ls[0].spiI, ls[0].spiR, rs[0].spiI, rs[0].spiR)
	}
	if n := len(ls[0].childList()); n != 1 {
		t.Fatalf("left IKE SA has %d Child SAs, want 1", n)
	}
	if n := len(rs[0].childList()); n != 1 {
		t.Fatalf("right IKE SA has %d Child SAs, want 1", n)
	}
	l, r := p.l.inst.all(), p.r.inst.all()
	if len(l) != 1 || len(r) != 1 {
		t.Fatalf("installed Child SAs: left %d, right %d; want 1 each", len(l), len(r))
	}
	checkSealOpen(t, l[0], r[0])
	checkSealOpen(t, r[0], l[0])
	return l[0].In.SPI()
}

func checkSealOpen(t *testing.T, from, to *sadb.ChildSA) {
	t.Helper()
	if from.Out.SPI() != to.In.SPI() {
		t.Fatalf("outbound SPI %08x does not match the peer's inbound %08x", from.Out.SPI(), to.In.SPI())
	}
	payload := []byte("inner packet through the tunnel")
	buf := make([]byte, 256)
	off := from.Out.PayloadOffset()
	copy(buf[off:], payload)
	pkt, err := from.Out.Seal(buf, len(payload), 4)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := to.In.Open(pkt)
	if err != nil || string(got) != string(payload) {
		t.Fatalf("open with the peer's key: %q %v", got, err)
	}
}

// makeBeforeBreak is a Check: whatever SA a side sends on, the other
// side can receive on, at every moment the engines are idle. A rekey
// that removed an inbound SA before the peer stopped sending on it would
// lose packets and fail this.
func (p *simPair) makeBeforeBreak(t *testing.T) func() {
	return func() {
		t.Helper()
		for _, d := range []struct{ from, to *simNode }{{p.l, p.r}, {p.r, p.l}} {
			if len(d.from.established()) == 0 || len(d.to.established()) == 0 {
				continue // the tunnel is down (not what this checks)
			}
			out := d.from.inst.outbound("site/net")
			if out == nil {
				continue
			}
			in := d.to.inst.inbound(out.Out.SPI())
			if in == nil {
				t.Fatalf("at %v: %v sends on SPI %08x, which %v cannot receive", d.from.s.clock.Now().Sub(simStart),
					d.from.addr, out.Out.SPI(), d.to.addr)
			}
		}
	}
}
