package pki

import (
	"encoding/hex"
	"testing"
)

// TestAlgorithmIdentifierVectors checks the encoder against the DER of
// RFC 7427 appendix A (A.1 RSA PKCS #1, A.3 ECDSA, A.4.3 RSASSA-PSS with
// SHA-256) and RFC 8420 3 (Ed25519), and that each parses back.
func TestAlgorithmIdentifierVectors(t *testing.T) {
	for _, tc := range []struct {
		s   Scheme
		hex string
	}{
		{Scheme{Key: "rsa", Hash: HashSHA1}, "300d06092a864886f70d0101050500"},   // A.1.1
		{Scheme{Key: "rsa", Hash: HashSHA256}, "300d06092a864886f70d01010b0500"}, // A.1.2
		{Scheme{Key: "rsa", Hash: HashSHA384}, "300d06092a864886f70d01010c0500"}, // A.1.3
		{Scheme{Key: "rsa", Hash: HashSHA512}, "300d06092a864886f70d01010d0500"}, // A.1.4
		{Scheme{Key: "ecdsa", Hash: HashSHA1}, "300906072a8648ce3d0401"},         // A.3.1
		{Scheme{Key: "ecdsa", Hash: HashSHA256}, "300a06082a8648ce3d040302"},     // A.3.2
		{Scheme{Key: "ecdsa", Hash: HashSHA384}, "300a06082a8648ce3d040303"},     // A.3.3
		{Scheme{Key: "ecdsa", Hash: HashSHA512}, "300a06082a8648ce3d040304"},     // A.3.4
		// A.4.3: RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt 32; the
		// same octets as the signatureAlgorithm of a certificate made by
		// "openssl req -sha256 -sigopt rsa_padding_mode:pss
		// -sigopt rsa_pss_saltlen:32" (OpenSSL 3.0).
		{Scheme{Key: "rsa-pss", Hash: HashSHA256, SaltLength: 32}, "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120"},
		{Scheme{Key: "ed25519", Hash: HashIdentity}, "300506032b6570"}, // RFC 8420 3
	} {
		t.Run(tc.s.String(), func(t *testing.T) {
			got, err := tc.s.AlgorithmIdentifier()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tc.hex {
				t.Errorf("AlgorithmIdentifier\n got %x\nwant %s", got, tc.hex)
			}
			want, _ := hex.DecodeString(tc.hex)
			back, err := ParseAlgorithmIdentifier(want)
			if err != nil {
				t.Fatal(err)
			}
			if back != tc.s {
				t.Errorf("parsed %+v, want %+v", back, tc.s)
			}
		})
	}
}

// TestRejectPSSDefaults: the RFC 7427 A.4.1 encoding (PSS with no
// parameters: SHA-1 defaults) and A.4.2 (explicit SHA-1 defaults) name
// SHA-1, which we never accept (RFC 8247 3.2).
func TestRejectPSSDefaults(t *testing.T) {
	for _, h := range []string{
		"300d06092a864886f70d01010a3000", // A.4.1
		"303e06092a864886f70d01010a3031a00b300906052b0e03021a0500a118301606092a864886f70d010108300906052b0e03021a0500a203020114a303020101", // A.4.2
	} {
		der, _ := hex.DecodeString(h)
		if s, err := ParseAlgorithmIdentifier(der); err == nil {
			t.Errorf("%s parsed as %v, want an error", h, s)
		}
	}
}
