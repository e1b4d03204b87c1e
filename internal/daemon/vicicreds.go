package daemon

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/pki"
	"github.com/goipsec/goipsec/internal/vici"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Limits on what VICI clients may load: every entry is kept in memory and
// searched when a pubkey connection is converted.
const (
	maxVICICerts       = 4096
	maxVICIKeys        = 1024
	maxVICIAuthorities = 1024
)

// viciCert is a certificate loaded with load-cert: flag is NONE or CA
// (strongSwan vici README, "load-cert").
type viciCert struct {
	cert *x509.Certificate
	ca   bool
}

type viciKey struct {
	id     string // hex SHA-1 of the public key (KEYID_PUBKEY_SHA1)
	signer crypto.Signer
}

type viciAuthority struct {
	name   string
	cacert *x509.Certificate
}

// viciCreds is the VICI layer of the credentials: what load-cert,
// load-key and load-authority loaded, on top of the swanctl directories
// beside the config file. Its slices are copied on change (store.clone
// shares them), so a failed change leaves no trace.
type viciCreds struct {
	certs       []viciCert
	crls        []*x509.RevocationList
	keys        []viciKey
	authorities []viciAuthority
}

func (v *viciCreds) clone() viciCreds {
	return viciCreds{certs: slices.Clone(v.certs), crls: slices.Clone(v.crls),
		keys: slices.Clone(v.keys), authorities: slices.Clone(v.authorities)}
}

// layer adds v to the directory credentials c: certificates, CAs (flag CA
// and authorities), CRLs and private keys are searched after the
// directories' ones.
func (c *credentials) layer(v *viciCreds) *credentials {
	out := &credentials{dir: c.dir, certs: slices.Clone(c.certs), cas: slices.Clone(c.cas),
		crls: append(slices.Clone(c.crls), v.crls...), signers: slices.Clone(c.signers)}
	for _, vc := range v.certs {
		if vc.ca {
			out.cas = append(out.cas, vc.cert)
		} else {
			out.certs = append(out.certs, vc.cert)
		}
	}
	for _, a := range v.authorities {
		out.cas = append(out.cas, a.cacert)
	}
	for _, k := range v.keys {
		out.signers = append(out.signers, k.signer)
	}
	return out
}

// publicKeyID is strongSwan's KEYID_PUBKEY_SHA1: SHA-1 of the
// subjectPublicKey BIT STRING of the key's SubjectPublicKeyInfo (RFC 5280
// section 4.2.1.2, method 1), hex-encoded as swanctl prints it.
func publicKeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	var spki struct {
		Algorithm asn1.RawValue
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return "", err
	}
	sum := sha1.Sum(spki.Key.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// viciLoadCert: request {type = X509|X509_CRL, flag = NONE|CA, data = PEM
// or DER}; response {success, errmsg}. Loading the same certificate again
// is a no-op. Certificates of established IKE SAs are not touched; pubkey
// connections pick the new set up for the IKE SAs they set up next.
func (d *Daemon) viciLoadCert(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	typ, flag, data := strings.ToUpper(req.GetString("type")), strings.ToUpper(req.GetString("flag")), []byte(req.GetString("data"))
	if len(data) == 0 {
		return failure("load-cert: missing data"), nil
	}
	var subject string
	err := d.changeCreds(ctx, func(v *viciCreds) error {
		switch typ {
		case "X509":
			if flag != "" && flag != "NONE" && flag != "CA" {
				return fmt.Errorf("load-cert: X.509 %s certificates are not supported yet (flag NONE or CA)", flag)
			}
			cs, err := pki.ParseCertificates(data)
			if err != nil {
				return fmt.Errorf("load-cert: parsing X509 certificate failed: %w", err)
			}
			c := cs[0]
			subject = subjectDN(c)
			if flag == "CA" && (!c.IsCA || !c.BasicConstraintsValid) {
				return fmt.Errorf("load-cert: %q is not a CA certificate (basicConstraints cA is not set)", subject)
			}
			for _, o := range v.certs {
				if o.cert.Equal(c) && o.ca == (flag == "CA") {
					return nil
				}
			}
			if len(v.certs) >= maxVICICerts {
				return fmt.Errorf("load-cert: %d certificates loaded over VICI already, the limit", maxVICICerts)
			}
			v.certs = append(v.certs, viciCert{cert: c, ca: flag == "CA"})
		case "X509_CRL":
			crl, err := pki.ParseCRL(data)
			if err != nil {
				return fmt.Errorf("load-cert: parsing CRL failed: %w", err)
			}
			subject = "CRL of " + crl.Issuer.String()
			if slices.ContainsFunc(v.crls, func(o *x509.RevocationList) bool { return bytes.Equal(o.Raw, crl.Raw) }) {
				return nil
			}
			if len(v.crls) >= maxVICICerts {
				return fmt.Errorf("load-cert: %d CRLs loaded over VICI already, the limit", maxVICICerts)
			}
			v.crls = append(v.crls, crl)
		case "":
			return fmt.Errorf("load-cert: missing type")
		default:
			return fmt.Errorf("load-cert: %s certificates are not supported yet (type X509 or X509_CRL)", typ)
		}
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	d.log.Info("certificate loaded over VICI", "type", typ, "flag", flag, "subject", subject)
	return msg("success", "yes"), nil
}

// viciLoadKey: request {type = rsa|ecdsa|ed25519|any, data = PEM or DER};
// response {success, errmsg, id = hex SHA-1 of the public key}.
func (d *Daemon) viciLoadKey(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	typ := strings.ToLower(req.GetString("type"))
	var id string
	err := d.changeCreds(ctx, func(v *viciCreds) error {
		k, err := pki.ParsePrivateKey([]byte(req.GetString("data")))
		if err != nil {
			return fmt.Errorf("load-key: parsing %s private key failed: %w", typ, err)
		}
		switch kt := pki.KeyType(k.Public()); typ {
		case "any", "":
		case "rsa", "ecdsa", "ed25519":
			if kt != typ {
				return fmt.Errorf("load-key: the key is %s, not %s", kt, typ)
			}
		default:
			return fmt.Errorf("load-key: %s keys are not supported (rsa, ecdsa, ed25519 or any)", typ)
		}
		if id, err = publicKeyID(k.Public()); err != nil {
			return fmt.Errorf("load-key: %w", err)
		}
		if i := slices.IndexFunc(v.keys, func(x viciKey) bool { return x.id == id }); i >= 0 {
			v.keys[i].signer = k
			return nil
		}
		if len(v.keys) >= maxVICIKeys {
			return fmt.Errorf("load-key: %d keys loaded over VICI already, the limit", maxVICIKeys)
		}
		v.keys = append(v.keys, viciKey{id: id, signer: k})
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	d.log.Info("private key loaded over VICI", "id", id)
	return msg("success", "yes", "id", id), nil
}

// viciUnloadKey: request {id}; response {success, errmsg}.
func (d *Daemon) viciUnloadKey(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	id := strings.ToLower(req.GetString("id"))
	err := d.changeCreds(ctx, func(v *viciCreds) error {
		i := slices.IndexFunc(v.keys, func(x viciKey) bool { return x.id == id })
		if i < 0 {
			return fmt.Errorf("private key '%s' not found", req.GetString("id"))
		}
		v.keys = slices.Delete(v.keys, i, i+1)
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	return msg("success", "yes"), nil
}

// viciGetKeys: response {keys = [ids of the keys loaded over VICI]}.
func (d *Daemon) viciGetKeys(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
	ids := []string{}
	for _, k := range d.viciCredsNow().keys {
		ids = append(ids, k.id)
	}
	return msg("keys", ids), nil
}

// viciListCerts: request {type, flag, subject} (filters, all optional);
// streams a list-cert event {type = X509, flag, has_privkey, data = DER}
// per certificate, those of the credential directories and those loaded
// over VICI.
func (d *Daemon) viciListCerts(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) (*vici.Message, error) {
	typ, flag := strings.ToUpper(req.GetString("type")), strings.ToUpper(req.GetString("flag"))
	if typ != "" && typ != "ANY" && typ != "X509" {
		return vici.NewMessage(), nil // goipsec keeps no other kind
	}
	// subject is an identity as swanctl.conf writes them (a DN like
	// "C=CH, O=org, CN=moon", or a name a certificate carries).
	var subject ike.Identity
	if s := req.GetString("subject"); s != "" {
		var err error
		if subject, err = identity(s); err != nil {
			return failure("list-certs: subject: %v", err), nil
		}
	}
	creds, err := d.currentCreds()
	if err != nil {
		return failure("list-certs: %v", err), nil
	}
	send := func(c *x509.Certificate, f string) {
		if flag != "" && flag != "ANY" && flag != f {
			return
		}
		if !subject.IsZero() && pki.MatchIdentity(c, subject.Type, subject.Data) != nil {
			return
		}
		emit("list-cert", msg("type", "X509", "flag", f,
			"has_privkey", yesNo(creds.signerFor(c.PublicKey) != nil), "data", string(c.Raw)))
	}
	for _, c := range creds.certs {
		send(c, "NONE")
	}
	for _, c := range creds.cas {
		send(c, "CA")
	}
	return vici.NewMessage(), nil
}

// viciLoadAuthority: request {<name> = {cacert = PEM or DER, crl_uris,
// ocsp_uris, cert_uri_base}}; response {success, errmsg}. The CA becomes
// trusted like one in x509ca/; fetching CRLs and OCSP is not supported,
// so URIs are refused rather than silently ignored.
func (d *Daemon) viciLoadAuthority(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	if req.Len() != 1 || req.GetSection(req.Keys()[0]) == nil {
		return failure("load-authority: want one authority section"), nil
	}
	name := req.Keys()[0]
	sec := req.GetSection(name)
	for _, k := range sec.Keys() {
		switch k {
		case "cacert":
		case "crl_uris", "ocsp_uris", "cert_uri_base":
			if len(sec.GetList(k)) > 0 || sec.GetString(k) != "" {
				return failure("authorities.%s.%s: fetching CRLs, OCSP and certificates is not supported yet", name, k), nil
			}
		default:
			return failure("authorities.%s.%s is not supported (only cacert)", name, k), nil
		}
	}
	data := sec.GetString("cacert")
	if data == "" {
		return failure("authorities.%s: missing cacert", name), nil
	}
	cs, err := pki.ParseCertificates([]byte(data))
	if err != nil {
		return failure("authorities.%s.cacert: %v", name, err), nil
	}
	if !cs[0].IsCA || !cs[0].BasicConstraintsValid {
		return failure("authorities.%s.cacert: %q is not a CA certificate (basicConstraints cA is not set)", name, subjectDN(cs[0])), nil
	}
	err = d.changeCreds(ctx, func(v *viciCreds) error {
		a := viciAuthority{name: name, cacert: cs[0]}
		if i := slices.IndexFunc(v.authorities, func(x viciAuthority) bool { return x.name == name }); i >= 0 {
			v.authorities[i] = a
			return nil
		}
		if len(v.authorities) >= maxVICIAuthorities {
			return fmt.Errorf("load-authority: %d authorities loaded already, the limit", maxVICIAuthorities)
		}
		v.authorities = append(v.authorities, a)
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	d.log.Info("authority loaded over VICI", "name", name, "cacert", subjectDN(cs[0]))
	return msg("success", "yes"), nil
}

// viciUnloadAuthority: request {name}; response {success, errmsg}.
func (d *Daemon) viciUnloadAuthority(ctx context.Context, req *vici.Message, _ func(string, *vici.Message)) (*vici.Message, error) {
	name := req.GetString("name")
	err := d.changeCreds(ctx, func(v *viciCreds) error {
		i := slices.IndexFunc(v.authorities, func(x viciAuthority) bool { return x.name == name })
		if i < 0 {
			return fmt.Errorf("authority '%s' not found", name)
		}
		v.authorities = slices.Delete(v.authorities, i, i+1)
		return nil
	})
	if err != nil {
		return failure("%v", err), nil
	}
	return msg("success", "yes"), nil
}

// viciGetAuthorities: response {authorities = [names]}.
func (d *Daemon) viciGetAuthorities(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
	names := []string{}
	for _, a := range d.viciCredsNow().authorities {
		names = append(names, a.name)
	}
	return msg("authorities", names), nil
}

// viciListAuthorities streams a list-authority event {<name> = {cacert =
// subject DN}} per authority loaded.
func (d *Daemon) viciListAuthorities(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) (*vici.Message, error) {
	want := req.GetString("name")
	for _, a := range d.viciCredsNow().authorities {
		if want == "" || want == a.name {
			emit("list-authority", msg(a.name, msg("cacert", subjectDN(a.cacert))))
		}
	}
	return vici.NewMessage(), nil
}

// subjectDN prints a certificate's subject as strongSwan does ("C=CH,
// O=org, CN=moon").
func subjectDN(c *x509.Certificate) string {
	return ike.Identity{Type: wire.IDDERASN1DN, Data: c.RawSubject}.String()
}

// viciCredsNow is a snapshot of the VICI credential layer.
func (d *Daemon) viciCredsNow() viciCreds {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	return d.store.creds.clone()
}

// currentCreds loads the credential directories and layers the VICI
// credentials over them.
func (d *Daemon) currentCreds() (*credentials, error) {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	return d.store.credentials()
}
