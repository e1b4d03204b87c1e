package esp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/ike"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// AH with AES-GMAC (RFC 4543 4). The generic AH tests (round trips, every
// bit flip, replay, ESN, allocations) run it through ahAlgs; these check
// the wire format against values computed independently of the code
// under test. scapy has no AH-GMAC, so there is no scapy cross-check.

// hexFields decodes hex split by any white space.
func hexFields(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestAHGMACOpenDataPlaneVector opens the AH AES-GMAC-128 test packet of
// OpenDataPlane's IPsec validation suite (test/validation/api/ipsec,
// pkt_ipv4_icmp_0_ah_aes_gmac_128_1: key 0xa5 x 16, salt cafebabe, SPI
// 123, sequence number 1, IV 01 00 .. 00), an implementation other than
// this one, and gets back its plain packet (pkt_ipv4_icmp_0).
func TestAHGMACOpenDataPlaneVector(t *testing.T) {
	icmp := `0800fb3712340000babe01234567cafe
		000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
		202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
		404142434445464748494a4b4c4d4e4f505152535455565758595a5b`
	sealed := hexFields(t, `450000a400000000 4033abd1 c0a86f02 c0a8de02
		01070000 0000007b 00000001
		0100000000000000
		d60ecc2231795972 68c958fb8bb0bbd5`+icmp)
	want := hexFields(t, `4500008000000000 4001ac27 c0a86f02 c0a8de02`+icmp)
	key := append(bytes.Repeat([]byte{0xa5}, 16), 0xca, 0xfe, 0xba, 0xbe)
	in := NewAHInbound(123, newInteg(t, ike.IntegAES128GMAC, key), 0, false)
	got, err := in.OpenTransport(bytes.Clone(sealed))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("opened\n%x\nwant\n%x", got, want)
	}
	// The same packet with the IV zeroed in the AAD (the reading in
	// which the whole Authentication Data field is zeroed) must fail:
	// the IV is authenticated as sent.
	bad := bytes.Clone(sealed)
	sealed[32] ^= 1 // another IV, so another nonce and another AAD
	in = NewAHInbound(123, newInteg(t, ike.IntegAES128GMAC, key), 0, false)
	if _, err := in.OpenTransport(sealed); err != ErrAuth {
		t.Fatalf("changed IV: %v, want ErrAuth", err)
	}
	if _, err := in.OpenTransport(bad); err != nil {
		t.Fatalf("after a forgery the genuine packet: %v", err)
	}
}

// gmacByHand computes the AH AES-GMAC tag of the sealed packet pkt (AH at
// ahOff) with crypto/cipher directly: the mutable IP fields zeroed (for
// these test packets: IPv4 TOS, flags and fragment offset, TTL, checksum;
// IPv6 traffic class, flow label, hop limit), the tag zeroed, the IV left
// as sent, the ESN high bits appended, nonce salt || IV.
func gmacByHand(t *testing.T, key, salt, pkt []byte, ahOff int, esn bool, seq uint64) []byte {
	t.Helper()
	aad := bytes.Clone(pkt)
	if aad[0]>>4 == 4 {
		aad[1], aad[6], aad[7], aad[8], aad[10], aad[11] = 0, 0, 0, 0, 0, 0
	} else {
		aad[0], aad[1], aad[2], aad[3], aad[7] = 0x60, 0, 0, 0, 0
	}
	iv := aad[ahOff+12 : ahOff+20]
	clear(aad[ahOff+20 : ahOff+36])
	if esn {
		aad = binary.BigEndian.AppendUint32(aad, uint32(seq>>32))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g.Seal(nil, append(bytes.Clone(salt), iv...), nil, aad)
}

// TestAHGMACKnownAnswer seals with every key size, both IP versions, both
// modes and with and without ESN, and checks the layout and the tag
// against gmacByHand.
func TestAHGMACKnownAnswer(t *testing.T) {
	for _, kl := range []struct {
		id  uint16
		len int
	}{{ike.IntegAES128GMAC, 16}, {ike.IntegAES192GMAC, 24}, {ike.IntegAES256GMAC, 32}} {
		for _, v6 := range []bool{false, true} {
			for _, esn := range []bool{false, true} {
				key := randBytes(kl.len + 4)
				m := newInteg(t, kl.id, key)
				o := NewAHOutbound(testSPI, m, esn)
				in := NewAHInbound(testSPI, m, 0, esn)
				seq := uint64(7)
				plain := udpIPv4(v4A, v4B, nil, 100, 3)
				tun := tunnelFor("192.0.2.1", "198.51.100.2")
				if v6 {
					plain = udpIPv6(v6A, v6B, v6Ext{}, 100, 3)
					tun = tunnelFor("2001:db8::1", "2001:db8::2")
				}
				if esn {
					// High bits 1: the receiver's window moves to the
					// end of subspace 0 first, so that it infers them.
					if _, err := in.OpenTransport(ahSealTransport(t, o, plain, 1<<32-1)); err != nil {
						t.Fatal(err)
					}
					seq = 1<<32 | 9
				}
				for _, tunnel := range []bool{false, true} {
					var sealed []byte
					if tunnel {
						sealed = ahSealTunnel(t, o, tun, plain, seq)
					} else {
						sealed = ahSealTransport(t, o, plain, seq)
					}
					ahOff := packet.IPv4MinHeader
					if v6 {
						ahOff = packet.IPv6HeaderLen
					}
					ah := sealed[ahOff:]
					// RFC 4543 4 (erratum 3643): 12 + 8 + 16 = 36 octets,
					// padded to 40 for IPv6; Payload Len is words - 2.
					wantLen := 36
					if v6 {
						wantLen = 40
					}
					if got := (int(ah[1]) + 2) * 4; got != wantLen || o.HeaderLen(v6) != wantLen {
						t.Fatalf("v6=%v: AH length %d, HeaderLen %d, want %d", v6, got, o.HeaderLen(v6), wantLen)
					}
					if v6 && !bytes.Equal(ah[36:40], make([]byte, 4)) {
						t.Fatalf("padding %x", ah[36:40])
					}
					if got := binary.BigEndian.Uint64(ah[12:20]); got != seq {
						t.Fatalf("IV %x, want the sequence number %x", got, seq)
					}
					if got := binary.BigEndian.Uint32(ah[8:12]); got != uint32(seq) {
						t.Fatalf("sequence number field %x", got)
					}
					want := gmacByHand(t, key[:kl.len], key[kl.len:], sealed, ahOff, esn, seq)
					if !bytes.Equal(ah[20:36], want) {
						t.Fatalf("id %d v6=%v esn=%v tunnel=%v: tag\n%x\nwant\n%x", kl.id, v6, esn, tunnel, ah[20:36], want)
					}
					var err error
					if tunnel {
						_, err = in.OpenTunnel(sealed)
					} else {
						_, err = in.OpenTransport(sealed)
					}
					if err != nil {
						t.Fatalf("id %d v6=%v esn=%v tunnel=%v: %v", kl.id, v6, esn, tunnel, err)
					}
					seq++
				}
			}
		}
	}
}

// TestAHGMACWrongLengthRejected: a packet sealed with a 12-octet ICV
// algorithm (AH length 24) does not reach the GMAC computation of an SA
// that expects 36 octets.
func TestAHGMACWrongLengthRejected(t *testing.T) {
	hm := NewAHOutbound(testSPI, newInteg(t, ike.IntegHMACSHA1_96, nil), false)
	in := NewAHInbound(testSPI, newInteg(t, ike.IntegAES128GMAC, nil), 0, false)
	sealed := ahSealTransport(t, hm, udpIPv4(v4A, v4B, nil, 50, 1), 1)
	if _, err := in.OpenTransport(sealed); err != ErrMalformed {
		t.Fatalf("%v, want ErrMalformed", err)
	}
	if in.Stats().Malformed != 1 {
		t.Fatalf("stats %+v", in.Stats())
	}
}

// TestAHGMACKeymat: the keying material is the AES key and the 4-octet
// salt, and the GMAC IDs stay out of ESP and IKE.
func TestAHGMACKeymat(t *testing.T) {
	for id, want := range map[uint16]int{ike.IntegAES128GMAC: 20, ike.IntegAES192GMAC: 28, ike.IntegAES256GMAC: 36} {
		if n, err := suite.AHIntegKeyLen(id); err != nil || n != want {
			t.Errorf("AHIntegKeyLen(%d) = %d, %v; want %d", id, n, err, want)
		}
		if _, err := suite.IntegKeyLen(id); err == nil {
			t.Errorf("IntegKeyLen(%d) accepts an AH-only algorithm", id)
		}
		if _, _, err := suite.ESPKeymatLen(ike.EncrAESCBC, 128, id); err == nil {
			t.Errorf("ESP accepts integrity algorithm %d", id)
		}
		if _, err := suite.NewAHInteg(id, make([]byte, want-1)); err == nil {
			t.Errorf("NewAHInteg(%d) accepts a short key", id)
		}
	}
	if n, err := suite.AHIntegKeyLen(ike.IntegHMACSHA256_128); err != nil || n != 32 {
		t.Errorf("AHIntegKeyLen(HMAC-SHA-256) = %d, %v", n, err)
	}
}
