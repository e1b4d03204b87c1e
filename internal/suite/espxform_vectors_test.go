package suite

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// scapyPackets are ESP packets from independent implementations, made by
// espxform_vectors_gen.py: scapy 2.5.0's IPsec layer over OpenSSL
// (Debian python3-scapy, python3-cryptography) encrypts and pads a tunnel-
// mode packet (inner IPv4 ICMP echo scapyInner, Next Header 4), and the ICV
// is HMAC or AES-XCBC-MAC over SPI || Seq || IV || ciphertext, with the ESN
// high bits appended when esn is set (RFC 4303 2.2.1; scapy's own ESP
// signing leaves them out, so the script appends them). The AES-CCM
// packets are scapy's own, ESN included in the AAD (RFC 4309 5); the
// AES-GMAC ones come from cryptography's AES-GCM over the RFC 4543 AAD.
// hi is the high half of the 64-bit sequence number.
const scapyInner = "450000540007000040018e6bc0000201c633640208003a9300010002676f69707365632063726f73732d636865636b207061796c6f616420676f69707365632063726f73732d636865636b207061796c6f616420"

var scapyPackets = []struct {
	name           string
	encr           uint16
	keyBits        int
	integ          uint16
	esn            bool
	hi             uint32
	keymat, packet string
}{
	{name: "AES_CBC_128/HMAC_SHA2_256_128", encr: ike.EncrAESCBC, keyBits: 128, integ: ike.IntegHMACSHA256_128, esn: false, hi: 0x0,
		keymat: "101112131415161718191a1b1c1d1e1f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		packet: "0a0b0c0d00000005a0a1a2a3a4a5a6a7a8a9aaabacadaeafbe1da50bc5257ee7d0bae6027faeb5b9d84a7f23b2e414ba92dd2a27fb5451eb33254c74c8f1cd68e8a96d506fbe0335863c358ad45ed043ac62e4bf6c10d4003c6579496388eaefd40a89f1724de0a45574fc7db810cc0551528d06e1b52e8cf1a8457816ee364022d23abb93fceb15"},
	{name: "AES_CBC_128/HMAC_SHA2_256_128 ESN", encr: ike.EncrAESCBC, keyBits: 128, integ: ike.IntegHMACSHA256_128, esn: true, hi: 0x1,
		keymat: "101112131415161718191a1b1c1d1e1f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		packet: "0a0b0c0d00000005a0a1a2a3a4a5a6a7a8a9aaabacadaeafbe1da50bc5257ee7d0bae6027faeb5b9d84a7f23b2e414ba92dd2a27fb5451eb33254c74c8f1cd68e8a96d506fbe0335863c358ad45ed043ac62e4bf6c10d4003c6579496388eaefd40a89f1724de0a45574fc7db810cc0551528d06e1b52e8c90dd01e76fbbe230a50af716440a1f1d"},
	{name: "AES_CBC_256/HMAC_SHA1_96", encr: ike.EncrAESCBC, keyBits: 256, integ: ike.IntegHMACSHA1_96, esn: false, hi: 0x0,
		keymat: "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f606162636465666768696a6b6c6d6e6f70717273",
		packet: "1122334400000001b0b1b2b3b4b5b6b7b8b9babbbcbdbebf7539328e0cae864b2d897a6119ff792eb61d37d1d09340cd41a039f958d1cb7c467cc807697f870c5f8e3a3a6f4c619a6f3492a76c69da633308072aee5796f108250c110608a2bf1de7e55b14d74f1cc52d4ea87a79cfbb0fc19010c11b5ccffab4b7fce4bddd50f801666b"},
	{name: "AES_CBC_192/HMAC_SHA2_512_256 ESN", encr: ike.EncrAESCBC, keyBits: 192, integ: ike.IntegHMACSHA512_256, esn: true, hi: 0x7fffffff,
		keymat: "202122232425262728292a2b2c2d2e2f3031323334353637808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
		packet: "1122334400000001c0c1c2c3c4c5c6c7c8c9cacbcccdcecf6bc71920a759beb8947605cdaece4aa6b75dfa6253bc73268b63d7f5f3608f818160165dcf699f308c541f0557e67d18f6d1e78e7f56679ae2041022f74418575c2f2ddf1ff45228feb10a3ea66e89b485b6d15a6a97c9bc12e81f5c5098b322c05a52f0fc76d43ff76daf9c53392f076873c909f3d5a97b5dd363fad42aad1d"},
	{name: "AES_CTR_128/HMAC_SHA2_256_128", encr: ike.EncrAESCTR, keyBits: 128, integ: ike.IntegHMACSHA256_128, esn: false, hi: 0x0,
		keymat: "101112131415161718191a1b1c1d1e1fdeadbeef404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		packet: "0a0b0c0d00000009000000000000000916ed5af5e83aa9316523b3b94139e8ef4388dc072a54ee382b96467d70cc7b313ed9af2a05679e265163e15b3b88e6f73f86e0404717f62877742a3d637de26d8b7dc0d14cb674186d450baa7cc85c3395e8e339ba47bf01b4f7bab60cc103adf2a2d3978db8fcd5"},
	{name: "AES_CTR_256/HMAC_SHA2_384_192 ESN", encr: ike.EncrAESCTR, keyBits: 256, integ: ike.IntegHMACSHA384_192, esn: true, hi: 0x2,
		keymat: "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3fcafef00d303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		packet: "556677880000000300000002000000032942dd27cae7325c0aed5afbb27b6525e95db656e5e8d2a465a2ce842da29e70f3a43ef082e1444b7e89aeef300b9a009b9624741e4cca19e5d3bf326db6051754bcea8750c2175e8d8a3e15c26702f8fa8deb4e0f1ca8e2d47665d487dd3c13678b31d3bd9468d8debeb129e07582a7"},
	{name: "AES_CTR_192/AES_XCBC_96", encr: ike.EncrAESCTR, keyBits: 192, integ: ike.IntegAESXCBC96, esn: false, hi: 0x0,
		keymat: "202122232425262728292a2b2c2d2e2f303132333435363700000030000102030405060708090a0b0c0d0e0f",
		packet: "5566778800000042000000000000004294add4ea538d5ef5e1e8117c4fcac85539ecc466620c73f187b81ec5d71a18a624800eadbeb9d139437e56257aa18df53d69167e24aceb1b7a77ec60dc9f15d11ab4006eea22215e645ccee665189436613c9d572671b9e500925f9fcfad6f837ce3aa3e"},
	{name: "3DES/HMAC_SHA2_384_192", encr: ike.Encr3DES, keyBits: 0, integ: ike.IntegHMACSHA384_192, esn: false, hi: 0x0,
		keymat: "0102030405060708090a0b0c0d0e0f101112131415161718303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		packet: "99aabbcc00000003e0e1e2e3e4e5e6e71643b37495b34be004bded5c5b80171fbc5b83175c8bcc5b0c1f4fa852b41e0333c9edc420b8c76bbb3ba51481f02f56d207f757f695e94518acc184233e3a6e12f911ee2f197ec96fdb090351dc4e4457fbccfab8c291d30b0b35043563c06330e1d39c40defb52223cbb4d76715870"},
	{name: "3DES/HMAC_SHA1_96 ESN", encr: ike.Encr3DES, keyBits: 0, integ: ike.IntegHMACSHA1_96, esn: true, hi: 0xffffffff,
		keymat: "0102030405060708090a0b0c0d0e0f101112131415161718606162636465666768696a6b6c6d6e6f70717273",
		packet: "99aabbcc00000003e0e1e2e3e4e5e6e71643b37495b34be004bded5c5b80171fbc5b83175c8bcc5b0c1f4fa852b41e0333c9edc420b8c76bbb3ba51481f02f56d207f757f695e94518acc184233e3a6e12f911ee2f197ec96fdb090351dc4e4457fbccfab8c291d32ca2c6ff215423f280f7b176"},
	{name: "NULL/HMAC_SHA2_256_128", encr: ike.EncrNull, keyBits: 0, integ: ike.IntegHMACSHA256_128, esn: false, hi: 0x0,
		keymat: "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		packet: "0102030400000010450000540007000040018e6bc0000201c633640208003a9300010002676f69707365632063726f73732d636865636b207061796c6f616420676f69707365632063726f73732d636865636b207061796c6f61642001020204394de6113eaf5b8b2581de45d89ea2af"},
	{name: "NULL/AES_XCBC_96 ESN", encr: ike.EncrNull, keyBits: 0, integ: ike.IntegAESXCBC96, esn: true, hi: 0x3,
		keymat: "000102030405060708090a0b0c0d0e0f",
		packet: "0102030400000010450000540007000040018e6bc0000201c633640208003a9300010002676f69707365632063726f73732d636865636b207061796c6f616420676f69707365632063726f73732d636865636b207061796c6f61642001020204f5338cdd1d4a60cd7a19e4a4"},
	{name: "AES_CCM_8_128", encr: ike.EncrAESCCM8, keyBits: 128, integ: ike.IntegNone, esn: false, hi: 0x0,
		keymat: "101112131415161718191a1b1c1d1e1f010203",
		packet: "000033440000001100000000000000113a6365f1c211b0359c0d8bc84523458a9d3eb6cbfd8f496f45cf7f96d867ec88a9055f6993d92f091d28c4c166b89fcaa3610d0c46b15c9e5cee91ccd702c14c1adcf0b110167e38b4430dbb79b6fa9b9b57517411eea59c7f3c2731dcd9d0c8"},
	{name: "AES_CCM_8_128 ESN", encr: ike.EncrAESCCM8, keyBits: 128, integ: ike.IntegNone, esn: true, hi: 0x6,
		keymat: "101112131415161718191a1b1c1d1e1f010203",
		packet: "00003344000000110000000600000011efec7eb504b80e7107180915dd4f59212b74aea93d892f337b666b09d9480062263e70ef8c9c93acef61646858acef37fa101985e3befd72c4e380a2a9649d05ec52861f4f8493bf473f8e72e79c691874b9ef4d5a9170d1f583b7ec7b9b300e"},
	{name: "AES_CCM_12_128", encr: ike.EncrAESCCM12, keyBits: 128, integ: ike.IntegNone, esn: false, hi: 0x0,
		keymat: "101112131415161718191a1b1c1d1e1f010203",
		packet: "000033440000001100000000000000113a6365f1c211b0359c0d8bc84523458a9d3eb6cbfd8f496f45cf7f96d867ec88a9055f6993d92f091d28c4c166b89fcaa3610d0c46b15c9e5cee91ccd702c14c1adcf0b110167e38b4430dbb79b6fa9b9b57517411eea59c15da16ce2cf9fc542cee6aaa"},
	{name: "AES_CCM_12_128 ESN", encr: ike.EncrAESCCM12, keyBits: 128, integ: ike.IntegNone, esn: true, hi: 0x6,
		keymat: "101112131415161718191a1b1c1d1e1f010203",
		packet: "00003344000000110000000600000011efec7eb504b80e7107180915dd4f59212b74aea93d892f337b666b09d9480062263e70ef8c9c93acef61646858acef37fa101985e3befd72c4e380a2a9649d05ec52861f4f8493bf473f8e72e79c691874b9ef4d5a9170d1c73716908abc97e2ac01dd1b"},
	{name: "AES_CCM_16_256", encr: ike.EncrAESCCM16, keyBits: 256, integ: ike.IntegNone, esn: false, hi: 0x0,
		keymat: "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f010203",
		packet: "000033440000001100000000000000119412aca68705521bb28908bad323c8d4f972504f383d10f5e5f80f341c3775ceb6844cd7d656acfbfbd7c895e03442916b77a566ca95dbf014eafd5f7904e59c3fddb8151f3b943480bf5152680f9984ed5c31b0de257bfe55d832c3569e4b5653ee768ebf1716ef"},
	{name: "AES_CCM_16_256 ESN", encr: ike.EncrAESCCM16, keyBits: 256, integ: ike.IntegNone, esn: true, hi: 0x6,
		keymat: "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f010203",
		packet: "00003344000000110000000600000011446132c64f2791f977c7a2699a521cbb9972e1921d90f68f97e8061f21bf419a7a0cf3e050195d9784e8edae6cd85e87f9c8ec12e6f4edde7381f35531c9ac28850fa64c3373cd2dc20ea5fab1f460afff3c8829d16f16f7c8a493ad1f42f290e1267a2312816188"},
	{name: "NULL_AES_GMAC_128", encr: ike.EncrNullAuthAESGMAC, keyBits: 128, integ: ike.IntegNone, esn: false, hi: 0x0,
		keymat: "101112131415161718191a1b1c1d1e1f0a0b0c0d",
		packet: "000043210000004d000000000000004d450000540007000040018e6bc0000201c633640208003a9300010002676f69707365632063726f73732d636865636b207061796c6f616420676f69707365632063726f73732d636865636b207061796c6f61642001020204c0dd65493d6183aff3ed24ad6be60a48"},
	{name: "NULL_AES_GMAC_256 ESN", encr: ike.EncrNullAuthAESGMAC, keyBits: 256, integ: ike.IntegNone, esn: true, hi: 0x5,
		keymat: "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f0a0b0c0d",
		packet: "00004321000000040000000500000004450000540007000040018e6bc0000201c633640208003a9300010002676f69707365632063726f73732d636865636b207061796c6f616420676f69707365632063726f73732d636865636b207061796c6f61642001020204052b8f086327250f444d79d881e0cfea"},
}

func TestESPTransformScapyPackets(t *testing.T) {
	inner := unhex(t, scapyInner)
	for _, v := range scapyPackets {
		tr, err := NewESPTransform(v.encr, v.keyBits, v.integ, unhex(t, v.keymat))
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if tr.String() != v.name && tr.String()+" ESN" != v.name {
			t.Errorf("%s: transform is %v", v.name, tr)
		}
		pkt := unhex(t, v.packet)
		off := ESPHeaderLen + tr.IVLen()
		header, iv, body := pkt[:ESPHeaderLen], pkt[ESPHeaderLen:off], pkt[off:]
		var hi SeqHigh
		if v.esn {
			hi = ESN(uint64(v.hi)<<32 | uint64(binary.BigEndian.Uint32(header[4:])))
		}
		pt, err := tr.Open(nil, header, iv, body, hi)
		if err != nil {
			t.Errorf("%s: Open: %v", v.name, err)
			continue
		}
		// payload || 1, 2, 3, ... || Pad Length || Next Header 4
		pad := len(pt) - 2 - len(inner)
		want := append(bytes.Clone(inner), make([]byte, pad+2)...)
		for i := range pad {
			want[len(inner)+i] = byte(i + 1)
		}
		want[len(want)-2], want[len(want)-1] = byte(pad), 4
		if pad < 0 || !bytes.Equal(pt, want) {
			t.Errorf("%s: plaintext %x, want %x", v.name, pt, want)
			continue
		}
		if again := tr.Seal(nil, header, iv, pt, hi); !bytes.Equal(again, body) {
			t.Errorf("%s: Seal = %x, want %x", v.name, again, body)
		}
		if _, err := tr.Open(nil, header, iv, body, SeqHigh{esn: !v.esn}); err == nil {
			t.Errorf("%s: opened with the ESN setting flipped", v.name)
		}
	}
}

// TestAESGMACDraftMcGrew runs the AES-GMAC ESP test case of
// draft-mcgrew-gcm-test-01 (the companion of RFC 4106 and RFC 4543): key
// 4c80cdef..., salt 22433c64, SPI 0x4321, sequence number 7, IV 0, an ICMP
// echo in tunnel mode with its padding and trailer in the clear; the AAD is
// SPI || Seq || IV || payload.
func TestAESGMACDraftMcGrew(t *testing.T) {
	tr, err := NewESPTransform(ike.EncrNullAuthAESGMAC, 128, ike.IntegNone, unhex(t, "4c80cdefbb5d10da906ac73c3613a634 22433c64"))
	if err != nil {
		t.Fatal(err)
	}
	header, iv := unhex(t, "00004321 00000007"), make([]byte, 8)
	payload := unhex(t, `45000030da3a00008001df3bc0a80005c0a800010800c6cd020007006162636465666768696a6b6c6d6e6f7071727374
		01020201`)
	icv := unhex(t, "f2a9a836e155106aa8dcd618e4099aaa")
	sealed := tr.Seal(nil, header, iv, payload, SeqHigh{})
	if !bytes.Equal(sealed, append(bytes.Clone(payload), icv...)) {
		t.Errorf("Seal = %x, want payload || %x", sealed, icv)
	}
	// The same in one packet buffer, where the AAD is read in place.
	pkt := append(append(append([]byte{}, header...), iv...), sealed...)
	got, err := tr.Open(pkt[16:16], pkt[:8], pkt[8:16], pkt[16:], SeqHigh{})
	if err != nil || !bytes.Equal(got, payload) {
		t.Errorf("Open: %v, %x", err, got)
	}
}

// TestAESGCMDraftMcGrewESPTransform runs the draft-mcgrew-gcm-test-01
// packets (gcmPackets) through the ESPTransform adapter: a 12-octet AAD is
// SPI || SeqHigh || SeqLow (RFC 4106 5), so the header is SPI || SeqLow.
func TestAESGCMDraftMcGrewESPTransform(t *testing.T) {
	for _, v := range gcmPackets {
		key := unhex(t, v.key)
		tr, err := NewESPTransform(ike.EncrAESGCM16, 8*len(key), ike.IntegNone, append(key, unhex(t, v.salt)...))
		if err != nil {
			t.Fatal(err)
		}
		aad, iv := unhex(t, v.aad), unhex(t, v.iv)
		header, hi := aad, SeqHigh{}
		if len(aad) == 12 {
			header = append(bytes.Clone(aad[:4]), aad[8:]...)
			hi = ESN(uint64(binary.BigEndian.Uint64(aad[4:])))
		}
		pt, sealed := unhex(t, v.plaintext), unhex(t, v.sealed)
		if got := tr.Seal(nil, header, iv, pt, hi); !bytes.Equal(got, sealed) {
			t.Errorf("%s: Seal = %x", v.name, got)
		}
		if got, err := tr.Open(nil, header, iv, sealed, hi); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%s: Open: %v", v.name, err)
		}
	}
}
