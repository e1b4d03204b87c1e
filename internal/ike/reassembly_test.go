package ike

import (
	"bytes"
	"errors"
	"testing"
	"time"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

var t0 = time.Unix(1_800_000_000, 0)

func newTestReassembler() (*reassembler, *fragBudget) {
	b := &fragBudget{}
	return &reassembler{budget: b}, b
}

// feed adds fragments num (1-based) of a message split into parts.
func feed(t *testing.T, r *reassembler, msgID uint32, parts [][]byte, order ...int) ([]byte, wire.PayloadType) {
	t.Helper()
	var got []byte
	var first wire.PayloadType
	for i, n := range order {
		f, msg, err := r.add(t0, msgID, uint16(n), uint16(len(parts)), wire.PayloadIDi, bytes.Clone(parts[n-1]))
		if err != nil {
			t.Fatalf("fragment %d: %v", n, err)
		}
		if msg != nil && i != len(order)-1 {
			t.Fatalf("message complete after %d of %d fragments", i+1, len(order))
		}
		got, first = msg, f
	}
	return got, first
}

func split(msg []byte, n int) [][]byte {
	var parts [][]byte
	size := (len(msg) + n - 1) / n
	for i := 0; i < n; i++ {
		parts = append(parts, msg[min(i*size, len(msg)):min((i+1)*size, len(msg))])
	}
	return parts
}

func TestReassemblyInOrderAndOutOfOrder(t *testing.T) {
	msg := seqBytes(1000)
	parts := split(msg, 5)
	for _, order := range [][]int{{1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}, {3, 1, 5, 2, 4}} {
		r, b := newTestReassembler()
		got, first := feed(t, r, 1, parts, order...)
		if !bytes.Equal(got, msg) || first != wire.PayloadIDi {
			t.Errorf("order %v: got %d octets, first %v", order, len(got), first)
		}
		if b.used.Load() != 0 || r.held() != 0 || r.active {
			t.Errorf("order %v: still holding %d (budget %d)", order, r.held(), b.used.Load())
		}
	}
}

// TestReassemblyFirstPayloadFromFragmentOne: only fragment 1's Next
// Payload counts (RFC 7383 2.5).
func TestReassemblyFirstPayloadFromFragmentOne(t *testing.T) {
	r, _ := newTestReassembler()
	if _, _, err := r.add(t0, 1, 2, 2, wire.PayloadNonce, []byte("b")); err != nil {
		t.Fatal(err)
	}
	first, msg, err := r.add(t0, 1, 1, 2, wire.PayloadIDr, []byte("a"))
	if err != nil || string(msg) != "ab" || first != wire.PayloadIDr {
		t.Fatalf("%v %q %v", first, msg, err)
	}
}

func TestReassemblyDuplicateIgnored(t *testing.T) {
	r, b := newTestReassembler()
	if _, _, err := r.add(t0, 1, 1, 3, wire.PayloadIDi, []byte("aaa")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.add(t0, 1, 1, 3, wire.PayloadIDi, []byte("XXX")); !errors.Is(err, errFragDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	if b.used.Load() != 3 {
		t.Errorf("budget %d after a duplicate, want 3", b.used.Load())
	}
	r.add(t0, 1, 2, 3, 0, []byte("bbb"))
	_, msg, err := r.add(t0, 1, 3, 3, 0, []byte("c"))
	if err != nil || string(msg) != "aaabbbc" {
		t.Fatalf("%q %v (the duplicate must not replace the first copy)", msg, err)
	}
}

func TestReassemblyMissingNeverCompletes(t *testing.T) {
	r, b := newTestReassembler()
	for _, n := range []uint16{1, 2, 4} {
		if _, msg, err := r.add(t0, 1, n, 4, 0, []byte{byte(n)}); err != nil || msg != nil {
			t.Fatalf("fragment %d: %q %v", n, msg, err)
		}
	}
	if r.held() != 3 || b.used.Load() != 3 {
		t.Errorf("held %d, budget %d", r.held(), b.used.Load())
	}
	// After the timeout a new fragment starts over and the old ones go.
	if _, msg, err := r.add(t0.Add(reassemblyTimeout+time.Second), 1, 3, 4, 0, []byte{3}); err != nil || msg != nil {
		t.Fatalf("after timeout: %q %v", msg, err)
	}
	if r.held() != 1 || b.used.Load() != 1 {
		t.Errorf("after timeout held %d, budget %d; want 1", r.held(), b.used.Load())
	}
	r.reset()
	if b.used.Load() != 0 {
		t.Errorf("budget %d after reset", b.used.Load())
	}
}

// TestReassemblyTotalChanges follows RFC 7383 2.6.2: a larger Total
// Fragments restarts, a smaller one is a leftover and is dropped.
func TestReassemblyTotalChanges(t *testing.T) {
	r, b := newTestReassembler()
	r.add(t0, 1, 1, 2, wire.PayloadIDi, []byte("old-1"))
	if _, msg, err := r.add(t0, 1, 1, 3, wire.PayloadIDi, []byte("a")); err != nil || msg != nil {
		t.Fatalf("restart: %q %v", msg, err)
	}
	if b.used.Load() != 1 {
		t.Fatalf("budget %d after restart, want 1", b.used.Load())
	}
	if _, _, err := r.add(t0, 1, 2, 2, 0, []byte("old-2")); !errors.Is(err, errFragStale) {
		t.Fatalf("smaller total: %v", err)
	}
	r.add(t0, 1, 2, 3, 0, []byte("b"))
	if _, msg, err := r.add(t0, 1, 3, 3, 0, []byte("c")); err != nil || string(msg) != "abc" {
		t.Fatalf("%q %v", msg, err)
	}
}

func TestReassemblyNewMessageIDReplaces(t *testing.T) {
	r, b := newTestReassembler()
	r.add(t0, 1, 1, 2, wire.PayloadIDi, []byte("xx"))
	if _, msg, err := r.add(t0, 2, 1, 1, wire.PayloadNotify, []byte("n")); err != nil || string(msg) != "n" {
		t.Fatalf("%q %v", msg, err)
	}
	if b.used.Load() != 0 {
		t.Errorf("budget %d", b.used.Load())
	}
}

func TestReassemblyLimits(t *testing.T) {
	r, b := newTestReassembler()
	if _, _, err := r.add(t0, 1, 1, maxFragments+1, 0, []byte("a")); !errors.Is(err, errFragTooLarge) {
		t.Errorf("too many fragments: %v", err)
	}
	for _, bad := range [][2]uint16{{0, 1}, {2, 1}, {1, 0}} {
		if _, _, err := r.add(t0, 1, bad[0], bad[1], 0, []byte("a")); !errors.Is(err, errFragInvalid) {
			t.Errorf("fragment %d of %d: %v", bad[0], bad[1], err)
		}
	}
	// A message that grows over the size limit is dropped whole.
	r.maxSize = 100
	r.add(t0, 1, 1, 3, 0, make([]byte, 60))
	if _, _, err := r.add(t0, 1, 2, 3, 0, make([]byte, 60)); !errors.Is(err, errFragTooLarge) {
		t.Errorf("oversize: %v", err)
	}
	if r.held() != 0 || b.used.Load() != 0 {
		t.Errorf("held %d, budget %d after oversize", r.held(), b.used.Load())
	}
	// The engine-wide budget is shared and never exceeded.
	shared := &fragBudget{max: 50}
	r1 := &reassembler{budget: shared}
	r2 := &reassembler{budget: shared}
	if _, _, err := r1.add(t0, 1, 1, 2, 0, make([]byte, 40)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r2.add(t0, 1, 1, 2, 0, make([]byte, 20)); !errors.Is(err, errFragBudget) {
		t.Errorf("over budget: %v", err)
	}
	if shared.used.Load() != 40 || r2.held() != 0 {
		t.Errorf("budget %d, r2 holds %d", shared.used.Load(), r2.held())
	}
	r1.reset()
	if _, _, err := r2.add(t0, 1, 1, 2, 0, make([]byte, 20)); err != nil {
		t.Errorf("after release: %v", err)
	}
}

func seqBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// FuzzReassembly drives a reassembler with arbitrary fragment sequences
// (message ID, numbers, totals, sizes, time steps). It must never panic,
// never hold more than its limits, keep the budget equal to what it
// holds, and return only a message whose every fragment it was given for
// that message ID and total.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{1, 1, 3, 10, 0, 1, 2, 3, 10, 0, 1, 3, 3, 5, 0})
	f.Add([]byte{1, 2, 2, 1, 0, 1, 1, 3, 1, 0, 1, 2, 2, 1, 0, 1, 1, 1, 0, 0})
	f.Add([]byte{1, 1, 2, 255, 0, 1, 1, 2, 255, 200, 2, 2, 2, 3, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		budget := &fragBudget{max: 4000}
		r := &reassembler{budget: budget, maxFragments: 8, maxSize: 1000, timeout: time.Minute}
		now := t0
		type key struct {
			id    uint32
			total uint16
		}
		// given[k][n] is what fragment n of message k last carried.
		given := map[key]map[uint16][]byte{}
		for len(ops) >= 5 {
			id, num, total, size, step := uint32(ops[0]%4), uint16(ops[1]%10), uint16(ops[2]%10), int(ops[3])*5, ops[4]
			ops = ops[5:]
			now = now.Add(time.Duration(step) * time.Second)
			data := bytes.Repeat([]byte{byte(num)}, size)
			k := key{id, total}
			_, msg, err := r.add(now, id, num, total, wire.PayloadIDi, bytes.Clone(data))
			if err == nil {
				if given[k] == nil {
					given[k] = map[uint16][]byte{}
				}
				given[k][num] = data
			}
			if r.held() > 1000 || budget.used.Load() != int64(r.held()) {
				t.Fatalf("holds %d, budget %d", r.held(), budget.used.Load())
			}
			if r.active && (len(r.frags) != int(r.total) || int(r.total) > 8) {
				t.Fatalf("bad state: %d slots for total %d", len(r.frags), r.total)
			}
			if msg == nil {
				continue
			}
			if err != nil {
				t.Fatalf("message with error %v", err)
			}
			var want []byte
			for n := uint16(1); n <= total; n++ {
				part, ok := given[k][n]
				if !ok {
					t.Fatalf("message %d complete without fragment %d of %d", id, n, total)
				}
				want = append(want, part...)
			}
			if !bytes.Equal(msg, want) {
				t.Fatalf("message %d: got %d octets, want %d", id, len(msg), len(want))
			}
			delete(given, k)
			if r.held() != 0 {
				t.Fatal("still holding after completion")
			}
		}
		r.reset()
		if budget.used.Load() != 0 {
			t.Fatalf("budget %d after reset", budget.used.Load())
		}
	})
}
