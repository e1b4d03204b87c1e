package packet

import "fmt"

// IPv4 option types (RFC 791 3.1; IANA "IP Option Numbers"), with the
// copied flag and class in the type octet.
const (
	IPv4OptEOL    = 0
	IPv4OptNOP    = 1
	IPv4OptLSRR   = 131 // loose source and record route
	IPv4OptSSRR   = 137 // strict source and record route
	IPv4OptRR     = 7   // record route
	IPv4OptTS     = 68  // timestamp
	IPv4OptRA     = 148 // router alert (RFC 2113)
	IPv4OptSec    = 130 // security (RFC 1108)
	IPv4OptExtSec = 133 // extended security (RFC 1108)
	IPv4OptCIPSO  = 134 // commercial security
	IPv4OptSDMDD  = 149 // sender directed multi-destination delivery
)

// Options returns the options area of the header (empty for IHL 5).
func (p IPv4) Options() []byte { return p[IPv4MinHeader:p.HeaderLen()] }

// NextIPv4Option splits the first option off opts (an IPv4 options area):
// its whole encoding (type, length and data) and the remaining options.
// End of Option List takes the rest of the area with it (what follows is
// padding); No Operation is a single octet (RFC 791 3.1). It returns an
// error if a length is below 2 or runs past opts.
func NextIPv4Option(opts []byte) (typ uint8, option, rest []byte, err error) {
	typ = opts[0]
	switch typ {
	case IPv4OptEOL:
		return typ, opts, opts[len(opts):], nil
	case IPv4OptNOP:
		return typ, opts[:1], opts[1:], nil
	}
	if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
		return 0, nil, nil, fmt.Errorf("%w: IPv4 option %d: bad length", ErrMalformed, typ)
	}
	n := int(opts[1])
	return typ, opts[:n], opts[n:], nil
}
