package suite

import (
	"errors"
	"strings"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// ParsePeerProposal parses a proposal that a peer would send, in
// strongSwan's syntax, for `goipsec check`. Unlike ParseIKEProposal and
// ParseESPProposal it accepts keywords strongSwan knows but this build
// does not implement (modp1024, camellia...): they are left out of the
// proposal and returned in dropped, since a responder never chooses a
// transform it cannot run (RFC 7296 2.7). Keywords nobody knows are
// still an error.
func ParsePeerProposal(proto ike.ProtocolID, s string) (p ike.Proposal, dropped []string, err error) {
	var kept []string
	for _, w := range strings.Split(strings.TrimSpace(s), "-") {
		w = strings.TrimSpace(w)
		if w == "" || w == "default" {
			kept = append(kept, w)
			continue
		}
		if _, err := lookup(proto, w); errors.Is(err, ErrUnsupportedAlgorithm) {
			dropped = append(dropped, w)
			continue
		}
		kept = append(kept, w)
	}
	p, err = parseProposal(proto, strings.Join(kept, "-"))
	return p, dropped, err
}
