//go:build netns

package netns

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/pki/pkitest"
)

// TestSwanctlCerts: a goipsec daemon started with no connection and no
// credentials of its own gets both from the real swanctl --load-all
// (load-cert for x509/ and x509ca/, load-key for private/, load-conn),
// then authenticates with its certificate to a second goipsec daemon;
// --list-certs prints the loaded certificates, and loading the
// credentials again leaves the tunnel alone.
func TestSwanctlCerts(t *testing.T) {
	s := topology(t)
	ca := pkitest.NewCA(t, "goipsec swanctl CA", pkitest.P256)
	rightDir := t.TempDir()
	writeCreds(t, rightDir, ca, "right", pkitest.RSA2048)
	startDaemonIn(t, s.Right, "right", rightDir, certConf(s.RightOuter.String(), s.LeftOuter.String(),
		"right.goipsec.test", "left.goipsec.test", s.RightNet.String(), s.LeftNet.String(), "pubkey"))
	left := startDaemon(t, s.Left, "left", noConnections)
	sw := newSwanctl(t, left)
	writeCreds(t, sw.dir, ca, "left", pkitest.P256)
	// The connection names a DER copy of the certificate: swanctl sends
	// the file's contents in load-conn, which must arrive intact.
	pemData, err := os.ReadFile(filepath.Join(sw.dir, "x509", "left.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(pemData)
	pkitest.WriteFile(t, sw.dir, "x509/left.der", b.Bytes)
	file := filepath.Join(sw.dir, "swanctl.conf")
	conf := certConf(s.LeftOuter.String(), s.RightOuter.String(),
		"left.goipsec.test", "right.goipsec.test", s.LeftNet.String(), s.RightNet.String(), "pubkey")
	if err := os.WriteFile(file, []byte(strings.Replace(conf, "certs = left.pem", "certs = left.der", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, 90*time.Second)
	sw.must(ctx, []string{"loaded certificate", "left.pem", "ca.pem", "loaded ECDSA key from", "left.key",
		"loaded connection 'site'", "successfully loaded 1 connections, 0 unloaded"}, "--load-all", "--file", file)
	// An authority (swanctl.conf authorities section) is trusted as well.
	other := pkitest.NewCA(t, "goipsec other CA", pkitest.RSA2048)
	otherFile := pkitest.WriteFile(t, t.TempDir(), "other.pem", pkitest.CertPEM(other.Cert))
	withAuthority := filepath.Join(sw.dir, "authorities.conf")
	if err := os.WriteFile(withAuthority, []byte("authorities {\n  other {\n    cacert = "+otherFile+"\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sw.must(ctx, []string{"loaded authority 'other'", "successfully loaded 1 authorities, 0 unloaded"}, "--load-authorities", "--file", withAuthority)
	sw.must(ctx, []string{"other:", "cacert: C=CH, O=goipsec test, CN=goipsec other CA"}, "--list-authorities")
	sw.must(ctx, []string{"site: IKEv2", "local public key authentication:", "id: left.goipsec.test",
		"remote public key authentication:", "id: right.goipsec.test"}, "--list-conns")
	certs := sw.must(ctx, []string{"List of X.509 End Entity Certificates", `subject:  "C=CH, O=goipsec test, CN=left"`,
		"ECDSA 256 bits, has private key", "List of X.509 CA Certificates",
		`subject:  "C=CH, O=goipsec test, CN=goipsec swanctl CA"`, "flags:     CA"}, "--list-certs")
	// The key id load-key returned is the one strongSwan computes for the
	// certificate's key (its "subjkey", KEYID_PUBKEY_SHA1).
	m := regexp.MustCompile(`msg="private key loaded over VICI" id=([0-9a-f]{40})`).FindStringSubmatch(readLog(t, left.log))
	sk := regexp.MustCompile(`subjkey:\s+([0-9a-f:]{59})`).FindStringSubmatch(certs)
	if m == nil || sk == nil || m[1] != strings.ReplaceAll(sk[1], ":", "") {
		t.Errorf("load-key id %v, swanctl's subjkey of the certificate %v", m, sk)
	}

	sw.must(ctx, []string{"IKE SA established", "initiate completed successfully"}, "--initiate", "--child", "net", "--timeout", "30")
	sas := sw.must(ctx, []string{"site: #", "ESTABLISHED, IKEv2", "local  'left.goipsec.test'", "remote 'right.goipsec.test'",
		"net: #", "INSTALLED"}, "--list-sas")
	_ = sas
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
		t.Fatalf("ping left -> right: %v\n%s", err, out)
	}

	// Loading the credentials and connections again changes nothing:
	// the Child SA stays.
	spi := childOf(t, left.sas(ctx))["spi-in"]
	// file has no authorities section: --load-all unloads the authority.
	sw.must(ctx, []string{"loaded certificate", "no authorities found, 1 unloaded",
		"successfully loaded 1 connections, 0 unloaded"}, "--load-all", "--file", file)
	sw.must(ctx, []string{"loaded certificate"}, "--load-creds", "--file", file)
	if c := childOf(t, left.sas(ctx)); c["spi-in"] != spi {
		t.Errorf("re-loading credentials replaced the Child SA: %v -> %v", spi, c["spi-in"])
	}
	// The connection's peer was rebuilt with the reloaded credentials; it
	// is still the same connection: initiating finds the SAs up.
	sw.must(ctx, []string{"initiate completed successfully"}, "--initiate", "--child", "net", "--timeout", "30")
	if n := len(left.sas(ctx)); n != 1 {
		t.Errorf("initiate after reloading credentials: %d IKE SAs, want the one there was", n)
	}
	out, _ := sw.run(ctx, "--list-certs")
	if strings.Count(out, "subject:") != 2 {
		t.Errorf("--list-certs after loading twice: want 2 certificates\n%s", out)
	}
	if out, _ := sw.run(ctx, "--list-authorities"); strings.Contains(out, "other") {
		t.Errorf("--list-authorities after unloading: %q", out)
	}
}
