package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// ccmSaltLen is the salt taken from the end of the keying material of
// ENCR_AES_CCM_* (RFC 4309 7.1).
const ccmSaltLen = 3

// ccm is the CCM mode of NIST SP 800-38C over a 128-bit block cipher, for
// any nonce length n of 7 to 13 octets (q = 15-n octets of message length)
// and any even tag length t of 4 to 16 octets. Go's standard library has
// no CCM; this follows SP 800-38C 6.1 and 6.2 and its Appendix A
// formatting, with the CBC-MAC run over the parts of the AAD without
// copying them together.
type ccm struct {
	b      cipher.Block
	tagLen int
}

// maxLen is the longest payload a q-octet length field can express.
func ccmMaxLen(q int) uint64 {
	if q >= 8 {
		return 1<<63 - 1
	}
	return 1<<(8*q) - 1
}

// start computes Y_0 = E(K, B_0) and formats the AAD into the CBC-MAC
// (SP 800-38C A.2.1, A.2.2): flags || N || Q, then the encoded length of
// the AAD, the AAD and zero padding to a block.
func (c *ccm) start(s *xformScratch, nonce []byte, msgLen int, aad [][]byte) {
	q := 15 - len(nonce)
	aadLen := 0
	for _, a := range aad {
		aadLen += len(a)
	}
	var b0 [16]byte
	b0[0] = byte((c.tagLen-2)/2<<3 | (q - 1))
	if aadLen > 0 {
		b0[0] |= 0x40
	}
	copy(b0[1:], nonce)
	var ql [8]byte
	binary.BigEndian.PutUint64(ql[:], uint64(msgLen))
	copy(b0[16-q:], ql[8-q:])
	s.y = b0
	c.b.Encrypt(s.y[:], s.y[:])
	s.n = 0
	if aadLen == 0 {
		return
	}
	var e []byte
	switch {
	case aadLen < 1<<16-1<<8:
		binary.BigEndian.PutUint16(s.enc[:], uint16(aadLen))
		e = s.enc[:2]
	case uint64(aadLen) < 1<<32:
		s.enc[0], s.enc[1] = 0xff, 0xfe
		binary.BigEndian.PutUint32(s.enc[2:], uint32(aadLen))
		e = s.enc[:6]
	default:
		s.enc[0], s.enc[1] = 0xff, 0xff
		binary.BigEndian.PutUint64(s.enc[2:], uint64(aadLen))
		e = s.enc[:10]
	}
	c.macWrite(s, e)
	for _, a := range aad {
		c.macWrite(s, a)
	}
	c.macPad(s)
}

// macWrite feeds p to the CBC-MAC: Y_i = E(K, B_i xor Y_{i-1}).
func (c *ccm) macWrite(s *xformScratch, p []byte) {
	if s.n > 0 {
		k := copy(s.buf[s.n:], p)
		s.n += k
		p = p[k:]
		if s.n < 16 {
			return
		}
		subtle.XORBytes(s.y[:], s.y[:], s.buf[:])
		c.b.Encrypt(s.y[:], s.y[:])
		s.n = 0
	}
	for len(p) >= 16 {
		subtle.XORBytes(s.y[:], s.y[:], p[:16])
		c.b.Encrypt(s.y[:], s.y[:])
		p = p[16:]
	}
	s.n = copy(s.buf[:], p)
}

// macPad completes a partial block with zeros.
func (c *ccm) macPad(s *xformScratch) {
	if s.n == 0 {
		return
	}
	clear(s.buf[s.n:])
	subtle.XORBytes(s.y[:], s.y[:], s.buf[:])
	c.b.Encrypt(s.y[:], s.y[:])
	s.n = 0
}

// counter sets s.ctr to Ctr_0 = flags || N || 0 (SP 800-38C A.3) and
// s.s0 to S_0 = E(K, Ctr_0), then steps s.ctr to Ctr_1.
func (c *ccm) counter(s *xformScratch, nonce []byte) {
	q := 15 - len(nonce)
	clear(s.ctr[:])
	s.ctr[0] = byte(q - 1)
	copy(s.ctr[1:], nonce)
	c.b.Encrypt(s.s0[:], s.ctr[:])
	s.ctr[15] = 1
}

// seal writes C || T for plaintext into out, which is len(plaintext) +
// tagLen bytes and overlaps plaintext exactly or not at all (SP 800-38C
// 6.1). The caller checks the nonce and the length.
func (c *ccm) seal(s *xformScratch, out, nonce, plaintext []byte, aad ...[]byte) {
	c.start(s, nonce, len(plaintext), aad)
	c.macWrite(s, plaintext)
	c.macPad(s)
	c.counter(s, nonce)
	n := len(plaintext)
	ctrXOR(c.b, s, out[:n], plaintext)
	subtle.XORBytes(out[n:n+c.tagLen], s.y[:c.tagLen], s.s0[:c.tagLen])
}

// open decrypts ciphertext (without the tag) into out, which is as long,
// and verifies tag in constant time (SP 800-38C 6.2). CCM authenticates
// the plaintext, so it must be decrypted first; on failure out is zeroed
// and open reports false.
func (c *ccm) open(s *xformScratch, out, nonce, ciphertext, tag []byte, aad ...[]byte) bool {
	copy(s.tag[:], tag) // tag may lie in memory that out overwrites
	c.counter(s, nonce)
	ctrXOR(c.b, s, out, ciphertext)
	c.start(s, nonce, len(out), aad)
	c.macWrite(s, out)
	c.macPad(s)
	subtle.XORBytes(s.y[:c.tagLen], s.y[:c.tagLen], s.s0[:c.tagLen])
	if subtle.ConstantTimeCompare(s.y[:c.tagLen], s.tag[:c.tagLen]) != 1 {
		clear(out)
		return false
	}
	return true
}

// ccmTransform is ENCR_AES_CCM_8, _12 and _16 for ESP (RFC 4309): the
// 11-octet nonce is salt (3 octets, from the keying material) || IV
// (8 octets, in the packet), so q = 4; the AAD is SPI || Seq, or SPI ||
// SeqHigh || SeqLow with ESN (RFC 4309 4, 5).
type ccmTransform struct {
	ccm
	salt [ccmSaltLen]byte
	name string
}

func newCCMTransform(encrID uint16, keymat []byte, name string) (ESPTransform, error) {
	n := len(keymat) - ccmSaltLen
	b, err := aes.NewCipher(keymat[:n])
	if err != nil {
		return nil, err
	}
	t := &ccmTransform{ccm: ccm{b: b}, name: name}
	copy(t.salt[:], keymat[n:])
	switch encrID {
	case ike.EncrAESCCM8:
		t.tagLen = 8
	case ike.EncrAESCCM12:
		t.tagLen = 12
	default:
		t.tagLen = 16
	}
	return t, nil
}

func (t *ccmTransform) IVLen() int     { return 8 }
func (t *ccmTransform) ICVLen() int    { return t.tagLen }
func (t *ccmTransform) BlockSize() int { return 4 } // CCM needs no block alignment; ESP wants 4 (RFC 4309)
func (t *ccmTransform) RandomIV() bool { return false }
func (t *ccmTransform) String() string { return t.name }

// nonce writes salt || iv into s.nonce.
func (t *ccmTransform) nonce(s *xformScratch, iv []byte) []byte {
	copy(s.nonce[:ccmSaltLen], t.salt[:])
	copy(s.nonce[ccmSaltLen:], iv)
	return s.nonce[:ccmSaltLen+8]
}

func (t *ccmTransform) Seal(dst, header, iv, plaintext []byte, hi SeqHigh) []byte {
	checkSealArgs(t, header, iv, plaintext)
	if uint64(len(plaintext)) > ccmMaxLen(4) {
		panic("suite: AES-CCM: plaintext too long")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+t.tagLen)
	s := getXformScratch()
	if hi.esn {
		t.seal(s, out, t.nonce(s, iv), plaintext, s.esnAAD(header, hi))
	} else {
		t.seal(s, out, t.nonce(s, iv), plaintext, header)
	}
	putXformScratch(s)
	return ret
}

func (t *ccmTransform) Open(dst, header, iv, ciphertext []byte, hi SeqHigh) ([]byte, error) {
	n := len(ciphertext) - t.tagLen
	if len(header) != ESPHeaderLen || len(iv) != 8 || n < 0 || uint64(n) > ccmMaxLen(4) {
		return nil, ErrOpen
	}
	ret, out := sliceForAppend(dst, n)
	s := getXformScratch()
	var ok bool
	if hi.esn {
		ok = t.open(s, out, t.nonce(s, iv), ciphertext[:n], ciphertext[n:], s.esnAAD(header, hi))
	} else {
		ok = t.open(s, out, t.nonce(s, iv), ciphertext[:n], ciphertext[n:], header)
	}
	putXformScratch(s)
	if !ok {
		return nil, ErrOpen
	}
	return ret, nil
}
