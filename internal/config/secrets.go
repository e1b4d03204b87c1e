package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
)

// secretTypes are the section name prefixes strongSwan knows under
// secrets (swanctl.conf(5)); only ike is supported yet.
var secretTypes = []string{"eap", "xauth", "ntlm", "ike", "ppk", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "token"}

func (c *Config) addSecrets(s *Section) error {
	if len(s.Values) > 0 {
		v := s.Values[0]
		return invalid(v.Pos, join2("secrets", v.Key), "unknown key: a secret must be a section (ike-name { ... })")
	}
	for _, ss := range s.Sections {
		key := join2("secrets", ss.Name)
		for _, prev := range c.Secrets {
			if prev.Name == ss.Name {
				return invalid(ss.Pos, key, "duplicate secret (first defined at %s)", prev.Pos)
			}
		}
		typ := ""
		for _, t := range secretTypes {
			if strings.HasPrefix(ss.Name, t) {
				typ = t
				break
			}
		}
		switch typ {
		case "ike":
		case "":
			return unknownSection(ss.Pos, key)
		default:
			return unsupported(ss.Pos, key, typ+" secrets are")
		}
		sec, err := parseIKESecret(ss, key)
		if err != nil {
			return err
		}
		c.Secrets = append(c.Secrets, sec)
	}
	return nil
}

// parseIKESecret reads secrets.ike[-suffix]: secret plus any number of
// id[-suffix] keys.
func parseIKESecret(s *Section, path string) (*Secret, error) {
	if err := checkDuplicates(s, path); err != nil {
		return nil, err
	}
	sec := &Secret{Name: s.Name, Pos: s.Pos, Type: "ike"}
	haveSecret := false
	for _, v := range s.Values {
		key := join2(path, v.Key)
		switch {
		case v.Key == "secret":
			if len(v.Items) != 1 {
				return nil, invalid(v.Pos, key, "takes a single value, not a list of %d", len(v.Items))
			}
			data, err := decodeSecret(v.Items[0])
			if err != nil {
				return nil, invalid(v.Pos, key, "%v", err)
			}
			sec.Data, haveSecret = data, true
		case strings.HasPrefix(v.Key, "id"):
			id, err := single(v, key)
			if err != nil {
				return nil, err
			}
			if _, err := ParseIdentity(id); err != nil {
				return nil, &Error{Pos: v.Pos, Key: key, Msg: err.Error(), Err: err}
			}
			sec.IDs = append(sec.IDs, id)
		default:
			return nil, unknownKey(v.Pos, key)
		}
	}
	if len(s.Sections) > 0 {
		sub := s.Sections[0]
		return nil, unknownSection(sub.Pos, join2(path, sub.Name))
	}
	if !haveSecret {
		return nil, invalid(s.Pos, join2(path, "secret"), "missing")
	}
	return sec, nil
}

// decodeSecret decodes a secret value like strongSwan: "0x" introduces hex,
// "0s" base64, anything else is the text itself (quotes already resolved).
func decodeSecret(v string) ([]byte, error) {
	var data []byte
	switch {
	case strings.HasPrefix(v, "0x"):
		b, err := hex.DecodeString(v[2:])
		if err != nil {
			return nil, errors.New("invalid hex after 0x")
		}
		data = b
	case strings.HasPrefix(v, "0s"):
		b, err := base64.StdEncoding.DecodeString(v[2:])
		if err != nil {
			return nil, errors.New("invalid base64 after 0s")
		}
		data = b
	default:
		data = []byte(v)
	}
	if len(data) == 0 {
		return nil, errors.New("empty secret")
	}
	return data, nil
}

// Match qualities, like strongSwan's id_match_t: an equal id beats a
// wildcard pattern, which beats %any.
const (
	matchNone     = 0
	matchAny      = 1
	matchWildcard = 2
	matchPerfect  = 3
)

// match returns the best quality with which one of the secret's ids matches
// identity.
func (s *Secret) match(identity string) int {
	best := matchNone
	for _, id := range s.IDs {
		best = max(best, idMatch(id, identity))
	}
	return best
}

// idMatch compares a configured id (possibly a wildcard) with an identity.
func idMatch(pattern, identity string) int {
	switch pattern {
	case "%any", "%any6", "*":
		return matchAny
	}
	if identity == "" {
		return matchNone
	}
	if a, err := netip.ParseAddr(pattern); err == nil {
		if b, err := netip.ParseAddr(identity); err == nil && a == b {
			return matchPerfect
		}
		return matchNone
	}
	if strings.EqualFold(pattern, identity) {
		return matchPerfect
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok && suffix != "" &&
		len(identity) >= len(suffix) && strings.EqualFold(identity[len(identity)-len(suffix):], suffix) {
		return matchWildcard
	}
	return matchNone
}
