package esp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/ike"
)

// espVector is a complete ESP packet with the SA parameters that produce
// it. plaintext is what the draft and the RFC call the plaintext: payload,
// padding, pad length and next header.
type espVector struct {
	name      string
	encrID    uint16
	keyBits   int
	keymat    string // key || salt
	spi       uint32
	seq       uint64
	esn       bool
	iv        string
	plaintext string
	packet    string
}

// mcgrewVectors are the AES-GCM ESP test cases of draft-mcgrew-gcm-test-01
// section 4 ("Test Cases for the use of Galois/Counter Mode (GCM) and Galois
// Message Authentication Code (GMAC) in IPsec ESP", D. McGrew, 2009), in
// the draft's order, omitting its GMAC (RFC 4543) cases. Keying material is
// key || salt, the salt being the first 4 octets of the draft's nonce; a
// 64-bit seq means the case uses extended sequence numbers (a 12-octet AAD).
// The IVs are arbitrary, not sequence numbers, so sealing uses the
// test-only seal with an explicit IV.
var mcgrewVectors = []espVector{
	{
		name: "case 1 AES-128 ESN", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "4c80cdefbb5d10da906ac73c3613a634" + "2e443b68",
		spi:    0x00004321, seq: 0x8765432100000000, esn: true, iv: "4956ed7e3b244cfe",
		plaintext: "45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000" +
			"00000000045f736970045f756470037369700963796265726369747902646b00" +
			"0021000101020201",
		packet: "00004321000000004956ed7e3b244cfe" +
			"fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34" +
			"cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce" +
			"61bc17d768fd9732459018148f6cbe722fd04796562dfdb4",
	},
	{
		name: "case 2 AES-128", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "feffe9928665731c6d6a8f9467308308" + "cafebabe",
		spi:    0x0000a5f8, seq: 0x0a, iv: "facedbaddecaf888",
		plaintext: "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100" +
			"00010000000000000373697009637962" + "65726369747902646b00000100010001",
		packet: "0000a5f80000000afacedbaddecaf888" +
			"deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c" +
			"3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1" +
			"83b70d3aa8bc6ee4c309e9d85a41ad4a",
	},
	{
		name: "case 3 AES-256", encrID: ike.EncrAESGCM16, keyBits: 256,
		keymat: "abbccddef00112233445566778899aababbccddef00112233445566778899aab" + "11223344",
		spi:    0x4a2cbfe3, seq: 2, iv: "0102030405060708",
		plaintext: "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000" +
			"7002400020bf0000020405b40101040201020201",
		packet: "4a2cbfe3000000020102030405060708" +
			"ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763" +
			"748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49" +
			"15956c96",
	},
	{
		name: "case 4 AES-128 zero key", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "00000000000000000000000000000000" + "00000000",
		spi:    0, seq: 1, iv: "0000000000000000",
		plaintext: "4500003c99c500008001cb7a40679318010101010800075c0200440061626364" +
			"65666768696a6b6c6d6e6f70717273747576776162636465666768690102" + "0201",
		packet: "00000000000000010000000000000000" +
			"4688daf2f973a392732909c331d56d60f694abaa414b5e7ff5fdcdfff5e9a284" +
			"456476492719ffb64de7d9dca1e1d894bc3bd57873ed4d181d19d4d5c8c18af3" +
			"f821d496eeb096e98ad2b69e4799c71d",
	},
	{
		name: "case 5 AES-128 ESN", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "3de09874b388e6491988d0c3607eae1f" + "57690e43",
		spi:    0x42f67e3f, seq: 0x1010101010101010, esn: true, iv: "4e280000a2fca1a3",
		plaintext: "4500003c99c300008001cb7c40679318010101010800085c0200430061626364" +
			"65666768696a6b6c6d6e6f70717273747576776162636465666768690102" + "0201",
		packet: "42f67e3f101010104e280000a2fca1a3" +
			"fba2caa4853cf9f0f22cb10d86dd83b0fec75691cf1a04b00d1138ec9c357917" +
			"65acbd8701ad79845bf9fe3fba487bc91755e6662b4c8d0d1f5e22739530320a" +
			"e0d731cc978ecafaeae88f00e80d6e48",
	},
	{
		name: "case 6 AES-128 ESN short", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "3de09874b388e6491988d0c3607eae1f" + "57690e43",
		spi:    0x42f67e3f, seq: 0x1010101010101010, esn: true, iv: "4e280000a2fca1a3",
		plaintext: "4500001c42a200008001441f406793b6e00000020a00f5ff01020201",
		packet: "42f67e3f101010104e280000a2fca1a3" +
			"fba2ca845e5df9f0f22c3e6e86dd831e1fc65792cd1af9130e1379ed369f071f" +
			"35e034be95f112e4e7d05d35",
	},
	{
		name: "case 7 AES-192", encrID: ike.EncrAESGCM16, keyBits: 192,
		keymat: "feffe9928665731c6d6a8f9467308308feffe9928665731c" + "cafebabe",
		spi:    0x0000a5f8, seq: 0x0a, iv: "facedbaddecaf888",
		plaintext: "45000028a4ad4000400678800a01038f0a010612802306b8cb712602dd6bb03e" +
			"501016d075680001",
		packet: "0000a5f80000000afacedbaddecaf888" +
			"a5b1f8066029aea40e598b8122de02420938b3ab33f828e687b8858b5bfbdbd0" +
			"315b27452144cc7795457b9652037f5318027b5b4cd7a636",
	},
	{
		name: "AES-128 ESN seq 1", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "abbccddef00112233445566778899aab" + "decaf888",
		spi:    0x00000100, seq: 1, esn: true, iv: "cafedebaceface74",
		plaintext: "4500004933ba00007f119106c3fb1d10c2b1d326c02831ce0035dd7b800302d5" +
			"00004e20001e8c18d75b81dc91baa0476b91b924b280389d92c963bac046ec95" +
			"9b6266c04722b14923010101",
		packet: "0000010000000001cafedebaceface74" +
			"18a6fd42f72cbf4ab2a2ea901f73d814e3e7f243d95412e1c349c1d2fbec168f" +
			"9190feebaf2cb01984e65863965d7472b79da345e0e780191f0d2f0e0f496c22" +
			"6f2127b27db35724e7845d68651f57e65f354f75ff17015769623436",
	},
	{
		name: "AES-256 ESN", encrID: ike.EncrAESGCM16, keyBits: 256,
		keymat: "abbccddef00112233445566778899aababbccddef00112233445566778899aab" + "73616c74",
		spi:    0x17405e67, seq: 0x156f3126dd0db99b, esn: true, iv: "616e640169766563",
		plaintext: "45080028732c00004006e9f90a0106120a01038f06b88023dd6bafbecb712602" +
			"50101f646d540001",
		packet: "17405e67dd0db99b616e640169766563" +
			"f2d69ecdbd5a0d5b8d5ef38bad4da58d1f278fde98ef67549d524a3018d9a57f" +
			"f4d3a31ce673119e451626c2415771e3b7eebca614c89b35",
	},
	{
		name: "AES-128 ESN UDP", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "3de09874b388e6491988d0c3607eae1f" + "57690e43",
		spi:    0x42f67e3f, seq: 0x1010101010101010, esn: true, iv: "4e280000a2fca1a3",
		plaintext: "45000049333e00007f119182c3fb1d10c2b1d326c02831ce0035cb458003025b" +
			"000001e0001e8c18d65759d52284a0352c71475c8880391c764d6e5ee0496b32" +
			"5ae270c03899493915010101",
		packet: "42f67e3f101010104e280000a2fca1a3" +
			"fba2cad12fc1f9f00d3cebf305410db83d7784b607323d220f24b0a97d541828" +
			"00cadb0f68d99ef0e0c0c89ae9bea8884e52d65bc1afd0740f742444747b5b39" +
			"ab533163aad4550ee5160975cdb608c5769189609763b8e18caa81e2",
	},
	{
		name: "AES-256 ESN text", encrID: ike.EncrAESGCM16, keyBits: 256,
		keymat: "abbccddef00112233445566778899aababbccddef00112233445566778899aab" + "73616c74",
		spi:    0x17405e67, seq: 0x156f3126dd0db99b, esn: true, iv: "616e640169766563",
		plaintext: "636973636f0172756c65730174686501" + "6e6574776501646566696e6501746865" +
			"746563686e6f6c6f6769657301746861" + "7477696c6c01646566696e65746f6d6f" + "72726f7701020201",
		packet: "17405e67dd0db99b616e640169766563" +
			"d4b7ed86a1777f2ea13d6973d324c69e7b43f826fb56831226508bebd2dceb18" +
			"d0a6df10e5487df074113e14c641024e3e6773d91a62ee429b043a10e3efe6b0" +
			"12a49363412364f8c0cac587f249e56b11e24f30e44ccc76",
	},
	{
		name: "AES-128 empty payload seq 2^32-1", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "7d773d00c144c525ac619d18c84a3f47" + "d9664267",
		spi:    0x335467ae, seq: 0xffffffff, iv: "43457e9182443bc6",
		plaintext: "01020201",
		packet:    "335467aeffffffff43457e9182443bc6" + "437f866bcb3f699fe9b0822bac961c45" + "04bef270",
	},
	{
		name: "AES-128 ESN no padding", encrID: ike.EncrAESGCM16, keyBits: 128,
		keymat: "abbccddef00112233445566778899aab" + "decaf888",
		spi:    0x00000100, seq: 1, esn: true, iv: "cafedebaceface74",
		plaintext: "746f016265016f72016e6f7401746f01" + "62650001",
		packet: "0000010000000001cafedebaceface74" +
			"29c9fc69a197d038ccdd14e2ddfcaa0543332164412503524303ed3c6c5f2838" + "43af8c3e",
	},
	{
		name: "AES-256 ESN seq 2^64-1", encrID: ike.EncrAESGCM16, keyBits: 256,
		keymat: "6c6567616c697a656d6172696a75616e61616e64646f69746265666f72656961" + "7475726e",
		spi:    0x796b6963, seq: 0xffffffffffffffff, esn: true, iv: "333021696765746d",
		plaintext: "45000030da3a00008001df3bc0a80005c0a800010800c6cd0200070061626364" +
			"65666768696a6b6c6d6e6f707172737401020201",
		packet: "796b6963ffffffff333021696765746d" +
			"f97ab2aa356d8edce17644ac8c78e25dd24dedbb29ebf1b64a274b39b49c3a86" +
			"4cd3d78ca4ae68a32b42458fb57dbe821dcc63b9d0937ba2945f669368661a32" +
			"9fb4c053",
	},
}

// rfc7634Vector is the ESP example of RFC 7634 Appendix A: ChaCha20-Poly1305,
// an ICMP echo request in tunnel mode (next header 4).
var rfc7634Vector = espVector{
	name: "RFC 7634 A", encrID: ike.EncrChaCha20Poly1305, keyBits: 0,
	keymat: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f" + "a0a1a2a3",
	spi:    0x01020304, seq: 5, iv: "1011121314151617",
	plaintext: "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10" +
		"000736270809" + "0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627" +
		"28292a2b2c2d2e2f3031323334353637" + "01020204",
	packet: "0102030400000005" + "1011121314151617" +
		"24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6" +
		"14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3" +
		"cbec163fac469b502773f6fb94e664da9165b82829f641e0" +
		"76aaa8266b7fb0f7b11b369907e1ad43",
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestPublishedVectors(t *testing.T) {
	for _, v := range append(mcgrewVectors, rfc7634Vector) {
		t.Run(v.name, func(t *testing.T) {
			s := testSuite{v.name, v.encrID, v.keyBits}
			a := newAEAD(t, s, mustHex(t, v.keymat))
			pt := mustHex(t, v.plaintext)
			want := mustHex(t, v.packet)
			pad := int(pt[len(pt)-2])
			nh := pt[len(pt)-1]
			payload := pt[:len(pt)-2-pad]

			// Open the published packet.
			in := NewInbound(v.spi, a, 0)
			if v.esn {
				in = NewInboundESN(v.spi, a, 0)
				if v.seq > 1 {
					// Put the window just below seq so that the high
					// half is inferred as the sender had it.
					in.window.Update(v.seq - 1)
				}
			}
			got, gotNH, err := in.Open(bytes.Clone(want))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, payload) || gotNH != nh {
				t.Fatalf("Open = %x nh %d\nwant %x nh %d", got, gotNH, payload, nh)
			}

			// Seal the payload: our padding (minimal, 1, 2, 3...) is the
			// draft's, so the packets must be identical.
			o := NewOutbound(v.spi, a)
			if v.esn {
				o = NewOutboundESN(v.spi, a)
			}
			buf := make([]byte, len(payload)+o.Overhead(len(payload)))
			copy(buf[o.PayloadOffset():], payload)
			pkt, err := o.seal(buf, len(payload), nh, v.seq, mustHex(t, v.iv))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pkt, want) {
				t.Fatalf("sealed packet differs:\n got %x\nwant %x", pkt, want)
			}
		})
	}
}

// independentSeal builds the ESP packet straight from the RFCs with the
// standard library, sharing no code with the package: nonce = salt || IV
// (RFC 4106 4, RFC 7634 2), AAD = SPI || Seq or SPI || SeqHigh || SeqLow
// (RFC 4106 5), plaintext = payload || 1, 2, ... || padlen || next header
// (RFC 4303 2.4), packet = SPI || SeqLow || IV || ciphertext || ICV.
func independentSeal(tb testing.TB, s testSuite, keymat []byte, spi uint32, seq uint64, esn bool, payload []byte, nh uint8) []byte {
	tb.Helper()
	key, salt := keymat[:len(keymat)-4], keymat[len(keymat)-4:]
	var aead cipher.AEAD
	var err error
	if s.encrID == ike.EncrChaCha20Poly1305 {
		aead, err = chacha20poly1305.New(key)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			aead, err = cipher.NewGCM(b)
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	iv := binary.BigEndian.AppendUint64(nil, seq)
	nonce := append(bytes.Clone(salt), iv...)
	aad := binary.BigEndian.AppendUint32(nil, spi)
	if esn {
		aad = binary.BigEndian.AppendUint64(aad, seq)
	} else {
		aad = binary.BigEndian.AppendUint32(aad, uint32(seq))
	}
	pt := bytes.Clone(payload)
	for i := 1; (len(pt)+2)%4 != 0; i++ {
		pt = append(pt, byte(i))
	}
	pt = append(pt, byte(len(pt)-len(payload)), nh)
	out := binary.BigEndian.AppendUint32(nil, spi)
	out = binary.BigEndian.AppendUint32(out, uint32(seq))
	out = append(out, iv...)
	return aead.Seal(out, nonce, pt, aad)
}

// TestIndependentConstruction compares Seal with independentSeal for the
// 16-octet-ICV suites, with and without ESN, at several sizes and at
// sequence numbers whose high half is not zero.
func TestIndependentConstruction(t *testing.T) {
	for _, s := range aeadSuites[:3] {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/esn=%v", s.name, esn), func(t *testing.T) {
				n, err := suite.AEADKeymatLen(s.encrID, s.keyBits)
				if err != nil {
					t.Fatal(err)
				}
				keymat := randBytes(n)
				a := newAEAD(t, s, keymat)
				o := NewOutbound(0x11223344, a)
				start := uint64(1000)
				if esn {
					o = NewOutboundESN(0x11223344, a)
					start = 0x0000000700000000 - 2
				}
				o.seq.Store(start)
				for i, size := range testSizes {
					payload := randBytes(size)
					got := sealPayload(t, o, payload, 41)
					want := independentSeal(t, s, keymat, 0x11223344, start+uint64(i)+1, esn, payload, 41)
					if !bytes.Equal(got, want) {
						t.Fatalf("size %d: packets differ\n got %x\nwant %x", size, got, want)
					}
				}
			})
		}
	}
}

// TestPaddingChecked seals packets with a correct ICV but a bad trailer,
// built independently: the ICV passes, the window moves, and Open reports
// ErrPadding (RFC 4303 2.4).
func TestPaddingChecked(t *testing.T) {
	s := aeadSuites[0]
	keymat := randBytes(20)
	a := newAEAD(t, s, keymat)
	build := func(seq uint64, pt []byte) []byte {
		hdr := binary.BigEndian.AppendUint32(nil, testSPI)
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(seq))
		hdr = binary.BigEndian.AppendUint64(hdr, seq)
		return resealExact(t, keymat, pt, hdr)
	}
	tests := []struct {
		name string
		pt   []byte
		err  error
	}{
		{"good 3", []byte{'a', 1, 2, 3, 3, 4}, nil},
		{"good 0", []byte{'a', 'b', 0, 4}, nil},
		{"good extra TFC padding", []byte{'a', 'b', 1, 2, 3, 4, 5, 6, 6, 4}, nil},
		{"pad byte wrong", []byte{'a', 1, 2, 4, 3, 4}, ErrPadding},
		{"pad bytes zero", []byte{'a', 0, 0, 0, 3, 4}, ErrPadding},
		{"pad length beyond payload", []byte{'a', 'b', 3, 4}, ErrPadding},
		{"pad length 255", []byte{1, 2, 255, 4}, ErrPadding},
		{"pad length all", []byte{1, 2, 2, 4}, nil}, // empty payload, 2 pad bytes
	}
	in := NewInbound(testSPI, a, 0)
	for i, tt := range tests {
		pkt := build(uint64(i+1), tt.pt)
		_, _, err := in.Open(bytes.Clone(pkt))
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
		// Authentic packets move the window even if the padding is bad.
		if _, _, err := in.Open(bytes.Clone(pkt)); !errors.Is(err, ErrReplay) {
			t.Errorf("%s: second Open: err = %v, want ErrReplay", tt.name, err)
		}
	}
	if st := in.Stats(); st.Padding != 4 || st.Replay != uint64(len(tests)) {
		t.Errorf("Stats = %+v", st)
	}
}

// resealExact encrypts pt verbatim under AES-GCM with the header hdr (SPI,
// seq, IV as the first 16 bytes of an ESP packet).
func resealExact(tb testing.TB, keymat, pt, hdr []byte) []byte {
	tb.Helper()
	b, err := aes.NewCipher(keymat[:16])
	if err != nil {
		tb.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		tb.Fatal(err)
	}
	nonce := append(bytes.Clone(keymat[16:]), hdr[8:16]...)
	return g.Seal(bytes.Clone(hdr), nonce, pt, hdr[:8])
}
