//go:build netns

package netns

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

// TestKeyLogTshark captures a tunnel's IKE and ESP packets and has tshark
// decrypt them with the keys goipsec logged (--keylog): an independent
// check of our SK payload protection (RFC 5282 AEADs; CBC and CTR with
// integrity, RFC 7296 3.14, RFC 5930, whose ICV tshark verifies too) and
// ESP (RFC 4106, 3602, 3686), and proof that the key log is what
// Wireshark reads.
func TestKeyLogTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("!!! SKIPPING: tshark is not installed (scripts/test.sh installs it)")
	}
	for _, tc := range []struct{ ike, esp string }{
		{"aes256gcm16-prfsha256-x25519", "aes128gcm16"},
		{"aes256gcm16-prfsha256-x25519", "aes256-sha256"},
		{"aes256gcm16-prfsha256-x25519", "aes128ctr-sha1"},
		{"aes256-sha256-modp3072", "aes128gcm16"},
		{"aes192-sha512-ecp521", "aes128gcm16"},
		{"aes128ctr-sha384-ecp256", "aes128gcm16"},
		{"aes128ccm16-prfsha256-x25519", "aes128gcm16"},
		{"aes256-aesxcbc-x25519", "aes128gcm16"}, // Wireshark decrypts without checking the XCBC ICV
	} {
		t.Run(tc.ike+"/"+tc.esp, func(t *testing.T) { keyLogTshark(t, tc.ike, tc.esp) })
	}
}

func keyLogTshark(t *testing.T, ikeProposal, espProposal string) {
	s := topology(t)
	lc, rc := confs(s, ikeProposal, espProposal)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "capture.pcap")
	dump, err := s.Left.Start(filepath.Join(dir, "tcpdump.log"), "tcpdump", "--immediate-mode", "-Z", "root", "-i", lab.OuterIf, "-U", "-w", pcap, "udp or ip proto 50") // IKE, and ESP raw (encap = no, no NAT)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "tcpdump listening", 5*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "tcpdump.log"))
		return strings.Contains(string(b), "listening on")
	})
	keys := filepath.Join(dir, "keys")
	left := startDaemon(t, s.Left, "left", lc.String(), "--keylog", keys)
	startDaemon(t, s.Right, "right", rc.String())
	ctx := ctxFor(t, 60*time.Second)
	if out, err := left.cli(ctx, "up", "site"); err != nil {
		t.Fatalf("goipsec up: %v\n%s", err, out)
	}
	if out, err := lab.Ping(ctx, s.Left, s.LeftInner, s.RightInner, 2); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	if out, err := left.cli(ctx, "down", "site"); err != nil {
		t.Fatalf("goipsec down: %v\n%s", err, out)
	}
	time.Sleep(200 * time.Millisecond)
	dump.Stop()
	if st, err := os.Stat(pcap); err == nil {
		t.Logf("capture: %d bytes", st.Size())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "tcpdump.log")); err == nil {
		t.Logf("tcpdump: %s", b)
	}

	for _, f := range []string{"ikev2_decryption_table", "esp_sa"} {
		st, err := os.Stat(filepath.Join(keys, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	b, _ := os.ReadFile(left.log)
	if !strings.Contains(string(b), "KEY LOGGING IS ON") {
		t.Error("no loud warning about key logging in the daemon log")
	}

	tshark := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "tshark", append([]string{"-r", pcap, "-o", "esp.enable_encryption_decode:TRUE"}, args...)...)
		cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+keys)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tshark %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	summary := tshark()
	t.Logf("tshark with the key log:\n%s", summary)
	for _, want := range []string{"Echo (ping) request", "Echo (ping) reply", "IKE_AUTH", "INFORMATIONAL"} {
		if !strings.Contains(summary, want) {
			t.Errorf("tshark did not decrypt %q", want)
		}
	}
	detail := tshark("-V", "-Y", "isakmp.exchangetype == 35")
	for _, want := range []string{"ID_FQDN: left.goipsec.test", "ID_FQDN: right.goipsec.test", "Authentication Method: Shared Key Message Integrity Code"} {
		if !strings.Contains(detail, want) {
			t.Errorf("tshark's decrypted IKE_AUTH lacks %q", want)
		}
	}
	if strings.Contains(detail, "[incorrect") {
		t.Errorf("tshark finds an incorrect Integrity Checksum Data:\n%s", detail)
	}
	if strings.Contains(ikeProposal, "sha") && !strings.Contains(detail, "[correct]") {
		t.Errorf("tshark did not verify the IKE ICV:\n%s", detail)
	}
}
