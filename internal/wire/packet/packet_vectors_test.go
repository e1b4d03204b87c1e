package packet

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChecksumRFC1071Example is the worked example of RFC 1071 section 3:
// the words 0001 f203 f4f5 f6f7 sum to 2ddf0, folded ddf2.
func TestChecksumRFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := fold(Sum(b, 0)); got != 0xddf2 {
		t.Errorf("folded sum = %#04x, want 0xddf2 (RFC 1071 section 3)", got)
	}
	if got := Checksum(b, 0); got != ^uint16(0xddf2) {
		t.Errorf("Checksum = %#04x, want %#04x", got, ^uint16(0xddf2))
	}
	// Byte-order independence (RFC 1071 2(B)): the swapped sum is swapped.
	sw := []byte{0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6}
	if got := fold(Sum(sw, 0)); got != 0xf2dd {
		t.Errorf("byte-swapped folded sum = %#04x, want 0xf2dd", got)
	}
}

// ipv4Example is the widely used IPv4 header checksum example (Wikipedia,
// "Internet checksum"; also in many textbooks): a UDP packet
// 192.168.0.1 -> 192.168.0.199, total length 0x73, DF, TTL 64, checksum
// 0xb861.
const ipv4Example = "450000730000400040110000c0a80001c0a800c7"

func TestIPv4HeaderChecksumExample(t *testing.T) {
	h := unhex(t, ipv4Example)
	if got := Checksum(h, 0); got != 0xb861 {
		t.Fatalf("checksum = %#04x, want 0xb861", got)
	}
	// EncodeIPv4 produces the identical header.
	b := make([]byte, 20)
	EncodeIPv4(b, IPv4Fields{
		TotalLen: 0x73, Flags: IPv4FlagDF, TTL: 64, Protocol: ProtoUDP,
		Src: netip.MustParseAddr("192.168.0.1"), Dst: netip.MustParseAddr("192.168.0.199"),
	})
	h[10], h[11] = 0xb8, 0x61
	if hex.EncodeToString(b) != hex.EncodeToString(h) {
		t.Fatalf("EncodeIPv4:\n got %x\nwant %x", b, h)
	}
}
