package ike

import (
	"errors"
	"sync/atomic"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Reassembly of IKE fragments (RFC 7383 2.6). The reassembler knows
// nothing of crypto: the caller hands it only fragments whose ICV has
// verified, for a message ID it expects, so everything held came from the
// peer. It is still bounded, because an authenticated peer can be hostile
// too: per message (fragment count, total size, age), per IKE SA (one
// message per direction) and per engine (a shared byte budget).

// Reassembly bounds. strongSwan refuses messages over 10000 octets by
// default (charon.max_packet); 64 KiB leaves room for certificate chains
// while keeping an SA's worst case small.
const (
	maxFragments      = 128
	maxReassembled    = 64 << 10
	reassemblyTimeout = 30 * time.Second // about the peer's retransmission time
	// maxFragmentBytes is what all IKE SAs of an engine may hold in
	// partial messages together.
	maxFragmentBytes = 16 << 20
)

// Why a fragment was not taken; the SA counts these.
var (
	errFragDuplicate = errors.New("ike: duplicate fragment")
	errFragStale     = errors.New("ike: fragment of an older fragmentation (smaller Total Fragments)")
	errFragInvalid   = errors.New("ike: invalid fragment numbers")
	errFragTooLarge  = errors.New("ike: fragmented message over the reassembly limits")
	errFragBudget    = errors.New("ike: reassembly memory exhausted")
)

// fragBudget is the engine-wide byte budget for partial messages.
type fragBudget struct {
	used atomic.Int64
	max  int64 // 0 means maxFragmentBytes
}

func (b *fragBudget) take(n int) bool {
	limit := b.max
	if limit == 0 {
		limit = maxFragmentBytes
	}
	if b.used.Add(int64(n)) > limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

func (b *fragBudget) release(n int) { b.used.Add(-int64(n)) }

// reassembler collects the fragments of one message at a time (RFC 7383
// 2.6): an IKE SA has one for requests and one for responses, since the
// message-ID window of one allows no more in each direction.
type reassembler struct {
	budget *fragBudget
	// Limits; zero means the package default.
	maxFragments int
	maxSize      int
	timeout      time.Duration

	active  bool
	msgID   uint32
	total   uint16
	first   wire.PayloadType
	frags   [][]byte // by Fragment Number - 1; nil while missing
	have    int
	size    int
	started time.Time
}

func (r *reassembler) limits() (frags, size int, timeout time.Duration) {
	frags, size, timeout = r.maxFragments, r.maxSize, r.timeout
	if frags == 0 {
		frags = maxFragments
	}
	if size == 0 {
		size = maxReassembled
	}
	if timeout == 0 {
		timeout = reassemblyTimeout
	}
	return frags, size, timeout
}

// add takes the decrypted content of fragment num of total of message
// msgID (next is the SKF Next Payload field) and takes ownership of data.
// It returns the whole plaintext and the type of its first payload once
// every fragment is there; a nil msg with a nil error means "held, more
// to come". An error means the fragment was dropped; what was held stays
// unless the error says the message can never complete (errFragTooLarge).
func (r *reassembler) add(now time.Time, msgID uint32, num, total uint16, next wire.PayloadType, data []byte) (first wire.PayloadType, msg []byte, err error) {
	maxFrags, maxSize, timeout := r.limits()
	if num == 0 || total == 0 || num > total {
		return 0, nil, errFragInvalid
	}
	if int(total) > maxFrags || len(data) > maxSize {
		return 0, nil, errFragTooLarge
	}
	if r.active && (r.msgID != msgID || now.Sub(r.started) > timeout) {
		// The caller only passes message IDs it expects, so a new one
		// means the old message is finished or abandoned.
		r.reset()
	}
	if r.active {
		switch {
		case total < r.total:
			// The sender made its fragments smaller and these are left
			// over from before (RFC 7383 2.6.2).
			return 0, nil, errFragStale
		case total > r.total:
			r.reset() // smaller fragments now: start over (RFC 7383 2.6.2)
		case r.frags[num-1] != nil:
			return 0, nil, errFragDuplicate
		}
	}
	if r.size+len(data) > maxSize {
		r.reset()
		return 0, nil, errFragTooLarge
	}
	if !r.budget.take(len(data)) {
		return 0, nil, errFragBudget
	}
	if !r.active {
		r.active, r.msgID, r.total, r.started = true, msgID, total, now
		r.frags = make([][]byte, total)
	}
	if data == nil {
		data = []byte{} // present, if empty
	}
	r.frags[num-1] = data
	r.have++
	r.size += len(data)
	if num == 1 {
		r.first = next // ignored in the other fragments (RFC 7383 2.5)
	}
	if r.have < int(r.total) {
		return 0, nil, nil
	}
	msg = make([]byte, 0, r.size)
	for _, f := range r.frags {
		msg = append(msg, f...)
	}
	first = r.first
	r.reset()
	return first, msg, nil
}

// held reports how many octets the reassembler holds.
func (r *reassembler) held() int { return r.size }

// reset drops whatever is held and gives its bytes back to the budget.
func (r *reassembler) reset() {
	if r.size > 0 {
		r.budget.release(r.size)
	}
	for i := range r.frags {
		clear(r.frags[i]) // decrypted IKE content: do not leave it around
	}
	*r = reassembler{budget: r.budget, maxFragments: r.maxFragments, maxSize: r.maxSize, timeout: r.timeout}
}
