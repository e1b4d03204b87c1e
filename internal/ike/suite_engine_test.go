package ike

import (
	"testing"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// TestEstablishEveryIKESuite runs the two-peer exchange (IKE_SA_INIT,
// IKE_AUTH with a Child SA, then an INFORMATIONAL DELETE) for each kind of
// IKE SA protection and key exchange: the SK payload with every cipher
// family (CBC and CTR with each integrity algorithm, CCM and GCM with
// each ICV length, 3DES), the AES PRFs (whose SKEYSEED key is half of
// each nonce, RFC 7296 2.14), and the larger MODP and ECP groups. Both
// sides must report the same negotiated suite.
func TestEstablishEveryIKESuite(t *testing.T) {
	for _, tc := range []struct{ ike, want string }{
		{"aes256-sha256-modp3072", "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_3072"},
		{"aes128ctr-sha384-ecp521", "AES_CTR_128/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/ECP_521"},
		{"aes128ccm16-prfaescmac-ecp384", "AES_CCM_16_128/PRF_AES128_CMAC/ECP_384"},
		{"aes256-sha512-prfsha512-modp4096", "AES_CBC_256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_4096"},
		{"aes256gcm12-prfaesxcbc-x25519", "AES_GCM_12_256/PRF_AES128_XCBC/CURVE_25519"},
		{"aes128gcm8-prfsha512-x25519", "AES_GCM_8_128/PRF_HMAC_SHA2_512/CURVE_25519"},
		{"aes192ccm8-prfsha384-ecp256", "AES_CCM_8_192/PRF_HMAC_SHA2_384/ECP_256"},
		{"aes256ccm12-prfsha256-x25519", "AES_CCM_12_256/PRF_HMAC_SHA2_256/CURVE_25519"},
		{"aes192-aesxcbc-ecp256", "AES_CBC_192/AES_XCBC_96/PRF_AES128_XCBC/ECP_256"},
		{"aes128-aescmac-x25519", "AES_CBC_128/AES_CMAC_96/PRF_AES128_CMAC/CURVE_25519"},
		{"aes256ctr-sha1-x25519", "AES_CTR_256/HMAC_SHA1_96/PRF_HMAC_SHA1/CURVE_25519"},
		{"aes192ctr-sha512-prfsha256-ecp384", "AES_CTR_192/HMAC_SHA2_512_256/PRF_HMAC_SHA2_256/ECP_384"},
		{"3des-sha256-modp2048", "3DES/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
		{"aes128-sha256-modp6144", "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_6144"},
		{"aes256-sha384-modp8192", "AES_CBC_256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_8192"},
		{"aes256gcm16-prfsha512-curve448", "AES_GCM_16_256/PRF_HMAC_SHA2_512/CURVE_448"},
	} {
		t.Run(tc.ike, func(t *testing.T) {
			_, l, r := newPair(t, pairOpts{leftIKE: tc.ike, leftESP: "aes128gcm16"})
			if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
				t.Fatalf("initiate: %v", err)
			}
			checkChildPair(t, l, r)
			waitFor(t, "responder established", func() bool {
				s := r.e.SAs()
				return len(s) == 1 && s[0].State == StateEstablished
			})
			for side, s := range map[string]SAInfo{"left": l.e.SAs()[0], "right": r.e.SAs()[0]} {
				if s.Proposal != tc.want {
					t.Errorf("%s: negotiated %q, want %q", side, s.Proposal, tc.want)
				}
			}
			if n, err := l.e.Terminate(ctxT(t), "site"); err != nil || n != 1 {
				t.Fatalf("terminate: %d %v", n, err)
			}
			waitFor(t, "both sides empty", func() bool { return len(l.e.SAs()) == 0 && len(r.e.SAs()) == 0 })
		})
	}
}

// TestSKRoundTripEverySuite seals and opens an SK message with the keys
// deriveIKEKeys makes for each IKE SA protection: the other direction's
// keys and every flipped bit are refused, and CBC IVs differ per message.
func TestSKRoundTripEverySuite(t *testing.T) {
	for _, spec := range []string{
		"aes256-sha256-modp3072", "aes128ctr-sha384-ecp521", "aes128ccm16-prfaescmac-ecp384",
		"aes256gcm12-prfaesxcbc-x25519", "aes128gcm8-prfsha256-x25519", "3des-sha1-modp2048",
		"aes192-aescmac-x25519", "aes256ctr-aesxcbc-x25519",
	} {
		p, err := suite.ParseIKEProposal(spec)
		if err != nil {
			t.Fatal(err)
		}
		s, err := suiteOf(p)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		k, err := deriveIKEKeys(s, make([]byte, 32), make([]byte, 32), make([]byte, 32), 1, 2)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if (s.integID != wire.IntegNone) != (len(k.skAi) > 0 && len(k.skAr) > 0) {
			t.Errorf("%s: SK_ai %d bytes, SK_ar %d bytes", spec, len(k.skAi), len(k.skAr))
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
			t.Fatalf("%s: open: %v %v", spec, got, err)
		}
		if _, err := openSK(m.Encrypted, k.encR); err == nil {
			t.Errorf("%s: opened with the other direction's keys", spec)
		}
		if k.encI.RandomIV() {
			pkt2, _ := sealSK(h, ps, k.encI, 1, nil)
			ivAt := len(pkt) - len(m.Encrypted.Body)
			if string(pkt2[ivAt:ivAt+k.encI.IVLen()]) == string(pkt[ivAt:ivAt+k.encI.IVLen()]) {
				t.Errorf("%s: CBC IV repeated", spec)
			}
		}
		for i := 0; i < len(pkt)*8; i++ {
			bad := append([]byte(nil), pkt...)
			bad[i/8] ^= 1 << (i % 8)
			m, err := wire.Parse(bad)
			if err != nil || m.Encrypted == nil {
				continue // the header no longer parses: dropped earlier
			}
			if _, err := openSK(m.Encrypted, k.encI); err == nil {
				t.Fatalf("%s: bit %d flipped, message still opened", spec, i)
			}
		}
	}
}
