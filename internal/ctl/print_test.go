package ctl

import (
	"strings"
	"testing"
)

// TestPrintSAs: the human-readable status shows addresses with virtual
// IPs, the NAT flags and the Child SA lines, with ESP raw or in UDP as
// list-sas's encap says (swanctl: TUNNEL-in-UDP).
func TestPrintSAs(t *testing.T) {
	sas := []map[string]any{{"site": map[string]any{
		"uniqueid": "3", "state": "ESTABLISHED", "initiator": "yes",
		"initiator-spi": "aa", "responder-spi": "bb",
		"local-id": "left", "local-host": "192.168.1.2", "local-port": "4500", "local-vips": []string{"10.3.0.1"},
		"remote-id": "right", "remote-host": "192.0.2.2", "remote-port": "4500",
		"nat-local": "yes", "nat-remote": "no", "nat-fake": "yes", "nat-any": "yes",
		"child-sas": map[string]any{"net-1": map[string]any{
			"name": "net", "uniqueid": "1", "reqid": "1", "state": "INSTALLED", "mode": "TUNNEL",
			"spi-in": "c1", "spi-out": "c2", "encr-alg": "AES_GCM_16", "encr-keysize": "256",
			"local-ts": []string{"10.3.0.1/32"}, "remote-ts": []string{"10.2.0.0/24"},
		}},
	}}}
	var b strings.Builder
	PrintSAs(&b, sas)
	out := b.String()
	for _, want := range []string{
		"site: #3, ESTABLISHED, IKEv2, aa_i bb_r (initiator)",
		"local  'left' @ 192.168.1.2[4500] [10.3.0.1]",
		"NAT: local, fake\n",
		"net: #1, reqid 1, INSTALLED, TUNNEL",
		"local  10.3.0.1/32",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "TUNNEL, ESP SPIs: c1_i c2_o") {
		t.Errorf("a Child SA without encap should show raw ESP:\n%s", out)
	}
	sas[0]["site"].(map[string]any)["child-sas"].(map[string]any)["net-1"].(map[string]any)["encap"] = "yes"
	b.Reset()
	PrintSAs(&b, sas)
	if !strings.Contains(b.String(), "TUNNEL, ESP in UDP SPIs: c1_i c2_o") {
		t.Errorf("a Child SA with encap = yes should show ESP in UDP:\n%s", b.String())
	}
	delete(sas[0]["site"].(map[string]any), "nat-local")
	delete(sas[0]["site"].(map[string]any), "nat-fake")
	b.Reset()
	PrintSAs(&b, sas)
	if strings.Contains(b.String(), "NAT:") {
		t.Errorf("NAT line without NAT flags:\n%s", b.String())
	}
}
