package config

import (
	"reflect"
	"testing"
)

// TestPubKeyAuth parses strongSwan's ikev2/net2net-cert style of
// configuration (certificates, CAs, send_cert) and the auth aliases.
func TestPubKeyAuth(t *testing.T) {
	cfg, err := Parse("/etc/swanctl/swanctl.conf", []byte(`connections {
   gw-gw {
      remote_addrs = 192.168.0.2
      send_cert = always
      send_certreq = no
      local {
         certs = moonCert.pem
         id = moon.strongswan.org
      }
      remote {
         auth = rsa/pss-sha384-sha2_512
         id = sun.strongswan.org
         cacerts = strongswanCert.pem, /abs/otherCA.der
         pubkeys = sun.pub
      }
   }
   ed {
      local {
         auth = ed25519
      }
      remote {
         auth = ike:ecdsa-sha256
      }
   }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	gw := cfg.Connection("gw-gw")
	if gw.SendCert != "always" || gw.SendCertReq {
		t.Errorf("send_cert %q send_certreq %v", gw.SendCert, gw.SendCertReq)
	}
	if gw.Local.Auth != "pubkey" || gw.Local.KeyType != "" || !reflect.DeepEqual(gw.Local.Certs, []string{"moonCert.pem"}) {
		t.Errorf("local: %+v", gw.Local)
	}
	if p := gw.Local.KeyPos["certs"]; p.Line != 7 || p.File != "/etc/swanctl/swanctl.conf" {
		t.Errorf("certs position %v", p)
	}
	r := gw.Remote
	if r.Auth != "pubkey" || r.KeyType != "rsa" || !r.RSAPSS || !reflect.DeepEqual(r.Hashes, []string{"sha384", "sha512"}) ||
		!reflect.DeepEqual(r.CACerts, []string{"strongswanCert.pem", "/abs/otherCA.der"}) || !reflect.DeepEqual(r.PubKeys, []string{"sun.pub"}) {
		t.Errorf("remote: %+v", r)
	}
	ed := cfg.Connection("ed")
	if ed.SendCert != "ifasked" || !ed.SendCertReq || ed.Local.KeyType != "ed25519" || ed.Remote.KeyType != "ecdsa" || !reflect.DeepEqual(ed.Remote.Hashes, []string{"sha256"}) {
		t.Errorf("ed: %+v %+v %+v", ed, ed.Local, ed.Remote)
	}
	if got := ResolveCredential("/etc/swanctl", CredentialDirs.X509CA, r.CACerts[0]); got != "/etc/swanctl/x509ca/strongswanCert.pem" {
		t.Errorf("resolved %s", got)
	}
	if got := ResolveCredential("/etc/swanctl", CredentialDirs.X509CA, r.CACerts[1]); got != "/abs/otherCA.der" {
		t.Errorf("resolved %s", got)
	}
}
