package pki

import (
	"crypto/rand"
	"testing"

	"github.com/goipsec/goipsec/internal/pki/pkitest"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// FuzzVerify feeds arbitrary AUTH data to Verify for every key type: it
// must never panic and never accept.
func FuzzVerify(f *testing.F) {
	keys := []pkitest.KeyType{pkitest.RSA2048, pkitest.P256, pkitest.P521, pkitest.Ed25519}
	var pubs []any
	for _, kt := range keys {
		k := pkitest.NewKey(f, kt)
		pubs = append(pubs, k.Public())
		for _, opt := range []SignOptions{{PeerHashes: SupportedHashes}, {PeerHashes: SupportedHashes, RSAPSS: true}, {AllowRSASHA1: true}} {
			if m, d, err := Sign(k, octets, opt, rand.Reader); err == nil {
				f.Add(uint8(m), d)
			}
		}
	}
	f.Fuzz(func(t *testing.T, method uint8, data []byte) {
		for _, pub := range pubs {
			if _, err := Verify(pub, wire.AuthMethod(method), data, []byte("other octets"), VerifyOptions{}); err == nil {
				t.Fatal("accepted a signature over other octets")
			}
		}
	})
}

func FuzzParseAlgorithmIdentifier(f *testing.F) {
	for _, s := range []Scheme{{Key: "rsa", Hash: HashSHA256}, {Key: "rsa-pss", Hash: HashSHA384, SaltLength: 48}, {Key: "ecdsa", Hash: HashSHA512}, {Key: "ed25519", Hash: HashIdentity}} {
		b, _ := s.AlgorithmIdentifier()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseAlgorithmIdentifier(b)
		if err != nil {
			return
		}
		if _, err := s.AlgorithmIdentifier(); err != nil {
			t.Fatalf("parsed %v cannot be encoded: %v", s, err)
		}
	})
}
