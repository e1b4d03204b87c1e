// Package pki handles the certificates and keys of IKEv2 signature
// authentication (RFC 7296 2.15, 3.6-3.8; RFC 7427): it loads X.509
// certificates, private and public keys and CRLs, validates a peer's chain
// against configured CAs, checks that the identity a peer asserts is bound
// to its certificate, and signs and verifies AUTH payloads.
//
// Private keys leave this package only as crypto.Signer. The package never
// reads files on its own accord: Load* helpers take a path the caller chose
// (the daemon, following swanctl's directory layout).
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// maxFileSize bounds what is read from a credential file; certificates,
// keys and CRLs of any sane deployment are far smaller.
const maxFileSize = 16 << 20

func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: %d octets, larger than %d", path, fi.Size(), maxFileSize)
	}
	return os.ReadFile(path)
}

// isPEM reports whether data looks like PEM rather than DER.
func isPEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}

// ParseCertificates parses one or more X.509 certificates, PEM ("CERTIFICATE"
// blocks, other blocks skipped) or a single DER certificate.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !isPEM(data) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" && b.Type != "X509 CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no CERTIFICATE block")
	}
	return out, nil
}

// LoadCertificates reads a PEM or DER certificate file.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	cs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cs, nil
}

// ParsePrivateKey parses a private key in PKCS #1 (RSA), SEC 1 (EC) or
// PKCS #8 (RSA, ECDSA, Ed25519) form, PEM or DER. Encrypted PEM keys are
// refused: there is no passphrase prompt in a daemon.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	der := data
	if isPEM(data) {
		var b *pem.Block
		for rest := data; ; {
			b, rest = pem.Decode(rest)
			if b == nil {
				return nil, errors.New("no private key block")
			}
			if b.Type == "EC PARAMETERS" { // openssl ecparam -genkey writes it first
				continue
			}
			break
		}
		if _, ok := b.Headers["DEK-Info"]; ok || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("encrypted private keys are not supported")
		}
		der = b.Bytes
	}
	var key any
	var err error
	if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if k, err1 := x509.ParsePKCS1PrivateKey(der); err1 == nil {
			key, err = k, nil
		} else if k, err2 := x509.ParseECPrivateKey(der); err2 == nil {
			key, err = k, nil
		}
	}
	if err != nil {
		return nil, errors.New("not a PKCS #1, SEC 1 or PKCS #8 private key")
	}
	return checkSigner(key)
}

func checkSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits, want at least 2048 (RFC 8247 3.2)", k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if _, err := curveHash(k.Curve); err != nil {
			return nil, err
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", key)
}

// LoadPrivateKey reads a private key file (see ParsePrivateKey).
func LoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParsePublicKey parses a raw public key (swanctl's pubkeys): a PEM or DER
// SubjectPublicKeyInfo ("PUBLIC KEY") or PKCS #1 ("RSA PUBLIC KEY").
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	der := data
	if isPEM(data) {
		b, _ := pem.Decode(data)
		if b == nil {
			return nil, errors.New("no public key block")
		}
		der = b.Bytes
	}
	var key any
	var err error
	if key, err = x509.ParsePKIXPublicKey(der); err != nil {
		if k, err1 := x509.ParsePKCS1PublicKey(der); err1 == nil {
			key, err = k, nil
		}
	}
	if err != nil {
		return nil, errors.New("not a SubjectPublicKeyInfo or PKCS #1 public key")
	}
	switch k := key.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		if _, err := curveHash(k.Curve); err != nil {
			return nil, err
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T", key)
}

// LoadPublicKey reads a raw public key file (see ParsePublicKey).
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseCRL parses a certificate revocation list, PEM ("X509 CRL") or DER.
func ParseCRL(data []byte) (*x509.RevocationList, error) {
	der := data
	if isPEM(data) {
		b, _ := pem.Decode(data)
		if b == nil || b.Type != "X509 CRL" {
			return nil, errors.New("no X509 CRL block")
		}
		der = b.Bytes
	}
	return x509.ParseRevocationList(der)
}

// LoadCRL reads a CRL file (see ParseCRL).
func LoadCRL(path string) (*x509.RevocationList, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	crl, err := ParseCRL(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return crl, nil
}

// curveHash is the hash that goes with an ECDSA curve (RFC 4754 3).
func curveHash(c elliptic.Curve) (crypto.Hash, error) {
	switch c {
	case elliptic.P256():
		return crypto.SHA256, nil
	case elliptic.P384():
		return crypto.SHA384, nil
	case elliptic.P521():
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("unsupported elliptic curve %s", c.Params().Name)
}

// SamePublicKey reports whether a and b are the same public key (used to
// find the private key of a certificate, and to match raw public keys).
func SamePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
