package suite

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// ESPHeaderLen is the length of the ESP header passed to ESPTransform.Seal
// and Open: SPI and the (low 32 bits of the) sequence number, RFC 4303 2.
const ESPHeaderLen = 8

// SeqHigh carries the high-order 32 bits of an Extended Sequence Number,
// which are authenticated but never sent (RFC 4303 2.2.1). The zero value
// means the SA uses 32-bit sequence numbers; ESN(seq) gives the value for
// an SA with ESN. It is a plain value so that passing it costs no
// allocation.
type SeqHigh struct {
	hi  uint32
	esn bool
}

// ESN returns the SeqHigh of the 64-bit sequence number seq of an SA that
// uses Extended Sequence Numbers: its high-order half, present even when
// it is 0.
func ESN(seq uint64) SeqHigh { return SeqHigh{hi: uint32(seq >> 32), esn: true} }

// ESPTransform protects the ESP payload (RFC 4303 3.3.2, 3.4.4): it
// encrypts and/or authenticates. NewESPTransform returns one for every
// transform of RFC 8221 this package implements, AEAD or not, so the ESP
// packet code has a single path. An ESPTransform is immutable and safe for
// concurrent use; Seal and Open do not allocate when dst has the capacity.
//
// The packet is SPI || Seq || IV || C || ICV (RFC 4303 2). Seal and Open
// take its parts separately:
//
//   - header is the 8-octet ESP header SPI || Seq as sent (ESPHeaderLen);
//   - hi is SeqHigh{} for 32-bit sequence numbers, or ESN(seq): the
//     high-order bits are then authenticated as RFC 4303 2.2.1 says, in the
//     AAD SPI || SeqHigh || SeqLow for combined-mode transforms (RFC 4106 5,
//     RFC 4309 5, RFC 4543, RFC 7634 2.1) and appended after the
//     ciphertext for the ICV of a separate integrity algorithm;
//   - iv is the explicit IV, IVLen octets;
//   - the plaintext is the payload with its padding, Pad Length and Next
//     Header: a multiple of BlockSize octets (the caller pads).
type ESPTransform interface {
	// IVLen is the length of the explicit IV in the packet: 0 for NULL
	// encryption, the block size for CBC, 8 for the counter-based modes.
	IVLen() int
	// ICVLen is the length of the integrity check value Seal appends.
	ICVLen() int
	// BlockSize is the alignment the plaintext must reach: the cipher's
	// block size, but at least 4 (RFC 4303 2.4).
	BlockSize() int
	// RandomIV reports whether the IV must be unpredictable, as for CBC
	// (RFC 3602 3, RFC 2451): then it must not be a counter such as
	// the sequence number. Otherwise the IV only has to be unique under
	// one key (RFC 3686 3.1, RFC 4106 3.1, RFC 4309 3.1), and the sequence
	// number is the usual choice.
	RandomIV() bool
	// Seal encrypts and/or authenticates plaintext and appends C || ICV
	// to dst; C is as long as plaintext. For an encryption algorithm with
	// a separate integrity algorithm the ICV is computed over
	// header || iv || C (|| high sequence bits), encrypt-then-MAC (RFC
	// 4303 3.3.2). plaintext and the appended bytes may overlap exactly
	// (dst = plaintext[:0]) or not at all; header and iv must not overlap
	// them. Seal panics if header, iv or the plaintext length are wrong: a
	// programming error.
	Seal(dst, header, iv, plaintext []byte, hi SeqHigh) []byte
	// Open verifies C || ICV and appends the plaintext to dst, with the
	// same overlap rules as Seal. It returns ErrOpen if the ICV does not
	// verify or the input has an impossible length. With a separate
	// integrity algorithm the ICV is checked in constant time before
	// anything is decrypted and dst is untouched on failure; the
	// combined-mode transforms zero what they wrote into dst on failure.
	Open(dst, header, iv, ciphertext []byte, hi SeqHigh) ([]byte, error)
	// String names the transform as strongSwan does, e.g.
	// "AES_CBC_128/HMAC_SHA2_256_128" or "AES_CCM_16_256".
	String() string
}

// isCombined reports whether encrID names a combined-mode (AEAD)
// transform, which must not be paired with an integrity algorithm other
// than NONE (RFC 7296 3.3).
func isCombined(encrID uint16) bool {
	switch encrID {
	case ike.EncrAESGCM8, ike.EncrAESGCM12, ike.EncrAESGCM16, ike.EncrChaCha20Poly1305,
		ike.EncrAESCCM8, ike.EncrAESCCM12, ike.EncrAESCCM16, ike.EncrNullAuthAESGMAC:
		return true
	}
	return false
}

// encrKeymatLen returns the keying material an ENCR transform takes for
// ESP: the key, then for the counter-based modes the salt or nonce.
func encrKeymatLen(encrID uint16, keyBits int) (int, error) {
	aesKey := keyBits == 128 || keyBits == 192 || keyBits == 256
	switch encrID {
	case ike.EncrAESGCM8, ike.EncrAESGCM12, ike.EncrAESGCM16, ike.EncrChaCha20Poly1305:
		return AEADKeymatLen(encrID, keyBits)
	case ike.EncrAESCBC: // RFC 3602 5.3: the key length attribute is mandatory
		if aesKey {
			return keyBits / 8, nil
		}
	case ike.EncrAESCTR: // RFC 3686 5.1: key || 4-octet nonce
		if aesKey {
			return keyBits/8 + ctrNonceLen, nil
		}
	case ike.EncrAESCCM8, ike.EncrAESCCM12, ike.EncrAESCCM16: // RFC 4309 7.1: key || 3-octet salt
		if aesKey {
			return keyBits/8 + ccmSaltLen, nil
		}
	case ike.EncrNullAuthAESGMAC: // RFC 4543: key || 4-octet salt, as for GCM
		if aesKey {
			return keyBits/8 + saltLen, nil
		}
	case ike.Encr3DES: // RFC 2451: three DES keys, no key length attribute
		if keyBits == 0 {
			return tripleDESKeyLen, nil
		}
	case ike.EncrNull: // RFC 2410: no key
		if keyBits == 0 {
			return 0, nil
		}
	default:
		return 0, fmt.Errorf("%w: encryption algorithm %d", ErrUnsupported, encrID)
	}
	return 0, fmt.Errorf("%w: %s with a %d-bit key", ErrUnsupported, transformName(ike.TransformENCR, encrID), keyBits)
}

// ESPKeymatLen returns how many bytes of keying material NewESPTransform
// takes for one direction of an ESP SA: encLen for the encryption
// transform (key, then salt or nonce where the mode has one), followed by
// integLen for the integrity transform, in the order RFC 7296 2.17 takes
// them from KEYMAT.
//
// keyBits is the key length attribute: 128, 192 or 256 for the AES modes
// (mandatory there), 0 for 3DES, NULL and ChaCha20-Poly1305 (which also
// accepts 256, see AEADKeymatLen). integID is ike.IntegNone for the
// combined-mode transforms, which refuse any other (RFC 7296 3.3), and
// must be an integrity algorithm otherwise: NULL encryption without
// integrity protects nothing, and encryption without integrity is open to
// active attacks (RFC 4303 allows it and warns against it), so both are
// refused. Errors wrap ErrUnsupported.
func ESPKeymatLen(encrID uint16, keyBits int, integID uint16) (encLen, integLen int, err error) {
	if encLen, err = encrKeymatLen(encrID, keyBits); err != nil {
		return 0, 0, err
	}
	if isCombined(encrID) {
		if integID != ike.IntegNone {
			return 0, 0, fmt.Errorf("%w: combined-mode %s with integrity algorithm %s (RFC 7296 3.3)",
				ErrUnsupported, transformName(ike.TransformENCR, encrID), transformName(ike.TransformINTEG, integID))
		}
		return encLen, 0, nil
	}
	if integID == ike.IntegNone {
		return 0, 0, fmt.Errorf("%w: %s without an integrity algorithm", ErrUnsupported, transformName(ike.TransformENCR, encrID))
	}
	if integLen, err = IntegKeyLen(integID); err != nil {
		return 0, 0, err
	}
	return encLen, integLen, nil
}

// NewESPTransform returns the ESP transform for the negotiated ENCR
// transform encrID with key length attribute keyBits and INTEG transform
// integID, keyed with keymat, which must be exactly encLen+integLen bytes
// as ESPKeymatLen reports. It keeps no reference to keymat; the caller may
// clear it afterwards.
func NewESPTransform(encrID uint16, keyBits int, integID uint16, keymat []byte) (ESPTransform, error) {
	encLen, integLen, err := ESPKeymatLen(encrID, keyBits, integID)
	if err != nil {
		return nil, err
	}
	if len(keymat) != encLen+integLen {
		return nil, fmt.Errorf("suite: %s/%s needs %d bytes of keying material, got %d",
			transformName(ike.TransformENCR, encrID), transformName(ike.TransformINTEG, integID), encLen+integLen, len(keymat))
	}
	encKey, integKey := keymat[:encLen], keymat[encLen:]
	name := describeTransform(ike.Transform{Type: ike.TransformENCR, ID: encrID, KeyLength: uint16(keyBits)})
	switch encrID {
	case ike.EncrAESGCM8, ike.EncrAESGCM12, ike.EncrAESGCM16, ike.EncrChaCha20Poly1305:
		a, err := NewAEAD(encrID, keyBits, encKey)
		if err != nil {
			return nil, err
		}
		return aeadTransform{a}, nil
	case ike.EncrAESCCM8, ike.EncrAESCCM12, ike.EncrAESCCM16:
		return newCCMTransform(encrID, encKey, name)
	case ike.EncrNullAuthAESGMAC:
		return newGMACTransform(encKey, name)
	}
	var c espCipher
	switch encrID {
	case ike.EncrAESCBC:
		c, err = newAESCBC(encKey)
	case ike.Encr3DES:
		c, err = new3DESCBC(encKey)
	case ike.EncrAESCTR:
		c, err = newAESCTR(encKey)
	case ike.EncrNull:
		c = nullCipher{}
	}
	if err != nil {
		return nil, err
	}
	m, err := NewInteg(integID, integKey)
	if err != nil {
		return nil, err
	}
	return &encThenMAC{c: c, integ: m, name: name + "/" + m.String()}, nil
}

// espCipher is the encryption half of a transform with a separate
// integrity algorithm: NULL, CBC or CTR. encrypt and decrypt transform
// len(src) bytes into dst, which is as long and overlaps src exactly or
// not at all; src is a multiple of blockSize.
type espCipher interface {
	ivLen() int
	blockSize() int // the cipher's own: 1 for NULL and CTR
	randomIV() bool
	encrypt(dst, iv, src []byte)
	decrypt(dst, iv, src []byte)
}

// nullCipher is ENCR_NULL (RFC 2410): no IV, block size 1, the
// "ciphertext" is the plaintext.
type nullCipher struct{}

func (nullCipher) ivLen() int                 { return 0 }
func (nullCipher) blockSize() int             { return 1 }
func (nullCipher) randomIV() bool             { return false }
func (nullCipher) encrypt(dst, _, src []byte) { copy(dst, src) }
func (nullCipher) decrypt(dst, _, src []byte) { copy(dst, src) }

// encThenMAC is an encryption algorithm followed by an integrity algorithm
// over the ciphertext (RFC 4303 3.3.2, 3.4.4).
type encThenMAC struct {
	c     espCipher
	integ *Integ
	name  string
}

func (t *encThenMAC) IVLen() int     { return t.c.ivLen() }
func (t *encThenMAC) ICVLen() int    { return t.integ.icvLen }
func (t *encThenMAC) BlockSize() int { return max(4, t.c.blockSize()) }
func (t *encThenMAC) RandomIV() bool { return t.c.randomIV() }
func (t *encThenMAC) String() string { return t.name }

func (t *encThenMAC) Seal(dst, header, iv, plaintext []byte, hi SeqHigh) []byte {
	checkSealArgs(t, header, iv, plaintext)
	ret, out := sliceForAppend(dst, len(plaintext)+t.integ.icvLen)
	ct := out[:len(plaintext)]
	t.c.encrypt(ct, iv, plaintext)
	st := t.integ.get()
	st.write(t.integ, header)
	st.write(t.integ, iv)
	st.write(t.integ, ct)
	copy(out[len(plaintext):], st.sum(t.integ, hi))
	t.integ.put(st)
	return ret
}

func (t *encThenMAC) Open(dst, header, iv, ciphertext []byte, hi SeqHigh) ([]byte, error) {
	n := len(ciphertext) - t.integ.icvLen
	if len(header) != ESPHeaderLen || len(iv) != t.c.ivLen() || n < 0 || n%t.c.blockSize() != 0 {
		return nil, ErrOpen
	}
	ct := ciphertext[:n]
	st := t.integ.get()
	st.write(t.integ, header)
	st.write(t.integ, iv)
	st.write(t.integ, ct)
	ok := subtle.ConstantTimeCompare(st.sum(t.integ, hi), ciphertext[n:]) == 1
	t.integ.put(st)
	if !ok {
		return nil, ErrOpen
	}
	ret, out := sliceForAppend(dst, n)
	t.c.decrypt(out, iv, ct)
	return ret, nil
}

// checkSealArgs panics on arguments no correct caller passes.
func checkSealArgs(t ESPTransform, header, iv, plaintext []byte) {
	if len(header) != ESPHeaderLen {
		panic("suite: ESPTransform.Seal: header must be SPI || Seq, 8 bytes")
	}
	if len(iv) != t.IVLen() {
		panic(fmt.Sprintf("suite: %v: Seal: IV must be %d bytes, got %d", t, t.IVLen(), len(iv)))
	}
	if len(plaintext)%t.BlockSize() != 0 {
		panic(fmt.Sprintf("suite: %v: Seal: plaintext of %d bytes is not padded to a multiple of %d", t, len(plaintext), t.BlockSize()))
	}
}

// aeadTransform adapts the salted AEADs (AES-GCM, ChaCha20-Poly1305) to
// ESPTransform: the AAD is SPI || Seq, or SPI || SeqHigh || SeqLow with
// ESN (RFC 4106 5, RFC 7634 2.1).
type aeadTransform struct{ a *AEAD }

func (t aeadTransform) IVLen() int     { return t.a.IVLen() }
func (t aeadTransform) ICVLen() int    { return t.a.ICVLen() }
func (t aeadTransform) BlockSize() int { return t.a.BlockSize() }
func (t aeadTransform) RandomIV() bool { return false }
func (t aeadTransform) String() string { return t.a.String() }

func (t aeadTransform) Seal(dst, header, iv, plaintext []byte, hi SeqHigh) []byte {
	checkSealArgs(t, header, iv, plaintext)
	if !hi.esn {
		return t.a.Seal(dst, iv, plaintext, header)
	}
	s := getXformScratch()
	out := t.a.Seal(dst, iv, plaintext, s.esnAAD(header, hi))
	putXformScratch(s)
	return out
}

func (t aeadTransform) Open(dst, header, iv, ciphertext []byte, hi SeqHigh) ([]byte, error) {
	if len(header) != ESPHeaderLen {
		return nil, ErrOpen
	}
	if !hi.esn && !t.a.truncated {
		return t.a.Open(dst, iv, ciphertext, header)
	}
	s := getXformScratch()
	defer putXformScratch(s)
	aad := header
	if hi.esn {
		aad = s.esnAAD(header, hi)
	}
	if !t.a.truncated {
		return t.a.Open(dst, iv, ciphertext, aad)
	}
	return openGCM8(t.a, s, dst, iv, ciphertext, aad)
}

// openGCM8 is AEAD.openTruncated without its per-packet allocation (a
// cipher.Stream): it decrypts with ctrXOR from counter block 2 (SP 800-38D
// 7.2, J0 = nonce || 1 for a 96-bit nonce; GCM's inc32 is ctrXOR with a
// 4-octet counter), re-seals the plaintext for the full tag and compares
// its leftmost 8 octets in constant time, zeroing the plaintext if they
// differ.
func openGCM8(a *AEAD, s *xformScratch, dst, iv, ciphertext, aad []byte) ([]byte, error) {
	if len(iv) != ivLen || len(ciphertext) < 8 {
		return nil, ErrOpen
	}
	n := len(ciphertext) - 8
	copy(s.tag[:8], ciphertext[n:])
	copy(s.nonce[:saltLen], a.salt[:])
	copy(s.nonce[saltLen:], iv)
	copy(s.ctr[:12], s.nonce[:])
	s.ctr[12], s.ctr[13], s.ctr[14], s.ctr[15] = 0, 0, 0, 2
	ret, out := sliceForAppend(dst, n)
	ctrXOR(a.block, s, out, ciphertext[:n])
	sp := getScratch(n + gcmTag)
	full := a.aead.Seal((*sp)[:0], s.nonce[:], out, aad)
	ok := subtle.ConstantTimeCompare(full[n:n+8], s.tag[:8]) == 1
	putScratch(sp, full)
	if !ok {
		clear(out)
		return nil, ErrOpen
	}
	return ret, nil
}

// xformScratch is per-call working memory for the transforms. Slices of
// a local array passed to cipher.Block or cipher.AEAD (interfaces) would
// escape to the heap, one allocation per packet; a pooled struct does
// not.
type xformScratch struct {
	ks    [ksBlocks * 16]byte // CTR keystream
	ctr   [16]byte            // counter block
	y     [16]byte            // CBC-MAC chaining value (CCM)
	buf   [16]byte            // CBC-MAC partial block
	n     int                 // bytes in buf
	s0    [16]byte            // CCM: E(K, Ctr0)
	tag   [16]byte            // received or computed tag
	nonce [12]byte
	aad   [12]byte
	enc   [10]byte // CCM: encoded AAD length
	big   []byte   // GMAC: non-contiguous AAD
}

// ksBlocks is how many counter blocks are encrypted per batch.
const ksBlocks = 8

var xformPool = sync.Pool{New: func() any { return new(xformScratch) }}

func getXformScratch() *xformScratch { return xformPool.Get().(*xformScratch) }

// putXformScratch clears what may be key stream or plaintext and returns
// s to the pool.
func putXformScratch(s *xformScratch) {
	clear(s.ks[:])
	s.y, s.buf, s.s0, s.tag = [16]byte{}, [16]byte{}, [16]byte{}, [16]byte{}
	s.n = 0
	xformPool.Put(s)
}

// esnAAD writes SPI || SeqHigh || SeqLow into s.aad (RFC 4106 5, RFC 4309
// 5, RFC 7634 2.1) and returns it.
func (s *xformScratch) esnAAD(header []byte, hi SeqHigh) []byte {
	copy(s.aad[0:4], header[0:4])
	binary.BigEndian.PutUint32(s.aad[4:8], hi.hi)
	copy(s.aad[8:12], header[4:8])
	return s.aad[:]
}
