package suite

import (
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// BenchmarkKeyExchange measures one side of each key exchange: a fresh key
// pair and the shared secret with a peer value (for ML-KEM: the
// responder's Respond, encapsulating to the initiator's key).
func BenchmarkKeyExchange(b *testing.B) {
	for _, g := range []struct {
		name  string
		group uint16
	}{
		{"MODP_2048", ike.GroupMODP2048}, {"MODP_3072", ike.GroupMODP3072}, {"MODP_4096", ike.GroupMODP4096},
		{"MODP_6144", ike.GroupMODP6144}, {"MODP_8192", ike.GroupMODP8192},
		{"ECP_256", ike.GroupECP256}, {"ECP_384", ike.GroupECP384}, {"ECP_521", ike.GroupECP521},
		{"CURVE_25519", ike.GroupCurve25519}, {"CURVE_448", ike.GroupCurve448}, {"ML_KEM_512", ike.GroupMLKEM512}, {"ML_KEM_768", ike.GroupMLKEM768}, {"ML_KEM_1024", ike.GroupMLKEM1024},
	} {
		b.Run(g.name, func(b *testing.B) {
			peer, err := NewKeyExchange(g.group, nil)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, _, err := Respond(g.group, peer.PublicValue(), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSKTransform seals a 1 KiB SK payload (an IKE_AUTH with
// certificates is a few of these) with a representative of each family.
func BenchmarkSKTransform(b *testing.B) {
	for _, c := range skCases {
		switch c.name {
		case "AES_GCM_16_256", "AES_CCM_16_256", "CHACHA20_POLY1305", "AES_CBC_256/HMAC_SHA2_256_128",
			"AES_CTR_256/HMAC_SHA2_512_256", "AES_CBC_128/AES_XCBC_96", "AES_CBC_128/AES_CMAC_96", "3DES/HMAC_SHA2_256_128":
		default:
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			tr := newTestSK(b, c, 1)
			aad, iv, pt := testSKMessage(c, 1024, 1)
			out := make([]byte, 0, len(pt)+c.icv)
			b.SetBytes(int64(len(pt)))
			for b.Loop() {
				out = tr.Seal(out[:0], aad, iv, pt)
			}
		})
	}
}
