package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
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
	ctrXOR(c.b, s, dst, src)
	putXformScratch(s)
}

func (c *ctrCipher) decrypt(dst, iv, src []byte) { c.encrypt(dst, iv, src) }

// ctrXOR XORs src with the key stream E(K, s.ctr), E(K, s.ctr+1), ...
// into dst (NIST SP 800-38A 6.5) and leaves s.ctr at the next counter
// block. The counter is the last 32 bits of the block, incremented modulo
// 2^32: RFC 3686 4's block counter, GCM's inc32 (SP 800-38D 6.2), and
// CCM's counter field for q = 4 (RFC 4309 4). For other q (SP 800-38C
// A.3) it is the same as long as the payload is under 2^(8q) octets,
// which CCM requires anyway, and under 2^36 octets, far beyond any packet.
//
// A batch of counter blocks is written first and then encrypted in place:
// the encryptions do not depend on each other, so the CPU overlaps them,
// about twice as fast as encrypting each counter as it is incremented.
func ctrXOR(b cipher.Block, s *xformScratch, dst, src []byte) {
	ctr := binary.BigEndian.Uint32(s.ctr[12:])
	for len(src) > 0 {
		n := min(len(src), len(s.ks))
		for i := 0; i < n; i += 16 {
			copy(s.ks[i:i+12], s.ctr[:12])
			binary.BigEndian.PutUint32(s.ks[i+12:i+16], ctr)
			ctr++
		}
		for i := 0; i < n; i += 16 {
			b.Encrypt(s.ks[i:i+16], s.ks[i:i+16])
		}
		subtle.XORBytes(dst[:n], src[:n], s.ks[:n])
		dst, src = dst[n:], src[n:]
	}
	binary.BigEndian.PutUint32(s.ctr[12:], ctr)
}
