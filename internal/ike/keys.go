package ike

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// ikeKeys holds the keying material of an IKE SA (RFC 7296 2.14).
// The SK payload uses an AEAD in this slice, so SK_ai and SK_ar are empty.
type ikeKeys struct {
	prf      *suite.PRF
	skD      []byte
	skPi     []byte
	skPr     []byte
	skEi     []byte // SK_ei and SK_er as derived, for the key log
	skEr     []byte
	encI     *suite.AEAD // protects messages sent by the original initiator (SK_ei)
	encR     *suite.AEAD // protects messages sent by the original responder (SK_er)
	encrID   uint16
	keyBits  int
	group    uint16
	rawKeyed [][]byte // every secret slice, for zeroing on delete
}

// ikeSuite is the negotiated IKE SA transform set.
type ikeSuite struct {
	encrID  uint16
	keyBits int
	prfID   uint16
	group   uint16
}

func suiteOf(p wire.Proposal) (ikeSuite, error) {
	var s ikeSuite
	enc := p.Get(wire.TransformENCR)
	prf := p.Get(wire.TransformPRF)
	ke := p.Get(wire.TransformKE)
	if len(enc) != 1 || len(prf) != 1 || len(ke) != 1 {
		return s, errors.New("proposal must carry exactly one ENCR, PRF and KE transform")
	}
	if integ := p.Get(wire.TransformINTEG); len(integ) > 1 || (len(integ) == 1 && integ[0].ID != wire.IntegNone) {
		return s, errors.New("integrity transform with an AEAD is not supported")
	}
	s.encrID, s.keyBits = enc[0].ID, int(enc[0].KeyLength)
	s.prfID, s.group = prf[0].ID, ke[0].ID
	return s, nil
}

// deriveIKEKeys computes SKEYSEED and the seven IKE SA keys (RFC 7296 2.14):
//
//	SKEYSEED = prf(Ni | Nr, g^ir)
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//	         = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
func deriveIKEKeys(s ikeSuite, ni, nr, sharedSecret []byte, spiI, spiR uint64) (*ikeKeys, error) {
	prf, err := suite.NewPRF(s.prfID)
	if err != nil {
		return nil, err
	}
	return expandIKEKeys(s, prf.Compute(concat(ni, nr), sharedSecret), ni, nr, spiI, spiR)
}

// rekeyIKEKeys derives the keys of an IKE SA created by rekeying (RFC 7296
// 2.18): SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), computed with the
// old IKE SA's PRF since the exchange belongs to it; the new PRF expands it.
func (k *ikeKeys) rekeyIKEKeys(s ikeSuite, ni, nr, sharedSecret []byte, spiI, spiR uint64) (*ikeKeys, error) {
	return expandIKEKeys(s, k.prf.Compute(k.skD, sharedSecret, ni, nr), ni, nr, spiI, spiR)
}

func expandIKEKeys(s ikeSuite, skeyseed, ni, nr []byte, spiI, spiR uint64) (*ikeKeys, error) {
	prf, err := suite.NewPRF(s.prfID)
	if err != nil {
		return nil, err
	}
	encLen, err := suite.AEADKeymatLen(s.encrID, s.keyBits)
	if err != nil {
		return nil, err
	}
	var spis [16]byte
	binary.BigEndian.PutUint64(spis[:8], spiI)
	binary.BigEndian.PutUint64(spis[8:], spiR)
	n := 3*prf.Size() + 2*encLen
	km, err := prf.Plus(skeyseed, concat(ni, nr, spis[:]), n)
	if err != nil {
		return nil, err
	}
	k := &ikeKeys{prf: prf, encrID: s.encrID, keyBits: s.keyBits, group: s.group}
	take := func(l int) []byte {
		b := km[:l:l]
		km = km[l:]
		return b
	}
	k.skD = take(prf.Size())
	ei, er := take(encLen), take(encLen)
	k.skEi, k.skEr = ei, er
	k.skPi = take(prf.Size())
	k.skPr = take(prf.Size())
	if k.encI, err = suite.NewAEAD(s.encrID, s.keyBits, ei); err != nil {
		return nil, err
	}
	if k.encR, err = suite.NewAEAD(s.encrID, s.keyBits, er); err != nil {
		return nil, err
	}
	k.rawKeyed = [][]byte{skeyseed, k.skD, ei, er, k.skPi, k.skPr}
	return k, nil
}

// zero overwrites the key material we hold (the AEADs keep their own
// expanded keys; dropping the references lets them go).
func (k *ikeKeys) zero() {
	if k == nil {
		return
	}
	for _, b := range k.rawKeyed {
		clear(b)
	}
	k.encI, k.encR = nil, nil
}

// childSeed is what a Child SA's keys are derived from: the nonces of the
// exchange that created it, the new Diffie-Hellman secret if there was a
// KE payload (PFS), and who initiated that exchange (whose keys come
// first).
type childSeed struct {
	ni, nr       []byte
	sharedSecret []byte
	weInitiated  bool
}

// childKeymat derives the keying material of a Child SA (RFC 7296 2.17):
// KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr); the initiator-to-responder
// key comes first.
// l is the key material one direction takes: the encryption key (with
// salt or nonce) followed by the integrity key.
func (k *ikeKeys) childKeymat(l int, seed childSeed) (i2r, r2i []byte, err error) {
	km, err := k.prf.Plus(k.skD, concat(seed.sharedSecret, seed.ni, seed.nr), 2*l)
	if err != nil {
		return nil, nil, err
	}
	return km[:l:l], km[l:], nil
}

// psk AUTH (RFC 7296 2.15):
//
//	AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//	SignedOctets = RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload)
func (k *ikeKeys) pskAuth(psk, realMessage, peerNonce []byte, skP []byte, idBody []byte) []byte {
	maced := k.prf.Compute(skP, idBody)
	padKey := k.prf.Compute(psk, []byte("Key Pad for IKEv2"))
	return k.prf.Compute(padKey, realMessage, peerNonce, maced)
}

// sealSK builds an encrypted message (RFC 7296 3.14, RFC 5282 for the
// AEAD layout): header | SK header | IV | E(payloads | pad | padlen) | ICV.
func sealSK(h wire.Header, ps []wire.Payload, aead *suite.AEAD, ivCounter uint64) ([]byte, error) {
	first, plain, err := wire.MarshalPayloads(ps)
	if err != nil {
		return nil, err
	}
	// AEAD modes need no block alignment; the Pad Length octet is always there.
	plain = append(plain, 0)
	bodyLen := aead.IVLen() + len(plain) + aead.ICVLen()
	prefix := wire.SKPrefix(h, first, bodyLen)
	iv := make([]byte, aead.IVLen())
	binary.BigEndian.PutUint64(iv[len(iv)-8:], ivCounter)
	out := make([]byte, 0, len(prefix)+bodyLen)
	out = append(out, prefix...)
	out = append(out, iv...)
	out = aead.Seal(out, iv, plain, prefix)
	if len(out) != len(prefix)+bodyLen {
		return nil, fmt.Errorf("ike: internal error: sealed %d bytes, want %d", len(out), len(prefix)+bodyLen)
	}
	return out, nil
}

// openSK verifies and decrypts an SK payload and parses what it carries.
// Nothing inside is looked at before the ICV has been verified.
func openSK(enc *wire.Encrypted, aead *suite.AEAD) ([]wire.Payload, error) {
	ivLen, icvLen := aead.IVLen(), aead.ICVLen()
	if len(enc.Body) < ivLen+icvLen+1 {
		return nil, errMalformed("SK payload too short")
	}
	iv := enc.Body[:ivLen]
	plain, err := aead.Open(nil, iv, enc.Body[ivLen:], enc.AAD)
	if err != nil {
		return nil, errIntegrity
	}
	padLen := int(plain[len(plain)-1])
	if padLen+1 > len(plain) {
		return nil, errMalformed("SK pad length exceeds payload")
	}
	return wire.ParsePayloads(enc.NextPayload, plain[:len(plain)-1-padLen])
}

func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
