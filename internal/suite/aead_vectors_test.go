package suite

import (
	"bytes"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// gcmPackets are ESP packets from draft-mcgrew-gcm-test-01 ("Test Vectors
// for the Galois/Counter Mode of Operation", the companion of RFC 4106),
// section 4. Each gives the key, the 4-octet salt and 8-octet IV (together
// the 12-octet nonce of RFC 4106 4), the AAD (SPI | sequence number, 8 or 12
// octets with ESN, RFC 4106 5), the plaintext and ciphertext || 16-octet ICV.
var gcmPackets = []struct {
	name               string
	key, salt, iv, aad string
	plaintext, sealed  string
}{
	{
		name: "AES-128 SPI 0x00004321 (64-bit sequence number)",
		key:  "4c80cdefbb5d10da906ac73c3613a634", salt: "2e443b68", iv: "4956ed7e3b244cfe",
		aad: "000043218765432100000000",
		plaintext: `45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000
			00000000045f736970045f756470037369700963796265726369747902646b00
			0021000101020201`,
		sealed: `fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34
			cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce
			61bc17d768fd9732 459018148f6cbe722fd04796562dfdb4`,
	},
	{
		name: "AES-128 SPI 0x0000a5f8",
		key:  "feffe9928665731c6d6a8f9467308308", salt: "cafebabe", iv: "facedbaddecaf888",
		aad: "0000a5f80000000a",
		plaintext: `4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100
			0001000000000000037369700963796265726369747902646b00000100010001`,
		sealed: `deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c
			3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1
			83b70d3aa8bc6ee4c309e9d85a41ad4a`,
	},
	{
		name: "AES-256 SPI 0x4a2cbfe3",
		key:  "abbccddef00112233445566778899aababbccddef00112233445566778899aab", salt: "11223344", iv: "0102030405060708",
		aad:       "4a2cbfe300000002",
		plaintext: `4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000 7002400020bf0000020405b40101040201020201`,
		sealed: `ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763
			748a637985771d347f0545659f14e99def842d8e b335f4eecfdbf831824b4c4915956c96`,
	},
	{
		name: "AES-128 all-zero key and nonce",
		key:  "00000000000000000000000000000000", salt: "00000000", iv: "0000000000000000",
		aad: "0000000000000001",
		plaintext: `4500003c99c500008001cb7a40679318010101010800075c0200440061626364
			65666768696a6b6c6d6e6f707172737475767761626364656667686901020201`,
		sealed: `4688daf2f973a392732909c331d56d60f694abaa414b5e7ff5fdcdfff5e9a284
			456476492719ffb64de7d9dca1e1d894bc3bd57873ed4d181d19d4d5c8c18af3
			f821d496eeb096e98ad2b69e4799c71d`,
	},
	{
		name: "AES-192 SPI 0x0000a5f8",
		key:  "feffe9928665731c6d6a8f9467308308feffe9928665731c", salt: "cafebabe", iv: "facedbaddecaf888",
		aad:       "0000a5f80000000a",
		plaintext: `45000028a4ad4000400678800a01038f0a010612802306b8cb712602dd6bb03e 501016d075680001`,
		sealed: `a5b1f8066029aea40e598b8122de02420938b3ab33f828e687b8858b5bfbdbd0
			315b27452144cc77 95457b9652037f5318027b5b4cd7a636`,
	},
	{
		name: "AES-256 SPI 0x17405e67 (64-bit sequence number)",
		key:  "abbccddef00112233445566778899aababbccddef00112233445566778899aab", salt: "73616c74", iv: "616e640169766563",
		aad:       "17405e67156f3126dd0db99b",
		plaintext: `45080028732c00004006e9f90a0106120a01038f06b88023dd6bafbecb712602 50101f646d540001`,
		sealed: `f2d69ecdbd5a0d5b8d5ef38bad4da58d1f278fde98ef67549d524a3018d9a57f
			f4d3a31ce673119e 451626c2415771e3b7eebca614c89b35`,
	},
	{
		name: "AES-128 four-octet payload",
		key:  "7d773d00c144c525ac619d18c84a3f47", salt: "d9664267", iv: "43457e9182443bc6",
		aad: "335467aeffffffff", plaintext: "01020201", sealed: "437f866b cb3f699fe9b0822bac961c4504bef270",
	},
}

func gcmID(icv int) uint16 {
	switch icv {
	case 8:
		return ike.EncrAESGCM8
	case 12:
		return ike.EncrAESGCM12
	}
	return ike.EncrAESGCM16
}

// TestAESGCMDraftMcGrew seals and opens the draft-mcgrew-gcm-test-01
// packets through the RFC 4106 interface (keymat = key || salt, explicit
// 8-octet IV). The 8- and 12-octet ICVs of ENCR_AES_GCM_8/12 (RFC 4106 6)
// are the leftmost octets of the same tag (NIST SP 800-38D 7.1, MSB_t).
func TestAESGCMDraftMcGrew(t *testing.T) {
	for _, v := range gcmPackets {
		key, salt, iv, aad := unhex(t, v.key), unhex(t, v.salt), unhex(t, v.iv), unhex(t, v.aad)
		pt, sealed := unhex(t, v.plaintext), unhex(t, v.sealed)
		full := sealed[len(pt):]
		for _, icv := range []int{16, 12, 8} {
			want := append(append([]byte{}, sealed[:len(pt)]...), full[:icv]...)
			a, err := NewAEAD(gcmID(icv), len(key)*8, append(append([]byte{}, key...), salt...))
			if err != nil {
				t.Fatal(err)
			}
			t.Run(v.name+"/"+a.String(), func(t *testing.T) {
				if a.ICVLen() != icv || a.IVLen() != 8 {
					t.Fatalf("ICVLen %d IVLen %d", a.ICVLen(), a.IVLen())
				}
				if got := a.Seal(nil, iv, pt, aad); !bytes.Equal(got, want) {
					t.Errorf("Seal:\n got %x\nwant %x", got, want)
				}
				got, err := a.Open(nil, iv, want, aad)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open = %x, %v; want %x", got, err, pt)
				}
			})
		}
	}
}

// TestChaCha20Poly1305RFC8439 runs the AEAD vector of RFC 8439 2.8.2
// through the RFC 7634 interface: its nonce 07000000 || 4041424344454647
// is salt || IV (RFC 7634 2).
func TestChaCha20Poly1305RFC8439(t *testing.T) {
	keymat := unhex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f 07000000")
	iv := unhex(t, "4041424344454647")
	aad := unhex(t, "50515253c0c1c2c3c4c5c6c7")
	pt := []byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
	want := unhex(t, `d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
		3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
		92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
		3ff4def08e4b7a9de576d26586cec64b6116 1ae10b594f09e26a7e902ecbd0600691`)
	a, err := NewAEAD(ike.EncrChaCha20Poly1305, 0, keymat)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Seal(nil, iv, pt, aad); !bytes.Equal(got, want) {
		t.Errorf("Seal:\n got %x\nwant %x", got, want)
	}
	if got, err := a.Open(nil, iv, want, aad); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Open = %q, %v", got, err)
	}
}

// TestChaCha20Poly1305RFC7634ESP opens the ESP packet of RFC 7634 Appendix
// A: keymat 80..9f || a0a1a2a3, SPI 0x01020304, sequence number 5, IV
// 1011121314151617. The AAD is SPI | sequence number (RFC 7634 2.1); the
// plaintext is the inner IPv4 packet followed by the ESP trailer (padding
// 01 02, pad length 2, next header 4).
func TestChaCha20Poly1305RFC7634ESP(t *testing.T) {
	keymat := unhex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3")
	packet := unhex(t, `01020304 00000005 1011121314151617
		24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6
		14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3
		cbec163fac469b502773f6fb94e664da9165b82829f641e0
		76aaa8266b7fb0f7b11b369907e1ad43`)
	inner := unhex(t, `45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10
		0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223
		2425262728292a2b2c2d2e2f3031323334353637`)
	want := append(append([]byte{}, inner...), 0x01, 0x02, 0x02, 0x04)

	a, err := NewAEAD(ike.EncrChaCha20Poly1305, 0, keymat)
	if err != nil {
		t.Fatal(err)
	}
	aad, iv, body := packet[:8], packet[8:16], packet[16:]
	// Open in place, as the ESP receive path does.
	sealed := append([]byte{}, body...)
	got, err := a.Open(sealed[:0], iv, sealed, aad)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Open = %x, %v\nwant %x", got, err, want)
	}
	if again := a.Seal(nil, iv, want, aad); !bytes.Equal(again, body) {
		t.Errorf("Seal:\n got %x\nwant %x", again, body)
	}
}
