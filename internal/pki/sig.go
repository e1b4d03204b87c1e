package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// HashAlgorithm is an IKEv2 hash algorithm of the SIGNATURE_HASH_ALGORITHMS
// notify (RFC 7427 4, RFC 8420 2; IANA "IKEv2 Hash Algorithms").
type HashAlgorithm uint16

// Hash algorithms.
const (
	HashSHA1     HashAlgorithm = 1
	HashSHA256   HashAlgorithm = 2
	HashSHA384   HashAlgorithm = 3
	HashSHA512   HashAlgorithm = 4
	HashIdentity HashAlgorithm = 5 // the message itself, for Ed25519 (RFC 8420)
)

var hashNames = map[HashAlgorithm]string{HashSHA1: "sha1", HashSHA256: "sha256", HashSHA384: "sha384", HashSHA512: "sha512", HashIdentity: "identity"}

func (h HashAlgorithm) String() string {
	if n, ok := hashNames[h]; ok {
		return n
	}
	return fmt.Sprintf("HashAlgorithm(%d)", uint16(h))
}

// SupportedHashes are the hashes we accept in DIGITAL_SIGNATURE AUTH
// payloads and announce, in our order of preference. SHA-1 is not among
// them (RFC 8247 3.2 only keeps it for method 1).
var SupportedHashes = []HashAlgorithm{HashSHA256, HashSHA384, HashSHA512, HashIdentity}

// ParseHashName maps strongSwan's hash keywords (sha256, sha2_256, ...).
func ParseHashName(s string) (HashAlgorithm, bool) {
	switch s {
	case "sha1":
		return HashSHA1, true
	case "sha256", "sha2_256":
		return HashSHA256, true
	case "sha384", "sha2_384":
		return HashSHA384, true
	case "sha512", "sha2_512":
		return HashSHA512, true
	case "identity":
		return HashIdentity, true
	}
	return 0, false
}

func (h HashAlgorithm) crypto() crypto.Hash {
	switch h {
	case HashSHA1:
		return crypto.SHA1
	case HashSHA256:
		return crypto.SHA256
	case HashSHA384:
		return crypto.SHA384
	case HashSHA512:
		return crypto.SHA512
	}
	return 0
}

func hashOf(h crypto.Hash) HashAlgorithm {
	switch h {
	case crypto.SHA1:
		return HashSHA1
	case crypto.SHA256:
		return HashSHA256
	case crypto.SHA384:
		return HashSHA384
	case crypto.SHA512:
		return HashSHA512
	}
	return 0
}

// EncodeHashAlgorithms is the body of a SIGNATURE_HASH_ALGORITHMS notify:
// 16-bit identifiers (RFC 7427 4).
func EncodeHashAlgorithms(hs []HashAlgorithm) []byte {
	out := make([]byte, 0, 2*len(hs))
	for _, h := range hs {
		out = binary.BigEndian.AppendUint16(out, uint16(h))
	}
	return out
}

// ParseHashAlgorithms parses a SIGNATURE_HASH_ALGORITHMS notify body.
// Unknown identifiers are kept (and never chosen); at most 32 are read.
func ParseHashAlgorithms(b []byte) ([]HashAlgorithm, error) {
	if len(b)%2 != 0 || len(b) == 0 {
		return nil, fmt.Errorf("SIGNATURE_HASH_ALGORITHMS of %d octets, want a non-empty multiple of 2", len(b))
	}
	var out []HashAlgorithm
	for i := 0; i+1 < len(b) && len(out) < 32; i += 2 {
		out = append(out, HashAlgorithm(binary.BigEndian.Uint16(b[i:])))
	}
	return out, nil
}

// Object identifiers of RFC 7427 appendix A, RFC 4055, RFC 5758, RFC 8410.
var (
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSASSAPSS     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSAWithSHA1 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// Scheme is a signature scheme of a DIGITAL_SIGNATURE AUTH payload.
type Scheme struct {
	Key  string // "rsa", "rsa-pss", "ecdsa", "ed25519"
	Hash HashAlgorithm
	// SaltLength is the RSASSA-PSS salt length.
	SaltLength int
}

func (s Scheme) String() string {
	if s.Key == "ed25519" {
		return "ed25519"
	}
	return s.Key + "-" + s.Hash.String()
}

// pssParams is RSASSA-PSS-params (RFC 4055 3.1); the defaults (SHA-1,
// MGF1-SHA-1, salt 20) are never used by us and never accepted.
type pssParams struct {
	Hash         pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MGF          pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
	SaltLength   int                      `asn1:"optional,explicit,tag:2,default:20"`
	TrailerField int                      `asn1:"optional,explicit,tag:3,default:1"`
}

func hashAlgID(h HashAlgorithm) pkix.AlgorithmIdentifier {
	oid := map[HashAlgorithm]asn1.ObjectIdentifier{HashSHA256: oidSHA256, HashSHA384: oidSHA384, HashSHA512: oidSHA512, HashSHA1: oidSHA1}[h]
	return pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue}
}

// AlgorithmIdentifier returns the DER AlgorithmIdentifier of a scheme, as
// it goes into a DIGITAL_SIGNATURE AUTH payload (RFC 7427 3, appendix A).
func (s Scheme) AlgorithmIdentifier() ([]byte, error) {
	var ai pkix.AlgorithmIdentifier
	switch s.Key {
	case "rsa":
		oid := map[HashAlgorithm]asn1.ObjectIdentifier{HashSHA1: oidSHA1WithRSA, HashSHA256: oidSHA256WithRSA, HashSHA384: oidSHA384WithRSA, HashSHA512: oidSHA512WithRSA}[s.Hash]
		ai = pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue}
	case "rsa-pss":
		h := hashAlgID(s.Hash)
		mgfParams, err := asn1.Marshal(h)
		if err != nil {
			return nil, err
		}
		params, err := asn1.Marshal(pssParams{
			Hash:         h,
			MGF:          pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: mgfParams}},
			SaltLength:   s.SaltLength,
			TrailerField: 1,
		})
		if err != nil {
			return nil, err
		}
		ai = pkix.AlgorithmIdentifier{Algorithm: oidRSASSAPSS, Parameters: asn1.RawValue{FullBytes: params}}
	case "ecdsa":
		ai.Algorithm = map[HashAlgorithm]asn1.ObjectIdentifier{HashSHA1: oidECDSAWithSHA1, HashSHA256: oidECDSASHA256, HashSHA384: oidECDSASHA384, HashSHA512: oidECDSASHA512}[s.Hash]
	case "ed25519":
		ai.Algorithm = oidEd25519
	}
	if ai.Algorithm == nil {
		return nil, fmt.Errorf("no AlgorithmIdentifier for %v", s)
	}
	return asn1.Marshal(ai)
}

// ParseAlgorithmIdentifier reads the AlgorithmIdentifier of a
// DIGITAL_SIGNATURE AUTH payload and names its scheme.
func ParseAlgorithmIdentifier(der []byte) (Scheme, error) {
	var ai pkix.AlgorithmIdentifier
	if rest, err := asn1.Unmarshal(der, &ai); err != nil || len(rest) != 0 {
		return Scheme{}, errors.New("malformed AlgorithmIdentifier")
	}
	nullOrAbsent := nullOrAbsent(ai.Parameters)
	absent := len(ai.Parameters.FullBytes) == 0
	a := ai.Algorithm
	switch {
	case a.Equal(oidSHA1WithRSA), a.Equal(oidSHA256WithRSA), a.Equal(oidSHA384WithRSA), a.Equal(oidSHA512WithRSA):
		if !nullOrAbsent {
			return Scheme{}, errors.New("RSA PKCS #1 AlgorithmIdentifier with parameters")
		}
		h := map[int]HashAlgorithm{5: HashSHA1, 11: HashSHA256, 12: HashSHA384, 13: HashSHA512}[a[len(a)-1]]
		return Scheme{Key: "rsa", Hash: h}, nil
	case a.Equal(oidECDSAWithSHA1), a.Equal(oidECDSASHA256), a.Equal(oidECDSASHA384), a.Equal(oidECDSASHA512):
		if !absent {
			return Scheme{}, errors.New("ECDSA AlgorithmIdentifier with parameters (RFC 5758 3.2)")
		}
		h := HashSHA1
		if len(a) == 7 {
			h = map[int]HashAlgorithm{2: HashSHA256, 3: HashSHA384, 4: HashSHA512}[a[6]]
		}
		return Scheme{Key: "ecdsa", Hash: h}, nil
	case a.Equal(oidEd25519):
		if !absent {
			return Scheme{}, errors.New("Ed25519 AlgorithmIdentifier with parameters (RFC 8410 3)")
		}
		return Scheme{Key: "ed25519", Hash: HashIdentity}, nil
	case a.Equal(oidRSASSAPSS):
		s, err := parsePSS(ai.Parameters.FullBytes)
		if err != nil {
			return s, err
		}
		// encoding/asn1 tolerates slack inside explicit tags; DER does
		// not: only the one canonical encoding of these parameters passes.
		if canon, err := s.AlgorithmIdentifier(); err != nil || !bytes.Equal(canon, der) {
			return Scheme{}, errors.New("RSASSA-PSS parameters not in DER")
		}
		return s, nil
	}
	return Scheme{}, fmt.Errorf("unsupported signature algorithm %v", a)
}

func parsePSS(der []byte) (Scheme, error) {
	var p pssParams
	if rest, err := asn1.Unmarshal(der, &p); err != nil || len(rest) != 0 {
		return Scheme{}, errors.New("malformed RSASSA-PSS parameters")
	}
	h := hashFromOID(p.Hash.Algorithm)
	if h == 0 || !nullOrAbsent(p.Hash.Parameters) {
		return Scheme{}, errors.New("RSASSA-PSS without a supported hash (SHA-1 defaults not accepted)")
	}
	var mgfHash pkix.AlgorithmIdentifier
	if !p.MGF.Algorithm.Equal(oidMGF1) {
		return Scheme{}, errors.New("RSASSA-PSS with a mask generation function other than MGF1")
	}
	if rest, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mgfHash); err != nil || len(rest) != 0 || hashFromOID(mgfHash.Algorithm) != h || !nullOrAbsent(mgfHash.Parameters) {
		return Scheme{}, errors.New("RSASSA-PSS with an MGF1 hash other than the signature hash")
	}
	if p.TrailerField != 1 {
		return Scheme{}, fmt.Errorf("RSASSA-PSS trailer field %d, want 1", p.TrailerField)
	}
	if p.SaltLength < 0 || p.SaltLength > 512 {
		return Scheme{}, fmt.Errorf("RSASSA-PSS salt length %d", p.SaltLength)
	}
	return Scheme{Key: "rsa-pss", Hash: h, SaltLength: p.SaltLength}, nil
}

// nullOrAbsent reports whether AlgorithmIdentifier parameters are absent
// or exactly NULL (05 00).
func nullOrAbsent(p asn1.RawValue) bool {
	return len(p.FullBytes) == 0 || bytes.Equal(p.FullBytes, []byte{asn1.TagNull, 0})
}

func hashFromOID(o asn1.ObjectIdentifier) HashAlgorithm {
	switch {
	case o.Equal(oidSHA256):
		return HashSHA256
	case o.Equal(oidSHA384):
		return HashSHA384
	case o.Equal(oidSHA512):
		return HashSHA512
	}
	return 0
}

// SignOptions say how to sign an AUTH payload.
type SignOptions struct {
	// PeerHashes are the hashes of the peer's SIGNATURE_HASH_ALGORITHMS
	// notify; nil means the peer did not send one (no RFC 7427 support).
	PeerHashes []HashAlgorithm
	// Hashes restricts our choice (swanctl auth = pubkey-sha384...); nil
	// means SupportedHashes.
	Hashes []HashAlgorithm
	// RSAPSS signs RSA with RSASSA-PSS instead of PKCS #1 v1.5.
	RSAPSS bool
	// AllowRSASHA1 allows AUTH method 1 (RSA PKCS #1 v1.5 with SHA-1) for
	// peers without RFC 7427; RFC 8247 3.2 discourages it, so it is off
	// unless configured.
	AllowRSASHA1 bool
}

// Sign signs the AUTH octets (RFC 7296 2.15) with key and returns the
// AUTH method and data: DIGITAL_SIGNATURE (RFC 7427 3) when the peer
// announced hashes, else the classic method of the key type (RFC 7296
// 3.8, RFC 4754).
func Sign(key crypto.Signer, octets []byte, opt SignOptions, rand io.Reader) (wire.AuthMethod, []byte, error) {
	ours := opt.Hashes
	if ours == nil {
		ours = SupportedHashes
	}
	common := func(prefer HashAlgorithm) (HashAlgorithm, bool) {
		if slices.Contains(ours, prefer) && slices.Contains(opt.PeerHashes, prefer) {
			return prefer, true
		}
		for _, h := range ours {
			if h != HashIdentity && h != HashSHA1 && slices.Contains(opt.PeerHashes, h) {
				return h, true
			}
		}
		return 0, false
	}
	switch pub := key.Public().(type) {
	case ed25519.PublicKey:
		if opt.PeerHashes != nil && !slices.Contains(opt.PeerHashes, HashIdentity) {
			return 0, nil, errors.New("peer does not accept Ed25519 signatures (no Identity hash in SIGNATURE_HASH_ALGORITHMS, RFC 8420)")
		}
		sig, err := key.Sign(rand, octets, crypto.Hash(0))
		if err != nil {
			return 0, nil, err
		}
		return digitalSignature(Scheme{Key: "ed25519", Hash: HashIdentity}, sig)
	case *ecdsa.PublicKey:
		ch, err := curveHash(pub.Curve)
		if err != nil {
			return 0, nil, err
		}
		if h, ok := common(hashOf(ch)); ok {
			der, err := signDigest(key, h.crypto(), octets, rand)
			if err != nil {
				return 0, nil, err
			}
			// RFC 7427 3: ECDSA signatures are the DER Ecdsa-Sig-Value here.
			return digitalSignature(Scheme{Key: "ecdsa", Hash: h}, der)
		}
		// No RFC 7427, or no hash in common: the classic method of the
		// curve (RFC 4754), which every peer that knows ECDSA accepts.
		if opt.Hashes != nil && !slices.Contains(opt.Hashes, hashOf(ch)) {
			return 0, nil, fmt.Errorf("no hash in common with the peer's SIGNATURE_HASH_ALGORITHMS %v, and %s (the curve's hash, RFC 4754) is not allowed", opt.PeerHashes, hashOf(ch))
		}
		der, err := signDigest(key, ch, octets, rand)
		if err != nil {
			return 0, nil, err
		}
		raw, err := ecdsaRaw(der, (pub.Curve.Params().BitSize+7)/8)
		if err != nil {
			return 0, nil, err
		}
		return map[crypto.Hash]wire.AuthMethod{crypto.SHA256: wire.AuthECDSA256, crypto.SHA384: wire.AuthECDSA384, crypto.SHA512: wire.AuthECDSA521}[ch], raw, nil
	case *rsa.PublicKey:
		h, ok := common(HashSHA256)
		if !ok {
			// No RFC 7427 or no hash in common: only AUTH method 1 is left.
			if !opt.AllowRSASHA1 {
				if opt.PeerHashes == nil {
					return 0, nil, errors.New("peer lacks RFC 7427 signature authentication, and RSA with SHA-1 (AUTH method 1) is not allowed (configure auth = rsa-sha1 to allow it)")
				}
				return 0, nil, fmt.Errorf("no hash in common with the peer's SIGNATURE_HASH_ALGORITHMS %v, and RSA with SHA-1 (AUTH method 1) is not allowed", opt.PeerHashes)
			}
			sig, err := signDigest(key, crypto.SHA1, octets, rand)
			return wire.AuthRSA, sig, err
		}
		s := Scheme{Key: "rsa", Hash: h}
		var sig []byte
		var err error
		if opt.RSAPSS {
			s = Scheme{Key: "rsa-pss", Hash: h, SaltLength: h.crypto().Size()}
			d := digest(h.crypto(), octets)
			sig, err = key.Sign(rand, d, &rsa.PSSOptions{SaltLength: s.SaltLength, Hash: h.crypto()})
		} else {
			sig, err = signDigest(key, h.crypto(), octets, rand)
		}
		if err != nil {
			return 0, nil, err
		}
		return digitalSignature(s, sig)
	default:
		return 0, nil, fmt.Errorf("unsupported key type %T", pub)
	}
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

func signDigest(key crypto.Signer, h crypto.Hash, msg []byte, rand io.Reader) ([]byte, error) {
	return key.Sign(rand, digest(h, msg), h)
}

// digitalSignature frames a DIGITAL_SIGNATURE AUTH payload (RFC 7427 3):
// ASN.1 length (1 octet) | AlgorithmIdentifier | signature value.
func digitalSignature(s Scheme, sig []byte) (wire.AuthMethod, []byte, error) {
	ai, err := s.AlgorithmIdentifier()
	if err != nil {
		return 0, nil, err
	}
	out := make([]byte, 0, 1+len(ai)+len(sig))
	out = append(out, byte(len(ai)))
	out = append(append(out, ai...), sig...)
	return wire.AuthDigitalSignature, out, nil
}

type ecdsaSig struct{ R, S *big.Int }

// ecdsaRaw converts a DER Ecdsa-Sig-Value to r | s, each n octets (RFC 4754 7).
func ecdsaRaw(der []byte, n int) ([]byte, error) {
	var s ecdsaSig
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) != 0 {
		return nil, errors.New("malformed ECDSA signature from signer")
	}
	out := make([]byte, 2*n)
	s.R.FillBytes(out[:n])
	s.S.FillBytes(out[n:])
	return out, nil
}

// VerifyOptions say which signatures a peer may use.
type VerifyOptions struct {
	// Hashes restricts the accepted DIGITAL_SIGNATURE hashes; nil means
	// SupportedHashes (what we announce).
	Hashes []HashAlgorithm
}

// Verify checks an AUTH payload of a signature method against the peer's
// public key and the AUTH octets (RFC 7296 2.15). It returns the scheme
// used, for logs.
func Verify(pub crypto.PublicKey, method wire.AuthMethod, data, octets []byte, opt VerifyOptions) (string, error) {
	accepted := opt.Hashes
	if accepted == nil {
		accepted = SupportedHashes
	}
	switch method {
	case wire.AuthRSA:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return "", fmt.Errorf("RSA_SIG AUTH but the peer's key is %s", keyType(pub))
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA1, digest(crypto.SHA1, octets), data); err != nil {
			return "", errors.New("RSA_SIG signature does not verify")
		}
		return "rsa-sha1", nil
	case wire.AuthECDSA256, wire.AuthECDSA384, wire.AuthECDSA521:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return "", fmt.Errorf("%v AUTH but the peer's key is %s", method, keyType(pub))
		}
		h, err := curveHash(k.Curve)
		if err != nil {
			return "", err
		}
		want := map[crypto.Hash]wire.AuthMethod{crypto.SHA256: wire.AuthECDSA256, crypto.SHA384: wire.AuthECDSA384, crypto.SHA512: wire.AuthECDSA521}[h]
		if want != method {
			return "", fmt.Errorf("%v AUTH but the peer's key is on %s (RFC 4754 3)", method, k.Curve.Params().Name)
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(data) != 2*n {
			return "", fmt.Errorf("%v signature of %d octets, want %d (r | s, RFC 4754 7)", method, len(data), 2*n)
		}
		r, s := new(big.Int).SetBytes(data[:n]), new(big.Int).SetBytes(data[n:])
		if !ecdsa.Verify(k, digest(h, octets), r, s) {
			return "", fmt.Errorf("%v signature does not verify", method)
		}
		return "ecdsa-" + hashOf(h).String(), nil
	case wire.AuthDigitalSignature:
		if len(data) < 1 || int(data[0]) == 0 || len(data) < 1+int(data[0])+1 {
			return "", errors.New("DIGITAL_SIGNATURE AUTH too short for its AlgorithmIdentifier")
		}
		n := int(data[0])
		s, err := ParseAlgorithmIdentifier(data[1 : 1+n])
		if err != nil {
			return "", err
		}
		if !slices.Contains(accepted, s.Hash) {
			return "", fmt.Errorf("signature scheme %v uses a hash we did not announce or allow", s)
		}
		return s.String(), verifyScheme(pub, s, data[1+n:], octets)
	}
	return "", fmt.Errorf("AUTH method %v is not a signature method we support", method)
}

func verifyScheme(pub crypto.PublicKey, s Scheme, sig, octets []byte) error {
	bad := fmt.Errorf("%v signature does not verify", s)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch s.Key {
		case "rsa":
			if rsa.VerifyPKCS1v15(k, s.Hash.crypto(), digest(s.Hash.crypto(), octets), sig) != nil {
				return bad
			}
			return nil
		case "rsa-pss":
			if rsa.VerifyPSS(k, s.Hash.crypto(), digest(s.Hash.crypto(), octets), sig, &rsa.PSSOptions{SaltLength: s.SaltLength}) != nil {
				return bad
			}
			return nil
		}
	case *ecdsa.PublicKey:
		if s.Key == "ecdsa" {
			if !ecdsa.VerifyASN1(k, digest(s.Hash.crypto(), octets), sig) {
				return bad
			}
			return nil
		}
	case ed25519.PublicKey:
		if s.Key == "ed25519" {
			if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, octets, sig) {
				return bad
			}
			return nil
		}
	}
	return fmt.Errorf("signature scheme %v does not fit the peer's %s key", s, keyType(pub))
}

// KeyType names the algorithm of a public key the way swanctl's auth
// values do: "rsa", "ecdsa", "ed25519" (or "" for others).
func KeyType(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "rsa"
	case *ecdsa.PublicKey:
		return "ecdsa"
	case ed25519.PublicKey:
		return "ed25519"
	}
	return ""
}

func keyType(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
