package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// AUTH_AES_128_GMAC, AUTH_AES_192_GMAC and AUTH_AES_256_GMAC (RFC 4543
// section 4, IKEv2 integrity IDs 9, 10 and 11) are AES-GMAC for AH only:
// AES-GCM with an empty plaintext whose AAD is what AH authenticates (the
// whole packet with its mutable fields and the ICV zeroed, RFC 4302
// 3.3.3, and with ESN the high-order 32 bits appended, RFC 4302 3.3.3.2.1).
// Unlike every other AH algorithm the Authentication Data field holds an
// input as well as the output: an 8-octet IV, then the 16-octet tag (RFC
// 4543 section 4, Figure 5). The IV stays in the AAD as sent; only the tag
// is zeroed. The nonce is the 4-octet salt from the keying material
// followed by the IV (RFC 4543 3.2), as for ENCR_NULL_AUTH_AES_GMAC.
//
// IntegKeyLen and NewInteg do not know these IDs, so that ESP and IKE
// (where RFC 4543 gives ENCR_NULL_AUTH_AES_GMAC instead) cannot select
// them; AH uses AHIntegKeyLen and NewAHInteg.

// ahGMAC is the keyed AES-GMAC of an AH SA.
type ahGMAC struct {
	gcm  cipher.AEAD
	salt [saltLen]byte
}

// ahGMACKeyLen is the AES key length of each AUTH_AES_*_GMAC.
var ahGMACKeyLen = map[uint16]int{
	ike.IntegAES128GMAC: 16,
	ike.IntegAES192GMAC: 24,
	ike.IntegAES256GMAC: 32,
}

// AHIntegKeyLen returns the length in bytes of the keying material the AH
// integrity algorithm id takes from KEYMAT: IntegKeyLen for the MACs, and
// for AUTH_AES_*_GMAC the AES key followed by the 4-octet salt of the
// nonce (RFC 4543 3.2), laid out as for ENCR_NULL_AUTH_AES_GMAC: the salt
// is the last 4 octets.
func AHIntegKeyLen(id uint16) (int, error) {
	if n, ok := ahGMACKeyLen[id]; ok {
		return n + saltLen, nil
	}
	return IntegKeyLen(id)
}

// NewAHInteg returns the AH integrity algorithm id keyed with key, which
// must be exactly AHIntegKeyLen(id) bytes. It keeps no reference to key.
// For AES-GMAC the result's IVLen is 8 and its ICV is computed with SumIV
// and VerifyIV; Sum and Verify are for the IV-less MACs.
func NewAHInteg(id uint16, key []byte) (*Integ, error) {
	n, ok := ahGMACKeyLen[id]
	if !ok {
		return NewInteg(id, key)
	}
	if len(key) != n+saltLen {
		return nil, fmt.Errorf("suite: %s needs %d bytes of keying material, got %d", transformName(ike.TransformINTEG, id), n+saltLen, len(key))
	}
	b, err := aes.NewCipher(key[:n])
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	m := &Integ{id: id, icvLen: gcmTag, gmac: &ahGMAC{gcm: g}}
	copy(m.gmac.salt[:], key[n:])
	m.states.New = func() any { return new(integState) }
	return m, nil
}

// IVLen returns the length of the IV the algorithm carries before its ICV
// in the AH Authentication Data field: 8 for AES-GMAC (RFC 4543 3.1), 0
// otherwise.
func (m *Integ) IVLen() int {
	if m.gmac != nil {
		return ivLen
	}
	return 0
}

// noGMAC panics if m is AES-GMAC, which needs an IV: a programming error,
// never caused by a packet.
func (m *Integ) noGMAC() {
	if m.gmac != nil {
		panic("suite: AES-GMAC needs an IV: use SumIV and VerifyIV")
	}
}

// SumIV appends to dst the ICV of data (and hi) with the IV iv, which
// must be IVLen bytes; for the IV-less MACs it is Sum.
func (m *Integ) SumIV(dst, iv []byte, hi SeqHigh, data []byte) []byte {
	if m.gmac == nil {
		return m.Sum(dst, hi, data)
	}
	st := m.get()
	aad := m.gmacInput(st, iv, hi, data)
	tag := m.gmac.gcm.Seal(st.mac[:0], st.nonce[:], nil, aad)
	dst = append(dst, tag...)
	m.putGMAC(st, aad)
	return dst
}

// VerifyIV reports whether icv is the ICV of data (and hi) with the IV iv;
// GCM compares the tag in constant time. For the IV-less MACs it is
// Verify.
func (m *Integ) VerifyIV(icv, iv []byte, hi SeqHigh, data []byte) bool {
	if m.gmac == nil {
		return m.Verify(icv, hi, data)
	}
	if len(icv) != gcmTag || len(iv) != ivLen {
		return false
	}
	st := m.get()
	aad := m.gmacInput(st, iv, hi, data)
	copy(st.tag[:], icv)
	_, err := m.gmac.gcm.Open(st.mac[:0], st.nonce[:], st.tag[:], aad)
	m.putGMAC(st, aad)
	return err == nil
}

// gmacInput sets st's nonce to salt || IV (RFC 4543 3.2) and returns the
// AAD: data itself, or with ESN data followed by the high-order sequence
// bits (RFC 4302 3.3.3.2.1) in st's buffer, which grows to the largest
// packet seen and is reused.
func (m *Integ) gmacInput(st *integState, iv []byte, hi SeqHigh, data []byte) []byte {
	if len(iv) != ivLen {
		panic("suite: AES-GMAC IV must be 8 octets")
	}
	copy(st.nonce[:saltLen], m.gmac.salt[:])
	copy(st.nonce[saltLen:], iv)
	if !hi.esn {
		return data
	}
	n := len(data) + 4
	if cap(st.aad) < n {
		st.aad = make([]byte, 0, max(n, 2048))
	}
	a := append(append(st.aad[:0], data...), byte(hi.hi>>24), byte(hi.hi>>16), byte(hi.hi>>8), byte(hi.hi))
	return a
}

// putGMAC clears what st holds of the computation and pools it.
func (m *Integ) putGMAC(st *integState, aad []byte) {
	if cap(st.aad) > 0 && len(aad) > 0 && &st.aad[:1][0] == &aad[0] {
		clear(aad)
	}
	st.nonce, st.tag = [saltLen + ivLen]byte{}, [gcmTag]byte{}
	m.put(st)
}
