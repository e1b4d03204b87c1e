package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// Integ is an ESP/AH integrity algorithm (IKEv2 transform type 3):
// AUTH_HMAC_SHA1_96 (RFC 2404), AUTH_AES_XCBC_96 (RFC 3566),
// AUTH_AES_CMAC_96 (RFC 4494) and AUTH_HMAC_SHA2_256_128, _384_192 and
// _512_256 (RFC 4868), each an HMAC, AES-XCBC-MAC or AES-CMAC truncated
// to its ICV length. An Integ is immutable and
// safe for concurrent use; Sum and Verify do not allocate when dst has the
// capacity.
type Integ struct {
	id     uint16
	icvLen int
	xcbc   *xcbcKey  // AES-XCBC-MAC; nil for HMAC
	gmac   *ahGMAC   // AUTH_AES_*_GMAC (NewAHInteg only); nil otherwise
	states sync.Pool // *integState
}

// xcbcKey is the key schedule of AES-XCBC-MAC (RFC 3566 4): K1 keys the
// block cipher, K2 and K3 are XORed into the last block.
type xcbcKey struct {
	k1     cipher.Block
	k2, k3 [16]byte
}

// integState is the running MAC of one computation.
type integState struct {
	h   hash.Hash // keyed HMAC or AES-CMAC; nil for XCBC
	mac [64]byte  // the full MAC
	x   [16]byte  // XCBC: chaining value
	buf [16]byte  // XCBC: pending block, processed once more data follows
	n   int       // XCBC: bytes in buf
	hi  [4]byte   // high sequence bits
	// AES-GMAC (ahgmac.go): the nonce and, with ESN, the AAD copied
	// together with the high sequence bits.
	nonce [saltLen + ivLen]byte
	tag   [gcmTag]byte // the received tag, so that the caller's stays on its stack
	aad   []byte
}

// integAlgs lists the integrity algorithms: key length (RFC 2404, RFC
// 4868 2.1.1: as long as the hash output; RFC 3566 and RFC 4494: 128 bits
// for XCBC and CMAC) and ICV length.
var integAlgs = map[uint16]struct {
	keyLen, icvLen int
	hash           func() hash.Hash
}{
	ike.IntegHMACSHA1_96:    {sha1.Size, 12, sha1.New},
	ike.IntegAESXCBC96:      {16, 12, nil},
	ike.IntegAESCMAC96:      {16, 12, nil},
	ike.IntegHMACSHA256_128: {sha256.Size, 16, sha256.New},
	ike.IntegHMACSHA384_192: {sha512.Size384, 24, sha512.New384},
	ike.IntegHMACSHA512_256: {sha512.Size, 32, sha512.New},
}

// IntegKeyLen returns the key length in bytes of the integrity algorithm
// id, or an error wrapping ErrUnsupported.
func IntegKeyLen(id uint16) (int, error) {
	a, ok := integAlgs[id]
	if !ok {
		return 0, fmt.Errorf("%w: integrity algorithm %s", ErrUnsupported, transformName(ike.TransformINTEG, id))
	}
	return a.keyLen, nil
}

// NewInteg returns the integrity algorithm id keyed with key, which must
// be exactly IntegKeyLen(id) bytes. NewInteg keeps no reference to key.
func NewInteg(id uint16, key []byte) (*Integ, error) {
	n, err := IntegKeyLen(id)
	if err != nil {
		return nil, err
	}
	if len(key) != n {
		return nil, fmt.Errorf("suite: %s needs a %d-byte key, got %d", transformName(ike.TransformINTEG, id), n, len(key))
	}
	return newInteg(id, key)
}

// newInteg is NewInteg without the key length check, so that the tests can
// run published HMAC vectors whose keys have other lengths.
func newInteg(id uint16, key []byte) (*Integ, error) {
	alg := integAlgs[id]
	m := &Integ{id: id, icvLen: alg.icvLen}
	if id == ike.IntegAESCMAC96 {
		// Each pooled state is a CMAC with its own chaining value; they
		// share the key schedule (cipher.Block is safe for concurrent use).
		c, err := newCMAC(key)
		if err != nil {
			return nil, err
		}
		m.states.New = func() any { cp := *c; return &integState{h: &cp} }
		return m, nil
	}
	if alg.hash == nil {
		x, err := newXCBCKey(key)
		if err != nil {
			return nil, err
		}
		m.xcbc = x
		m.states.New = func() any { return new(integState) }
		return m, nil
	}
	// The pool makes HMAC states lazily, after the caller may have
	// cleared key: keep a private copy.
	k := append([]byte(nil), key...)
	h := alg.hash
	m.states.New = func() any { return &integState{h: hmac.New(h, k)} }
	return m, nil
}

// newXCBCKey derives K1, K2 and K3 from the 128-bit key K (RFC 3566 4
// steps 1): Kn = AES-128(K, 0xnn repeated 16 times).
func newXCBCKey(key []byte) (*xcbcKey, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("suite: AES-XCBC-MAC needs a 128-bit key, got %d bytes", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var k1 [16]byte
	x := new(xcbcKey)
	for i := range 16 {
		k1[i], x.k2[i], x.k3[i] = 1, 2, 3
	}
	b.Encrypt(k1[:], k1[:])
	b.Encrypt(x.k2[:], x.k2[:])
	b.Encrypt(x.k3[:], x.k3[:])
	x.k1, err = aes.NewCipher(k1[:])
	clear(k1[:])
	return x, err
}

// ID returns the INTEG transform ID (RFC 7296 3.3.2, transform type 3).
func (m *Integ) ID() uint16 { return m.id }

// ICVLen returns the length of the (truncated) ICV.
func (m *Integ) ICVLen() int { return m.icvLen }

// String returns strongSwan's name, e.g. "HMAC_SHA2_256_128".
func (m *Integ) String() string { return transformName(ike.TransformINTEG, m.id) }

// Sum appends to dst the ICV of the concatenation of parts, followed by
// the high-order sequence bits if hi is an ESN: they are authenticated as
// if appended to the packet (RFC 4303 2.2.1, and likewise for AH, RFC
// 4302).
func (m *Integ) Sum(dst []byte, hi SeqHigh, parts ...[]byte) []byte {
	m.noGMAC()
	st := m.get()
	for _, p := range parts {
		st.write(m, p)
	}
	dst = append(dst, st.sum(m, hi)...)
	m.put(st)
	return dst
}

// Verify reports whether icv is the ICV of parts (and hi), comparing in
// constant time.
func (m *Integ) Verify(icv []byte, hi SeqHigh, parts ...[]byte) bool {
	m.noGMAC()
	st := m.get()
	for _, p := range parts {
		st.write(m, p)
	}
	ok := subtle.ConstantTimeCompare(st.sum(m, hi), icv) == 1
	m.put(st)
	return ok
}

func (m *Integ) get() *integState { return m.states.Get().(*integState) }

// put resets st, clearing the MAC it holds, and returns it to the pool.
func (m *Integ) put(st *integState) {
	if st.h != nil {
		st.h.Reset()
	}
	st.mac, st.x, st.buf, st.n = [64]byte{}, [16]byte{}, [16]byte{}, 0
	m.states.Put(st)
}

func (st *integState) write(m *Integ, p []byte) {
	if st.h != nil {
		st.h.Write(p)
		return
	}
	st.xcbcWrite(m.xcbc.k1, p)
}

// sum finishes the MAC (appending the high sequence bits first) and
// returns its leftmost ICVLen bytes, which stay valid until put.
func (st *integState) sum(m *Integ, hi SeqHigh) []byte {
	if hi.esn {
		binary.BigEndian.PutUint32(st.hi[:], hi.hi)
		st.write(m, st.hi[:])
	}
	if st.h != nil {
		return st.h.Sum(st.mac[:0])[:m.icvLen]
	}
	st.xcbcFinal(m.xcbc)
	return st.x[:m.icvLen]
}

// xcbcWrite runs the CBC-MAC of RFC 3566 4 step 3 over p. A full block is
// kept in buf until more data arrives, because the last block is treated
// differently (step 4).
func (st *integState) xcbcWrite(k1 cipher.Block, p []byte) {
	for len(p) > 0 {
		if st.n == 16 {
			subtle.XORBytes(st.x[:], st.x[:], st.buf[:])
			k1.Encrypt(st.x[:], st.x[:])
			st.n = 0
		}
		if st.n == 0 {
			for len(p) > 16 { // certainly not the last block
				subtle.XORBytes(st.x[:], st.x[:], p[:16])
				k1.Encrypt(st.x[:], st.x[:])
				p = p[16:]
			}
		}
		c := copy(st.buf[st.n:], p)
		st.n += c
		p = p[c:]
	}
}

// xcbcFinal processes the last block (RFC 3566 4 step 4): a complete one
// is XORed with K2, a partial or empty one is padded with 0x80 0x00...
// and XORed with K3.
func (st *integState) xcbcFinal(x *xcbcKey) {
	k := &x.k2
	if st.n < 16 {
		st.buf[st.n] = 0x80
		clear(st.buf[st.n+1:])
		k = &x.k3
	}
	subtle.XORBytes(st.x[:], st.x[:], st.buf[:])
	subtle.XORBytes(st.x[:], st.x[:], k[:])
	x.k1.Encrypt(st.x[:], st.x[:])
}
