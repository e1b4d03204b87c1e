package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"hash"
)

// blockMAC is the CBC-MAC family with a special last block shared by
// AES-XCBC-MAC (RFC 3566 4) and AES-CMAC (RFC 4493 2.4, NIST SP 800-38B):
// the message is CBC-encrypted with a zero IV under b; a complete last
// block is XORed with kFull before its encryption, an incomplete (or
// empty) one is padded with 0x80 0x00... and XORed with kPartial. For XCBC
// b is keyed with K1 and kFull, kPartial are K2, K3; for CMAC b is keyed
// with K and they are the subkeys K1, K2. It implements hash.Hash so the
// PRFs and integrity algorithms built on it share the HMAC code paths.
type blockMAC struct {
	b               cipher.Block
	kFull, kPartial [16]byte
	x, buf          [16]byte // chaining value; pending block
	n               int      // bytes in buf
	sumX            [16]byte
}

var _ hash.Hash = (*blockMAC)(nil)

// newXCBC returns AES-XCBC-MAC keyed with the 128-bit key (RFC 3566 4
// step 1): K1, K2, K3 = AES-128(key, 0x01..., 0x02..., 0x03...).
func newXCBC(key []byte) (*blockMAC, error) {
	x, err := newXCBCKey(key)
	if err != nil {
		return nil, err
	}
	return &blockMAC{b: x.k1, kFull: x.k2, kPartial: x.k3}, nil
}

// newCMAC returns AES-CMAC keyed with the 128-bit key (RFC 4493 2.3): L =
// AES(K, 0^128), K1 = L<<1 (xor Rb), K2 = K1<<1 (xor Rb), Rb = 0x87.
func newCMAC(key []byte) (*blockMAC, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	m := &blockMAC{b: b}
	var l [16]byte
	b.Encrypt(l[:], l[:])
	cmacDouble(&m.kFull, &l)
	cmacDouble(&m.kPartial, &m.kFull)
	clear(l[:])
	return m, nil
}

// cmacDouble sets dst to src multiplied by x in GF(2^128) (RFC 4493 2.3:
// shift left by one bit, XOR 0x87 into the last octet if the top bit was
// set), in constant time.
func cmacDouble(dst, src *[16]byte) {
	carry := src[0] >> 7
	for i := 0; i < 15; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[15] = src[15]<<1 ^ byte(subtle.ConstantTimeSelect(int(carry), 0x87, 0))
}

func (m *blockMAC) Size() int      { return 16 }
func (m *blockMAC) BlockSize() int { return 16 }

func (m *blockMAC) Reset() {
	m.x, m.buf, m.n = [16]byte{}, [16]byte{}, 0
}

// Write runs the CBC-MAC over p. A full block stays in buf until more
// data arrives, because the last block is treated differently.
func (m *blockMAC) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if m.n == 16 {
			subtle.XORBytes(m.x[:], m.x[:], m.buf[:])
			m.b.Encrypt(m.x[:], m.x[:])
			m.n = 0
		}
		if m.n == 0 {
			for len(p) > 16 { // certainly not the last block
				subtle.XORBytes(m.x[:], m.x[:], p[:16])
				m.b.Encrypt(m.x[:], m.x[:])
				p = p[16:]
			}
		}
		c := copy(m.buf[m.n:], p)
		m.n += c
		p = p[c:]
	}
	return n, nil
}

// Sum appends the MAC to b without changing the running state.
func (m *blockMAC) Sum(b []byte) []byte {
	last := m.buf
	k := &m.kFull
	if m.n < 16 {
		last[m.n] = 0x80
		clear(last[m.n+1:])
		k = &m.kPartial
	}
	subtle.XORBytes(m.sumX[:], m.x[:], last[:])
	subtle.XORBytes(m.sumX[:], m.sumX[:], k[:])
	m.b.Encrypt(m.sumX[:], m.sumX[:])
	clear(last[:])
	b = append(b, m.sumX[:]...)
	clear(m.sumX[:])
	return b
}
