package suite

import (
	"bytes"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// TestPRFRFC4231 checks PRF_HMAC_SHA2_256/384/512 against the HMAC-SHA-2
// test cases of RFC 4231 section 4 (test case 5 is truncated to 128 bits
// there, 4.6). RFC 4868 2.7.1 uses the same cases for the IKEv2 PRFs.
func TestPRFRFC4231(t *testing.T) {
	long := repeat(0xaa, 131)
	inc := make([]byte, 25)
	for i := range inc {
		inc[i] = byte(i + 1)
	}
	cases := []struct {
		name                   string
		key, data              []byte
		sha256, sha384, sha512 string
		truncate               int
	}{
		{"4.2 test case 1", repeat(0x0b, 20), []byte("Hi There"),
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
			"afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
			"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854", 0},
		{"4.3 test case 2", []byte("Jefe"), []byte("what do ya want for nothing?"),
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
			"af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
			"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737", 0},
		{"4.4 test case 3", repeat(0xaa, 20), repeat(0xdd, 50),
			"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
			"88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
			"fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb", 0},
		{"4.5 test case 4", inc, repeat(0xcd, 50),
			"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
			"3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
			"b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd", 0},
		{"4.6 test case 5 (truncated)", repeat(0x0c, 20), []byte("Test With Truncation"),
			"a3b6167473100ee06e0c796c2955552b",
			"3abf34c3503b2a23a46efc619baef897",
			"415fad6271580a531d4179bc891d87a6", 16},
		{"4.7 test case 6", long, []byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
			"4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
			"80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598", 0},
		{"4.8 test case 7", long, []byte("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
			"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
			"6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
			"e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58", 0},
	}
	for _, c := range cases {
		for _, alg := range []struct {
			id   uint16
			want string
		}{{ike.PRFHMACSHA256, c.sha256}, {ike.PRFHMACSHA384, c.sha384}, {ike.PRFHMACSHA512, c.sha512}} {
			prf, err := NewPRF(alg.id)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(c.name+"/"+prf.String(), func(t *testing.T) {
				// Feed the data in two pieces: Compute concatenates.
				half := len(c.data) / 2
				got := prf.Compute(c.key, c.data[:half], c.data[half:])
				if c.truncate != 0 {
					got = got[:c.truncate]
				}
				if want := unhex(t, alg.want); !bytes.Equal(got, want) {
					t.Errorf("got %x, want %x", got, want)
				}
			})
		}
	}
}

// TestPRFSHA1RFC2202 checks PRF_HMAC_SHA1 against RFC 2202 section 3 test
// cases 1-3.
func TestPRFSHA1RFC2202(t *testing.T) {
	prf, err := NewPRF(ike.PRFHMACSHA1)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		key, data []byte
		want      string
	}{
		{repeat(0x0b, 20), []byte("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
		{[]byte("Jefe"), []byte("what do ya want for nothing?"), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{repeat(0xaa, 20), repeat(0xdd, 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
	} {
		if got := prf.Compute(c.key, c.data); !bytes.Equal(got, unhex(t, c.want)) {
			t.Errorf("test case %d: got %x, want %s", i+1, got, c.want)
		}
	}
}

// TestIKEv2KDFCAVS runs the IKEv2 key derivation of RFC 7296 2.14, 2.17 and
// 2.18 (SKEYSEED, prf+ for the IKE SA keys, Child SA keys with and without
// a new D-H value, and SKEYSEED for a rekeyed IKE SA) on a vector in the
// format of NIST's CAVS IKEv2 KDF test (SP 800-135 5.2, HMAC-SHA-1, 132-byte
// DKM), with the expected values as published in libreswan's KDF CAVS test
// driver (computed there with NSS). prf+ has to run 7 rounds here.
func TestIKEv2KDFCAVS(t *testing.T) {
	prf, err := NewPRF(ike.PRFHMACSHA1)
	if err != nil {
		t.Fatal(err)
	}
	var (
		gir    = unhex(t, "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52")
		girNew = unhex(t, "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330")
		ni     = unhex(t, "32b50d5f4a3763f3")
		nr     = unhex(t, "9206a04b26564cb1")
		spii   = unhex(t, "34c9e7c188868785")
		spir   = unhex(t, "3ff77d760d2b2199")
		dkmLen = 132
	)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	check := func(name string, got []byte, want string) {
		t.Helper()
		if w := unhex(t, want); !bytes.Equal(got, w) {
			t.Errorf("%s:\n got %x\nwant %x", name, got, w)
		}
	}

	skeyseed := prf.Compute(cat(ni, nr), gir)
	check("SKEYSEED", skeyseed, "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7")

	dkm, err := prf.Plus(skeyseed, cat(ni, nr, spii, spir), dkmLen)
	if err != nil {
		t.Fatal(err)
	}
	check("DKM", dkm, `a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002
		a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a
		5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119
		8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435
		a7a56cc4`)

	skD := dkm[:prf.Size()]
	child, err := prf.Plus(skD, cat(ni, nr), dkmLen)
	if err != nil {
		t.Fatal(err)
	}
	check("DKM(Child SA)", child, `8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c581
		1a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee7181
		4ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf
		285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e66499
		4d234cb4`)

	childDH, err := prf.Plus(skD, cat(girNew, ni, nr), dkmLen)
	if err != nil {
		t.Fatal(err)
	}
	check("DKM(Child SA D-H)", childDH, `bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d373016
		28190e38c66232eab4b3ab14c400a5197dd3730ed4820a8a10394d51e1c04000
		52f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a
		05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c7054
		d56fd74c`)

	check("SKEYSEED(Rekey)", prf.Compute(skD, girNew, ni, nr), "63e81194946ebd05df7df5ebf5d8750056bf1f1d")
}
