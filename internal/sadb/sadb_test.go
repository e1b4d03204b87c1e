package sadb

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
)

// encrAESGCM16 is ENCR_AES_GCM_16 (RFC 4106, IANA IKEv2 transform type 1 ID 20).
const encrAESGCM16 = 20

func newAEAD(t testing.TB, b byte) *suite.AEAD {
	t.Helper()
	keymat := make([]byte, 16+4)
	for i := range keymat {
		keymat[i] = b
	}
	a, err := suite.NewAEAD(encrAESGCM16, 128, keymat)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newChild(t testing.TB, name string, inSPI uint32, local, remote string) *ChildSA {
	t.Helper()
	return &ChildSA{
		Name:     name,
		In:       esp.NewInbound(inSPI, newAEAD(t, 1), 128),
		Out:      esp.NewOutbound(inSPI+0x10000, newAEAD(t, 2)),
		Local:    netip.MustParseAddrPort("192.0.2.1:4500"),
		Remote:   netip.MustParseAddrPort("192.0.2.2:4500"),
		Encap:    true,
		LocalTS:  []ts.Selector{mustTS(t, local)},
		RemoteTS: []ts.Selector{mustTS(t, remote)},
	}
}

func mustTS(t testing.TB, s string) ts.Selector {
	t.Helper()
	sel, err := ts.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

var (
	a1 = netip.MustParseAddr("10.1.0.5")
	b1 = netip.MustParseAddr("10.2.0.7")
	c1 = netip.MustParseAddr("10.3.0.9")
)

func TestZeroValueIsEmpty(t *testing.T) {
	var db DB
	if db.Inbound(1) != nil || firstMatch(&db, a1, b1, 6, 1, 2) != nil || db.Remove(1) != nil {
		t.Fatal("empty DB returned an SA")
	}
	if got := db.All(); len(got) != 0 || db.Len() != 0 {
		t.Fatalf("All() = %v, Len = %d; want empty", got, db.Len())
	}
}

func TestAddLookupRemove(t *testing.T) {
	var db DB
	sa1 := newChild(t, "site/a", 0x1001, "10.1.0.0/16", "10.2.0.0/16")
	sa2 := newChild(t, "site/b", 0x1002, "10.1.0.0/16", "10.3.0.0/16[tcp/443]")
	for _, c := range []*ChildSA{sa1, sa2} {
		if err := db.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	if db.Inbound(0x1001) != sa1 || db.Inbound(0x1002) != sa2 || db.Inbound(0x1003) != nil {
		t.Fatal("Inbound lookup by SPI wrong")
	}
	tests := []struct {
		name     string
		src, dst netip.Addr
		proto    uint8
		sp, dp   uint16
		want     *ChildSA
	}{
		{"any proto to b", a1, b1, 17, 1000, 53, sa1},
		{"tcp 443 to c", a1, c1, 6, 40000, 443, sa2},
		{"tcp 80 to c", a1, c1, 6, 40000, 80, nil},
		{"udp 443 to c", a1, c1, 17, 40000, 443, nil},
		{"reverse direction", b1, a1, 6, 1, 2, nil},
		{"src outside", c1, b1, 6, 1, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstMatch(&db, tt.src, tt.dst, tt.proto, tt.sp, tt.dp); got != tt.want {
				t.Errorf("Outbound = %v, want %v", got, tt.want)
			}
		})
	}
	if all := db.All(); len(all) != 2 || all[0] != sa1 || all[1] != sa2 {
		t.Fatalf("All() = %v, want [sa1 sa2]", all)
	}

	if got := db.Remove(0x1001); got != sa1 {
		t.Fatalf("Remove = %v, want sa1", got)
	}
	if got := db.Remove(0x1001); got != nil {
		t.Fatalf("second Remove = %v, want nil", got)
	}
	if db.Inbound(0x1001) != nil || firstMatch(&db, a1, b1, 17, 1, 2) != nil {
		t.Fatal("removed SA still found")
	}
	if db.Inbound(0x1002) != sa2 || db.Len() != 1 {
		t.Fatal("other SA lost by Remove")
	}
}

func TestDuplicateSPI(t *testing.T) {
	var db DB
	if err := db.Add(newChild(t, "x/1", 7, "10.1.0.0/16", "10.2.0.0/16")); err != nil {
		t.Fatal(err)
	}
	err := db.Add(newChild(t, "x/2", 7, "10.1.0.0/16", "10.3.0.0/16"))
	if !errors.Is(err, ErrDuplicateSPI) {
		t.Fatalf("Add duplicate SPI: err = %v, want ErrDuplicateSPI", err)
	}
	if db.Len() != 1 || firstMatch(&db, a1, c1, 0, 0, 0) != nil {
		t.Fatal("failed Add changed the DB")
	}
}

func TestAddRejectsHalfSA(t *testing.T) {
	var db DB
	c := newChild(t, "x/1", 7, "10.1.0.0/16", "10.2.0.0/16")
	c.Out = nil
	if err := db.Add(c); err == nil {
		t.Fatal("Add accepted an SA without outbound state")
	}
	if err := db.Add(nil); err == nil {
		t.Fatal("Add accepted nil")
	}
}

func TestZeroFailsSealAndOpen(t *testing.T) {
	c := newChild(t, "x/1", 9, "10.1.0.0/16", "10.2.0.0/16")
	buf := make([]byte, 256)
	if _, err := c.Seal(buf, 20, 4); err != nil {
		t.Fatalf("Seal before Zero: %v", err)
	}
	c.Zero()
	c.Zero() // idempotent
	if _, err := c.Seal(buf, 20, 4); !errors.Is(err, ErrDeleted) {
		t.Fatalf("Seal after Zero: err = %v, want ErrDeleted", err)
	}
	if _, _, err := c.Open(buf[:64]); !errors.Is(err, ErrDeleted) {
		t.Fatalf("Open after Zero: err = %v, want ErrDeleted", err)
	}
}

// TestConcurrentLookups runs lock-free lookups while SAs are added and
// removed; run with -race.
func TestConcurrentLookups(t *testing.T) {
	var db DB
	stable := newChild(t, "s/stable", 1, "10.1.0.0/16", "10.2.0.0/16")
	if err := db.Add(stable); err != nil {
		t.Fatal(err)
	}
	const churn = 200
	children := make([]*ChildSA, churn)
	for i := range children {
		children[i] = newChild(t, "s/churn", uint32(100+i), "10.1.0.0/16", "10.3.0.0/16")
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var misses atomic.Uint64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if db.Inbound(1) != stable || firstMatch(&db, a1, b1, 6, 1, 2) != stable {
					misses.Add(1)
				}
				if c := firstMatch(&db, a1, c1, 6, 1, 2); c != nil && c.Name != "s/churn" {
					misses.Add(1)
				}
				for _, c := range db.All() {
					_ = c.Stats.PacketsIn.Load()
				}
			}
		})
	}
	for i, c := range children {
		if err := db.Add(c); err != nil {
			t.Error(err)
		}
		if i%2 == 1 {
			db.Remove(c.In.SPI())
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := misses.Load(); n != 0 {
		t.Fatalf("%d lookups missed the stable SA or found a wrong one", n)
	}
	if got, want := db.Len(), 1+churn/2; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
}

// firstMatch is the first installed SA whose selectors match an
// outbound packet (the data plane asks the SPD; this checks the SAs'
// own MatchOutbound and that the table holds them).
func firstMatch(db *DB, src, dst netip.Addr, proto uint8, sp, dp uint16) *ChildSA {
	for _, c := range db.All() {
		if c.MatchOutbound(src, dst, proto, sp, dp) {
			return c
		}
	}
	return nil
}
