package ike

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// mustPool makes a pool of the range "first-last".
func mustPool(t *testing.T, r string) *AddressPool {
	t.Helper()
	a, b, _ := strings.Cut(r, "-")
	p, err := NewAddressPool("p", netip.MustParseAddr(a), netip.MustParseAddr(b))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAddressPoolLeases(t *testing.T) {
	p := mustPool(t, "10.3.0.1-10.3.0.2")
	if p.Size() != 2 {
		t.Fatalf("size %d, want 2", p.Size())
	}
	a, err := p.Acquire("alice", netip.Addr{})
	if err != nil || a.String() != "10.3.0.1" {
		t.Fatalf("alice: %v %v", a, err)
	}
	b, err := p.Acquire("bob", netip.IPv4Unspecified())
	if err != nil || b.String() != "10.3.0.2" {
		t.Fatalf("bob: %v %v", b, err)
	}
	if _, err := p.Acquire("carol", netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("carol got an address from a full pool: %v", err)
	}
	// alice comes back: her own address again, even after going offline.
	p.Release(a)
	if got, _ := p.Acquire("alice", netip.Addr{}); got != a {
		t.Fatalf("alice back: %v, want %v", got, a)
	}
	// A rekeyed IKE SA retains; one release keeps the lease online.
	if !p.Retain(a) {
		t.Fatal("Retain of a leased address failed")
	}
	p.Release(a)
	if s := p.Stats(); s.Online != 2 {
		t.Fatalf("online %d after one of two releases, want 2", s.Online)
	}
	p.Release(a)
	// The pool is dry: carol takes alice's offline lease, never bob's online one.
	c, err := p.Acquire("carol", b)
	if err != nil || c != a {
		t.Fatalf("carol: %v %v, want %v (alice's offline lease)", c, err, a)
	}
	if s := p.Stats(); s.OnlineLeases[b] != "bob" || s.OnlineLeases[c] != "carol" || s.Offline != 0 {
		t.Fatalf("leases %+v", s)
	}
	// A requested address outside the pool is ignored.
	p.Release(b)
	if got, _ := p.Acquire("bob", netip.MustParseAddr("192.0.2.1")); got != b {
		t.Fatalf("bob back: %v, want %v", got, b)
	}
}

func TestAddressPoolRequested(t *testing.T) {
	p := mustPool(t, "10.3.0.1-10.3.0.254")
	want := netip.MustParseAddr("10.3.0.77")
	if got, _ := p.Acquire("alice", want); got != want {
		t.Fatalf("requested free address: got %v", got)
	}
	// Somebody else's address is not handed out on request.
	if got, _ := p.Acquire("bob", want); got == want {
		t.Fatal("bob got alice's address by asking for it")
	}
	// The cursor skips the address taken by request.
	for i := 0; i < 252; i++ {
		got, err := p.Acquire("x"+string(rune('a'+i%26))+string(rune('a'+i/26)), netip.Addr{})
		if err != nil {
			t.Fatalf("acquire %d: %v", i, err)
		}
		if got == want {
			t.Fatalf("acquire %d handed out alice's address", i)
		}
	}
	if _, err := p.Acquire("last", netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("254-address pool gave out a 255th: %v", err)
	}
}

func TestAddressPoolIPv6Large(t *testing.T) {
	p := mustPool(t, "fd00:1::1-fd00:1::ffff:ffff:ffff:ffff")
	a, err := p.Acquire("alice", netip.Addr{})
	if err != nil || a.String() != "fd00:1::1" {
		t.Fatalf("%v %v", a, err)
	}
	if !p.Contains(netip.MustParseAddr("fd00:1::ffff")) || p.Contains(netip.MustParseAddr("fd00:2::1")) {
		t.Fatal("Contains is wrong")
	}
}

// TestAddressPoolCarries: the pool counts across octet boundaries and,
// for IPv6, across the 64-bit halves of the address.
func TestAddressPoolCarries(t *testing.T) {
	for _, c := range []struct {
		r    string
		size uint64
		want []string
	}{
		{"10.3.0.254-10.3.1.1", 4, []string{"10.3.0.254", "10.3.0.255", "10.3.1.0", "10.3.1.1"}},
		{"fd00::ffff:ffff:ffff:fffe-fd00:0:0:1::1", 4, []string{"fd00::ffff:ffff:ffff:fffe", "fd00::ffff:ffff:ffff:ffff", "fd00:0:0:1::", "fd00:0:0:1::1"}},
		{"fd00::1-fd00:0:0:1::", 1 << 32, []string{"fd00::1", "fd00::2"}},
	} {
		p := mustPool(t, c.r)
		if p.Size() != c.size {
			t.Errorf("%s: size %d, want %d", c.r, p.Size(), c.size)
		}
		for i, w := range c.want {
			got, err := p.Acquire(string(rune('a'+i)), netip.Addr{})
			if err != nil || got.String() != w {
				t.Errorf("%s: acquire %d: %v %v, want %s", c.r, i, got, err, w)
			}
		}
	}
}

// TestAddressPoolIPv6NoPerAddressMemory: a /64-sized pool costs what its
// leases cost, not what its addresses would: making one allocates a few
// objects, and a lease a few more, whatever the pool's size.
func TestAddressPoolIPv6NoPerAddressMemory(t *testing.T) {
	first, last := netip.MustParseAddr("fd00:10::1"), netip.MustParseAddr("fd00:10::ffff:ffff:ffff:fffe")
	if n := testing.AllocsPerRun(10, func() {
		if _, err := NewAddressPool("p6", first, last); err != nil {
			t.Fatal(err)
		}
	}); n > 5 {
		t.Fatalf("NewAddressPool of a /64 allocates %v objects", n)
	}
	p, _ := NewAddressPool("p6", first, last)
	i := 0
	n := testing.AllocsPerRun(1000, func() {
		i++
		a, err := p.Acquire("id"+strconv.Itoa(i), netip.Addr{})
		if err != nil || !p.Contains(a) {
			t.Fatal(a, err)
		}
	})
	// The identity string, the lease, its map entries (amortized).
	if n > 8 {
		t.Fatalf("Acquire allocates %v objects per lease", n)
	}
	if s := p.Stats(); s.Online != 1001 || s.Size != 1<<32 {
		t.Fatalf("stats: online %d size %d", s.Online, s.Size)
	}
	if !p.Contains(netip.MustParseAddr("fd00:10::1:0:0")) || p.Contains(netip.MustParseAddr("fd00:10::1:0:1")) {
		t.Fatal("Contains past the first 2^32 addresses")
	}
}

// BenchmarkAddressPoolAcquire6 leases fresh addresses from a /64-sized
// pool: the cost per lease, whatever the pool's size.
func BenchmarkAddressPoolAcquire6(b *testing.B) {
	p, err := NewAddressPool("p6", netip.MustParseAddr("fd00:10::1"), netip.MustParseAddr("fd00:10::ffff:ffff:ffff:fffe"))
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "id" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Acquire(ids[i], netip.Addr{}); err != nil {
			b.Fatal(err)
		}
	}
}
