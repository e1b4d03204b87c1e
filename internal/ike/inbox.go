package ike

import "sync"

// inbox queues the IKE messages for one SA's goroutine. It holds no
// memory while empty: a buffered channel of packetEvents would cost every
// IKE SA 4 KiB whether or not anything arrives, which with thousands of
// mostly idle tunnels is most of their memory (bench/scale.sh).
type inbox struct {
	mu    sync.Mutex
	q     []packetEvent
	ready chan struct{} // holds a token while q may be non-empty
}

// inboxMax bounds the queue (as the channel's capacity did): a flood is
// dropped and counted rather than held, and a fragmented message of up
// to this many fragments can still arrive in one burst.
const inboxMax = 32

func newInbox() inbox { return inbox{ready: make(chan struct{}, 1)} }

// put queues ev unless the inbox is full.
func (b *inbox) put(ev packetEvent) bool {
	b.mu.Lock()
	if len(b.q) >= inboxMax {
		b.mu.Unlock()
		return false
	}
	b.q = append(b.q, ev)
	b.mu.Unlock()
	b.signal()
	return true
}

// take returns the oldest event, if any, leaving a token in ready while
// more wait. A token may be stale (the event it announced was taken
// already), so a receive on ready must be followed by take and its ok
// checked.
func (b *inbox) take() (packetEvent, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.q) == 0 {
		return packetEvent{}, false
	}
	ev := b.q[0]
	b.q[0] = packetEvent{}
	b.q = b.q[1:]
	if len(b.q) == 0 {
		b.q = nil // let the backing array go
	} else {
		b.signal()
	}
	return ev, true
}

func (b *inbox) signal() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}
