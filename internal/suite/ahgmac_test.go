package suite

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// TestAHGMACIntegAgainstGCM checks SumIV and VerifyIV against AES-GCM
// with an empty plaintext (RFC 4543 2), with and without the ESN high
// bits appended to the AAD, and that the IV-less entry points refuse it.
func TestAHGMACIntegAgainstGCM(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32+saltLen)
	m, err := NewAHInteg(ike.IntegAES256GMAC, key)
	if err != nil {
		t.Fatal(err)
	}
	if m.IVLen() != 8 || m.ICVLen() != 16 || m.String() != "AES_256_GMAC" {
		t.Fatalf("IVLen %d ICVLen %d %s", m.IVLen(), m.ICVLen(), m)
	}
	b, _ := aes.NewCipher(key[:32])
	g, _ := cipher.NewGCM(b)
	iv := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	data := bytes.Repeat([]byte("goipsec"), 50)
	nonce := append(append([]byte(nil), key[32:]...), iv...)
	for _, hi := range []SeqHigh{{}, ESN(0x1234567800000001)} {
		aad := data
		if hi.esn {
			aad = append(bytes.Clone(data), 0x12, 0x34, 0x56, 0x78)
		}
		want := g.Seal(nil, nonce, nil, aad)
		got := m.SumIV(nil, iv, hi, data)
		if !bytes.Equal(got, want) {
			t.Fatalf("esn=%v: %x, want %x", hi.esn, got, want)
		}
		if !m.VerifyIV(want, iv, hi, data) {
			t.Fatal("VerifyIV rejects the right tag")
		}
		for i := range want {
			bad := bytes.Clone(want)
			bad[i] ^= 0x80
			if m.VerifyIV(bad, iv, hi, data) {
				t.Fatalf("VerifyIV accepts a tag with byte %d changed", i)
			}
		}
		if m.VerifyIV(want[:15], iv, hi, data) || m.VerifyIV(want, iv[:7], hi, data) {
			t.Fatal("VerifyIV accepts a short tag or IV")
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Sum without an IV did not panic")
		}
	}()
	m.Sum(nil, SeqHigh{}, data)
}
