package suite

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// fixedKE makes a key exchange whose private key is exactly priv: the
// private key is read from the io.Reader given to NewKeyExchange.
func fixedKE(tb testing.TB, group uint16, priv []byte) KeyExchange {
	tb.Helper()
	ke, err := NewKeyExchange(group, bytes.NewReader(priv))
	if err != nil {
		tb.Fatal(err)
	}
	return ke
}

// TestECPRFC5903 checks the ECP groups against RFC 5903 section 8: 8.1 for
// the 256-bit random ECP group (19) and 8.2 for the 384-bit one (20). The
// KE payload carries x || y (RFC 5903 7) and the shared secret is the x
// coordinate of the common point (girx).
func TestECPRFC5903(t *testing.T) {
	cases := []struct {
		name                 string
		group                uint16
		i, gix, giy          string
		r, grx, gry, sharedX string
	}{
		{
			name: "8.1 ECP-256", group: ike.GroupECP256,
			i:       "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
			gix:     "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180",
			giy:     "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
			r:       "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
			grx:     "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63",
			gry:     "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
			sharedX: "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE",
		},
		{
			name: "8.2 ECP-384", group: ike.GroupECP384,
			i:       "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655E35B538041E649EE3FAEF896783AB194",
			gix:     "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6DE3AC808ACB4BDB4C88732AEE95F41AA",
			giy:     "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C",
			r:       "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942E0308312916B8ED2960E4BD55A7448FC",
			grx:     "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D0D1AC43A0336DEF96FDA41D0774A3571",
			gry:     "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C",
			sharedX: "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4D603135569B9E9D09CF5D4A270F59746",
		},
		{
			// 66 octets per coordinate and for the shared secret (RFC
			// 5903 7, 8.3): the leading octets of these values are 0x00
			// and 0x01, so a 65-octet encoding would be wrong.
			name: "8.3 ECP-521", group: ike.GroupECP521,
			i:       "0037ADE9319A89F4DABDB3EF411AACCCA5123C61ACAB57B5393DCE47608172A095AA85A30FE1C2952C6771D937BA9777F5957B2639BAB072462F68C27A57382D4A52",
			gix:     "0015417E84DBF28C0AD3C278713349DC7DF153C897A1891BD98BAB4357C9ECBEE1E3BF42E00B8E380AEAE57C2D107564941885942AF5A7F4601723C4195D176CED3E",
			giy:     "017CAE20B6641D2EEB695786D8C946146239D099E18E1D5A514C739D7CB4A10AD8A788015AC405D7799DC75E7B7D5B6CF2261A6A7F1507438BF01BEB6CA3926F9582",
			r:       "0145BA99A847AF43793FDD0E872E7CDFA16BE30FDC780F97BCCC3F078380201E9C677D600B343757A3BDBF2A3163E4C2F869CCA7458AA4A4EFFC311F5CB151685EB9",
			grx:     "00D0B3975AC4B799F5BEA16D5E13E9AF971D5E9B984C9F39728B5E5739735A219B97C356436ADC6E95BB0352F6BE64A6C2912D4EF2D0433CED2B6171640012D9460F",
			gry:     "015C68226383956E3BD066E797B623C27CE0EAC2F551A10C2C724D9852077B87220B6536C5C408A1D2AEBB8E86D678AE49CB57091F4732296579AB44FCD17F0FC56A",
			sharedX: "01144C7D79AE6956BC8EDB8E7C787C4521CB086FA64407F97894E5E6B2D79B04D1427E73CA4BAA240A34786859810C06B3C715A3A8CC3151F2BEE417996D19F3DDEA",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ini := fixedKE(t, c.group, unhex(t, c.i))
			res := fixedKE(t, c.group, unhex(t, c.r))
			gi := append(unhex(t, c.gix), unhex(t, c.giy)...)
			gr := append(unhex(t, c.grx), unhex(t, c.gry)...)
			if got := ini.PublicValue(); !bytes.Equal(got, gi) {
				t.Errorf("initiator's public value\n got %x\nwant %x", got, gi)
			}
			if got := res.PublicValue(); !bytes.Equal(got, gr) {
				t.Errorf("responder's public value\n got %x\nwant %x", got, gr)
			}
			want := unhex(t, c.sharedX)
			for _, side := range []struct {
				name string
				ke   KeyExchange
				peer []byte
			}{{"initiator", ini, gr}, {"responder", res, gi}} {
				got, err := side.ke.SharedSecret(side.peer)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s's shared secret = %x, %v; want %x", side.name, got, err, want)
				}
			}
		})
	}
}

// TestX25519RFC7748 checks Curve25519 against RFC 7748: the two scalar
// multiplications of 5.2 (with arbitrary u-coordinates, the second with its
// top bit set, which must be masked) and the Diffie-Hellman example of 6.1.
// RFC 8031 2 uses the function and encoding unchanged.
func TestX25519RFC7748(t *testing.T) {
	for _, v := range []struct{ scalar, u, out string }{
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	} {
		ke := fixedKE(t, ike.GroupCurve25519, unhex(t, v.scalar))
		got, err := ke.SharedSecret(unhex(t, v.u))
		if err != nil || !bytes.Equal(got, unhex(t, v.out)) {
			t.Errorf("5.2: X25519(%s, %s) = %x, %v; want %s", v.scalar, v.u, got, err, v.out)
		}
	}

	alice := fixedKE(t, ike.GroupCurve25519, unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	bob := fixedKE(t, ike.GroupCurve25519, unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	alicePub := unhex(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	bobPub := unhex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	shared := unhex(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
	if !bytes.Equal(alice.PublicValue(), alicePub) || !bytes.Equal(bob.PublicValue(), bobPub) {
		t.Errorf("6.1 public keys: got %x and %x", alice.PublicValue(), bob.PublicValue())
	}
	for _, s := range []struct {
		ke   KeyExchange
		peer []byte
	}{{alice, bobPub}, {bob, alicePub}} {
		if got, err := s.ke.SharedSecret(s.peer); err != nil || !bytes.Equal(got, shared) {
			t.Errorf("6.1 shared secret = %x, %v; want %x", got, err, shared)
		}
	}
}

// machinPi returns floor(pi * 2^prec) by Machin's formula, pi = 16
// arctan(1/5) - 4 arctan(1/239), with 64 guard bits.
func machinPi(prec uint) *big.Int {
	p := prec + 64
	arctanInv := func(x int64) *big.Int { // arctan(1/x) * 2^p
		one := new(big.Int).Lsh(big.NewInt(1), p)
		bx, x2 := big.NewInt(x), big.NewInt(x*x)
		term := new(big.Int).Quo(one, bx)
		sum := new(big.Int).Set(term)
		q := new(big.Int)
		for n := int64(1); term.Sign() != 0; n++ {
			term.Quo(term, x2)
			q.Quo(term, big.NewInt(2*n+1))
			if n%2 == 1 {
				sum.Sub(sum, q)
			} else {
				sum.Add(sum, q)
			}
		}
		return sum
	}
	pi := new(big.Int).Mul(arctanInv(5), big.NewInt(16))
	pi.Sub(pi, new(big.Int).Mul(arctanInv(239), big.NewInt(4)))
	return pi.Rsh(pi, 64)
}

// TestMODPPrimes checks the moduli of RFC 3526 (groups 14 to 18) against
// the formula the RFC defines each by, p = 2^n - 2^(n-64) - 1 + 2^64 *
// ([2^(n-130) pi] + k), with pi computed here. The two smaller ones are
// also checked to be safe primes (p and (p-1)/2 prime); for the larger
// ones that takes many seconds and the formula already pins every bit.
func TestMODPPrimes(t *testing.T) {
	for _, g := range []struct {
		bits int
		k    int64
		p    *big.Int
	}{{2048, 124476, modp2048}, {3072, 1690314, modp3072}, {4096, 240904, modp4096}, {6144, 929484, modp6144}, {8192, 4743158, modp8192}} {
		n := uint(g.bits)
		want := new(big.Int).Lsh(big.NewInt(1), n)
		want.Sub(want, new(big.Int).Lsh(big.NewInt(1), n-64))
		want.Sub(want, big.NewInt(1))
		inner := machinPi(n - 130)
		inner.Add(inner, big.NewInt(g.k))
		want.Add(want, inner.Lsh(inner, 64))
		if g.p.Cmp(want) != 0 {
			t.Errorf("MODP-%d: p differs from the RFC 3526 formula", g.bits)
		}
		if g.bits > 3072 {
			continue
		}
		if !g.p.ProbablyPrime(0) || !new(big.Int).Rsh(g.p, 1).ProbablyPrime(0) { // Baillie-PSW
			t.Errorf("MODP-%d: p is not a safe prime", g.bits)
		}
	}
}

// TestX448RFC7748 checks Curve448 (RFC 8031 uses X448 unchanged) against
// RFC 7748: the two scalar multiplications of 5.2 and the Diffie-Hellman
// example of 6.2 (the values agree with OpenSSL's X448 too).
func TestX448RFC7748(t *testing.T) {
	for _, v := range []struct{ scalar, u, out string }{
		{"3d262fddf9ec8e88495266fea19a34d28882acef045104d0d1aae121700a779c984c24f8cdd78fbff44943eba368f54b29259a4f1c600ad3",
			"06fce640fa3487bfda5f6cf2d5263f8aad88334cbd07437f020f08f9814dc031ddbdc38c19c6da2583fa5429db94ada18aa7a7fb4ef8a086",
			"ce3e4ff95a60dc6697da1db1d85e6afbdf79b50a2412d7546d5f239fe14fbaadeb445fc66a01b0779d98223961111e21766282f73dd96b6f"},
		{"203d494428b8399352665ddca42f9de8fef600908e0d461cb021f8c538345dd77c3e4806e25f46d3315c44e0a5b4371282dd2c8d5be3095f",
			"0fbcc2f993cd56d3305b0b7d9e55d4c1a8fb5dbb52f8e9a1e9b6201b165d015894e56c4d3570bee52fe205e28a78b91cdfbde71ce8d157db",
			"884a02576239ff7a2f2f63b2db6a9ff37047ac13568e1e30fe63c4a7ad1b3ee3a5700df34321d62077e63633c575c1c954514e99da7c179d"},
	} {
		ke := fixedKE(t, ike.GroupCurve448, unhex(t, v.scalar))
		got, err := ke.SharedSecret(unhex(t, v.u))
		if err != nil || !bytes.Equal(got, unhex(t, v.out)) {
			t.Errorf("5.2: X448(%s, %s) = %x, %v; want %s", v.scalar, v.u, got, err, v.out)
		}
	}
	alice := fixedKE(t, ike.GroupCurve448, unhex(t, "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b"))
	bob := fixedKE(t, ike.GroupCurve448, unhex(t, "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d"))
	alicePub := unhex(t, "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0")
	bobPub := unhex(t, "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609")
	shared := unhex(t, "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d")
	if !bytes.Equal(alice.PublicValue(), alicePub) || !bytes.Equal(bob.PublicValue(), bobPub) {
		t.Errorf("6.2 public keys: got %x and %x", alice.PublicValue(), bob.PublicValue())
	}
	for _, s := range []struct {
		ke   KeyExchange
		peer []byte
	}{{alice, bobPub}, {bob, alicePub}} {
		if got, err := s.ke.SharedSecret(s.peer); err != nil || !bytes.Equal(got, shared) {
			t.Errorf("6.2 shared secret = %x, %v; want %x", got, err, shared)
		}
	}
}
