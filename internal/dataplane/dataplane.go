// Package dataplane moves packets between a TUN device and ESP in UDP
// (RFC 4303 tunnel and transport mode, encapsulated per RFC 3948), and
// carries IKE messages between the UDP sockets and the IKE engine.
//
// The pipeline is written down at the top of pipeline.go: one reader and
// one in-order writer per direction, crypto on every core between them.
// Per packet, outbound (send.go):
//
//	TUN read batch (tun.Device.Read into pooled buffers, outHeadroom bytes of
//	headroom so the ESP header and IV are written in place; the Linux TUN
//	splits TSO super-packets into MTU-size packets)
//	-> parse the inner IPv4 or IPv6 packet (inner.go; IPv6: through its
//	   extension headers to the next layer protocol, RFC 4301 4.4.1.1)
//	-> policy lookup in the SPD (policy.go; RFC 4301 5.1): an installed
//	   SA's policy -> that SA; a trap -> held, acquire (trap.go); a drop
//	   shunt -> dropped, counted shunt_drop; no policy -> dropped, counted
//	   no_policy, never sent in the clear
//	-> sequence number, serial per SA (RFC 4303 3.3.3)
//	-> ESP seal in place, in parallel (RFC 4303 3.3; next header 4 or 41)
//	-> in order: UDP send batch from the NAT-T socket of the Remote's address
//	   family (IPv4 or IPv6, family.go) to the SA's Remote
//	   (sendmmsg; runs of equal-size packets to one peer as UDP GSO
//	   messages, offload_linux.go).
//
// Inbound on port 4500, one reader per address family (receive.go):
//
//	UDP read batch (recvmmsg; with UDP_GRO a datagram holds a run of
//	segments, split here)
//	-> classify (RFC 3948 2.2): a single 0xFF byte is a NAT-keepalive
//	   (ignored); four zero bytes are the non-ESP marker: the rest is IKE,
//	   handed to Config.HandleIKE; anything else is ESP
//	-> SA lookup by SPI (RFC 4303 3.4.2; none: no_sa)
//	-> replay pre-check, serial per SA (RFC 4303 3.4.3)
//	-> ICV check, decryption and padding check, in parallel (3.4.4)
//	-> next header: 4 IPv4 and 41 IPv6 continue (the inner packet must be
//	   of that version), 59 dummy (TFC, RFC 4303 2.6) dropped
//	-> inbound policy check: inner source in RemoteTS and destination in
//	   LocalTS (RFC 4301 5.2; else dropped, counted policy); while drop
//	   shunts are installed, a packet whose first inbound SPD match is one
//	   is dropped too (shunt.go, counted shunt_drop)
//	-> in order: replay window update (only now that the ICV passed)
//	-> TUN write batch (the Linux TUN GRO-coalesces a flow's packets).
//
// IKE (routineReceiveIKE, port 500, one per family): UDP read batch ->
// Config.HandleIKE.
//
// Every dropped packet is counted by reason (Counters) and no input panics.
// Buffers come from bounded pools of preallocated batches, so the steady
// state allocates nothing per packet (on Linux ReadBatch and WriteBatch are
// our own recvmmsg and sendmmsg, see mmsgConn: golang.org/x/net's allocate)
// and memory stays flat under overload.
package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/goipsec/goipsec/internal/sadb"
)

// Defaults for Config.
const (
	DefaultTUNName = "goipsec0"
	// DefaultMTU is the inner MTU that fits ESP in UDP over IPv4 in a
	// 1500-byte path; routes to peers reached over IPv6 get
	// ipv6OuterExtra less (route.go).
	DefaultMTU      = 1400
	DefaultIKEPort  = 500  // RFC 7296 2
	DefaultNATTPort = 4500 // RFC 3948 2, RFC 7296 2.23
)

// Config configures a Dataplane.
type Config struct {
	TUNName string // default DefaultTUNName
	MTU     int    // default DefaultMTU

	// IKEPort and NATTPort are the UDP ports to listen on. 0 picks a free
	// port (tests); the daemon sets DefaultIKEPort and DefaultNATTPort.
	// LocalPorts reports the bound ports.
	IKEPort  int
	NATTPort int
	// ListenAddr is the address to bind. Unset, the data plane listens on
	// 0.0.0.0 and on :: (IPv6 only, IPV6_V6ONLY), each family on its own
	// sockets; the IPv6 pair is skipped with a warning where the host has
	// no IPv6. Set, it listens on that address only (and so one family).
	ListenAddr netip.Addr
	Logger     *slog.Logger

	// HandleIKE is called for every IKE message received (port 500 as is,
	// port 4500 after the non-ESP marker was stripped), from the socket's
	// reader goroutine: it must not block for long. local is the address
	// the message was sent to (from IP_PKTINFO or IPV6_PKTINFO), so
	// replies can come from it. pkt is owned by the callee (the data
	// plane does not reuse it).
	HandleIKE func(local, remote netip.AddrPort, pkt []byte)

	DB *sadb.DB // created by the caller; required

	// NoTUN runs the sockets only (tests without root): no TUN is created,
	// outbound traffic never starts and decrypted packets are dropped
	// (counted no_tun).
	NoTUN bool

	// TUN, if set, is used instead of creating TUNName (the in-memory
	// devices of package tuntest, or a TUN made elsewhere). The data plane
	// owns it from then on and closes it in Close; it does not configure
	// the link or install routes for it.
	TUN tun.Device

	// Workers is the number of crypto goroutines (pipeline.go); 0 means
	// GOMAXPROCS-1, at least 1. A negative value turns parallel crypto
	// off: the readers seal and open every batch themselves.
	Workers int

	// Acquire is called when a packet hits a trap policy (InstallTrap)
	// and the trap wants a Child SA: on its first packet, and again after
	// Hold.Retry while packets keep arriving. It is called from the TUN
	// reader and must not block.
	Acquire func(Acquire)
	// Hold bounds the packets held by traps (sadb.HoldLimits defaults:
	// 8 packets or 64 KiB per trap, 5 s, 1024 traps, acquire retry 10 s).
	Hold sadb.HoldLimits

	// NoOffload leaves UDP GSO and GRO off on the NAT-T sockets (for
	// measurements and for paths that mishandle them).
	NoOffload bool
}

// Buffer layout. Outbound packets are read from the TUN at outHeadroom so
// that the ESP header and IV (esp.Outbound.PayloadOffset: 16 for the AEADs)
// fit in front of them; inbound ESP is read at offset 0, decrypted in place
// and the inner packet copied to a TUN write buffer at tunWriteOffset (room
// for the TUN's virtio header).
const (
	maxPacket      = 65535
	outHeadroom    = 64
	outTailroom    = 256 // ESP padding, trailer and ICV (RFC 4303 2.4-2.8)
	tunWriteOffset = 16  // esp.HeaderLen + 8-octet IV; >= the TUN's 10-byte virtio header
	maxUDPPayload  = maxPacket - 20 - 8
	udpBatchSize   = 128 // packets per TUN read and sendmmsg, TUN writes, as wireguard-go's conn.IdealBatchSize
	// udpRecvBatchSize is datagrams per recvmmsg: each buffer holds a
	// 64 KB GRO datagram, so fewer than udpBatchSize still carry more
	// packets.
	udpRecvBatchSize = 64
	ikeBatchSize     = 8
)

// Dataplane is the userspace data plane: a TUN device, the IKE and NAT-T UDP
// sockets, and the goroutines between them. Safe for concurrent use.
type Dataplane struct {
	// counters is first so its uint64 fields are 64-bit aligned for the
	// atomic operations on 32-bit platforms.
	counters Counters

	log       *slog.Logger
	db        *sadb.DB
	handleIKE func(local, remote netip.AddrPort, pkt []byte)

	tun     tun.Device // nil with NoTUN
	mtu     int
	tunName string
	// ike and natt are the sockets of ListenAddr's family (IPv4 unless
	// ListenAddr is IPv6); ike6 and natt6 the IPv6 pair when ListenAddr is
	// unset, else nil. socketFor picks by peer address.
	ike, natt   *udpSocket
	ike6, natt6 *udpSocket
	routes      *routeTable // nil unless the data plane created the TUN itself

	installMu sync.Mutex          // serialises InstallChild and RemoveChild
	vips      map[netip.Addr]*vip // virtual IPs on the TUN (vip.go), under installMu
	pol       policyState         // the SPD (policy.go); writers hold installMu
	acq       *sadb.Acquires
	acquire   func(Acquire)
	stop      chan struct{} // closed by Close

	// The pipeline (pipeline.go): crypto jobs, bounded batch pools and the
	// FIFO queues to the in-order stages. jobs is nil without workers.
	jobs     chan cryptoJob
	nworkers int
	outFree  chan *outBatch
	outQueue chan *outBatch
	inFree   chan *inBatch
	inQueue  chan *inBatch
	readers  sync.WaitGroup // the goroutines that feed jobs
	// tunw is routineWriteTUN's writer, or a NAT-T reader's on its fast
	// path; with a reader per family, tunwMu keeps them from sharing it.
	tunw   *tunWriter
	tunwMu sync.Mutex

	// Batches queued to the in-order stages and not yet sent or
	// delivered: at 0 a reader may finish a small batch itself.
	outInflight atomic.Int32
	inInflight  atomic.Int32
	stats       pipelineStats

	startOnce sync.Once
	closeOnce sync.Once
	closing   atomic.Bool
	wg        sync.WaitGroup
	closeErr  error
}

// New opens the TUN device (unless NoTUN) and the UDP sockets. Errors are
// one line and say what to do, e.g. "listen udp 0.0.0.0:500: address already
// in use (is another IKE daemon running?)". Start starts the goroutines.
func New(cfg Config) (*Dataplane, error) {
	if cfg.DB == nil {
		return nil, errors.New("dataplane: Config.DB is nil")
	}
	if cfg.TUNName == "" {
		cfg.TUNName = DefaultTUNName
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > maxPacket-outHeadroom {
		return nil, fmt.Errorf("dataplane: MTU %d out of range 576-%d", cfg.MTU, maxPacket-outHeadroom)
	}
	both := !cfg.ListenAddr.IsValid()
	if both {
		cfg.ListenAddr = netip.IPv4Unspecified()
	}
	cfg.ListenAddr = cfg.ListenAddr.Unmap()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := tuningFromEnv(&cfg); err != nil {
		return nil, err
	}
	d := &Dataplane{
		log:       cfg.Logger,
		db:        cfg.DB,
		handleIKE: cfg.HandleIKE,
		nworkers:  cfg.Workers,
		mtu:       cfg.MTU,
		acq:       sadb.NewAcquires(cfg.Hold, nil),
		acquire:   cfg.Acquire,
		stop:      make(chan struct{}),
	}
	if d.nworkers == 0 {
		d.nworkers = workers()
	}
	if err := d.listen(cfg, both); err != nil {
		return nil, err
	}
	switch {
	case cfg.NoTUN:
	case cfg.TUN != nil:
		d.tun = cfg.TUN
		d.tunName, _ = cfg.TUN.Name()
	default:
		dev, name, sys, err := createTUN(cfg.TUNName, cfg.MTU, d.log)
		if err != nil {
			d.closeSockets()
			return nil, err
		}
		d.tun, d.tunName = dev, name
		d.routes = newRouteTable(sys, d.log)
		d.routes.host.mark = d.markSockets
		d.routes.mtu = cfg.MTU
	}
	return d, nil
}

// Start starts the goroutines. Calls after the first do nothing.
func (d *Dataplane) Start() {
	d.startOnce.Do(func() {
		if d.closing.Load() {
			return
		}
		if d.nworkers > 0 {
			d.jobs = make(chan cryptoJob, (outPool+inPool)*d.nworkers)
			d.wg.Add(d.nworkers)
			for range d.nworkers {
				go d.routineCrypto()
			}
		}
		d.tunw = newTUNWriter(udpBatchSize)
		d.inFree = make(chan *inBatch, inPool)
		d.inQueue = make(chan *inBatch, inPool)
		for range inPool {
			d.inFree <- newInBatch(udpRecvBatchSize)
		}
		var natt sync.WaitGroup
		for _, s := range d.sockets() {
			d.wg.Add(1)
			if s == d.ike || s == d.ike6 {
				go d.routineReceiveIKE(s)
				continue
			}
			d.readers.Add(1)
			natt.Add(1)
			go func() {
				defer natt.Done()
				d.routineReceiveNATT(s)
			}()
		}
		// routineWriteTUN ends when no NAT-T reader can queue more.
		go func() {
			natt.Wait()
			close(d.inQueue)
		}()
		d.wg.Add(2)
		go d.routineExpireHeld()
		go d.routineWriteTUN()
		if d.tun != nil {
			n := min(max(d.tun.BatchSize(), 1), udpBatchSize)
			d.outFree = make(chan *outBatch, outPool)
			d.outQueue = make(chan *outBatch, outPool)
			for range outPool {
				d.outFree <- newOutBatch(n, d.outMTU())
			}
			d.wg.Add(2)
			d.readers.Add(1)
			go d.routineReadFromTUN()
			go d.routineSendESP()
			// The device's event channel must be drained or its
			// listener blocks; it is closed by tun.Device.Close, so
			// this goroutine ends on its own.
			go d.routineTUNEvents(d.tun.Events())
		}
		if d.jobs != nil {
			// The workers end when no reader can queue jobs any more.
			go func() {
				d.readers.Wait()
				close(d.jobs)
			}()
		}
	})
}

// Close stops the goroutines, closes the sockets and the TUN (which takes
// the TUN's routes with it), after removing the routes it installed.
func (d *Dataplane) Close() error {
	d.closeOnce.Do(func() {
		d.closing.Store(true)
		close(d.stop)
		d.installMu.Lock()
		if d.routes != nil {
			d.routes.close()
		}
		d.installMu.Unlock()
		errs := []error{d.closeSockets()}
		if d.tun != nil {
			errs = append(errs, d.tun.Close())
		}
		d.wg.Wait()
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// InstallChild adds c to the DB and routes c.RemoteTS via the TUN (source
// address: an address of this host inside c.LocalTS, if it has one).
// Routes are shared between SAs and refcounted per prefix; prefixes that
// cover the peer's own address (host to host, transport mode) are policy
// routed around the daemon's own datagrams (hostroute.go). In this slice c
// must use UDP encapsulation (Encap) to a Remote of a family the data
// plane listens on, in tunnel or transport mode (transport.go; IPv4 only).
func (d *Dataplane) InstallChild(c *sadb.ChildSA) error {
	if c == nil {
		return errors.New("dataplane: InstallChild(nil)")
	}
	// Fail the install rather than black-hole the SA's traffic.
	if !c.Encap {
		return fmt.Errorf("dataplane: install %s: ESP without UDP encapsulation is not supported yet (set Encap, RFC 3948)", c.Name)
	}
	if !c.Remote.Addr().IsValid() || c.Remote.Port() == 0 {
		return fmt.Errorf("dataplane: install %s: remote %s: need an address and port", c.Name, c.Remote)
	}
	if d.socketFor(false, c.Remote.Addr()) == nil {
		return fmt.Errorf("dataplane: install %s: remote %s: not listening on that address family", c.Name, c.Remote)
	}
	d.installMu.Lock()
	defer d.installMu.Unlock()
	if d.closing.Load() {
		return errors.New("dataplane: closed")
	}
	if err := d.db.Add(c); err != nil {
		return err
	}
	if d.routes != nil {
		if err := d.routes.add(c); err != nil {
			d.db.Remove(c.InSPI())
			return fmt.Errorf("dataplane: install %s: %w", c.Name, err)
		}
	}
	if err := d.pol.addSA(c); err != nil {
		if d.routes != nil {
			d.routes.remove(c.InSPI())
		}
		d.db.Remove(c.InSPI())
		return fmt.Errorf("dataplane: install %s: policies: %w", c.Name, err)
	}
	d.childInstalled(c)
	d.log.Debug("child SA installed", "sa", c.String(), "remote", c.Remote)
	return nil
}

// RemoveChild removes the SA with inbound SPI inSPI from the DB, drops the
// routes no other SA uses, and clears the SA's keys (sadb.ChildSA.Zero) once
// no packet is being sealed or opened with them. Its Stats stay readable.
func (d *Dataplane) RemoveChild(inSPI uint32) {
	d.installMu.Lock()
	defer d.installMu.Unlock()
	c := d.db.Remove(inSPI)
	if c == nil {
		return
	}
	d.pol.removeSA(c)
	if d.routes != nil {
		d.routes.remove(inSPI)
	}
	c.Zero()
	d.log.Debug("child SA removed", "sa", c.String())
}

// outMTU is the largest packet the outbound buffers take: the TUN's MTU,
// with room to spare for an administrator raising it up to jumbo frames
// (larger packets fail the TUN read and are counted as tun_read_error).
// The Linux TUN splits its TSO super-packets into MTU-size segments, so
// bigger buffers are never needed.
func (d *Dataplane) outMTU() int {
	mtu := d.mtu
	if m, err := d.tun.MTU(); err == nil {
		mtu = max(mtu, m)
	}
	return min(max(mtu, jumboMTU), maxPacket)
}

const jumboMTU = 9000

// RetireOutbound moves outbound traffic off the SA with inbound SPI inSPI
// (to the next SA with matching selectors) while it still accepts
// inbound packets: the engine's make-before-break rekey.
func (d *Dataplane) RetireOutbound(inSPI uint32) {
	d.installMu.Lock()
	defer d.installMu.Unlock()
	if c := d.db.Inbound(inSPI); c != nil {
		c.RetireOutbound()
	}
	d.pol.retireSA(inSPI)
}

// TUNName returns the name of the TUN device, "" with NoTUN.
func (d *Dataplane) TUNName() string { return d.tunName }

// LocalPorts returns the bound IKE and NAT-T ports (useful when Config
// asked for port 0).
func (d *Dataplane) LocalPorts() (ike, natt uint16) { return d.ike.port, d.natt.port }

func (d *Dataplane) routineTUNEvents(events <-chan tun.Event) {
	for e := range events {
		if e&tun.EventMTUUpdate != 0 && d.tun != nil {
			if mtu, err := d.tun.MTU(); err == nil {
				d.log.Debug("TUN MTU", "tun", d.tunName, "mtu", mtu)
			}
		}
		if e&tun.EventDown != 0 {
			d.log.Info("TUN is down", "tun", d.tunName)
		}
	}
}
