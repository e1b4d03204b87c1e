package suite

import (
	"bytes"
	"testing"
)

// TestAESCBCVectors runs the AES-CBC test vectors of RFC 3602 section 4
// (cases 1-4, AES-128) and of NIST SP 800-38A appendix F.2.3 and F.2.5
// (CBC-AES192 and CBC-AES256 encryption), in place and not.
func TestAESCBCVectors(t *testing.T) {
	sp800_38A := "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" +
		"30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
	for _, v := range []struct {
		name, key, iv, pt, ct string
	}{
		{"RFC 3602 case 1", "06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
			"53696e676c6520626c6f636b206d7367", // "Single block msg"
			"e353779c1079aeb82708942dbe77181a"},
		{"RFC 3602 case 2", "c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			"d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"},
		{"RFC 3602 case 3", "6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
			"5468697320697320612034382d62797465206d657373616765202865786163746c7920332041455320626c6f636b7329", // "This is a 48-byte message (exactly 3 AES blocks)"
			"d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684"},
		{"RFC 3602 case 4", "56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
			"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
			"c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"},
		{"SP 800-38A F.2.3 CBC-AES192", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "000102030405060708090a0b0c0d0e0f", sp800_38A,
			"4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd"},
		{"SP 800-38A F.2.5 CBC-AES256", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "000102030405060708090a0b0c0d0e0f", sp800_38A,
			"f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"},
	} {
		c, err := newAESCBC(unhex(t, v.key))
		if err != nil {
			t.Fatal(err)
		}
		iv, pt, ct := unhex(t, v.iv), unhex(t, v.pt), unhex(t, v.ct)
		got := make([]byte, len(pt))
		c.encrypt(got, iv, pt)
		if !bytes.Equal(got, ct) {
			t.Errorf("%s: encrypt = %x, want %x", v.name, got, ct)
		}
		c.decrypt(got, iv, got) // in place
		if !bytes.Equal(got, pt) {
			t.Errorf("%s: decrypt in place = %x, want %x", v.name, got, pt)
		}
		buf := bytes.Clone(pt)
		c.encrypt(buf, iv, buf)
		if !bytes.Equal(buf, ct) {
			t.Errorf("%s: encrypt in place = %x", v.name, buf)
		}
	}
}

// TestAESCBCRFC3602Packets decrypts the ESP packets of RFC 3602 section 4,
// cases 5-8 (AES-128-CBC without integrity, so below the ESPTransform,
// which refuses that): SPI || Seq || IV || ciphertext, whose plaintext is
// the payload, the padding 1, 2, 3, ..., Pad Length and Next Header. The
// packets were checked against OpenSSL (python3-cryptography).
func TestAESCBCRFC3602Packets(t *testing.T) {
	for _, v := range []struct {
		name, key, packet, payload string
		nextHeader                 byte
	}{
		{"case 5: ICMP echo, transport mode", "90d382b410eeba7ad938c46cec1a82bf",
			`0000432100000001e96e8c08ab465763fd098d45dd3ff893f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856
			a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874aa269add047ad2d5913ac19b7cfbad4a6`,
			"08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637", 1},
		{"case 6: ICMP echo, transport mode", "90d382b410eeba7ad938c46cec1a82bf",
			"000043210000000869d08df7d203329db093fc4924e5bd80f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75",
			"0800b5e8a80a0500a69c083d0b660e00777777777777777777777777", 1},
		{"case 7: ICMP echo, tunnel mode", "0123456789abcdef0123456789abcdef",
			`0000876500000002f4e765244f6407adf13dc1380f673f37773b5241a4c449225e4f3ce5ed611b0c237ca96cf74a93013c1b0ea1a0cf70f8
			e4ecaec78ac53aad7a0f022b859243c647752e94a859352b8a4d4d2decd136e5c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5
			a100b842f1c22f0d`,
			"45000054090400004001f988c0a87b03c0a87bc808009f76a90a0100b49c083d02a2040008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637", 4},
		{"case 8: ICMP echo, tunnel mode", "0123456789abcdef0123456789abcdef",
			`000087650000000585d47224b5f3dd5d2101d4ea8dffab2215b92683819596a8047232cc00f7048fe45318e11f8a0f62ede3c3fc61203bb5
			0f980a08c9843fd3a1b06d5c07ff9639b7eb7dfb3512e5de435e7207ed971ef3d2726d9b5ef6affc6d17a0decbb13892`,
			"45000044090c00004001f990c0a87b03c0a87bc80800d63caa0a0200c69c083da3de0300ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 4},
	} {
		c, err := newAESCBC(unhex(t, v.key))
		if err != nil {
			t.Fatal(err)
		}
		pkt := unhex(t, v.packet)
		iv, ct := pkt[8:24], pkt[24:]
		pt := make([]byte, len(ct))
		c.decrypt(pt, iv, ct)
		payload := unhex(t, v.payload)
		pad := len(pt) - 2 - len(payload)
		want := append(bytes.Clone(payload), make([]byte, pad+2)...)
		for i := range pad {
			want[len(payload)+i] = byte(i + 1)
		}
		want[len(want)-2], want[len(want)-1] = byte(pad), v.nextHeader
		if pad < 0 || !bytes.Equal(pt, want) {
			t.Errorf("%s: plaintext %x, want %x", v.name, pt, want)
			continue
		}
		again := make([]byte, len(pt))
		c.encrypt(again, iv, pt)
		if !bytes.Equal(again, ct) {
			t.Errorf("%s: re-encryption differs", v.name)
		}
	}
}

// TestTripleDESVectors checks the DES-EDE3 keying order of ENCR_3DES
// (K1 || K2 || K3, RFC 2451) with the example of NIST SP 800-67 Rev. 1
// appendix B (three blocks in ECB), and CBC over it with a cross-check
// value computed with OpenSSL (python3-cryptography, TripleDES CBC).
func TestTripleDESVectors(t *testing.T) {
	key := unhex(t, "0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123")
	pt := unhex(t, "5468652071756663 6B2062726F776E20 666F78206A756D70")
	ecb := unhex(t, "A826FD8CE53B855F CCE21C8112256FE6 68D5C05DD9B6B900")
	c, err := new3DESCBC(key)
	if err != nil {
		t.Fatal(err)
	}
	b := c.(*cbcCipher).b
	got := make([]byte, len(pt))
	for i := 0; i < len(pt); i += 8 {
		b.Encrypt(got[i:i+8], pt[i:i+8])
	}
	if !bytes.Equal(got, ecb) {
		t.Errorf("SP 800-67 TDEA: %x, want %x", got, ecb)
	}
	iv := unhex(t, "1234567890abcdef")
	cbc := unhex(t, "38413d4ba2325cf1141f707471ac2ced57db530f0123b5ac")
	c.encrypt(got, iv, pt)
	if !bytes.Equal(got, cbc) {
		t.Errorf("3DES-CBC: %x, want %x", got, cbc)
	}
	c.decrypt(got, iv, got)
	if !bytes.Equal(got, pt) {
		t.Errorf("3DES-CBC decrypt: %x", got)
	}
}
