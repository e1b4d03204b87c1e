package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// ctrNonceLen is the nonce taken from the end of the keying material of
// ENCR_AES_CTR (RFC 3686 5.1).
const ctrNonceLen = 4

// ctrCipher is ENCR_AES_CTR for ESP (RFC 3686): the counter block is
// nonce (4 octets, from the keying material) || IV (8 octets, in the
// packet) || a 32-bit block counter starting at 1 (RFC 3686 4). The IV
// must never repeat under one key (RFC 3686 3.1).
type ctrCipher struct {
	b     cipher.Block
	nonce [ctrNonceLen]byte
}

func newAESCTR(keymat []byte) (espCipher, error) {
	n := len(keymat) - ctrNonceLen
	b, err := aes.NewCipher(keymat[:n])
	if err != nil {
		return nil, err
	}
	c := &ctrCipher{b: b}
	copy(c.nonce[:], keymat[n:])
	return c, nil
}

func (c *ctrCipher) ivLen() int     { return 8 }
func (c *ctrCipher) blockSize() int { return 1 }
func (c *ctrCipher) randomIV() bool { return false }

func (c *ctrCipher) encrypt(dst, iv, src []byte) {
	s := getXformScratch()
	copy(s.ctr[:4], c.nonce[:])
	copy(s.ctr[4:12], iv)
	s.ctr[12], s.ctr[13], s.ctr[14], s.ctr[15] = 0, 0, 0, 1
	ctrXOR(c.b, s, 4, dst, src)
	putXformScratch(s)
}

func (c *ctrCipher) decrypt(dst, iv, src []byte) { c.encrypt(dst, iv, src) }

// ctrXOR XORs src with the key stream E(K, s.ctr), E(K, s.ctr+1), ...
// into dst (NIST SP 800-38A 6.5), incrementing the counter in the last q
// bytes of the block, big-endian (RFC 3686 4, SP 800-38C A.3). Counter
// blocks are encrypted in batches and XORed a batch at a time.
func ctrXOR(b cipher.Block, s *xformScratch, q int, dst, src []byte) {
	for len(src) > 0 {
		n := min(len(src), len(s.ks))
		for i := 0; i < n; i += 16 {
			b.Encrypt(s.ks[i:i+16], s.ctr[:])
			for j := 15; j >= 16-q; j-- {
				s.ctr[j]++
				if s.ctr[j] != 0 {
					break
				}
			}
		}
		subtle.XORBytes(dst[:n], src[:n], s.ks[:n])
		dst, src = dst[n:], src[n:]
	}
}
