package dataplane

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The crypto pipeline (the pattern of wireguard-go's device/send.go and
// device/receive.go, at batch rather than packet granularity so that the
// hand-offs cost a few channel operations per batch, not per packet):
//
// Outbound:
//
//	routineReadFromTUN (one goroutine)
//	    takes a free outBatch from outFree (bounded: blocks when every batch
//	    is in flight, which pushes back on the TUN), reads a TUN batch into it,
//	    parses, looks up the policy and reserves each packet's sequence
//	    number (esp.Outbound.NextSeq) — serial, so numbers follow read order;
//	    then queues the batch on outQueue (FIFO) and its packets, in chunks,
//	    on jobs
//	-> routineCrypto (GOMAXPROCS-1 goroutines, shared by both directions)
//	    seals the chunk's packets in place (sadb.ChildSA.SealSeq), in
//	    parallel with each other and with the reader, which seals the
//	    first chunk itself (and small batches whole)
//	-> routineSendESP (one goroutine)
//	    takes batches from outQueue in order, waits until each is sealed,
//	    joins runs of equal-size packets to the same peer into UDP GSO
//	    messages, sends them with one sendmmsg and frees the batch.
//
// Inbound:
//
//	routineReceiveNATT (one goroutine per address family, each with its own
//	    socket; their batches share inFree, inQueue and the writer)
//	    takes a free inBatch from inFree, reads a recvmmsg batch (with
//	    UDP_GRO a datagram holds a run of segments), splits the segments,
//	    classifies them (keepalive, IKE: handled here), looks up the SA by
//	    SPI and runs the anti-replay pre-check (sadb.ChildSA.OpenPrepare,
//	    serial per SA); queues the batch on inQueue and chunks on jobs
//	-> routineCrypto
//	    verifies the ICV and decrypts in place, checks padding, next header
//	    and the inbound policy (RFC 4301 5.2), in parallel
//	-> routineWriteTUN (one goroutine)
//	    takes batches from inQueue in order, waits until each is decrypted,
//	    updates the replay window (OpenAccept; RFC 4303 3.4.3: only after the
//	    ICV passed), copies the inner packets into its TUN write buffers
//	    (each with room for the TUN to GRO-coalesce a flow's packets behind
//	    it) and writes them in batches.
//
// Fast path: a batch too small for the workers (pings, TCP ACKs) that finds
// nothing queued ahead of it (outInflight, inInflight at 0) is finished by
// its reader — sealed and sent, or opened and written to the TUN — which
// keeps the order (the in-order stage is idle and only this reader could
// queue more) and saves a goroutine hand-off of latency per direction.
//
// One reader (inbound: per address family, and a peer uses one) and one
// writer per direction and FIFO queues between them mean the packets of
// every SA (and of every flow) leave in the order they came: parallel
// crypto never reorders. Memory is bounded by the pools: outPool
// and inPool batches per direction, preallocated, nothing allocated per
// packet (about 30 MB of buffers in all, mostly the 64 KB GRO receive and
// TUN write buffers, of which only the bytes used become resident); under
// overload the readers block on the pools and the kernel's socket buffer
// and TUN queue drop.

const (
	outPool = 4 // outbound batches in flight
	inPool  = 4 // inbound batches in flight
	// minChunk is the fewest packets worth a hand-off to a worker: smaller
	// batches (pings, ACKs) are processed by the reader, so light traffic
	// pays no scheduling latency.
	minChunk = 32
)

// cryptoWork is a batch whose packets [lo, hi) a worker processes.
type cryptoWork interface {
	process(d *Dataplane, lo, hi int)
}

type cryptoJob struct {
	w      cryptoWork
	lo, hi int
	done   *sync.WaitGroup
}

// pipelineStats counts how the pipeline's levers were used, for tests and
// benchmarks (not packet drops, so not in Counters).
type pipelineStats struct {
	parallelBatches atomic.Uint64 // batches handed to the workers
	gsoMessages     atomic.Uint64 // UDP messages sent with UDP_SEGMENT
	gsoSegments     atomic.Uint64 // datagrams in them
	groDatagrams    atomic.Uint64 // datagrams received with UDP_GRO (coalesced)
	groSegments     atomic.Uint64 // datagrams in them
}

// workers returns the default number of crypto goroutines: one per core
// but one, since each reader seals or opens the first chunk of its batches
// itself (dispatch), so together they use every core without
// oversubscribing it.
func workers() int { return max(runtime.GOMAXPROCS(0)-1, 1) }

func (d *Dataplane) routineCrypto() {
	defer d.wg.Done()
	for j := range d.jobs {
		j.w.process(d, j.lo, j.hi)
		j.done.Done()
	}
}

// dispatch processes packets [0, n) of w: inline if there are few, else in
// chunks, the first on the calling reader (one hand-off fewer, and the
// reader's core does crypto too) and the rest on the workers; done is the
// batch's WaitGroup, which the in-order stage waits on.
func (d *Dataplane) dispatch(w cryptoWork, n int, done *sync.WaitGroup) {
	if n < 2*minChunk || d.jobs == nil {
		w.process(d, 0, n)
		return
	}
	d.stats.parallelBatches.Add(1)
	chunks := min(d.nworkers+1, n/minChunk)
	size := (n + chunks - 1) / chunks
	done.Add((n - 1) / size) // chunks after the first
	for lo := size; lo < n; lo += size {
		d.jobs <- cryptoJob{w: w, lo: lo, hi: min(lo+size, n), done: done}
	}
	w.process(d, 0, size)
}
