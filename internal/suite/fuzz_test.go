package suite

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// FuzzSharedSecret feeds arbitrary peer values to every group: no panic,
// and either ErrInvalidPublicValue or a secret of the group's size.
func FuzzSharedSecret(f *testing.F) {
	kes := make([]KeyExchange, len(testGroups))
	for i, g := range testGroups {
		ke, err := NewKeyExchange(g.group, seeded(uint64(i)))
		if err != nil {
			f.Fatal(err)
		}
		kes[i] = ke
		peer, _ := NewKeyExchange(g.group, seeded(uint64(100+i)))
		f.Add(uint8(i), peer.PublicValue())
		f.Add(uint8(i), make([]byte, g.pubLen))
		f.Add(uint8(i), bytes.Repeat([]byte{0xff}, g.pubLen))
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(3), []byte{1})
	f.Fuzz(func(t *testing.T, which uint8, peer []byte) {
		i := int(which) % len(kes)
		s, err := kes[i].SharedSecret(peer)
		if err != nil {
			if !errors.Is(err, ErrInvalidPublicValue) {
				t.Fatalf("group %d: unexpected error %v", testGroups[i].group, err)
			}
			return
		}
		if len(s) != testGroups[i].secLen || len(peer) != testGroups[i].pubLen {
			t.Fatalf("group %d: accepted a %d-byte value, %d-byte secret", testGroups[i].group, len(peer), len(s))
		}
	})
}

// FuzzAEADOpen feeds arbitrary packets to every AEAD: no panic, and
// anything but the genuine packet fails.
func FuzzAEADOpen(f *testing.F) {
	aeads := make([]*AEAD, len(aeadCases))
	for i, c := range aeadCases {
		aeads[i] = newTestAEAD(f, c)
		iv := []byte("8 octets")
		f.Add(uint8(i), iv, aeads[i].Seal(nil, iv, []byte("payload"), []byte("hdr")), []byte("hdr"))
		f.Add(uint8(i), iv, []byte{}, []byte{})
		f.Add(uint8(i), []byte{1}, make([]byte, 40), []byte("hdr"))
	}
	f.Fuzz(func(t *testing.T, which uint8, iv, ct, aad []byte) {
		i := int(which) % len(aeads)
		a := aeads[i]
		inPlace := bytes.Clone(ct)
		pt, err := a.Open(inPlace[:0], iv, inPlace, aad)
		if err != nil {
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// It verified, so sealing the plaintext again gives the packet.
		if again := a.Seal(nil, iv, pt, aad); !bytes.Equal(again, ct) {
			t.Fatalf("%v: opened a packet that does not re-seal to itself", a)
		}
	})
}

// FuzzParseProposal: no panic; an accepted proposal names only implemented
// transforms and has the parts RFC 7296 3.3.3 requires.
func FuzzParseProposal(f *testing.F) {
	for _, s := range []string{
		"aes256gcm16-prfsha256-x25519", "default", "aes128gcm16-esn-x25519", "chacha20poly1305",
		"aes256-sha256-modp2048", "ke1_mlkem768", "--", "aes128ctr-sha384-ecp521", "aes128ccm16-prfaescmac-ecp384",
		"aes256gcm16-prfsha384-x25519-ke1_mlkem768", "aes192-aesxcbc-aescmac-modp8192", "3des-sha1-modp3072", " - ", "aes128gcm8-aes192gcm96-prfsha512-ecp384-modp2048-noesn",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, esp bool) {
		parse, proto := ParseIKEProposal, ike.ProtoIKE
		if esp {
			parse, proto = ParseESPProposal, ike.ProtoESP
		}
		p, err := parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if p.Protocol != proto || len(p.Get(ike.TransformENCR)) == 0 {
			t.Fatalf("%q: %+v", s, p)
		}
		if !esp && (len(p.Get(ike.TransformPRF)) == 0 || len(p.Get(ike.TransformKE)) == 0 || len(p.Get(ike.TransformESN)) != 0) {
			t.Fatalf("%q: incomplete IKE proposal %+v", s, p)
		}
		if esp && (len(p.Get(ike.TransformESN)) == 0 || len(p.Get(ike.TransformPRF)) != 0) {
			t.Fatalf("%q: bad ESP proposal %+v", s, p)
		}
		for _, tr := range p.Transforms {
			checkImplemented(t, tr)
		}
		if !esp { // every ENCR/INTEG pairing can protect the IKE SA
			integs := p.Get(ike.TransformINTEG)
			if len(integs) == 0 {
				integs = []ike.Transform{{Type: ike.TransformINTEG, ID: ike.IntegNone}}
			}
			for _, e := range p.Get(ike.TransformENCR) {
				for _, i := range integs {
					if _, _, err := SKKeymatLen(e.ID, int(e.KeyLength), i.ID); err != nil {
						t.Fatalf("%q: %v", s, err)
					}
				}
			}
		}
		if d := Describe(p); d == "" || strings.Contains(d, "UNKNOWN") {
			t.Fatalf("%q: Describe = %q", s, d)
		}
	})
}

// FuzzSKTransformOpen feeds arbitrary SK payload bodies to every SK
// transform: no panic, and anything but a genuine message fails.
func FuzzSKTransformOpen(f *testing.F) {
	trs := make([]SKTransform, len(skCases))
	for i, c := range skCases {
		trs[i] = newTestSK(f, c, 9)
		aad, iv, pt := testSKMessage(c, 20, 9)
		f.Add(uint8(i), aad, iv, trs[i].Seal(nil, aad, iv, pt))
		f.Add(uint8(i), aad, iv, []byte{})
		f.Add(uint8(i), []byte{}, []byte{1}, make([]byte, 40))
	}
	f.Fuzz(func(t *testing.T, which uint8, aad, iv, ct []byte) {
		tr := trs[int(which)%len(trs)]
		pt, err := tr.Open(nil, aad, iv, ct)
		if err != nil {
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if again := tr.Seal(nil, aad, iv, pt); !bytes.Equal(again, ct) {
			t.Fatalf("%v: opened a message that does not re-seal to itself", tr)
		}
	})
}
