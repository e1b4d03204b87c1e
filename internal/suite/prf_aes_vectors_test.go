package suite

import (
	"bytes"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// rfc4434Message is the 20-octet message 0x00..0x13 of the test vectors of
// RFC 4434 section 4 and RFC 4615 section 4.
func rfc4434Message() []byte {
	m := make([]byte, 20)
	for i := range m {
		m[i] = byte(i)
	}
	return m
}

// TestPRFAES128XCBCRFC4434 runs the test vectors of RFC 4434 section 4,
// which exercise the key-length rule of section 2: a 16-octet key is used
// as is, a 10-octet key is padded with zeros, an 18-octet key is first
// shortened with AES-XCBC-MAC under the all-zero key.
func TestPRFAES128XCBCRFC4434(t *testing.T) {
	prf, err := NewPRF(ike.PRFAES128XCBC)
	if err != nil {
		t.Fatal(err)
	}
	if prf.Size() != 16 || prf.FixedKeyLen() != 16 || prf.String() != "PRF_AES128_XCBC" {
		t.Fatalf("Size %d FixedKeyLen %d String %q", prf.Size(), prf.FixedKeyLen(), prf)
	}
	for _, v := range []struct {
		name, key, out string
	}{
		{"key 16 octets", "000102030405060708090a0b0c0d0e0f", "47f51b4564966215b8985c63055ed308"},
		{"key 10 octets", "00010203040506070809", "0fa087af7d866e7653434e602fdde835"},
		{"key 18 octets", "000102030405060708090a0b0c0d0e0fedcb", "8cd3c93ae598a9803006ffb67c40e9e4"},
	} {
		if got := prf.Compute(unhex(t, v.key), rfc4434Message()); !bytes.Equal(got, unhex(t, v.out)) {
			t.Errorf("RFC 4434 %s: %x, want %s", v.name, got, v.out)
		}
	}
}

// TestPRFAES128CMACRFC4615 runs the test vectors of RFC 4615 section 4 for
// the key-length rule of section 3: a 16-octet key is used as is, any
// other is replaced by AES-CMAC(0^128, key) (no zero padding, unlike
// XCBC).
func TestPRFAES128CMACRFC4615(t *testing.T) {
	prf, err := NewPRF(ike.PRFAES128CMAC)
	if err != nil {
		t.Fatal(err)
	}
	if prf.Size() != 16 || prf.FixedKeyLen() != 16 || prf.String() != "PRF_AES128_CMAC" {
		t.Fatalf("Size %d FixedKeyLen %d String %q", prf.Size(), prf.FixedKeyLen(), prf)
	}
	for _, v := range []struct {
		name, key, out string
	}{
		{"key 18 octets", "000102030405060708090a0b0c0d0e0fedcb", "84a348a4a45d235babfffc0d2b4da09a"},
		{"key 16 octets", "000102030405060708090a0b0c0d0e0f", "980ae87b5f4c9c5214f5b6a8455e4c2d"},
		{"key 10 octets", "00010203040506070809", "290d9e112edb09ee141fcf64c0b72f3d"},
	} {
		if got := prf.Compute(unhex(t, v.key), rfc4434Message()); !bytes.Equal(got, unhex(t, v.out)) {
			t.Errorf("RFC 4615 %s: %x, want %s", v.name, got, v.out)
		}
	}
}

// rfc4493Key and rfc4493Message are the key and the 64-octet message of
// RFC 4493 section 4, whose examples MAC its first 0, 16, 40 and 64 octets.
const (
	rfc4493Key     = "2b7e151628aed2a6abf7158809cf4f3c"
	rfc4493Message = `6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
		30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`
)

var rfc4493Cases = []struct {
	n   int
	mac string
}{
	{0, "bb1d6929e95937287fa37d129b756746"},
	{16, "070a16b46b4d4144f79bdd9dd04a287c"},
	{40, "dfa66747de9ae63030ca32611497c827"},
	{64, "51f0bebf7e3b9d92fc49741779363cfe"},
}

// TestAESCMACRFC4493 checks AES-CMAC itself (RFC 4493 section 4, the same
// examples as NIST SP 800-38B D.1), written in one piece and in 7-octet
// pieces, and the subkeys of section 4's subkey generation example.
func TestAESCMACRFC4493(t *testing.T) {
	key, msg := unhex(t, rfc4493Key), unhex(t, rfc4493Message)
	m, err := newCMAC(key)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.kFull[:], unhex(t, "fbeed618357133667c85e08f7236a8de"); !bytes.Equal(got, want) {
		t.Errorf("K1 %x, want %x", got, want)
	}
	if got, want := m.kPartial[:], unhex(t, "f7ddac306ae266ccf90bc11ee46d513b"); !bytes.Equal(got, want) {
		t.Errorf("K2 %x, want %x", got, want)
	}
	for _, c := range rfc4493Cases {
		m.Reset()
		m.Write(msg[:c.n])
		if got := m.Sum(nil); !bytes.Equal(got, unhex(t, c.mac)) {
			t.Errorf("Mlen %d: %x, want %s", c.n, got, c.mac)
		}
		m.Reset()
		for rest := msg[:c.n]; len(rest) > 0; {
			k := min(len(rest), 7)
			m.Write(rest[:k])
			rest = rest[k:]
		}
		if got := m.Sum(nil); !bytes.Equal(got, unhex(t, c.mac)) {
			t.Errorf("Mlen %d in pieces: %x, want %s", c.n, got, c.mac)
		}
	}
}

// TestAESCMAC96RFC4494 checks AUTH_AES_CMAC_96: RFC 4494 section 5 uses
// the RFC 4493 examples truncated to their leftmost 96 bits.
func TestAESCMAC96RFC4494(t *testing.T) {
	msg := unhex(t, rfc4493Message)
	for _, c := range rfc4493Cases {
		checkInteg(t, "RFC 4494", ike.IntegAESCMAC96, unhex(t, rfc4493Key), msg[:c.n], c.mac)
	}
	if n, err := IntegKeyLen(ike.IntegAESCMAC96); err != nil || n != 16 {
		t.Errorf("IntegKeyLen(AES_CMAC_96) = %d, %v", n, err)
	}
}

// TestPlusAESPRFs checks prf+ (RFC 7296 2.13) with the AES PRFs against the
// construction written out with Compute: T1 = prf(K, S | 0x01), Tn =
// prf(K, T(n-1) | S | n).
func TestPlusAESPRFs(t *testing.T) {
	key := unhex(t, "000102030405060708090a0b0c0d0e0f")
	seed := bytes.Repeat([]byte{0x5a, 0xa5, 0x01}, 37)
	for _, id := range []uint16{ike.PRFAES128XCBC, ike.PRFAES128CMAC} {
		prf, err := NewPRF(id)
		if err != nil {
			t.Fatal(err)
		}
		var want, prev []byte
		for i := 1; len(want) < MaxPlus*16; i++ {
			prev = prf.Compute(key, prev, seed, []byte{byte(i)})
			want = append(want, prev...)
		}
		for _, n := range []int{0, 1, 15, 16, 17, 3*16 + 2*36, 1000, MaxPlus * 16} {
			got, err := prf.Plus(key, seed, n)
			if err != nil {
				t.Fatalf("%v: Plus(%d): %v", prf, n, err)
			}
			if !bytes.Equal(got, want[:n]) {
				t.Errorf("%v: Plus(%d) differs from the RFC 7296 construction", prf, n)
			}
		}
		if _, err := prf.Plus(key, seed, MaxPlus*16+1); err == nil {
			t.Errorf("%v: Plus past 255 blocks accepted", prf)
		}
	}
}
