package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// AuthRound is a local or remote authentication round
// (connections.<conn>.local[-suffix] / remote[-suffix]).
type AuthRound struct {
	// Auth is "psk" or "pubkey" (strongSwan's default; rsa, ecdsa and
	// ed25519 are pubkey with a key type).
	Auth string
	// KeyType restricts the key: "" (any), "rsa", "ecdsa" or "ed25519".
	KeyType string
	// RSAPSS is set by rsa/pss: sign RSA with RSASSA-PSS.
	RSAPSS bool
	// Hashes are the signature hashes of auth = pubkey-sha256-... in
	// strongSwan's spelling (sha1, sha256, sha384, sha512, identity);
	// empty means the defaults.
	Hashes []string
	ID     string // strongSwan identity syntax (see ParseIdentity); "" = default (local: the certificate's subject or the IKE address, remote: %any)
	// Certs, PubKeys and CACerts are file names as written: relative
	// ones are under the swanctl directory's x509/, pubkey/ and x509ca/.
	Certs, PubKeys, CACerts []string
	// KeyPos says where each key was set, for errors found later (a
	// certificate file that does not load).
	KeyPos map[string]Pos
}

// CredentialDirs are swanctl's credential directories (swanctl(8),
// --load-creds), relative to the directory of swanctl.conf.
var CredentialDirs = struct {
	X509, X509CA, X509CRL, PubKey string
	Private                       []string
}{"x509", "x509ca", "x509crl", "pubkey", []string{"private", "rsa", "ecdsa", "pkcs8"}}

// ResolveCredential turns a file name of certs, pubkeys or cacerts into
// a path: absolute names stay, relative ones go under base/sub, as
// swanctl does (base is the directory of swanctl.conf).
func ResolveCredential(base, sub, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(base, sub, name)
}

// parseAuth parses swanctl's auth value: psk, or pubkey, rsa, rsa/pss,
// ecdsa, ed25519, each optionally followed by -hash constraints
// ("pubkey-sha384-sha256", "rsa/pss-sha256"); an "ike:" prefix applies
// the constraint to IKE only, which is all goipsec does anyway.
func parseAuth(m string, a *AuthRound) error {
	l := strings.TrimPrefix(strings.ToLower(m), "ike:")
	if l == "psk" {
		a.Auth = "psk"
		return nil
	}
	parts := strings.Split(l, "-")
	switch parts[0] {
	case "pubkey":
	case "rsa", "ecdsa", "ed25519":
		a.KeyType = parts[0]
	case "rsa/pss":
		a.KeyType, a.RSAPSS = "rsa", true
	default:
		for _, p := range []string{"ed448", "bliss", "eap", "xauth", "null"} {
			if strings.HasPrefix(l, p) {
				return fmt.Errorf("auth %q %w (psk or pubkey)", m, ErrUnsupported)
			}
		}
		return fmt.Errorf("unknown auth method %q (want psk, pubkey, rsa, rsa/pss, ecdsa or ed25519)", m)
	}
	a.Auth = "pubkey"
	for _, h := range parts[1:] {
		switch h {
		case "sha1", "sha256", "sha384", "sha512", "identity":
			a.Hashes = append(a.Hashes, h)
		case "sha2_256", "sha2_384", "sha2_512":
			a.Hashes = append(a.Hashes, "sha"+strings.TrimPrefix(h, "sha2_"))
		default:
			return fmt.Errorf("auth %q: unknown signature hash %q (sha1, sha256, sha384, sha512, identity)", m, h)
		}
	}
	return nil
}

// parseAuthKey handles the credential keys of an auth round; ok is false
// for keys it does not know.
func parseAuthKey(v *Value, key string, local bool, a *AuthRound) (ok bool, err error) {
	var dst *[]string
	switch v.Key {
	case "certs":
		dst = &a.Certs
	case "pubkeys":
		dst = &a.PubKeys
	case "cacerts":
		if local {
			return true, invalid(v.Pos, key, "cacerts constrains the peer's CA: set it in a remote section")
		}
		dst = &a.CACerts
	default:
		return false, nil
	}
	items, err := list(v, key)
	if err != nil {
		return true, err
	}
	*dst = items
	if a.KeyPos == nil {
		a.KeyPos = map[string]Pos{}
	}
	a.KeyPos[v.Key] = v.Pos
	return true, nil
}

// checkAuthRound validates an auth round once all keys are read.
func checkAuthRound(s *Section, path string, a *AuthRound) error {
	if a.Auth == "" {
		a.Auth = "pubkey" // swanctl.conf(5): auth defaults to pubkey
	}
	if a.Auth == "psk" {
		for _, k := range []string{"certs", "pubkeys", "cacerts"} {
			if p, ok := a.KeyPos[k]; ok {
				return invalid(p, join2(path, k), "only applies with auth = pubkey (auth is psk)")
			}
		}
	}
	return nil
}

// parseSendCert parses send_cert (swanctl.conf(5)): always, ifasked
// (the default) or never.
func parseSendCert(v *Value, key string) (string, error) {
	s, err := single(v, key)
	if err != nil {
		return "", err
	}
	switch l := strings.ToLower(s); l {
	case "always", "ifasked", "never":
		return l, nil
	}
	return "", invalid(v.Pos, key, "invalid send_cert %q (want always, ifasked or never)", s)
}

// parseYesNo parses a swanctl boolean.
func parseYesNo(v *Value, key string) (bool, error) {
	s, err := single(v, key)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "yes", "true", "enabled", "1":
		return true, nil
	case "no", "false", "disabled", "0":
		return false, nil
	}
	return false, invalid(v.Pos, key, "invalid boolean %q (want yes or no)", s)
}
