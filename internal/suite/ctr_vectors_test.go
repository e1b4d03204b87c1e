package suite

import (
	"bytes"
	"testing"
)

// TestAESCTRRFC3686 runs the nine test vectors of RFC 3686 section 6:
// keying material is key || nonce (RFC 3686 5.1), the counter block
// nonce || IV || 00000001.
func TestAESCTRRFC3686(t *testing.T) {
	msg32 := "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
	msg36 := msg32 + "20212223"
	single := "53696E676C6520626C6F636B206D7367" // "Single block msg"
	for _, v := range []struct {
		name, key, nonce, iv, pt, ct string
	}{
		{"#1 AES-128 16 octets", "AE6852F8121067CC4BF7A5765577F39E", "00000030", "0000000000000000", single,
			"E4095D4FB7A7B3792D6175A3261311B8"},
		{"#2 AES-128 32 octets", "7E24067817FAE0D743D6CE1F32539163", "006CB6DB", "C0543B59DA48D90B", msg32,
			"5104A106168A72D9790D41EE8EDAD388EB2E1EFC46DA57C8FCE630DF9141BE28"},
		{"#3 AES-128 36 octets", "7691BE035E5020A8AC6E618529F9A0DC", "00E0017B", "27777F3F4A1786F0", msg36,
			"C1CF48A89F2FFDD9CF4652E9EFDB72D74540A42BDE6D7836D59A5CEAAEF3105325B2072F"},
		{"#4 AES-192 16 octets", "16AF5B145FC9F579C175F93E3BFB0EED863D06CCFDB78515", "00000048", "36733C147D6D93CB", single,
			"4B55384FE259C9C84E7935A003CBE928"},
		{"#5 AES-192 32 octets", "7C5CB2401B3DC33C19E7340819E0F69C678C3DB8E6F6A91A", "0096B03B", "020C6EADC2CB500D", msg32,
			"453243FC609B23327EDFAAFA7131CD9F8490701C5AD4A79CFC1FE0FF42F4FB00"},
		{"#6 AES-192 36 octets", "02BF391EE8ECB159B959617B0965279BF59B60A786D3E0FE", "0007BDFD", "5CBD60278DCC0912", msg36,
			"96893FC55E5C722F540B7DD1DDF7E758D288BC95C69165884536C811662F2188ABEE0935"},
		{"#7 AES-256 16 octets", "776BEFF2851DB06F4C8A0542C8696F6C6A81AF1EEC96B4D37FC1D689E6C1C104", "00000060", "DB5672C97AA8F0B2", single,
			"145AD01DBF824EC7560863DC71E3E0C0"},
		{"#8 AES-256 32 octets", "F6D66D6BD52D59BB0796365879EFF886C66DD51A5B6A99744B50590C87A23884", "00FAAC24", "C1585EF15A43D875", msg32,
			"F05E231B3894612C49EE000B804EB2A9B8306B508F839D6A5530831D9344AF1C"},
		{"#9 AES-256 36 octets", "FF7A617CE69148E4F1726E2F43581DE2AA62D9F805532EDFF1EED687FB54153D", "001CC5B7", "51A51D70A1C11148", msg36,
			"EB6C52821D0BBBF7CE7594462ACA4FAAB407DF866569FD07F48CC0B583D6071F1EC0E6B8"},
	} {
		c, err := newAESCTR(unhex(t, v.key+v.nonce))
		if err != nil {
			t.Fatal(err)
		}
		iv, pt, ct := unhex(t, v.iv), unhex(t, v.pt), unhex(t, v.ct)
		got := make([]byte, len(pt))
		c.encrypt(got, iv, pt)
		if !bytes.Equal(got, ct) {
			t.Errorf("RFC 3686 %s: %X, want %X", v.name, got, ct)
		}
		c.decrypt(got, iv, got)
		if !bytes.Equal(got, pt) {
			t.Errorf("RFC 3686 %s: decrypt in place %X", v.name, got)
		}
	}
}

// The key stream is produced in batches of ksBlocks blocks: lengths around
// the batch size must agree with a block-at-a-time computation.
func TestAESCTRBatchBoundaries(t *testing.T) {
	c, _ := newAESCTR(unhex(t, "AE6852F8121067CC4BF7A5765577F39E 000000FF"))
	iv := unhex(t, "0102030405060708")
	long := make([]byte, 3*ksBlocks*16+5)
	c.encrypt(long, iv, long) // key stream of the whole length
	for _, n := range []int{1, 15, 16, 17, ksBlocks*16 - 1, ksBlocks * 16, ksBlocks*16 + 1, len(long)} {
		got := make([]byte, n)
		c.encrypt(got, iv, got)
		if !bytes.Equal(got, long[:n]) {
			t.Errorf("length %d: key stream differs", n)
		}
	}
	// The block counter is the last four octets (RFC 3686 4): it wraps
	// there and never carries into the IV.
	s := getXformScratch()
	defer putXformScratch(s)
	s.ctr = [16]byte{15: 0xff, 14: 0xff, 13: 0xff, 12: 0xff, 11: 0x07}
	ctrXOR(c.(*ctrCipher).b, s, make([]byte, 32), make([]byte, 32))
	if s.ctr[11] != 0x07 || s.ctr[15] != 1 {
		t.Errorf("counter wrapped into the IV: %x", s.ctr)
	}
}
