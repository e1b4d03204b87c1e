package suite

import (
	"crypto/aes"
	"crypto/cipher"
)

// gmacTransform is ENCR_NULL_AUTH_AES_GMAC (RFC 4543): integrity without
// confidentiality. It is AES-GCM with an empty plaintext whose AAD is the
// whole packet up to the ICV, SPI || Seq || IV || payload (with ESN, SPI ||
// SeqHigh || SeqLow || IV || payload); the nonce is salt (4 octets, from
// the keying material) || IV, and the ICV is the full 16-octet tag. The
// payload travels in the clear.
type gmacTransform struct {
	gcm  cipher.AEAD
	salt [saltLen]byte
	name string
}

func newGMACTransform(keymat []byte, name string) (ESPTransform, error) {
	n := len(keymat) - saltLen
	b, err := aes.NewCipher(keymat[:n])
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	t := &gmacTransform{gcm: g, name: name}
	copy(t.salt[:], keymat[n:])
	return t, nil
}

func (t *gmacTransform) IVLen() int     { return ivLen }
func (t *gmacTransform) ICVLen() int    { return gcmTag }
func (t *gmacTransform) BlockSize() int { return 4 }
func (t *gmacTransform) RandomIV() bool { return false }
func (t *gmacTransform) String() string { return t.name }

// aad returns SPI || [SeqHigh ||] SeqLow || IV || payload: straight from
// the packet when the parts lie next to each other in memory without ESN
// (the usual in-place case), otherwise copied into s.big.
func (t *gmacTransform) aad(s *xformScratch, header, iv, payload []byte, hi SeqHigh) []byte {
	if !hi.esn && adjacent(header, iv) && adjacent(header[:len(header)+len(iv)], payload) {
		return header[:len(header)+len(iv)+len(payload)]
	}
	n := len(header) + len(iv) + len(payload)
	if hi.esn {
		n += 4
	}
	if cap(s.big) < n {
		s.big = make([]byte, 0, max(n, 2048))
	}
	a := s.big[:0]
	if hi.esn {
		a = append(a, s.esnAAD(header, hi)...)
	} else {
		a = append(a, header...)
	}
	a = append(a, iv...)
	return append(a, payload...)
}

// adjacent reports whether b starts in memory right where a ends, so that
// a[:len(a)+len(b)] is a followed by b.
func adjacent(a, b []byte) bool {
	return len(b) == 0 || (cap(a)-len(a) >= len(b) && &a[:len(a)+1][len(a)] == &b[0])
}

// doneAAD clears a copied AAD (it holds the payload) from the scratch.
func doneAAD(s *xformScratch, aad []byte) {
	if cap(s.big) > 0 && len(aad) > 0 && &s.big[:1][0] == &aad[0] {
		clear(aad)
	}
}

func (t *gmacTransform) nonce(s *xformScratch, iv []byte) []byte {
	copy(s.nonce[:saltLen], t.salt[:])
	copy(s.nonce[saltLen:], iv)
	return s.nonce[:]
}

func (t *gmacTransform) Seal(dst, header, iv, plaintext []byte, hi SeqHigh) []byte {
	checkSealArgs(t, header, iv, plaintext)
	ret, out := sliceForAppend(dst, len(plaintext)+gcmTag)
	s := getXformScratch()
	aad := t.aad(s, header, iv, plaintext, hi)
	t.gcm.Seal(s.tag[:0], t.nonce(s, iv), nil, aad)
	doneAAD(s, aad)
	copy(out, plaintext) // a no-op in place
	copy(out[len(plaintext):], s.tag[:])
	putXformScratch(s)
	return ret
}

func (t *gmacTransform) Open(dst, header, iv, ciphertext []byte, hi SeqHigh) ([]byte, error) {
	n := len(ciphertext) - gcmTag
	if len(header) != ESPHeaderLen || len(iv) != ivLen || n < 0 {
		return nil, ErrOpen
	}
	s := getXformScratch()
	aad := t.aad(s, header, iv, ciphertext[:n], hi)
	_, err := t.gcm.Open(s.tag[:0], t.nonce(s, iv), ciphertext[n:], aad)
	doneAAD(s, aad)
	putXformScratch(s)
	if err != nil {
		return nil, ErrOpen
	}
	ret, out := sliceForAppend(dst, n)
	copy(out, ciphertext[:n])
	return ret, nil
}
