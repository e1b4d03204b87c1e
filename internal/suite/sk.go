package suite

import (
	"crypto/subtle"
	"fmt"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// SKTransform protects the Encrypted payload (SK) of IKEv2 messages (RFC
// 7296 3.14): one of the combined-mode ciphers of RFC 5282 (AES-GCM and
// AES-CCM with 8-, 12- or 16-octet ICVs) or RFC 7634 (ChaCha20-Poly1305),
// or an encryption algorithm (AES-CBC, RFC 3602 as RFC 7296 uses it;
// AES-CTR, RFC 5930; 3DES) with a separate integrity algorithm, applied
// encrypt-then-MAC over the whole message. An SKTransform is immutable and
// safe for concurrent use.
//
// The message is IKE header || SK payload header || IV || C || ICV. Seal
// and Open take aad, every octet before the IV (the IKE header and the
// generic payload header of SK, whose lengths already count the ICV):
//
//   - for a combined-mode cipher aad is its associated data (RFC 5282 5.1,
//     RFC 7634 3) and the ICV is its tag;
//   - otherwise the ICV is the integrity algorithm over aad || IV || C,
//     "the IKE header through the encrypted data" (RFC 7296 3.14).
//
// The plaintext is the inner payloads, padding and the Pad Length octet;
// the caller pads it to a multiple of BlockSize.
type SKTransform interface {
	// IVLen is the length of the IV in the message: the block size for
	// CBC, 8 octets for the counter-based modes.
	IVLen() int
	// ICVLen is the length of the Integrity Checksum Data.
	ICVLen() int
	// BlockSize is the alignment the plaintext must reach: the cipher's
	// block size for CBC, 1 for the stream and combined modes (RFC 7296
	// 3.14, RFC 5282 3, RFC 5930 2).
	BlockSize() int
	// RandomIV reports whether the IV must be unpredictable (CBC, RFC
	// 7296 3.14); otherwise it only has to be unique under one key (a
	// message counter will do).
	RandomIV() bool
	// Seal encrypts plaintext and appends C || ICV to dst. plaintext and
	// the appended bytes may overlap exactly or not at all; aad and iv must
	// not overlap them. It panics if iv or the plaintext length are wrong.
	Seal(dst, aad, iv, plaintext []byte) []byte
	// Open verifies C || ICV and appends the plaintext to dst. It returns
	// ErrOpen if the ICV does not verify or the length is impossible; with
	// a separate integrity algorithm the ICV is checked in constant time
	// before anything is decrypted.
	Open(dst, aad, iv, ciphertext []byte) ([]byte, error)
	// String names the transform as strongSwan does, e.g.
	// "AES_CBC_256/HMAC_SHA2_256_128" or "AES_GCM_16_256".
	String() string
}

// SKKeymatLen returns the lengths of SK_ei/SK_er (encLen: the key, then
// the salt or nonce of the counter-based modes, RFC 5282 7.1, RFC 5930 3)
// and of SK_ai/SK_ar (integLen, 0 for a combined-mode cipher) for an IKE
// SA with ENCR transform encrID, key length attribute keyBits and INTEG
// transform integID. Combined-mode ciphers take no integrity algorithm
// and the others need one (RFC 7296 3.3); ENCR_NULL is not allowed for
// IKE (RFC 7296 5) and ENCR_NULL_AUTH_AES_GMAC is for ESP only (RFC
// 4543). Errors wrap ErrUnsupported.
func SKKeymatLen(encrID uint16, keyBits int, integID uint16) (encLen, integLen int, err error) {
	switch encrID {
	case ike.EncrNull, ike.EncrNullAuthAESGMAC:
		return 0, 0, fmt.Errorf("%w: %s protects no IKE SA", ErrUnsupported, transformName(ike.TransformENCR, encrID))
	}
	return ESPKeymatLen(encrID, keyBits, integID)
}

// NewSKTransform returns the SK payload protection for the negotiated
// transforms, keyed with SK_e (encKey) and SK_a (integKey, empty for a
// combined-mode cipher) of one direction, as long as SKKeymatLen says. It
// keeps no reference to the keys.
func NewSKTransform(encrID uint16, keyBits int, integID uint16, encKey, integKey []byte) (SKTransform, error) {
	encLen, integLen, err := SKKeymatLen(encrID, keyBits, integID)
	if err != nil {
		return nil, err
	}
	if len(encKey) != encLen || len(integKey) != integLen {
		return nil, fmt.Errorf("suite: %s/%s needs keys of %d and %d bytes, got %d and %d",
			transformName(ike.TransformENCR, encrID), transformName(ike.TransformINTEG, integID), encLen, integLen, len(encKey), len(integKey))
	}
	name := describeTransform(ike.Transform{Type: ike.TransformENCR, ID: encrID, KeyLength: uint16(keyBits)})
	switch encrID {
	case ike.EncrAESGCM8, ike.EncrAESGCM12, ike.EncrAESGCM16, ike.EncrChaCha20Poly1305:
		a, err := NewAEAD(encrID, keyBits, encKey)
		if err != nil {
			return nil, err
		}
		return skAEAD{a}, nil
	case ike.EncrAESCCM8, ike.EncrAESCCM12, ike.EncrAESCCM16:
		t, err := newCCMTransform(encrID, encKey, name)
		if err != nil {
			return nil, err
		}
		return skCCM{t.(*ccmTransform)}, nil
	}
	var c espCipher
	switch encrID {
	case ike.EncrAESCBC:
		c, err = newAESCBC(encKey)
	case ike.Encr3DES:
		c, err = new3DESCBC(encKey)
	case ike.EncrAESCTR:
		c, err = newAESCTR(encKey)
	}
	if err != nil {
		return nil, err
	}
	m, err := NewInteg(integID, integKey)
	if err != nil {
		return nil, err
	}
	return &skEncThenMAC{c: c, integ: m, name: name + "/" + m.String()}, nil
}

// checkSKSealArgs panics on arguments no correct caller passes.
func checkSKSealArgs(t SKTransform, iv, plaintext []byte) {
	if len(iv) != t.IVLen() {
		panic(fmt.Sprintf("suite: %v: Seal: IV must be %d bytes, got %d", t, t.IVLen(), len(iv)))
	}
	if len(plaintext)%t.BlockSize() != 0 {
		panic(fmt.Sprintf("suite: %v: Seal: plaintext of %d bytes is not padded to a multiple of %d", t, len(plaintext), t.BlockSize()))
	}
}

// skAEAD is AES-GCM (RFC 5282) or ChaCha20-Poly1305 (RFC 7634) for SK:
// the nonce is salt || IV, the AAD is everything before the IV.
type skAEAD struct{ a *AEAD }

func (t skAEAD) IVLen() int     { return t.a.IVLen() }
func (t skAEAD) ICVLen() int    { return t.a.ICVLen() }
func (t skAEAD) BlockSize() int { return 1 }
func (t skAEAD) RandomIV() bool { return false }
func (t skAEAD) String() string { return t.a.String() }

func (t skAEAD) Seal(dst, aad, iv, plaintext []byte) []byte {
	checkSKSealArgs(t, iv, plaintext)
	return t.a.Seal(dst, iv, plaintext, aad)
}

func (t skAEAD) Open(dst, aad, iv, ciphertext []byte) ([]byte, error) {
	return t.a.Open(dst, iv, ciphertext, aad)
}

// skCCM is AES-CCM for SK (RFC 5282 4): the 11-octet nonce is the 3-octet
// salt from SK_e || the 8-octet IV, and the AAD is everything before the
// IV.
type skCCM struct{ t *ccmTransform }

func (t skCCM) IVLen() int     { return 8 }
func (t skCCM) ICVLen() int    { return t.t.tagLen }
func (t skCCM) BlockSize() int { return 1 }
func (t skCCM) RandomIV() bool { return false }
func (t skCCM) String() string { return t.t.name }

func (t skCCM) Seal(dst, aad, iv, plaintext []byte) []byte {
	checkSKSealArgs(t, iv, plaintext)
	if uint64(len(plaintext)) > ccmMaxLen(4) {
		panic("suite: AES-CCM: plaintext too long")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+t.t.tagLen)
	s := getXformScratch()
	t.t.seal(s, out, t.t.nonce(s, iv), plaintext, aad)
	putXformScratch(s)
	return ret
}

func (t skCCM) Open(dst, aad, iv, ciphertext []byte) ([]byte, error) {
	n := len(ciphertext) - t.t.tagLen
	if len(iv) != 8 || n < 0 || uint64(n) > ccmMaxLen(4) {
		return nil, ErrOpen
	}
	ret, out := sliceForAppend(dst, n)
	s := getXformScratch()
	ok := t.t.open(s, out, t.t.nonce(s, iv), ciphertext[:n], ciphertext[n:], aad)
	putXformScratch(s)
	if !ok {
		return nil, ErrOpen
	}
	return ret, nil
}

// skEncThenMAC is AES-CBC, AES-CTR or 3DES with an integrity algorithm
// over the whole message up to the ICV (RFC 7296 3.14).
type skEncThenMAC struct {
	c     espCipher
	integ *Integ
	name  string
}

func (t *skEncThenMAC) IVLen() int     { return t.c.ivLen() }
func (t *skEncThenMAC) ICVLen() int    { return t.integ.icvLen }
func (t *skEncThenMAC) BlockSize() int { return t.c.blockSize() }
func (t *skEncThenMAC) RandomIV() bool { return t.c.randomIV() }
func (t *skEncThenMAC) String() string { return t.name }

func (t *skEncThenMAC) Seal(dst, aad, iv, plaintext []byte) []byte {
	checkSKSealArgs(t, iv, plaintext)
	ret, out := sliceForAppend(dst, len(plaintext)+t.integ.icvLen)
	ct := out[:len(plaintext)]
	t.c.encrypt(ct, iv, plaintext)
	st := t.integ.get()
	st.write(t.integ, aad)
	st.write(t.integ, iv)
	st.write(t.integ, ct)
	copy(out[len(plaintext):], st.sum(t.integ, SeqHigh{}))
	t.integ.put(st)
	return ret
}

func (t *skEncThenMAC) Open(dst, aad, iv, ciphertext []byte) ([]byte, error) {
	n := len(ciphertext) - t.integ.icvLen
	if len(iv) != t.c.ivLen() || n < 0 || n%t.c.blockSize() != 0 {
		return nil, ErrOpen
	}
	ct := ciphertext[:n]
	st := t.integ.get()
	st.write(t.integ, aad)
	st.write(t.integ, iv)
	st.write(t.integ, ct)
	ok := subtle.ConstantTimeCompare(st.sum(t.integ, SeqHigh{}), ciphertext[n:]) == 1
	t.integ.put(st)
	if !ok {
		return nil, ErrOpen
	}
	ret, out := sliceForAppend(dst, n)
	t.c.decrypt(out, iv, ct)
	return ret, nil
}
