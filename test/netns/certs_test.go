//go:build netns

package netns

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
	"github.com/goipsec/goipsec/internal/pki"
	"github.com/goipsec/goipsec/internal/pki/pkitest"
)

// certConf is one side's swanctl.conf for certificate authentication
// (strongSwan's ikev2/net2net-cert scenario), for goipsec and strongSwan.
func certConf(local, remote, localID, remoteID, localNet, remoteNet, auth string) string {
	return fmt.Sprintf(`connections {
    site {
        version = 2
        local_addrs = %s
        remote_addrs = %s
        proposals = aes256gcm16-prfsha256-x25519
        local {
            auth = %s
            certs = %s.pem
            id = %s
        }
        remote {
            auth = %s
            id = %s
        }
        children {
            net {
                local_ts = %s
                remote_ts = %s
                esp_proposals = aes256gcm16
                mode = tunnel
            }
        }
    }
}
`, local, remote, auth, strings.SplitN(localID, ".", 2)[0], localID, auth, remoteID, localNet, remoteNet)
}

// writeCreds lays out swanctl's credential directories in dir: the CA in
// x509ca/, the certificate in x509/NAME.pem, the key (PKCS #8) in private/.
func writeCreds(t *testing.T, dir string, ca *pkitest.CA, name string, kt pkitest.KeyType) {
	key := pkitest.NewKey(t, kt)
	cert := ca.Issue(pkitest.Leaf{CN: name, DNS: []string{name + ".goipsec.test"}}, key)
	pkitest.WriteFile(t, dir, "x509ca/ca.pem", pkitest.CertPEM(ca.Cert))
	pkitest.WriteFile(t, dir, "x509/"+name+".pem", pkitest.CertPEM(cert))
	pkitest.WriteFile(t, dir, "private/"+name+".key", pkitest.KeyPKCS8PEM(t, key))
}

// TestStrongSwanCerts: goipsec and strongSwan authenticate each other with
// X.509 certificates from one CA (RSA, RSA-PSS, ECDSA, Ed25519), each side
// initiating; traffic passes, and charon's log names the signature scheme
// it verified goipsec's AUTH with.
func TestStrongSwanCerts(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ca, left, right pkitest.KeyType
		auth            string
		scheme          string // what charon logs for goipsec's AUTH
		ours            string // what goipsec logs for charon's AUTH
		charonConf      string // strongswan.conf additions
		goAuth          string // goipsec's auth, if not auth
	}{
		{"rsa", pkitest.RSA2048, pkitest.RSA2048, pkitest.RSA2048, "pubkey", "RSA_EMSA_PKCS1_SHA2_256", "rsa-sha256", "", ""},
		// charon signs with PSS only with rsa_pss = yes.
		{"rsa-pss", pkitest.RSA2048, pkitest.RSA3072, pkitest.RSA2048, "rsa/pss", "RSA_EMSA_PSS_SHA2_256_SALT_32", "rsa-pss-sha256", "rsa_pss = yes", ""},
		{"ecdsa", pkitest.P384, pkitest.P256, pkitest.P384, "pubkey", "ECDSA_WITH_SHA256_DER", "ecdsa-sha384", "", ""},
		{"ed25519", pkitest.Ed25519, pkitest.Ed25519, pkitest.Ed25519, "pubkey", "ED25519", "ed25519", "", ""},
		// Without RFC 7427 (no SIGNATURE_HASH_ALGORITHMS from charon):
		// ECDSA uses methods 9-11 (RFC 4754), RSA method 1, which goipsec
		// signs only when configured (auth = pubkey-sha1).
		{"ecdsa classic", pkitest.P256, pkitest.P256, pkitest.P521, "pubkey", "ECDSA-256", "ecdsa-sha512", "signature_authentication = no", ""},
		{"rsa classic", pkitest.RSA2048, pkitest.RSA2048, pkitest.RSA2048, "pubkey", "RSA signature", "rsa-sha1", "signature_authentication = no", "pubkey-sha1"},
	} {
		for _, initiator := range []string{"goipsec", "strongswan"} {
			t.Run(tc.name+"/"+initiator+"-initiates", func(t *testing.T) {
				s := topology(t)
				labtest.RequireStrongSwan(t)
				ca := pkitest.NewCA(t, "goipsec Test CA", tc.ca)
				charon := runCharon(t, s.Right, tc.charonConf)
				writeCreds(t, charon.Dir, ca, "right", tc.right)
				if err := charon.LoadConfig(certConf(s.RightOuter.String(), s.LeftOuter.String(), "right.goipsec.test", "left.goipsec.test",
					s.RightNet.String(), s.LeftNet.String(), tc.auth)); err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				writeCreds(t, dir, ca, "left", tc.left)
				goAuth := tc.auth
				if tc.goAuth != "" {
					goAuth = tc.goAuth
				}
				left := startDaemonIn(t, s.Left, "left", dir, certConf(s.LeftOuter.String(), s.RightOuter.String(), "left.goipsec.test", "right.goipsec.test",
					s.LeftNet.String(), s.RightNet.String(), goAuth))
				ctx := ctxFor(t, 90*time.Second)
				if initiator == "goipsec" {
					if out, err := left.cli(ctx, "up", "site"); err != nil {
						t.Fatalf("goipsec up: %v\n%s", err, out)
					}
				} else if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
				childOf(t, left.sas(ctx))
				out, err := charon.Swanctl(ctx, "--list-sas")
				if err != nil || !contains(out, "ESTABLISHED", "INSTALLED", "left.goipsec.test") {
					t.Fatalf("strongSwan --list-sas: %v\n%s", err, out)
				}
				if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
					t.Fatalf("ping left -> right: %v\n%s", err, out)
				}
				if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 2); err != nil {
					t.Fatalf("ping right -> left: %v\n%s", err, out)
				}
				var verified string
				for _, l := range strings.Split(charon.Log(), "\n") {
					if strings.Contains(l, "authentication of 'left.goipsec.test'") {
						verified = l
					}
				}
				if !strings.Contains(verified, tc.scheme) || !strings.Contains(verified, "successful") {
					t.Errorf("charon's verdict on goipsec's AUTH: %q, want %s ... successful", verified, tc.scheme)
				}
				t.Logf("charon: %s", strings.TrimSpace(verified))
				logData, _ := os.ReadFile(left.log)
				ours := ""
				for _, l := range strings.Split(string(logData), "\n") {
					if strings.Contains(l, "peer authenticated with a signature") {
						ours = l
					}
				}
				if !strings.Contains(ours, "scheme="+tc.ours+" ") {
					t.Errorf("goipsec's verdict on charon's AUTH: %q, want scheme=%s", ours, tc.ours)
				}
				t.Logf("goipsec: %s", strings.TrimSpace(ours))
			})
		}
	}
}

// TestStrongSwanCertUntrusted: strongSwan presents a certificate from a CA
// goipsec does not trust; goipsec refuses it (AUTHENTICATION_FAILED) as
// initiator and as responder.
func TestStrongSwanCertUntrusted(t *testing.T) {
	s := topology(t)
	labtest.RequireStrongSwan(t)
	ours := pkitest.NewCA(t, "goipsec Test CA", pkitest.P256)
	theirs := pkitest.NewCA(t, "Other CA", pkitest.P256)
	charon := runCharon(t, s.Right, "")
	writeCreds(t, charon.Dir, theirs, "right", pkitest.P256)
	pkitest.WriteFile(t, charon.Dir, "x509ca/ours.pem", pkitest.CertPEM(ours.Cert)) // strongSwan trusts us
	if err := charon.LoadConfig(certConf(s.RightOuter.String(), s.LeftOuter.String(), "right.goipsec.test", "left.goipsec.test",
		s.RightNet.String(), s.LeftNet.String(), "pubkey")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeCreds(t, dir, ours, "left", pkitest.P256)
	left := startDaemonIn(t, s.Left, "left", dir, certConf(s.LeftOuter.String(), s.RightOuter.String(), "left.goipsec.test", "right.goipsec.test",
		s.LeftNet.String(), s.RightNet.String(), "pubkey"))
	ctx := ctxFor(t, 60*time.Second)
	out, err := left.cli(ctx, "up", "site")
	if err == nil || !strings.Contains(out, "AUTHENTICATION_FAILED") {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	t.Logf("goipsec up: %s", strings.TrimSpace(out))
	if _, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "15"); err == nil {
		t.Fatal("strongSwan's initiation with an untrusted certificate succeeded")
	}
	logData, _ := os.ReadFile(left.log)
	if !strings.Contains(string(logData), "does not chain to a trusted CA") {
		t.Errorf("goipsec's log does not say why:\n%s", logData)
	}
	if n := len(left.sas(ctx)); n != 0 {
		t.Errorf("goipsec kept %d IKE SAs", n)
	}
	_ = net.IPv4len
}

// TestStrongSwanCertChains: each side's certificate is issued by its own
// intermediate CA below a common root, and each side holds only the root
// and its own intermediate, so the peer's intermediate must travel in CERT
// payloads. The identities are left to their defaults (the certificates'
// subject DNs, ID_DER_ASN1_DN) in one case, and are the outer IP
// addresses (ID_IPV4_ADDR, bound by an IP subjectAltName) in the other.
func TestStrongSwanCertChains(t *testing.T) {
	for _, ids := range []string{"dn", "ip"} {
		for _, initiator := range []string{"goipsec", "strongswan"} {
			t.Run(ids+"/"+initiator+"-initiates", func(t *testing.T) {
				s := topology(t)
				labtest.RequireStrongSwan(t)
				root := pkitest.NewCA(t, "goipsec Root CA", pkitest.P384)
				interL := root.Intermediate("Left Intermediate CA", pkitest.RSA2048)
				interR := root.Intermediate("Right Intermediate CA", pkitest.P256)
				issue := func(dir string, ca *pkitest.CA, name string, ip net.IP, kt pkitest.KeyType) {
					key := pkitest.NewKey(t, kt)
					cert := ca.Issue(pkitest.Leaf{CN: name, DNS: []string{name + ".goipsec.test"}, IPs: []net.IP{ip}}, key)
					pkitest.WriteFile(t, dir, "x509ca/root.pem", pkitest.CertPEM(root.Cert))
					pkitest.WriteFile(t, dir, "x509ca/inter.pem", pkitest.CertPEM(ca.Cert))
					pkitest.WriteFile(t, dir, "x509/"+name+".pem", pkitest.CertPEM(cert))
					pkitest.WriteFile(t, dir, "private/"+name+".key", pkitest.KeyPKCS8PEM(t, key))
				}
				conf := func(name, local, remote, lnet, rnet string) string {
					c := certConf(local, remote, name+".ID", "RID", lnet, rnet, "pubkey")
					if ids == "dn" {
						return strings.Replace(strings.Replace(c, "            id = "+name+".ID\n", "", 1), "            id = RID\n", "", 1)
					}
					return strings.Replace(strings.Replace(c, "id = "+name+".ID", "id = "+local, 1), "id = RID", "id = "+remote, 1)
				}
				charon := runCharon(t, s.Right, "")
				issue(charon.Dir, interR, "right", s.RightOuter.AsSlice(), pkitest.P256)
				if err := charon.LoadConfig(conf("right", s.RightOuter.String(), s.LeftOuter.String(), s.RightNet.String(), s.LeftNet.String())); err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				issue(dir, interL, "left", s.LeftOuter.AsSlice(), pkitest.RSA2048)
				left := startDaemonIn(t, s.Left, "left", dir, conf("left", s.LeftOuter.String(), s.RightOuter.String(), s.LeftNet.String(), s.RightNet.String()))
				ctx := ctxFor(t, 90*time.Second)
				if initiator == "goipsec" {
					if out, err := left.cli(ctx, "up", "site"); err != nil {
						t.Fatalf("goipsec up: %v\n%s", err, out)
					}
				} else if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
				childOf(t, left.sas(ctx))
				out, err := charon.Swanctl(ctx, "--list-sas")
				if err != nil || !contains(out, "ESTABLISHED", "INSTALLED") {
					t.Fatalf("strongSwan --list-sas: %v\n%s", err, out)
				}
				want := map[string]string{"dn": "'C=CH, O=goipsec test, CN=left'", "ip": "'" + s.LeftOuter.String() + "'"}[ids]
				if !strings.Contains(out, "remote "+want) {
					t.Errorf("strongSwan's view of goipsec's identity: want %s in\n%s", want, out)
				}
				if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
					t.Fatalf("ping left -> right: %v\n%s", err, out)
				}
				log := charon.Log()
				if !strings.Contains(log, "Left Intermediate CA") {
					t.Errorf("charon never saw goipsec's intermediate CA")
				}
			})
		}
	}
}

// TestStrongSwanCertRevoked: goipsec's x509crl/ holds a CRL of the CA
// revoking strongSwan's certificate; goipsec refuses it.
func TestStrongSwanCertRevoked(t *testing.T) {
	s := topology(t)
	labtest.RequireStrongSwan(t)
	ca := pkitest.NewCA(t, "goipsec Test CA", pkitest.P256)
	charon := runCharon(t, s.Right, "")
	writeCreds(t, charon.Dir, ca, "right", pkitest.P256)
	if err := charon.LoadConfig(certConf(s.RightOuter.String(), s.LeftOuter.String(), "right.goipsec.test", "left.goipsec.test",
		s.RightNet.String(), s.LeftNet.String(), "pubkey")); err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(charon.Dir + "/x509/right.pem")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pki.ParseCertificates(theirs)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeCreds(t, dir, ca, "left", pkitest.P256)
	pkitest.WriteFile(t, dir, "x509crl/ca.crl", pkitest.CRLPEM(ca.CRL(cs[0])))
	left := startDaemonIn(t, s.Left, "left", dir, certConf(s.LeftOuter.String(), s.RightOuter.String(), "left.goipsec.test", "right.goipsec.test",
		s.LeftNet.String(), s.RightNet.String(), "pubkey"))
	ctx := ctxFor(t, 60*time.Second)
	out, err := left.cli(ctx, "up", "site")
	if err == nil || !strings.Contains(out, "AUTHENTICATION_FAILED") || !strings.Contains(out, "revoked") {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	t.Logf("goipsec up: %s", strings.TrimSpace(out))
	if _, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "15"); err == nil {
		t.Fatal("strongSwan's initiation with a revoked certificate succeeded")
	}
}

// TestStrongSwanRawPublicKeys: no certificates, raw public keys
// (swanctl pubkeys) on both sides, bound to the configured ids.
func TestStrongSwanRawPublicKeys(t *testing.T) {
	for _, initiator := range []string{"goipsec", "strongswan"} {
		t.Run(initiator+"-initiates", func(t *testing.T) {
			s := topology(t)
			labtest.RequireStrongSwan(t)
			lk, rk := pkitest.NewKey(t, pkitest.Ed25519), pkitest.NewKey(t, pkitest.P256)
			conf := func(local, remote, lid, rid, lnet, rnet, mine, theirs string) string {
				c := certConf(local, remote, lid, rid, lnet, rnet, "pubkey")
				c = strings.Replace(c, "certs = "+strings.SplitN(lid, ".", 2)[0]+".pem", "pubkeys = "+mine, 1)
				return strings.Replace(c, "            id = "+rid+"\n", "            id = "+rid+"\n            pubkeys = "+theirs+"\n", 1)
			}
			write := func(dir string) {
				pkitest.WriteFile(t, dir, "pubkey/left.pub", pkitest.PubKeyPEM(t, lk.Public()))
				pkitest.WriteFile(t, dir, "pubkey/right.pub", pkitest.PubKeyPEM(t, rk.Public()))
			}
			charon := runCharon(t, s.Right, "")
			write(charon.Dir)
			pkitest.WriteFile(t, charon.Dir, "private/right.key", pkitest.KeyPKCS8PEM(t, rk))
			if err := charon.LoadConfig(conf(s.RightOuter.String(), s.LeftOuter.String(), "right.goipsec.test", "left.goipsec.test",
				s.RightNet.String(), s.LeftNet.String(), "right.pub", "left.pub")); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			write(dir)
			pkitest.WriteFile(t, dir, "private/left.key", pkitest.KeyPKCS8PEM(t, lk))
			left := startDaemonIn(t, s.Left, "left", dir, conf(s.LeftOuter.String(), s.RightOuter.String(), "left.goipsec.test", "right.goipsec.test",
				s.LeftNet.String(), s.RightNet.String(), "left.pub", "right.pub"))
			ctx := ctxFor(t, 60*time.Second)
			if initiator == "goipsec" {
				if out, err := left.cli(ctx, "up", "site"); err != nil {
					t.Fatalf("goipsec up: %v\n%s", err, out)
				}
			} else if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, out)
			}
			childOf(t, left.sas(ctx))
			if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
				t.Fatalf("ping left -> right: %v\n%s", err, out)
			}
		})
	}
}

// TestCertsGoipsecTshark: two goipsec daemons authenticate with ECDSA and
// Ed25519 certificates; tshark, with the key log, decrypts IKE_AUTH and
// dissects what we put on the wire (an independent reading of our CERT,
// CERTREQ, AUTH and SIGNATURE_HASH_ALGORITHMS encodings).
func TestCertsGoipsecTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("!!! SKIPPING: tshark is not installed (scripts/test.sh installs it)")
	}
	s := topology(t)
	ca := pkitest.NewCA(t, "goipsec Test CA", pkitest.P256)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "capture.pcap")
	dump, err := s.Left.Start(filepath.Join(dir, "tcpdump.log"), "tcpdump", "--immediate-mode", "-Z", "root", "-i", lab.OuterIf, "-U", "-w", pcap, "udp")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "tcpdump listening", 5*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "tcpdump.log"))
		return strings.Contains(string(b), "listening on")
	})
	ldir, rdir := t.TempDir(), t.TempDir()
	writeCreds(t, ldir, ca, "left", pkitest.P256)
	writeCreds(t, rdir, ca, "right", pkitest.Ed25519)
	keys := filepath.Join(dir, "keys")
	left := startDaemonIn(t, s.Left, "left", ldir, certConf(s.LeftOuter.String(), s.RightOuter.String(), "left.goipsec.test", "right.goipsec.test",
		s.LeftNet.String(), s.RightNet.String(), "pubkey"), "--keylog", keys)
	startDaemonIn(t, s.Right, "right", rdir, certConf(s.RightOuter.String(), s.LeftOuter.String(), "right.goipsec.test", "left.goipsec.test",
		s.RightNet.String(), s.LeftNet.String(), "pubkey"))
	ctx := ctxFor(t, 60*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	time.Sleep(200 * time.Millisecond)
	dump.Stop()
	cmd := exec.CommandContext(ctx, "tshark", "-r", pcap, "-V", "-Y", "isakmp.exchangetype == 34 || isakmp.exchangetype == 35")
	cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+keys)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	detail := string(out)
	caHash := pki.CAKeyHash(ca.Cert)
	for _, want := range []string{
		"SIGNATURE_HASH_ALGORITHMS", "SHA2-256", "Identity", // RFC 7427 4, RFC 8420
		// CERTREQ with SHA-1(SPKI) of our CA (RFC 7296 3.7)
		"Payload: Certificate Request (38)", fmt.Sprintf("Certificate Authority Data: %x", caHash[:]),
		// CERT with the X.509 certificate of each side (encoding 4)
		"Certificate Encoding: X.509 Certificate - Signature (4)",
		"Certificate Data (id-at-commonName=left,", "Certificate Data (id-at-commonName=right,",
		"left.goipsec.test", "right.goipsec.test",
	} {
		if !strings.Contains(detail, want) {
			t.Errorf("tshark's dissection lacks %q", want)
		}
	}
	// AUTH method 14 (RFC 7427) from both sides, decrypted.
	if n := strings.Count(detail, "Authentication Method: Digital Signature (14)"); n != 2 {
		t.Errorf("%d DIGITAL_SIGNATURE AUTH payloads, want 2", n)
	}
	if t.Failed() || os.Getenv("GOIPSEC_TSHARK_DUMP") != "" {
		t.Logf("tshark:\n%s", detail)
	}
}
