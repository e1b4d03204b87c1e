package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/pki/pkitest"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

var octets = []byte("RealMessage | Nonce | prf(SK_p, IDx')")

func TestSignVerifyEveryMethod(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kt         pkitest.KeyType
		opt        SignOptions
		wantMethod wire.AuthMethod
		wantScheme string
	}{
		{"rsa method 1", pkitest.RSA2048, SignOptions{AllowRSASHA1: true}, wire.AuthRSA, "rsa-sha1"},
		{"rsa sha256", pkitest.RSA2048, SignOptions{PeerHashes: []HashAlgorithm{2, 3, 4}}, wire.AuthDigitalSignature, "rsa-sha256"},
		{"rsa sha384 only", pkitest.RSA2048, SignOptions{PeerHashes: []HashAlgorithm{3}}, wire.AuthDigitalSignature, "rsa-sha384"},
		{"rsa sha512 local", pkitest.RSA2048, SignOptions{PeerHashes: []HashAlgorithm{2, 3, 4}, Hashes: []HashAlgorithm{HashSHA512}}, wire.AuthDigitalSignature, "rsa-sha512"},
		{"rsa-pss sha256", pkitest.RSA2048, SignOptions{PeerHashes: []HashAlgorithm{2}, RSAPSS: true}, wire.AuthDigitalSignature, "rsa-pss-sha256"},
		{"rsa-pss sha512", pkitest.RSA3072, SignOptions{PeerHashes: []HashAlgorithm{4}, RSAPSS: true}, wire.AuthDigitalSignature, "rsa-pss-sha512"},
		{"ecdsa p256 method 9", pkitest.P256, SignOptions{}, wire.AuthECDSA256, "ecdsa-sha256"},
		{"ecdsa p384 method 10", pkitest.P384, SignOptions{}, wire.AuthECDSA384, "ecdsa-sha384"},
		{"ecdsa p521 method 11", pkitest.P521, SignOptions{}, wire.AuthECDSA521, "ecdsa-sha512"},
		{"ecdsa p256 7427", pkitest.P256, SignOptions{PeerHashes: []HashAlgorithm{2, 3, 4, 5}}, wire.AuthDigitalSignature, "ecdsa-sha256"},
		{"ecdsa p384 7427 curve hash preferred", pkitest.P384, SignOptions{PeerHashes: []HashAlgorithm{2, 3, 4}}, wire.AuthDigitalSignature, "ecdsa-sha384"},
		{"ecdsa p521 7427 sha256", pkitest.P521, SignOptions{PeerHashes: []HashAlgorithm{2}}, wire.AuthDigitalSignature, "ecdsa-sha256"},
		{"ed25519", pkitest.Ed25519, SignOptions{PeerHashes: []HashAlgorithm{2, 5}}, wire.AuthDigitalSignature, "ed25519"},
		{"ecdsa p384 no common hash", pkitest.P384, SignOptions{PeerHashes: []HashAlgorithm{HashIdentity, 7}}, wire.AuthECDSA384, "ecdsa-sha384"},
		{"rsa no common hash method 1", pkitest.RSA2048, SignOptions{PeerHashes: []HashAlgorithm{HashSHA1}, AllowRSASHA1: true}, wire.AuthRSA, "rsa-sha1"},
		{"ed25519 no notify", pkitest.Ed25519, SignOptions{}, wire.AuthDigitalSignature, "ed25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := pkitest.NewKey(t, tc.kt)
			m, data, err := Sign(key, octets, tc.opt, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if m != tc.wantMethod {
				t.Fatalf("method %v, want %v", m, tc.wantMethod)
			}
			scheme, err := Verify(key.Public(), m, data, octets, VerifyOptions{})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if scheme != tc.wantScheme {
				t.Errorf("scheme %q, want %q", scheme, tc.wantScheme)
			}
			// Other signed octets (another message, nonce or ID) fail.
			bad := append([]byte{}, octets...)
			bad[3] ^= 1
			if _, err := Verify(key.Public(), m, data, bad, VerifyOptions{}); err == nil {
				t.Error("signature verified over other octets")
			}
			// Another key of the same type fails.
			other := pkitest.NewKey(t, tc.kt)
			if _, err := Verify(other.Public(), m, data, octets, VerifyOptions{}); err == nil {
				t.Error("signature verified with the wrong key")
			}
			// Every flipped bit of the AUTH data fails (and never panics).
			for i := 0; i < len(data)*8; i += 7 {
				d := append([]byte{}, data...)
				d[i/8] ^= 1 << (i % 8)
				if _, err := Verify(key.Public(), m, d, octets, VerifyOptions{}); err == nil {
					t.Fatalf("verified with bit %d flipped", i)
				}
			}
			// Every truncation fails.
			for n := 0; n < len(data); n += 1 + len(data)/40 {
				if _, err := Verify(key.Public(), m, data[:n], octets, VerifyOptions{}); err == nil {
					t.Fatalf("verified truncated to %d", n)
				}
			}
		})
	}
}

func TestSignRefusals(t *testing.T) {
	rsaKey := pkitest.NewKey(t, pkitest.RSA2048)
	if _, _, err := Sign(rsaKey, octets, SignOptions{}, rand.Reader); err == nil || !strings.Contains(err.Error(), "SHA-1") {
		t.Errorf("RSA without RFC 7427 and without AllowRSASHA1: %v, want a refusal naming SHA-1", err)
	}
	if _, _, err := Sign(rsaKey, octets, SignOptions{PeerHashes: []HashAlgorithm{HashSHA1}}, rand.Reader); err == nil {
		t.Error("signed with SHA-1 in RFC 7427")
	}
	ed := pkitest.NewKey(t, pkitest.Ed25519)
	if _, _, err := Sign(ed, octets, SignOptions{PeerHashes: []HashAlgorithm{HashSHA256}}, rand.Reader); err == nil {
		t.Error("Ed25519 signed for a peer without the Identity hash")
	}
}

func TestVerifyRejections(t *testing.T) {
	rsaKey := pkitest.NewKey(t, pkitest.RSA2048)
	p256 := pkitest.NewKey(t, pkitest.P256)
	p384 := pkitest.NewKey(t, pkitest.P384)
	ed := pkitest.NewKey(t, pkitest.Ed25519)

	_, ecRaw, _ := Sign(p256, octets, SignOptions{}, rand.Reader)
	// Method 9 signature presented as method 10, and against a P-384 key.
	if _, err := Verify(p256.Public(), wire.AuthECDSA384, ecRaw, octets, VerifyOptions{}); err == nil {
		t.Error("method 10 accepted for a P-256 key")
	}
	if _, err := Verify(p384.Public(), wire.AuthECDSA256, ecRaw, octets, VerifyOptions{}); err == nil {
		t.Error("method 9 accepted for a P-384 key")
	}
	// Method 9 needs raw r|s; DER is a bad encoding.
	der, _ := p256.Sign(rand.Reader, digest(crypto.SHA256, octets), crypto.SHA256)
	if _, err := Verify(p256.Public(), wire.AuthECDSA256, der, octets, VerifyOptions{}); err == nil {
		t.Error("DER signature accepted in method 9")
	}
	// RFC 7427 needs DER; raw r|s behind an ECDSA AlgorithmIdentifier fails.
	ai, _ := Scheme{Key: "ecdsa", Hash: HashSHA256}.AlgorithmIdentifier()
	raw := append(append([]byte{byte(len(ai))}, ai...), ecRaw...)
	if _, err := Verify(p256.Public(), wire.AuthDigitalSignature, raw, octets, VerifyOptions{}); err == nil {
		t.Error("raw r|s accepted in DIGITAL_SIGNATURE")
	}
	// An ECDSA signature against an RSA or Ed25519 key.
	_, ec14, _ := Sign(p256, octets, SignOptions{PeerHashes: SupportedHashes}, rand.Reader)
	for _, k := range []crypto.Signer{rsaKey, ed} {
		if _, err := Verify(k.Public(), wire.AuthDigitalSignature, ec14, octets, VerifyOptions{}); err == nil {
			t.Errorf("ECDSA signature accepted for a %T key", k)
		}
	}
	// SHA-1 in RFC 7427 is refused even when the signature is good.
	sig, _ := signDigest(rsaKey, crypto.SHA1, octets, rand.Reader)
	_, d, _ := digitalSignature(Scheme{Key: "rsa", Hash: HashSHA1}, sig)
	if _, err := Verify(rsaKey.Public(), wire.AuthDigitalSignature, d, octets, VerifyOptions{}); err == nil {
		t.Error("sha1WithRSAEncryption accepted in DIGITAL_SIGNATURE")
	}
	// A hash outside the configured set is refused.
	_, d384, _ := Sign(rsaKey, octets, SignOptions{PeerHashes: []HashAlgorithm{HashSHA384}}, rand.Reader)
	if _, err := Verify(rsaKey.Public(), wire.AuthDigitalSignature, d384, octets, VerifyOptions{Hashes: []HashAlgorithm{HashSHA256}}); err == nil {
		t.Error("sha384 accepted with only sha256 allowed")
	}
	// PKCS #1 v1.5 signature under a PSS AlgorithmIdentifier.
	v15, _ := signDigest(rsaKey, crypto.SHA256, octets, rand.Reader)
	_, dpss, _ := digitalSignature(Scheme{Key: "rsa-pss", Hash: HashSHA256, SaltLength: 32}, v15)
	if _, err := Verify(rsaKey.Public(), wire.AuthDigitalSignature, dpss, octets, VerifyOptions{}); err == nil {
		t.Error("PKCS #1 v1.5 signature accepted as PSS")
	}
	// AUTH methods that are not signatures.
	for _, m := range []wire.AuthMethod{wire.AuthPSK, wire.AuthDSS, 13, 200} {
		if _, err := Verify(rsaKey.Public(), m, v15, octets, VerifyOptions{}); err == nil {
			t.Errorf("method %v accepted", m)
		}
	}
	// AlgorithmIdentifier length byte pointing past the end.
	for _, d := range [][]byte{{}, {0}, {0x30}, {0xff, 0x30, 0x05}} {
		if _, err := Verify(rsaKey.Public(), wire.AuthDigitalSignature, d, octets, VerifyOptions{}); err == nil {
			t.Errorf("%x accepted", d)
		}
	}
	_ = rsa.PSSSaltLengthAuto
}

func TestHashAlgorithmsNotify(t *testing.T) {
	b := EncodeHashAlgorithms(SupportedHashes)
	if want := "0002000300040005"; hexs(b) != want {
		t.Errorf("notify body %x, want %s", b, want)
	}
	hs, err := ParseHashAlgorithms(b)
	if err != nil || len(hs) != 4 || hs[3] != HashIdentity {
		t.Errorf("parsed %v, %v", hs, err)
	}
	for _, bad := range [][]byte{{}, {0}, {0, 2, 0}} {
		if _, err := ParseHashAlgorithms(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
