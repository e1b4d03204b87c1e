package suite

import (
	"bytes"
	"crypto/mlkem"
	"errors"
	"testing"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/kem/mlkem/mlkem768"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

var kemGroups = []struct {
	group        uint16
	ekLen, ctLen int
}{
	{ike.GroupMLKEM512, mlkem512.PublicKeySize, mlkem512.CiphertextSize},
	{ike.GroupMLKEM768, mlkem.EncapsulationKeySize768, mlkem.CiphertextSize768},
	{ike.GroupMLKEM1024, mlkem.EncapsulationKeySize1024, mlkem.CiphertextSize1024},
}

// TestMLKEMRoundTrip runs ML-KEM the way RFC 9370 2.2.2 uses a KEM: the
// initiator sends its encapsulation key, the responder answers with a
// ciphertext from Respond, and both end with the same 32-octet secret.
func TestMLKEMRoundTrip(t *testing.T) {
	for _, g := range kemGroups {
		if !SupportedGroup(g.group) || !IsKEM(g.group) {
			t.Errorf("group %d: SupportedGroup %v IsKEM %v", g.group, SupportedGroup(g.group), IsKEM(g.group))
		}
		for round := range 3 {
			ini, err := NewKeyExchange(g.group, seeded(uint64(round)))
			if err != nil {
				t.Fatal(err)
			}
			if ini.Group() != g.group || len(ini.PublicValue()) != g.ekLen {
				t.Fatalf("group %d: Group %d, encapsulation key of %d bytes, want %d", g.group, ini.Group(), len(ini.PublicValue()), g.ekLen)
			}
			ct, secR, err := Respond(g.group, ini.PublicValue(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != g.ctLen || len(secR) != mlkem.SharedKeySize {
				t.Fatalf("group %d: ciphertext %d bytes, secret %d", g.group, len(ct), len(secR))
			}
			secI, err := ini.SharedSecret(ct)
			if err != nil || !bytes.Equal(secI, secR) {
				t.Fatalf("group %d: secrets differ: %x, %x, %v", g.group, secI, secR, err)
			}
			// A forged ciphertext of the right length is not an error
			// (implicit rejection, FIPS 203 6.3) but yields another key.
			forged := bytes.Clone(ct)
			forged[len(forged)/2] ^= 0x01
			if other, err := ini.SharedSecret(forged); err != nil || bytes.Equal(other, secI) {
				t.Errorf("group %d: forged ciphertext: %x, %v", g.group, other, err)
			}
		}
	}
}

// TestMLKEMDeterministicKeyGen: the seed d || z comes from the reader.
func TestMLKEMDeterministicKeyGen(t *testing.T) {
	for _, g := range kemGroups {
		a, _ := NewKeyExchange(g.group, seeded(7))
		b, _ := NewKeyExchange(g.group, seeded(7))
		c, _ := NewKeyExchange(g.group, seeded(8))
		if !bytes.Equal(a.PublicValue(), b.PublicValue()) || bytes.Equal(a.PublicValue(), c.PublicValue()) {
			t.Errorf("group %d: the random source does not determine the key", g.group)
		}
		if _, err := NewKeyExchange(g.group, bytes.NewReader(make([]byte, 63))); err == nil {
			t.Errorf("group %d: a short random source was accepted", g.group)
		}
	}
}

// TestMLKEMRejects checks the exact lengths of both values and the
// encapsulation key check of FIPS 203 7.2 (every coefficient below q).
func TestMLKEMRejects(t *testing.T) {
	for _, g := range kemGroups {
		ini, _ := NewKeyExchange(g.group, nil)
		ek := ini.PublicValue()
		for name, v := range map[string][]byte{
			"empty": nil, "one short": ek[:len(ek)-1], "one long": append(bytes.Clone(ek), 0),
			"coefficients >= q":                  bytes.Repeat([]byte{0xff}, len(ek)),
			"768's key for 512, 512's otherwise": make([]byte, map[bool]int{true: mlkem.EncapsulationKeySize768, false: mlkem512.PublicKeySize}[g.group == ike.GroupMLKEM512]),
		} {
			if _, _, err := Respond(g.group, v, nil); !errors.Is(err, ErrInvalidPublicValue) {
				t.Errorf("group %d, encapsulation key %s: err %v, want ErrInvalidPublicValue", g.group, name, err)
			}
		}
		ct, _, err := Respond(g.group, ek, nil)
		if err != nil {
			t.Fatal(err)
		}
		bad := map[string][]byte{"empty": nil, "one short": ct[:len(ct)-1], "one long": append(bytes.Clone(ct), 0)}
		if len(ek) != len(ct) { // ML-KEM-1024's are both 1568 octets
			bad["encapsulation key instead"] = ek
		}
		for name, v := range bad {
			if _, err := ini.SharedSecret(v); !errors.Is(err, ErrInvalidPublicValue) {
				t.Errorf("group %d, ciphertext %s: err %v, want ErrInvalidPublicValue", g.group, name, err)
			}
		}
	}
}

// TestRespondDH: for a Diffie-Hellman group Respond is a fresh key pair
// and its shared secret with the initiator's value, which it validates.
func TestRespondDH(t *testing.T) {
	for _, g := range testGroups {
		ini, _ := NewKeyExchange(g.group, seeded(1))
		pub, sec, err := Respond(g.group, ini.PublicValue(), seeded(2))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ini.SharedSecret(pub)
		if err != nil || !bytes.Equal(got, sec) || len(pub) != g.pubLen {
			t.Errorf("group %d: %v, secrets equal %v, public %d bytes", g.group, err, bytes.Equal(got, sec), len(pub))
		}
		if _, _, err := Respond(g.group, ini.PublicValue()[1:], nil); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("group %d: short value: %v", g.group, err)
		}
	}
	if _, _, err := Respond(ike.GroupCurve448+1, make([]byte, 56), nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("group 33: %v", err)
	}
}

// TestCIRCLMatchesStdlib cross-checks the two ML-KEM implementations on
// the parameter set both have, ML-KEM-768: from the same seed d || z they
// make the same encapsulation key, and a ciphertext from CIRCL's
// deterministic encapsulation decapsulates in crypto/mlkem to CIRCL's
// shared key (and back). ML-KEM-512 is CIRCL's same code with other
// parameters.
func TestCIRCLMatchesStdlib(t *testing.T) {
	rnd := seeded(99)
	for range 5 {
		seed := make([]byte, mlkem.SeedSize)
		rnd.Read(seed)
		std, err := mlkem.NewDecapsulationKey768(seed)
		if err != nil {
			t.Fatal(err)
		}
		cpk, csk := mlkem768.NewKeyFromSeed(seed)
		cek := make([]byte, mlkem768.PublicKeySize)
		cpk.Pack(cek)
		if !bytes.Equal(cek, std.EncapsulationKey().Bytes()) {
			t.Fatal("encapsulation keys differ")
		}
		m := make([]byte, mlkem768.EncapsulationSeedSize)
		rnd.Read(m)
		ct, ss := make([]byte, mlkem768.CiphertextSize), make([]byte, mlkem768.SharedKeySize)
		cpk.EncapsulateTo(ct, ss, m)
		got, err := std.Decapsulate(ct)
		if err != nil || !bytes.Equal(got, ss) {
			t.Fatalf("crypto/mlkem decapsulates CIRCL's ciphertext to %x, %v; want %x", got, err, ss)
		}
		ss2, ct2 := std.EncapsulationKey().Encapsulate()
		got2 := make([]byte, mlkem768.SharedKeySize)
		csk.DecapsulateTo(got2, ct2)
		if !bytes.Equal(got2, ss2) {
			t.Fatal("CIRCL decapsulates crypto/mlkem's ciphertext to another key")
		}
	}
}
