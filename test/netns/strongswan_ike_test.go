//go:build netns

package netns

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/lab/labtest"
)

// ikeSuitePlugins adds strongSwan's plugins for the algorithms its
// OpenSSL plugin does not provide (AES-XCBC in libstrongswan-standard-
// plugins, AES-CMAC in libstrongswan-extra-plugins); a later "load" line
// replaces the one internal/lab writes. A plugin that is not installed
// only produces a note in charon's log.
const ikeSuitePlugins = "load = " + lab.CharonPlugins + " xcbc cmac"

// TestStrongSwanIKEProposals negotiates IKE SAs with strongSwan for
// proposals beyond the AEADs: AES-CBC and AES-CTR with HMAC-SHA2
// integrity (encrypt-then-MAC over the whole message, RFC 7296 3.14),
// AES-CCM (RFC 5282), truncated GCM ICVs, the AES PRFs (RFC 4434, RFC
// 4615) and the larger MODP and ECP groups, each side initiating. Both
// sides must report the same IKE algorithms, traffic must pass, and the
// DELETE (another SK message each way) must remove the SAs on both sides.
// strongSwan lists algorithms it lacks in the log; a proposal it cannot do
// fails the subtest with strongSwan's NO_PROPOSAL_CHOSEN.
func TestStrongSwanIKEProposals(t *testing.T) {
	for _, tc := range []struct {
		ike  string
		want string // strongSwan's --list-sas spelling of the IKE proposal
		// goipsec's list-sas fields
		encr, integ, prf, ke string
	}{
		{"aes256-sha256-modp3072", "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_3072", "AES_CBC", "HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256", "MODP_3072"},
		{"aes128ctr-sha384-ecp521", "AES_CTR-128/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/ECP_521", "AES_CTR", "HMAC_SHA2_384_192", "PRF_HMAC_SHA2_384", "ECP_521"},
		{"aes128ccm16-prfaescmac-ecp384", "AES_CCM_16-128/PRF_AES128_CMAC/ECP_384", "AES_CCM_16", "", "PRF_AES128_CMAC", "ECP_384"},
		{"aes128ccm16-prfsha256-ecp384", "AES_CCM_16-128/PRF_HMAC_SHA2_256/ECP_384", "AES_CCM_16", "", "PRF_HMAC_SHA2_256", "ECP_384"},
		{"aes256ccm12-prfsha512-x25519", "AES_CCM_12-256/PRF_HMAC_SHA2_512/CURVE_25519", "AES_CCM_12", "", "PRF_HMAC_SHA2_512", "CURVE_25519"},
		{"3des-sha256-modp2048", "3DES_CBC/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", "3DES", "HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256", "MODP_2048"},
		{"aes256-sha512-prfsha512-modp4096", "AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_4096", "AES_CBC", "HMAC_SHA2_512_256", "PRF_HMAC_SHA2_512", "MODP_4096"},
		{"aes256gcm12-prfaesxcbc-x25519", "AES_GCM_12-256/PRF_AES128_XCBC/CURVE_25519", "AES_GCM_12", "", "PRF_AES128_XCBC", "CURVE_25519"},
		{"aes192-aesxcbc-ecp256", "AES_CBC-192/AES_XCBC_96/PRF_AES128_XCBC/ECP_256", "AES_CBC", "AES_XCBC_96", "PRF_AES128_XCBC", "ECP_256"},
		{"aes128-aescmac-x25519", "AES_CBC-128/AES_CMAC_96/PRF_AES128_CMAC/CURVE_25519", "AES_CBC", "AES_CMAC_96", "PRF_AES128_CMAC", "CURVE_25519"},
		{"aes256ctr-sha1-modp2048", "AES_CTR-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048", "AES_CTR", "HMAC_SHA1_96", "PRF_HMAC_SHA1", "MODP_2048"},
		{"aes128gcm8-prfsha256-modp6144", "AES_GCM_8-128/PRF_HMAC_SHA2_256/MODP_6144", "AES_GCM_8", "", "PRF_HMAC_SHA2_256", "MODP_6144"},
		{"aes256gcm16-prfsha512-curve448", "AES_GCM_16-256/PRF_HMAC_SHA2_512/CURVE_448", "AES_GCM_16", "", "PRF_HMAC_SHA2_512", "CURVE_448"},
		{"aes256ccm8-prfsha384-modp8192", "AES_CCM_8-256/PRF_HMAC_SHA2_384/MODP_8192", "AES_CCM_8", "", "PRF_HMAC_SHA2_384", "MODP_8192"},
	} {
		for _, initiator := range []string{"goipsec", "strongswan"} {
			t.Run(tc.ike+"/"+initiator+"-initiates", func(t *testing.T) {
				if strings.Contains(tc.ike, "cmac") {
					labtest.RequirePlugin(t, "cmac", "libstrongswan-extra-plugins")
				}
				s := topology(t)
				lc, rc := confs(s, tc.ike, "aes128gcm16")
				charon := startCharonWith(t, s.Right, rc.String(), ikeSuitePlugins)
				left := startDaemon(t, s.Left, "left", lc.String())
				ctx := ctxFor(t, 90*time.Second)
				if initiator == "goipsec" {
					if out, err := left.cli(ctx, "up", "site"); err != nil {
						t.Fatalf("goipsec up: %v\n%s", err, out)
					}
				} else if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
				sas := left.sas(ctx)
				if len(sas) != 1 {
					t.Fatalf("goipsec has %d IKE SAs", len(sas))
				}
				sa, _ := sas[0]["site"].(map[string]any)
				for key, want := range map[string]string{"encr-alg": tc.encr, "integ-alg": tc.integ, "prf-alg": tc.prf, "dh-group": tc.ke} {
					got, _ := sa[key].(string) // integ-alg is absent for AEADs
					if got != want {
						t.Errorf("goipsec IKE SA %s = %q, want %q (%v)", key, got, want, sa)
					}
				}
				out, err := charon.Swanctl(ctx, "--list-sas")
				if err != nil || !contains(out, "ESTABLISHED", "INSTALLED", tc.want) {
					t.Fatalf("strongSwan --list-sas (want %s): %v\n%s", tc.want, err, out)
				}
				checkTraffic(ctx, t, s)
				if out, err := left.cli(ctx, "down", "site"); err != nil {
					t.Fatalf("goipsec down: %v\n%s", err, out)
				}
				waitUntil(t, "strongSwan's SAs deleted", 10*time.Second, func() bool {
					out, err := charon.Swanctl(ctx, "--list-sas")
					return err == nil && !strings.Contains(out, "ESTABLISHED") && !strings.Contains(out, "INSTALLED")
				})
			})
		}
	}
}

// TestStrongSwanIKERekeyNonAEAD: strongSwan rekeys an IKE SA protected by
// a cipher with a separate integrity algorithm (CREATE_CHILD_SA, RFC 7296
// 1.3.2, 2.18): goipsec derives the new SK_ai/SK_ar and SK_ei/SK_er from
// the old SK_d (with an AES PRF in the second case), and the new IKE SA
// carries the DELETE of the old one and later exchanges.
func TestStrongSwanIKERekeyNonAEAD(t *testing.T) {
	for _, ikeP := range []string{"aes256-sha256-modp3072", "aes128ctr-aesxcbc-ecp256"} {
		t.Run(ikeP, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, ikeP, "aes128gcm16")
			rc.extraConn = "rekey_time = 3s\n        over_time = 60s\n        rand_time = 0s"
			charon := startCharonWith(t, s.Right, rc.String(), ikeSuitePlugins)
			left := startDaemon(t, s.Left, "left", lc.String())
			ctx := ctxFor(t, 60*time.Second)
			if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, out)
			}
			uniqueID := func() int {
				sas := left.sas(ctx)
				if len(sas) != 1 {
					return -1 // between the new SA and the old one's DELETE
				}
				sa, _ := sas[0]["site"].(map[string]any)
				s, _ := sa["uniqueid"].(string)
				n, err := strconv.Atoi(s)
				if err != nil {
					return -1
				}
				return n
			}
			first := uniqueID()
			if first < 0 {
				t.Fatalf("goipsec SAs: %v", left.sas(ctx))
			}
			// Each rekey makes a new IKE SA with the next unique ID.
			waitUntil(t, "IKE SA rekeyed twice", 15*time.Second, func() bool { return uniqueID() >= first+2 })
			if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 2); err != nil {
				t.Fatalf("ping after rekeys: %v\n%s", err, out)
			}
			out, _ := charon.Swanctl(ctx, "--list-sas")
			t.Logf("strongSwan after rekeys:\n%s", out)
			if !strings.Contains(out, "ESTABLISHED") {
				t.Fatalf("strongSwan has no IKE SA after rekeying")
			}
			if out, err := left.cli(ctx, "down", "site"); err != nil {
				t.Fatalf("goipsec down: %v\n%s", err, out)
			}
			waitUntil(t, "strongSwan's SAs deleted", 10*time.Second, func() bool {
				out, err := charon.Swanctl(ctx, "--list-sas")
				return err == nil && !strings.Contains(out, "ESTABLISHED")
			})
		})
	}
}

// TestStrongSwanChildPFSGroups: strongSwan rekeys the Child SA with PFS
// (a KE payload in CREATE_CHILD_SA, RFC 7296 1.3.1, 2.17) in the larger
// groups, and goipsec answers with its own value of the same group.
func TestStrongSwanChildPFSGroups(t *testing.T) {
	for esp, group := range map[string]string{"aes128gcm16-ecp521": "ECP_521", "aes128gcm16-curve448": "CURVE_448", "aes256-sha256-modp4096": "MODP_4096"} {
		t.Run(esp, func(t *testing.T) {
			s := topology(t)
			lc, rc := confs(s, "aes256gcm16-prfsha256-x25519", esp)
			rc.extraChild = "rekey_time = 2s\n                life_time = 60s\n                rand_time = 0s"
			charon := startCharonWith(t, s.Right, rc.String(), ikeSuitePlugins)
			left := startDaemon(t, s.Left, "left", lc.String())
			ctx := ctxFor(t, 60*time.Second)
			if out, err := charon.Swanctl(ctx, "--initiate", "--child", "net", "--timeout", "30"); err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, out)
			}
			first := childOf(t, left.sas(ctx))["spi-in"]
			waitUntil(t, "Child SA rekeyed", 15*time.Second, func() bool {
				sas := left.sas(ctx)
				if len(sas) != 1 {
					return false
				}
				sa, _ := sas[0]["site"].(map[string]any)
				children, _ := sa["child-sas"].(map[string]any)
				if len(children) != 1 {
					return false
				}
				for _, c := range children {
					if m, ok := c.(map[string]any); ok && m["spi-in"] != first {
						return true
					}
				}
				return false
			})
			out, _ := charon.Swanctl(ctx, "--list-sas")
			if !strings.Contains(out, "/"+group+"\n") {
				t.Errorf("strongSwan's rekeyed Child SA did not use %s:\n%s", group, out)
			}
			if out, err := lab.Ping(ctx, s.Right, s.RightInner, s.LeftInner, 2); err != nil {
				t.Fatalf("ping after the rekey: %v\n%s", err, out)
			}
		})
	}
}
