package ctl

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// PrintSAs renders list-sas trees for humans, in the spirit of
// `swanctl --list-sas`.
func PrintSAs(w io.Writer, sas []map[string]any) {
	for _, ev := range sas {
		for _, name := range sortedKeys(ev) {
			sa, _ := ev[name].(map[string]any)
			role := "responder"
			if get(sa, "initiator") == "yes" {
				role = "initiator"
			}
			fmt.Fprintf(w, "%s: #%s, %s, IKEv2, %s_i %s_r (%s)\n", name, get(sa, "uniqueid"), get(sa, "state"),
				get(sa, "initiator-spi"), get(sa, "responder-spi"), role)
			// Virtual IPs in brackets after the address, as swanctl shows them.
			fmt.Fprintf(w, "  local  '%s' @ %s[%s]%s\n", get(sa, "local-id"), get(sa, "local-host"), get(sa, "local-port"), vips(sa, "local-vips"))
			fmt.Fprintf(w, "  remote '%s' @ %s[%s]%s\n", get(sa, "remote-id"), get(sa, "remote-host"), get(sa, "remote-port"), vips(sa, "remote-vips"))
			if n := natFlags(sa); n != "" {
				fmt.Fprintf(w, "  NAT: %s\n", n)
			}
			if alg := get(sa, "encr-alg"); alg != "" {
				fmt.Fprintf(w, "  %s/%s/%s, established %ss ago\n", algKey(alg, get(sa, "encr-keysize")),
					get(sa, "prf-alg"), get(sa, "dh-group"), get(sa, "established"))
			}
			children, _ := sa["child-sas"].(map[string]any)
			for _, ck := range sortedKeys(children) {
				ch, _ := children[ck].(map[string]any)
				// swanctl writes TUNNEL-in-UDP for encap = yes; raw
				// ESP has no "in UDP".
				framing := "ESP"
				if get(ch, "encap") == "yes" {
					framing = "ESP in UDP"
				}
				fmt.Fprintf(w, "  %s: #%s, reqid %s, %s, %s, %s SPIs: %s_i %s_o\n", get(ch, "name"),
					get(ch, "uniqueid"), get(ch, "reqid"), get(ch, "state"), get(ch, "mode"), framing, get(ch, "spi-in"), get(ch, "spi-out"))
				alg := algKey(get(ch, "encr-alg"), get(ch, "encr-keysize"))
				if integ := get(ch, "integ-alg"); integ != "" {
					alg += "/" + integ
				}
				if get(ch, "esn") == "1" {
					alg += "/ESN"
				}
				fmt.Fprintf(w, "    %s, installed %ss ago\n", alg, get(ch, "install-time"))
				fmt.Fprintf(w, "    in  %s bytes, %s packets\n", get(ch, "bytes-in"), get(ch, "packets-in"))
				fmt.Fprintf(w, "    out %s bytes, %s packets\n", get(ch, "bytes-out"), get(ch, "packets-out"))
				fmt.Fprintf(w, "    local  %s\n    remote %s\n", list(ch, "local-ts"), list(ch, "remote-ts"))
			}
		}
	}
}

// natFlags lists what list-sas says of NATs (RFC 7296 2.23): "local"
// (we are behind one), "remote" (the peer is), "fake" (a peer that
// forces encapsulation, as goipsec and strongSwan's libipsec do).
func natFlags(sa map[string]any) string {
	var out []string
	for _, f := range []string{"local", "remote", "fake"} {
		if get(sa, "nat-"+f) == "yes" {
			out = append(out, f)
		}
	}
	return strings.Join(out, ", ")
}

// vips renders a virtual IP list as swanctl does: " [10.3.0.1]", or
// nothing when there is none.
func vips(sa map[string]any, k string) string {
	if l := list(sa, k); l != "" {
		return " [" + l + "]"
	}
	return ""
}

func algKey(alg, size string) string {
	if size == "" {
		return alg
	}
	return alg + "-" + size
}

func get(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func list(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case []string:
		return strings.Join(v, " ")
	case string:
		return v
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
