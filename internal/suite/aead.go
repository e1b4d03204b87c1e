package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// ErrOpen is returned by AEAD.Open when the ICV does not verify (or the
// input is too short to carry one). The output is not usable then.
var ErrOpen = errors.New("suite: message authentication failed")

const (
	saltLen = 4  // RFC 4106 8.1, RFC 5282, RFC 7634: the salt is the last 4 octets of the keying material
	ivLen   = 8  // the explicit IV carried in every packet
	gcmTag  = 16 // the full GCM authentication tag
)

// AEAD is an authenticated cipher whose 12-octet nonce is a 4-octet salt
// taken from the keying material followed by the 8-octet IV carried in the
// packet: AES-GCM with 8-, 12- or 16-octet ICVs (RFC 4106 for ESP, RFC 5282
// for the IKE SK payload) and ChaCha20-Poly1305 (RFC 7634). An AEAD is
// immutable and safe for concurrent use.
type AEAD struct {
	id        uint16
	keyBits   int
	aead      cipher.AEAD  // the full-tag AEAD
	block     cipher.Block // AES, kept for the GCM-8 Open path (see openTruncated)
	truncated bool         // GCM-8: tag computed at 16 octets, sent as 8
	salt      [saltLen]byte
	icvLen    int
}

// AEADKeymatLen returns how many bytes of keying material NewAEAD takes for
// the ENCR transform encrID with key length attribute keyBits: the key plus
// the 4-octet salt (RFC 4106 8.1; likewise RFC 5282 and RFC 7634).
//
// AES-GCM needs keyBits 128, 192 or 256 (the attribute is mandatory, RFC 4106
// 8.4). ChaCha20-Poly1305 has a single key size and its proposals carry no
// key length attribute (RFC 7634), so keyBits is 0; 256 is accepted too,
// as sent by peers in strongSwan's "chacha20poly1305compat" mode.
func AEADKeymatLen(encrID uint16, keyBits int) (int, error) {
	switch encrID {
	case ike.EncrAESGCM8, ike.EncrAESGCM12, ike.EncrAESGCM16:
		switch keyBits {
		case 128, 192, 256:
			return keyBits/8 + saltLen, nil
		}
	case ike.EncrChaCha20Poly1305:
		if keyBits == 0 || keyBits == 256 {
			return chacha20poly1305.KeySize + saltLen, nil
		}
	default:
		return 0, fmt.Errorf("%w: encryption algorithm %d", ErrUnsupported, encrID)
	}
	return 0, fmt.Errorf("%w: %s with a %d-bit key", ErrUnsupported, transformName(ike.TransformENCR, encrID), keyBits)
}

// NewAEAD returns the AEAD for encrID and keyBits keyed with keymat, which
// is the key followed by the salt (RFC 4106 8.1) and must be exactly
// AEADKeymatLen(encrID, keyBits) bytes. NewAEAD keeps no reference to
// keymat; the caller may clear it afterwards.
func NewAEAD(encrID uint16, keyBits int, keymat []byte) (*AEAD, error) {
	n, err := AEADKeymatLen(encrID, keyBits)
	if err != nil {
		return nil, err
	}
	if len(keymat) != n {
		return nil, fmt.Errorf("suite: %s needs %d bytes of keying material, got %d", transformName(ike.TransformENCR, encrID), n, len(keymat))
	}
	key := keymat[:n-saltLen]
	a := &AEAD{id: encrID, keyBits: keyBits}
	copy(a.salt[:], keymat[n-saltLen:])
	switch encrID {
	case ike.EncrChaCha20Poly1305:
		a.icvLen = chacha20poly1305.Overhead
		if a.aead, err = chacha20poly1305.New(key); err != nil {
			return nil, err
		}
		return a, nil
	case ike.EncrAESGCM8:
		a.icvLen = 8
	case ike.EncrAESGCM12:
		a.icvLen = 12
	default:
		a.icvLen = gcmTag
	}
	if a.block, err = aes.NewCipher(key); err != nil {
		return nil, err
	}
	// crypto/cipher does not do 8-octet tags (NIST SP 800-38D allows them,
	// RFC 4106 6 uses them): GCM-8 runs GCM with the full tag and truncates
	// it, which is how SP 800-38D 7.1 defines a shorter tag (MSB_t).
	a.truncated = a.icvLen == 8
	if a.icvLen == gcmTag || a.truncated {
		a.aead, err = cipher.NewGCM(a.block)
	} else {
		a.aead, err = cipher.NewGCMWithTagSize(a.block, a.icvLen)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// ID returns the ENCR transform ID (RFC 7296 3.3.2, transform type 1).
func (a *AEAD) ID() uint16 { return a.id }

// KeyBits returns the key length attribute the AEAD was made with.
func (a *AEAD) KeyBits() int { return a.keyBits }

// String returns strongSwan's name, e.g. "AES_GCM_16_256".
func (a *AEAD) String() string {
	return describeTransform(ike.Transform{Type: ike.TransformENCR, ID: a.id, KeyLength: uint16(a.keyBits)})
}

// IVLen returns the length of the explicit IV: 8 octets (RFC 4106 3.1,
// RFC 7634 2).
func (a *AEAD) IVLen() int { return ivLen }

// ICVLen returns the length of the integrity check value appended by Seal:
// 8, 12 or 16 octets for AES-GCM (RFC 4106 6), 16 for ChaCha20-Poly1305.
func (a *AEAD) ICVLen() int { return a.icvLen }

// BlockSize returns the alignment the ESP padding must reach: 4 octets,
// because these ciphers need no block alignment but RFC 4303 2.4 still
// requires the ESP trailer to end on a 4-octet boundary.
func (a *AEAD) BlockSize() int { return 4 }

// nonceBuf is the 12-octet nonce salt || iv. It lives in a pool because a
// slice passed through the cipher.AEAD interface escapes to the heap, and
// the per-packet paths should not allocate.
type nonceBuf [saltLen + ivLen]byte

var noncePool = sync.Pool{New: func() any { return new(nonceBuf) }}

func (a *AEAD) nonce(iv []byte) *nonceBuf {
	n := noncePool.Get().(*nonceBuf)
	copy(n[:saltLen], a.salt[:])
	copy(n[saltLen:], iv)
	return n
}

// Seal encrypts and authenticates plaintext, authenticates aad, and appends
// ciphertext||ICV to dst, like cipher.AEAD.Seal. The nonce is salt||iv
// (RFC 4106 4, RFC 7634 2); iv must be IVLen bytes and must never repeat
// under one key (the ESP sequence number or the IKE message counter is the
// usual choice). plaintext and dst may overlap exactly or not at all. Seal
// panics if iv has the wrong length (a programming error).
func (a *AEAD) Seal(dst, iv, plaintext, aad []byte) []byte {
	if len(iv) != ivLen {
		panic("suite: AEAD.Seal: IV must be 8 bytes")
	}
	nonce := a.nonce(iv)
	defer noncePool.Put(nonce)
	if !a.truncated {
		return a.aead.Seal(dst, nonce[:], plaintext, aad)
	}
	// GCM-8: seal with the full tag into a pooled scratch buffer and keep
	// its leftmost 8 octets. Sealing straight into dst would write 8 bytes
	// past the returned length, into capacity the caller may be using.
	ret, out := sliceForAppend(dst, len(plaintext)+8)
	sp := getScratch(len(plaintext) + gcmTag)
	full := a.aead.Seal((*sp)[:0], nonce[:], plaintext, aad)
	copy(out, full[:len(plaintext)+8])
	putScratch(sp, full)
	return ret
}

// Open verifies and decrypts ciphertext (which ends with the ICV) with aad
// and appends the plaintext to dst, like cipher.AEAD.Open; ciphertext and
// dst may overlap exactly or not at all. On failure it returns ErrOpen and
// the bytes it may have written into dst's spare capacity are zeroed.
func (a *AEAD) Open(dst, iv, ciphertext, aad []byte) ([]byte, error) {
	if len(iv) != ivLen || len(ciphertext) < a.icvLen {
		return nil, ErrOpen
	}
	nonce := a.nonce(iv)
	defer noncePool.Put(nonce)
	if a.truncated {
		return a.openTruncated(dst, nonce, ciphertext, aad)
	}
	out, err := a.aead.Open(dst, nonce[:], ciphertext, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// openTruncated opens AES-GCM with an 8-octet ICV. crypto/cipher cannot
// verify a tag shorter than 12 octets, so the ciphertext is decrypted with
// AES-CTR starting at counter block 2 (inc32(J0), SP 800-38D 7.2 with a
// 96-bit nonce: J0 = nonce || 0x00000001), then re-sealed to recompute the
// full tag, whose leftmost 8 octets must match in constant time. The
// plaintext is zeroed if they do not.
func (a *AEAD) openTruncated(dst []byte, nonce *nonceBuf, ciphertext, aad []byte) ([]byte, error) {
	ctLen := len(ciphertext) - 8
	icv := ciphertext[ctLen:]
	var icvCopy [8]byte // ciphertext may alias dst and be overwritten below
	copy(icvCopy[:], icv)
	ret, out := sliceForAppend(dst, ctLen)
	var ctr [aes.BlockSize]byte
	copy(ctr[:], nonce[:])
	binary.BigEndian.PutUint32(ctr[12:], 2)
	// cipher.NewCTR increments all 128 bits while GCM's inc32 wraps the low
	// 32; they differ only past 2^32-2 blocks, far beyond any packet.
	cipher.NewCTR(a.block, ctr[:]).XORKeyStream(out, ciphertext[:ctLen])
	sp := getScratch(ctLen + gcmTag)
	full := a.aead.Seal((*sp)[:0], nonce[:], out, aad)
	ok := subtle.ConstantTimeCompare(full[ctLen:ctLen+8], icvCopy[:]) == 1
	putScratch(sp, full)
	if !ok {
		clear(out)
		return nil, ErrOpen
	}
	return ret, nil
}

// sliceForAppend extends in by n bytes: head is the whole result, tail the
// n new bytes (the crypto/cipher idiom).
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}

// scratch buffers for the GCM-8 paths, so that they do not allocate per
// packet in steady state.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getScratch(n int) *[]byte {
	p := scratchPool.Get().(*[]byte)
	if cap(*p) < n {
		*p = make([]byte, 0, n)
	}
	return p
}

// putScratch clears what was written (plaintext or ciphertext of a packet)
// and returns the buffer to the pool.
func putScratch(p *[]byte, used []byte) {
	clear(used)
	if cap(used) > cap(*p) {
		*p = used[:0]
	}
	scratchPool.Put(p)
}
