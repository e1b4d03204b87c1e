package ike

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// ikeKeys holds the keying material of an IKE SA (RFC 7296 2.14). SK_ai
// and SK_ar are empty when the SK payload uses a combined-mode cipher.
type ikeKeys struct {
	prf      *suite.PRF
	skD      []byte
	skPi     []byte
	skPr     []byte
	skEi     []byte // SK_ei and SK_er as derived, for the key log
	skEr     []byte
	skAi     []byte // SK_ai and SK_ar, for the key log
	skAr     []byte
	encI     suite.SKTransform // protects messages sent by the original initiator (SK_ei, SK_ai)
	encR     suite.SKTransform // protects messages sent by the original responder (SK_er, SK_ar)
	encrID   uint16
	keyBits  int
	group    uint16
	rawKeyed [][]byte // every secret slice, for zeroing on delete
}

// ikeSuite is the negotiated IKE SA transform set. integID is
// wire.IntegNone for a combined-mode cipher.
type ikeSuite struct {
	encrID  uint16
	keyBits int
	integID uint16
	prfID   uint16
	group   uint16
	addKE   []uint16 // additional key exchanges in transform type order, NONE left out (RFC 9370 2.2.1)
	// addKEType is the transform type (6..12) of each addKE entry.
	addKEType []wire.TransformType
}

// suiteOf reads the negotiated transforms of an IKE proposal: one ENCR,
// PRF and KE transform, and one INTEG transform unless the cipher is a
// combined-mode one (RFC 7296 3.3.3), in a combination the SK payload
// code can do.
func suiteOf(p wire.Proposal) (ikeSuite, error) {
	var s ikeSuite
	enc := p.Get(wire.TransformENCR)
	prf := p.Get(wire.TransformPRF)
	ke := p.Get(wire.TransformKE)
	if len(enc) != 1 || len(prf) != 1 || len(ke) != 1 {
		return s, errors.New("proposal must carry exactly one ENCR, PRF and KE transform")
	}
	integ := p.Get(wire.TransformINTEG)
	if len(integ) > 1 {
		return s, errors.New("proposal must carry at most one INTEG transform")
	}
	s.encrID, s.keyBits = enc[0].ID, int(enc[0].KeyLength)
	s.prfID, s.group = prf[0].ID, ke[0].ID
	if len(integ) == 1 {
		s.integID = integ[0].ID
	}
	if _, _, err := suite.SKKeymatLen(s.encrID, s.keyBits, s.integID); err != nil {
		return s, err
	}
	if _, err := suite.NewPRF(s.prfID); err != nil {
		return s, err
	}
	if !suite.SupportedGroup(s.group) {
		return s, fmt.Errorf("%w: key exchange method %s", suite.ErrUnsupported, wire.TransformName(wire.TransformKE, s.group))
	}
	for tt := wire.TransformType(6); tt <= 12; tt++ {
		ts := p.Get(tt)
		if len(ts) > 1 {
			return s, fmt.Errorf("proposal must carry at most one transform of type %d", tt)
		}
		if len(ts) == 0 || ts[0].ID == 0 {
			continue
		}
		if !suite.SupportedGroup(ts[0].ID) {
			return s, fmt.Errorf("%w: additional key exchange %s", suite.ErrUnsupported, wire.TransformName(wire.TransformKE, ts[0].ID))
		}
		s.addKE = append(s.addKE, ts[0].ID)
		s.addKEType = append(s.addKEType, tt)
	}
	return s, nil
}

// warnings are the notes suite.IKEProposalWarnings has on the negotiated
// transforms (3DES, SHA-1), for the log.
func (s ikeSuite) warnings() []string {
	p := wire.Proposal{Protocol: wire.ProtoIKE, Transforms: []wire.Transform{
		{Type: wire.TransformENCR, ID: s.encrID, KeyLength: uint16(s.keyBits)},
		{Type: wire.TransformPRF, ID: s.prfID},
		{Type: wire.TransformINTEG, ID: s.integID},
	}}
	return suite.IKEProposalWarnings(p)
}

// deriveIKEKeys computes SKEYSEED and the seven IKE SA keys (RFC 7296 2.14):
//
//	SKEYSEED = prf(Ni | Nr, g^ir)
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//	         = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// A PRF with a fixed key length (AES-XCBC, AES-CMAC) takes as its key the
// first half of that length from Ni and the first half from Nr (RFC 7296
// 2.14; RFC 4434 and strongSwan do this for AES-XCBC, we and strongSwan
// do it for AES-CMAC too).
func deriveIKEKeys(s ikeSuite, ni, nr, sharedSecret []byte, spiI, spiR uint64) (*ikeKeys, error) {
	prf, err := suite.NewPRF(s.prfID)
	if err != nil {
		return nil, err
	}
	key := concat(ni, nr)
	if n := prf.FixedKeyLen(); n > 0 {
		half := n / 2
		if len(ni) < half || len(nr) < half { // RFC 7296 2.10: nonces are at least 16 octets
			return nil, errors.New("nonces too short for the PRF's key")
		}
		key = concat(ni[:half], nr[:half])
	}
	return expandIKEKeys(s, prf.Compute(key, sharedSecret), ni, nr, spiI, spiR)
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
	encLen, integLen, err := suite.SKKeymatLen(s.encrID, s.keyBits, s.integID)
	if err != nil {
		return nil, err
	}
	var spis [16]byte
	binary.BigEndian.PutUint64(spis[:8], spiI)
	binary.BigEndian.PutUint64(spis[8:], spiR)
	n := 3*prf.Size() + 2*integLen + 2*encLen
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
	ai, ar := take(integLen), take(integLen)
	ei, er := take(encLen), take(encLen)
	k.skAi, k.skAr = ai, ar
	k.skEi, k.skEr = ei, er
	k.skPi = take(prf.Size())
	k.skPr = take(prf.Size())
	k.rawKeyed = [][]byte{skeyseed, k.skD, ei, er, k.skPi, k.skPr, ai, ar}
	if k.encI, err = suite.NewSKTransform(s.encrID, s.keyBits, s.integID, ei, ai); err != nil {
		k.zero()
		return nil, err
	}
	if k.encR, err = suite.NewSKTransform(s.encrID, s.keyBits, s.integID, er, ar); err != nil {
		k.zero()
		return nil, err
	}
	return k, nil
}

// zero overwrites the key material we hold (the SK transforms keep their
// own expanded keys; dropping the references lets them go).
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
	// noTFC: the peer sent ESP_TFC_PADDING_NOT_SUPPORTED (RFC 7296
	// 3.10.1), so we must not pad what we send it.
	noTFC bool
	// nat: the addresses transport mode through a NAT replaced in the
	// selectors (transport.go), for the data plane's checksum fix-up.
	nat natTransport
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
//
// intAuth is appended to SignedOctets after IKE_INTERMEDIATE exchanges
// (RFC 9242 3.3).
func (k *ikeKeys) pskAuth(psk, realMessage, peerNonce []byte, skP []byte, idBody, intAuth []byte) []byte {
	maced := k.prf.Compute(skP, idBody)
	padKey := k.prf.Compute(psk, []byte("Key Pad for IKEv2"))
	return k.prf.Compute(padKey, realMessage, peerNonce, maced, intAuth)
}

// sealSK builds an encrypted message (RFC 7296 3.14):
//
//	header | SK header | IV | E(payloads | padding | pad length) | ICV
//
// The plaintext is padded to the cipher's block size with zeros (any value
// will do, 3.14). CBC needs an unpredictable IV, drawn from rnd (nil:
// crypto/rand); the other modes take ivCounter, which must not repeat
// under one key (RFC 5282 3.1, RFC 5930 2).
func sealSK(h wire.Header, ps []wire.Payload, t suite.SKTransform, ivCounter uint64, rnd io.Reader) ([]byte, error) {
	first, plain, err := wire.MarshalPayloads(ps)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return sealEncrypted(func(bodyLen int) []byte { return wire.SKPrefix(h, first, bodyLen) }, plain, t, ivCounter, rnd)
}

// sealEncrypted builds an SK or SKF message (RFC 7296 3.14, RFC 7383 2.5):
// prefix | IV | E(content | Padding | Pad Length) | ICV, where prefix(bodyLen)
// is everything before the IV and is authenticated with the ciphertext.
// Padding fills to the cipher's block size; IVs are random for CBC and a
// per-SA counter for the counter-based modes.
func sealEncrypted(prefix func(bodyLen int) []byte, content []byte, t suite.SKTransform, ivCounter uint64, rnd io.Reader) ([]byte, error) {
	bs := t.BlockSize()
	padLen := (bs - (len(content)+1)%bs) % bs
	plain := make([]byte, len(content), len(content)+padLen+1)
	copy(plain, content)
	plain = append(plain, make([]byte, padLen+1)...)
	plain[len(plain)-1] = byte(padLen)
	defer clear(plain)
	bodyLen := t.IVLen() + len(plain) + t.ICVLen()
	pre := prefix(bodyLen)
	iv := make([]byte, t.IVLen())
	if t.RandomIV() {
		if rnd == nil {
			rnd = rand.Reader
		}
		if _, err := io.ReadFull(rnd, iv); err != nil {
			return nil, fmt.Errorf("ike: SK IV: %w", err)
		}
	} else {
		binary.BigEndian.PutUint64(iv[len(iv)-8:], ivCounter)
	}
	out := make([]byte, 0, len(pre)+bodyLen)
	out = append(out, pre...)
	out = append(out, iv...)
	out = t.Seal(out, pre, iv, plain)
	if len(out) != len(pre)+bodyLen {
		return nil, fmt.Errorf("ike: internal error: sealed %d bytes, want %d", len(out), len(pre)+bodyLen)
	}
	return out, nil
}

// openSK verifies and decrypts an SK payload and parses what it carries.
// Nothing inside is looked at before the ICV has been verified.
func openSK(enc *wire.Encrypted, t suite.SKTransform) ([]wire.Payload, error) {
	content, err := openEncrypted(enc.Body, enc.AAD, t, "SK")
	if err != nil {
		return nil, err
	}
	return wire.ParsePayloads(enc.NextPayload, content)
}

// openEncrypted verifies and decrypts the body (IV | ciphertext | ICV) of
// an SK or SKF payload whose authenticated prefix is aad, and returns the
// content without its padding (RFC 7296 3.14).
func openEncrypted(body, aad []byte, t suite.SKTransform, what string) ([]byte, error) {
	ivLen, icvLen := t.IVLen(), t.ICVLen()
	if len(body) < ivLen+icvLen+1 {
		return nil, errMalformed(what + " payload too short")
	}
	if (len(body)-ivLen-icvLen)%t.BlockSize() != 0 {
		return nil, errMalformed(what + " payload not a multiple of the cipher's block size")
	}
	plain, err := t.Open(nil, aad, body[:ivLen], body[ivLen:])
	if err != nil {
		return nil, errIntegrity
	}
	padLen := int(plain[len(plain)-1])
	if padLen+1 > len(plain) {
		return nil, errMalformed(what + " pad length exceeds payload")
	}
	return plain[:len(plain)-1-padLen], nil
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
