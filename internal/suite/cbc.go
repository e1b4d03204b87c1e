package suite

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"errors"
)

// tripleDESKeyLen is the keying material of ENCR_3DES: three 64-bit DES
// keys, parity bits included (RFC 2451).
const tripleDESKeyLen = 3 * des.BlockSize

// cbcCipher is CBC mode (NIST SP 800-38A 6.2) with the IV carried in the
// packet: ENCR_AES_CBC (RFC 3602) and ENCR_3DES (RFC 2451). The IV is as
// long as a block and must be unpredictable (RFC 3602 3).
type cbcCipher struct {
	b  cipher.Block
	bs int
}

func newAESCBC(key []byte) (espCipher, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &cbcCipher{b: b, bs: aes.BlockSize}, nil
}

// new3DESCBC keys DES-EDE3 with K1 || K2 || K3 (RFC 2451). Keys with
// K1 = K2 or K2 = K3 are refused: they reduce triple DES to single DES,
// and keying material from prf+ has them with probability 2^-64.
func new3DESCBC(key []byte) (espCipher, error) {
	if len(key) != tripleDESKeyLen {
		return nil, errors.New("suite: 3DES needs 24 bytes of keying material")
	}
	k1, k2, k3 := key[:8], key[8:16], key[16:]
	if bytes.Equal(k1, k2) || bytes.Equal(k2, k3) {
		return nil, errors.New("suite: degenerate 3DES key (K1 = K2 or K2 = K3)")
	}
	b, err := des.NewTripleDESCipher(key)
	if err != nil {
		return nil, err
	}
	return &cbcCipher{b: b, bs: des.BlockSize}, nil
}

func (c *cbcCipher) ivLen() int     { return c.bs }
func (c *cbcCipher) blockSize() int { return c.bs }
func (c *cbcCipher) randomIV() bool { return true }

// encrypt is CBC encryption: C_i = E(P_i xor C_{i-1}), C_0 = IV.
func (c *cbcCipher) encrypt(dst, iv, src []byte) {
	bs := c.bs
	prev := iv
	for i := 0; i < len(src); i += bs {
		d := dst[i : i+bs]
		subtle.XORBytes(d, src[i:i+bs], prev)
		c.b.Encrypt(d, d)
		prev = d
	}
}

// decrypt is CBC decryption, P_i = D(C_i) xor C_{i-1}. It runs from the
// last block to the first so that, in place, each C_{i-1} is still intact
// when block i needs it.
func (c *cbcCipher) decrypt(dst, iv, src []byte) {
	bs := c.bs
	for i := len(src) - bs; i >= 0; i -= bs {
		prev := iv
		if i > 0 {
			prev = src[i-bs : i]
		}
		d := dst[i : i+bs]
		c.b.Decrypt(d, src[i:i+bs])
		subtle.XORBytes(d, d, prev)
	}
}
