package ike

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyDerivationCAVS checks the IKE SA and Child SA key layout (RFC 7296
// 2.14 and 2.17) on the IKEv2 KDF vector that internal/suite verifies
// (NIST CAVS format, SP 800-135 5.2, HMAC-SHA-1; expected values as
// published with libreswan's CAVS driver). With an AEAD (AES-GCM-16-128:
// 16 key + 4 salt octets) SK_ai/SK_ar are empty, so the DKM splits as
// SK_d(20) | SK_ei(20) | SK_er(20) | SK_pi(20) | SK_pr(20).
func TestKeyDerivationCAVS(t *testing.T) {
	gir := unhex(t, "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52")
	ni := unhex(t, "32b50d5f4a3763f3")
	nr := unhex(t, "9206a04b26564cb1")
	dkm := unhex(t, `a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002
		a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a
		5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119
		8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435
		a7a56cc4`)
	childDKM := unhex(t, `8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c581
		1a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee7181`)
	s := ikeSuite{encrID: wire.EncrAESGCM16, keyBits: 128, prfID: wire.PRFHMACSHA1, group: wire.GroupCurve25519}
	k, err := deriveIKEKeys(s, ni, nr, gir, 0x34c9e7c188868785, 0x3ff77d760d2b2199)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"SK_d", k.skD, dkm[0:20]},
		{"SK_ei", k.rawKeyed[2], dkm[20:40]},
		{"SK_er", k.rawKeyed[3], dkm[40:60]},
		{"SK_pi", k.skPi, dkm[60:80]},
		{"SK_pr", k.skPr, dkm[80:100]},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, c.got, c.want)
		}
	}
	i2r, r2i, err := k.childKeymat(20, childSeed{ni: ni, nr: nr}) // AES-GCM-16-128: 16 key + 4 salt
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(i2r, childDKM[0:20]) || !bytes.Equal(r2i, childDKM[20:40]) {
		t.Errorf("child keymat:\n got %x %x\nwant %x", i2r, r2i, childDKM[:40])
	}
	// RFC 7296 2.18: SKEYSEED of a rekeyed IKE SA from the old SK_d.
	girNew := unhex(t, "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330")
	rk, err := k.rekeyIKEKeys(s, ni, nr, girNew, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "63e81194946ebd05df7df5ebf5d8750056bf1f1d"); !bytes.Equal(rk.rawKeyed[0], want) {
		t.Errorf("rekey SKEYSEED:\n got %x\nwant %x", rk.rawKeyed[0], want)
	}
	k.zero()
	if !bytes.Equal(k.skD, make([]byte, 20)) || k.encI != nil {
		t.Error("zero left key material behind")
	}
}

// TestSKRoundTrip seals and opens an encrypted message, and checks that a
// flipped bit anywhere is caught by the ICV.
func TestSKRoundTrip(t *testing.T) {
	s := ikeSuite{encrID: wire.EncrChaCha20Poly1305, prfID: wire.PRFHMACSHA256, group: wire.GroupCurve25519}
	k, err := deriveIKEKeys(s, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	h := wire.Header{SPIi: 1, SPIr: 2, Exchange: wire.Informational, Flags: wire.FlagInitiator, MessageID: 7}
	ps := []wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}}
	pkt, err := sealSK(h, ps, k.encI, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.Parse(pkt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := openSK(m.Encrypted, k.encI)
	if err != nil || len(got) != 1 || got[0].Type() != wire.PayloadDelete {
		t.Fatalf("open: %v %v", got, err)
	}
	if _, err := openSK(m.Encrypted, k.encR); err == nil {
		t.Error("opened with the other direction's key")
	}
	for i := 0; i < len(pkt)*8; i++ {
		bad := bytes.Clone(pkt)
		bad[i/8] ^= 1 << (i % 8)
		m, err := wire.Parse(bad)
		if err != nil || m.Encrypted == nil {
			continue // the header no longer parses: dropped earlier
		}
		if _, err := openSK(m.Encrypted, k.encI); err == nil {
			t.Fatalf("bit %d flipped, message still opened", i)
		}
	}
}
