package sadb

import (
	"sync"
	"sync/atomic"
	"time"
)

// This file holds what the data plane needs for trap policies (swanctl
// start_action = trap; RFC 4301 5.1 step 3c "the SA ... does not exist yet":
// the packet triggers IKE): a bounded queue per trap that keeps the first
// packets while IKE negotiates, and the bookkeeping that turns a stream of
// trapped packets into one acquire per trap and retry interval, the way the
// Linux kernel's larval "acquire" state does (net.core.xfrm_acq_expires).

// HoldLimits bounds what one trap may hold.
type HoldLimits struct {
	Packets int           // packets per trap; <= 0 means 8
	Bytes   int           // bytes per trap; <= 0 means 64 KiB
	Expiry  time.Duration // how long a held packet stays useful; <= 0 means 5 s
	// Retry is the shortest interval between two acquires for one trap
	// while its packets keep arriving; <= 0 means 10 s.
	Retry time.Duration
	// Traps bounds the number of traps holding packets at once (an
	// attacker on the inside must not create unbounded state); <= 0 means
	// 1024.
	Traps int
}

func (l HoldLimits) withDefaults() HoldLimits {
	if l.Packets <= 0 {
		l.Packets = 8
	}
	if l.Bytes <= 0 {
		l.Bytes = 64 << 10
	}
	if l.Expiry <= 0 {
		l.Expiry = 5 * time.Second
	}
	if l.Retry <= 0 {
		l.Retry = 10 * time.Second
	}
	if l.Traps <= 0 {
		l.Traps = 1024
	}
	return l
}

// HoldStats counts what the acquire machinery did (for the stats command).
type HoldStats struct {
	Held     atomic.Uint64 // packets queued
	Released atomic.Uint64 // packets handed back by Drain for sending
	Full     atomic.Uint64 // dropped: the trap's queue was full (packets or bytes)
	Expired  atomic.Uint64 // dropped: held longer than Expiry
	Flushed  atomic.Uint64 // dropped by Flush (negotiation failed)
	NoRoom   atomic.Uint64 // dropped: too many traps holding packets
	Acquires atomic.Uint64 // acquires raised
}

// holdQueue is one trap's FIFO of packets (a ring, allocated once).
type holdQueue struct {
	pkts        [][]byte
	at          []int64 // arrival, Unix nanoseconds
	head, n     int
	bytes       int
	lastAcquire int64 // 0 if none raised yet
}

// Acquires holds packets that hit trap policies, per ReqID, and decides when
// to raise an acquire. Packet buffers are owned by the queue from a
// successful Hold until they are handed to Drain's callback or to the
// release function (for pooled buffers: give it the pool's Put). Safe for
// concurrent use; Hold does not allocate once a trap's queue exists.
type Acquires struct {
	Stats HoldStats

	lim     HoldLimits
	release func([]byte)
	mu      sync.Mutex
	traps   map[uint32]*holdQueue
}

// NewAcquires returns an empty set of trap queues. release, if not nil,
// receives every buffer the queue drops (expired, flushed); Hold never calls
// it for the packet it refuses (the caller still owns that one).
func NewAcquires(lim HoldLimits, release func([]byte)) *Acquires {
	if release == nil {
		release = func([]byte) {}
	}
	return &Acquires{lim: lim.withDefaults(), release: release, traps: make(map[uint32]*holdQueue)}
}

// Hold queues pkt for the trap of reqID. held reports whether the queue took
// the buffer (false: it was full or there are too many traps; the caller
// keeps the buffer and counts the drop). acquire reports that the data
// plane should now ask IKE for an SA for reqID: on the first trapped packet
// and again after Retry while packets keep coming (the negotiation may have
// failed without anyone telling us).
func (a *Acquires) Hold(reqID uint32, pkt []byte, now time.Time) (held, acquire bool) {
	t := now.UnixNano()
	a.mu.Lock()
	q := a.traps[reqID]
	if q == nil {
		if len(a.traps) >= a.lim.Traps {
			a.mu.Unlock()
			a.Stats.NoRoom.Add(1)
			return false, false
		}
		q = &holdQueue{pkts: make([][]byte, a.lim.Packets), at: make([]int64, a.lim.Packets)}
		a.traps[reqID] = q
	}
	a.expireLocked(q, t)
	if q.lastAcquire == 0 || t-q.lastAcquire >= int64(a.lim.Retry) {
		q.lastAcquire = t
		acquire = true
	}
	if q.n == len(q.pkts) || q.bytes+len(pkt) > a.lim.Bytes {
		a.mu.Unlock()
		a.Stats.Full.Add(1)
	} else {
		i := (q.head + q.n) % len(q.pkts)
		q.pkts[i], q.at[i] = pkt, t
		q.n++
		q.bytes += len(pkt)
		a.mu.Unlock()
		a.Stats.Held.Add(1)
		held = true
	}
	if acquire {
		a.Stats.Acquires.Add(1)
	}
	return held, acquire
}

// expireLocked releases packets held longer than Expiry. a.mu is held.
func (a *Acquires) expireLocked(q *holdQueue, now int64) {
	for q.n > 0 && now-q.at[q.head] >= int64(a.lim.Expiry) {
		a.release(a.popLocked(q))
		a.Stats.Expired.Add(1)
	}
}

func (a *Acquires) popLocked(q *holdQueue) []byte {
	p := q.pkts[q.head]
	q.pkts[q.head] = nil
	q.head = (q.head + 1) % len(q.pkts)
	q.n--
	q.bytes -= len(p)
	return p
}

// Drain ends the trap state of reqID once its SA is installed: packets still
// fresh go to send in arrival order (which then owns them), expired ones to
// release. It returns the number handed to send. send is called without
// the lock held.
func (a *Acquires) Drain(reqID uint32, now time.Time, send func([]byte)) int {
	a.mu.Lock()
	q := a.traps[reqID]
	if q == nil {
		a.mu.Unlock()
		return 0
	}
	delete(a.traps, reqID)
	a.expireLocked(q, now.UnixNano())
	a.mu.Unlock()
	n := 0
	for q.n > 0 {
		send(a.popLocked(q)) // q is no longer reachable by others
		n++
	}
	a.Stats.Released.Add(uint64(n))
	return n
}

// Flush drops everything held for reqID (the negotiation failed, or the
// policy was removed) and forgets the trap, so the next packet raises a new
// acquire. It returns the number of packets dropped.
func (a *Acquires) Flush(reqID uint32) int {
	a.mu.Lock()
	q := a.traps[reqID]
	delete(a.traps, reqID)
	a.mu.Unlock()
	if q == nil {
		return 0
	}
	n := 0
	for q.n > 0 {
		a.release(a.popLocked(q))
		n++
	}
	a.Stats.Flushed.Add(uint64(n))
	return n
}

// Expire releases expired packets of every trap and forgets traps that hold
// nothing and raised their last acquire more than Retry ago; call it from a
// timer (about once a second) so held buffers return to the pool even when
// no more packets arrive.
func (a *Acquires) Expire(now time.Time) {
	t := now.UnixNano()
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, q := range a.traps {
		a.expireLocked(q, t)
		if q.n == 0 && t-q.lastAcquire >= int64(a.lim.Retry) {
			delete(a.traps, id)
		}
	}
}

// Pending returns the number of packets held for reqID.
func (a *Acquires) Pending(reqID uint32) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if q := a.traps[reqID]; q != nil {
		return q.n
	}
	return 0
}
