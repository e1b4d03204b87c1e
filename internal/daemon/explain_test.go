package daemon

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/goipsec/goipsec/internal/config"
)

const explainConf = `connections {
    site {
        local_addrs = 192.0.2.1
        remote_addrs = 192.0.2.2
        proposals = aes256gcm16-prfsha256-x25519, aes128-sha256-modp3072
        local {
            auth = psk
            id = moon
        }
        remote {
            auth = psk
            id = sun
        }
        children {
            net {
                local_ts = 10.2.0.0/24
                remote_ts = 10.1.0.0/24
                esp_proposals = aes256gcm16, aes128gcm16-modp2048
            }
        }
    }
}
`

func explainFor(t *testing.T, offer CheckOffer) (*MatchReport, string) {
	t.Helper()
	c, err := config.Parse("swanctl.conf", []byte(explainConf))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Explain(context.Background(), c, "site", offer)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteExplanation(&b, r)
	return r[0].Match, b.String()
}

// TestExplainReasons checks the verdicts and reasons of `goipsec check`
// for offers that fail and succeed in each way.
func TestExplainReasons(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offer  CheckOffer
		ok     bool
		ike    string
		child  string
		output []string
	}{
		{"ke-group-mismatch", CheckOffer{IKEProposals: []string{"aes128-sha256-modp2048"}}, false, "NO_PROPOSAL_CHOSEN", "",
			[]string{"KE     NO MATCH (no transform in common): ours [MODP_3072], offered [MODP_2048]"}},
		{"invalid-ke", CheckOffer{IKEProposals: []string{"aes128-sha256-modp2048-modp3072"}}, true, "INVALID_KE_PAYLOAD", "",
			[]string{"INVALID_KE_PAYLOAD asking for MODP_3072"}},
		{"unsupported-dropped", CheckOffer{IKEProposals: []string{"aes256gcm16-prfsha256-modp1024-x25519"}}, true, "ok", "",
			[]string{"never chosen: modp1024", "chosen: ENCR_AES_GCM_16 (256 bits), PRF_HMAC_SHA2_256, CURVE_25519"}},
		{"ts-unacceptable", CheckOffer{ESPProposals: []string{"aes256gcm16"}, TS: "10.9.0.0/16=10.2.0.0/24"}, false, "", "TS_UNACCEPTABLE",
			[]string{"TSi 10.9.0.0/16 vs 10.1.0.0/24: no overlap, disjoint address ranges"}},
		{"narrowed", CheckOffer{ESPProposals: []string{"aes256gcm16"}, TS: "10.1.0.0/16=10.2.0.0/24[tcp/443]"}, true, "", "ok",
			[]string{"narrowed: local 10.2.0.0/24[tcp/443], remote 10.1.0.0/24"}},
		{"esp-no-proposal", CheckOffer{ESPProposals: []string{"aes128gcm16-esn"}}, false, "", "NO_PROPOSAL_CHOSEN",
			[]string{"ESN    NO MATCH (no transform in common): ours [NO_EXT_SEQ], offered [EXT_SEQ]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, out := explainFor(t, tc.offer)
			if m.OK != tc.ok {
				t.Errorf("OK = %v, want %v\n%s", m.OK, tc.ok, out)
			}
			if tc.ike != "" && (m.IKE == nil || m.IKE.Result != tc.ike) {
				t.Errorf("IKE result %+v, want %s\n%s", m.IKE, tc.ike, out)
			}
			if tc.child != "" && (len(m.Children) == 0 || m.Children[0].Result != tc.child) {
				t.Errorf("child result %+v, want %s\n%s", m.Children, tc.child, out)
			}
			for _, want := range tc.output {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestExplainSettings: the summary shows the uniqueness and childless
// policies and each child's replay window and TFC padding.
func TestExplainSettings(t *testing.T) {
	conf := strings.Replace(explainConf, "        local {", "        unique = keep\n        childless = force\n        local {", 1)
	conf = strings.Replace(conf, "                esp_proposals = aes256gcm16, aes128gcm16-modp2048",
		"                esp_proposals = aes256gcm16, aes128gcm16-modp2048\n                replay_window = 0\n                tfc_padding = mtu", 1)
	c, err := config.Parse("swanctl.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Explain(context.Background(), c, "site", CheckOffer{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteExplanation(&b, r)
	for _, want := range []string{"unique keep, childless force", "replay_window off (no anti-replay check), tfc_padding 1400 octets"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}
