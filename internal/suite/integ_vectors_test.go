package suite

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// checkInteg computes the ICV of msg under key and compares it with the
// leading ICVLen bytes of the published full-length MAC.
func checkInteg(t *testing.T, name string, id uint16, key, msg []byte, fullMAC string) {
	t.Helper()
	m, err := newInteg(id, key)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	want := unhex(t, fullMAC)[:m.ICVLen()]
	if got := m.Sum(nil, SeqHigh{}, msg); !bytes.Equal(got, want) {
		t.Errorf("%s: ICV %x, want %x", name, got, want)
	}
	if !m.Verify(want, SeqHigh{}, msg) {
		t.Errorf("%s: Verify rejects the published ICV", name)
	}
}

// TestHMACSHA1RFC2202 runs the HMAC-SHA-1 test cases of RFC 2202 section 3
// truncated to HMAC-SHA1-96 (RFC 2404 2). Case 5 prints the 96-bit value
// itself: 4c1a03424b55e07fe7f27be1.
func TestHMACSHA1RFC2202(t *testing.T) {
	for _, v := range []struct {
		name, key, data, mac string
	}{
		{"case 1", strings.Repeat("0b", 20), hex.EncodeToString([]byte("Hi There")), "b617318655057264e28bc0b6fb378c8ef146be00"},
		{"case 2", hex.EncodeToString([]byte("Jefe")), hex.EncodeToString([]byte("what do ya want for nothing?")), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{"case 3", strings.Repeat("aa", 20), strings.Repeat("dd", 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
		{"case 4", "0102030405060708090a0b0c0d0e0f10111213141516171819", strings.Repeat("cd", 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
		{"case 5", strings.Repeat("0c", 20), hex.EncodeToString([]byte("Test With Truncation")), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
		{"case 6", strings.Repeat("aa", 80), hex.EncodeToString([]byte("Test Using Larger Than Block-Size Key - Hash Key First")), "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
		{"case 7", strings.Repeat("aa", 80), hex.EncodeToString([]byte("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data")), "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
	} {
		checkInteg(t, "RFC 2202 "+v.name, ike.IntegHMACSHA1_96, unhex(t, v.key), unhex(t, v.data), v.mac)
	}
}

// TestHMACSHA2RFC4231 runs RFC 4231 section 4 test cases 1 and 5 (20-byte
// keys; case 5 is the truncation case, whose 128-bit values it prints)
// through the truncating integrity algorithms.
func TestHMACSHA2RFC4231(t *testing.T) {
	hiThere := []byte("Hi There")
	trunc := []byte("Test With Truncation")
	k1, k5 := bytes.Repeat([]byte{0x0b}, 20), bytes.Repeat([]byte{0x0c}, 20)
	checkInteg(t, "RFC 4231 case 1 SHA-256", ike.IntegHMACSHA256_128, k1, hiThere, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
	checkInteg(t, "RFC 4231 case 1 SHA-384", ike.IntegHMACSHA384_192, k1, hiThere,
		"afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6")
	checkInteg(t, "RFC 4231 case 1 SHA-512", ike.IntegHMACSHA512_256, k1, hiThere,
		"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")
	checkInteg(t, "RFC 4231 case 5 SHA-256", ike.IntegHMACSHA256_128, k5, trunc, "a3b6167473100ee06e0c796c2955552b")
	m, _ := newInteg(ike.IntegHMACSHA384_192, k5)
	if got := m.Sum(nil, SeqHigh{}, trunc); !bytes.Equal(got[:16], unhex(t, "3abf34c3503b2a23a46efc619baef897")) {
		t.Errorf("RFC 4231 case 5 SHA-384: %x", got)
	}
	m, _ = newInteg(ike.IntegHMACSHA512_256, k5)
	if got := m.Sum(nil, SeqHigh{}, trunc); !bytes.Equal(got[:16], unhex(t, "415fad6271580a531d4179bc891d87a6")) {
		t.Errorf("RFC 4231 case 5 SHA-512: %x", got)
	}
}

// TestHMACSHA2RFC4868 runs the authenticator test cases of RFC 4868
// section 2.7.2 (AUTH256-1..4, AUTH384-1..2, AUTH512-1..4), whose keys have
// the lengths ESP uses, through NewInteg: the ICV is the leftmost half of
// the printed HMAC.
func TestHMACSHA2RFC4868(t *testing.T) {
	hiThere := hex.EncodeToString([]byte("Hi There"))
	jefe := hex.EncodeToString([]byte("what do ya want for nothing?"))
	for _, v := range []struct {
		name      string
		id        uint16
		key, data string
		mac       string
	}{
		{"AUTH256-1", ike.IntegHMACSHA256_128, strings.Repeat("0b", 32), hiThere, "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"},
		{"AUTH256-2", ike.IntegHMACSHA256_128, strings.Repeat("4a656665", 8), jefe, "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"},
		{"AUTH256-3", ike.IntegHMACSHA256_128, strings.Repeat("aa", 32), strings.Repeat("dd", 50), "cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0"},
		{"AUTH256-4", ike.IntegHMACSHA256_128, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", strings.Repeat("cd", 50),
			"372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f"},
		{"AUTH384-1", ike.IntegHMACSHA384_192, strings.Repeat("0b", 48), hiThere,
			"b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc4c5df61d5b3297b4fb68dab9f1b582c2"},
		{"AUTH384-2", ike.IntegHMACSHA384_192, strings.Repeat("4a656665", 12), jefe,
			"2c7353974f1842fd66d53c452ca42122b28c0b594cfb184da86a368e9b8e16f5349524ca4e82400cbde0686d403371c9"},
		{"AUTH512-1", ike.IntegHMACSHA512_256, strings.Repeat("0b", 64), hiThere,
			"637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"},
		{"AUTH512-2", ike.IntegHMACSHA512_256, strings.Repeat("4a656665", 16), jefe,
			"cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b154546aa334ae9fb9afc2184932d8695e397bfa0ffb93466cfcceaae38c833b7dba38"},
		{"AUTH512-3", ike.IntegHMACSHA512_256, strings.Repeat("aa", 64), strings.Repeat("dd", 50),
			"2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8623c7b55cebefccf02d5581acc1c9d5fb1ff68a1de45509fbe4da9a433922655"},
		{"AUTH512-4", ike.IntegHMACSHA512_256, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40",
			strings.Repeat("cd", 50),
			"5e6688e5a3daec826ca32eaea224eff5e700628947470e13ad01302561bab108b8c48cbc6b807dcfbd850521a685babc7eae4a2a2e660dc0e86b931d65503fd2"},
	} {
		m, err := NewInteg(v.id, unhex(t, v.key))
		if err != nil {
			t.Fatalf("RFC 4868 %s: %v", v.name, err)
		}
		want := unhex(t, v.mac)[:m.ICVLen()]
		if got := m.Sum(nil, SeqHigh{}, unhex(t, v.data)); !bytes.Equal(got, want) {
			t.Errorf("RFC 4868 %s: %x, want %x", v.name, got, want)
		}
	}
}

// TestAESXCBCMAC96RFC3566 runs the test cases of RFC 3566 section 4.6
// (key 000102...0f): AES-XCBC-MAC-96 is the leftmost 96 bits.
func TestAESXCBCMAC96RFC3566(t *testing.T) {
	key := unhex(t, "000102030405060708090a0b0c0d0e0f")
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	for _, v := range []struct {
		name string
		msg  []byte
		mac  string
	}{
		{"#1 empty", nil, "75f0251d528ac01c4573dfd584d79f29"},
		{"#2 3 octets", seq(3), "5b376580ae2f19afe7219ceef172756f"},
		{"#3 16 octets", seq(16), "d2a246fa349b68a79998a4394ff7a263"},
		{"#4 20 octets", seq(20), "47f51b4564966215b8985c63055ed308"},
		{"#5 32 octets", seq(32), "f54f0ec8d2b9f3d36807734bd5283fd4"},
		{"#6 34 octets", seq(34), "becbb3bccdb518a30677d5481fb6b4d8"},
		{"#7 1000 zero octets", make([]byte, 1000), "f0dafee895db30253761103b5d84528f"},
	} {
		checkInteg(t, "RFC 3566 "+v.name, ike.IntegAESXCBC96, key, v.msg, v.mac)
		// The same through NewInteg, with the message in odd pieces.
		m, err := NewInteg(ike.IntegAESXCBC96, key)
		if err != nil {
			t.Fatal(err)
		}
		var parts [][]byte
		for rest := v.msg; len(rest) > 0; {
			k := min(len(rest), 7)
			parts, rest = append(parts, rest[:k]), rest[k:]
		}
		if got := m.Sum(nil, SeqHigh{}, parts...); !bytes.Equal(got, unhex(t, v.mac)[:12]) {
			t.Errorf("RFC 3566 %s in 7-octet pieces: %x", v.name, got)
		}
	}
}
