// Package config reads strongSwan's swanctl.conf(5) format into a
// validated, typed Config. It has no side effects: it never resolves names,
// opens sockets or touches the system, and knows nothing of the IKE engine.
//
// Only the supported subset is accepted. Every key or section that is not a
// swanctl.conf key is an error ("unknown key"), and so is every strongSwan
// key this build does not implement ("not supported yet"); both name the
// file, line and full dotted key. Nothing is ever silently ignored.
package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/ts"
	"github.com/goipsec/goipsec/internal/wire/ike"
)

// Config is a validated swanctl.conf: connections and secrets in file order.
type Config struct {
	Connections []*Connection
	Secrets     []*Secret
	// Pools are the virtual IP pools (pools section), in file order.
	Pools []*Pool
	// Dir is the directory of the swanctl.conf that Parse or Load read,
	// under which swanctl keeps its credential directories (x509/, ...).
	Dir string
}

// Connection is one connections.<conn> section: an IKE SA configuration.
type Connection struct {
	Name        string
	Pos         Pos
	Version     int      // always 2 (0 in the file means any and is treated as 2; IKEv1 is an error)
	LocalAddrs  []string // IPs, CIDR subnets, IP ranges, %any/%any4/%any6 or DNS names; default ["%any"]
	RemoteAddrs []string // same; default ["%any"]
	LocalPort   int      // default 500
	RemotePort  int      // default 500
	// SendCert is send_cert: "always", "ifasked" (default) or "never".
	SendCert string
	// SendCertReq is send_certreq (default yes).
	SendCertReq bool
	// Proposals from suite.ParseIKEProposal, numbered from 1 in file order;
	// default suite.DefaultIKEProposals().
	Proposals []ike.Proposal
	// Fragmentation is "yes" (default), "accept", "force" or "no" (IKE
	// fragmentation, RFC 7383; swanctl.conf(5) fragmentation).
	Fragmentation string
	// Encap is encap (default no): force ESP in UDP (RFC 3948) even
	// without a NAT; otherwise ESP is raw where no NAT is detected.
	Encap    bool
	Local    AuthRound
	Remote   AuthRound
	Children []*Child
	// Life: rekey_time (default 4h; 0 never), over_time (default 10% of
	// rekey_time), rand_time (default over_time). reauth_time is not
	// supported yet.
	Life IKELifetime
	// DPDDelay is dpd_delay (default 0: no liveness checks of an idle peer).
	DPDDelay time.Duration
	// KeyingTries is keyingtries (default 1; 0 tries forever).
	KeyingTries int
	// Unique is the uniqueness policy: no (default), never, keep or
	// replace (swanctl.conf unique).
	Unique string
	// Childless is the childless IKE SA policy (RFC 6023): allow
	// (default), prefer, force or never (swanctl.conf childless).
	Childless string
	// VIPs is vips: the virtual IPs to request in a CFG_REQUEST (RFC 7296
	// 2.19), 0.0.0.0 for any; empty asks for none.
	VIPs []netip.Addr
	// Pools is pools: the names of the pools to lease virtual IPs from to
	// peers that ask; PoolsPos is where the key was set.
	Pools    []string
	PoolsPos Pos
}

// Child is one connections.<conn>.children.<child> section: a Child SA
// configuration.
type Child struct {
	Name string
	Pos  Pos
	// LocalTS and RemoteTS are as written: "dynamic" or ts syntax
	// (validated); default ["dynamic"]. LocalSelectors and RemoteSelectors
	// hold the same, parsed; "dynamic" entries are dynamic selectors
	// (ts.Selector.IsDynamic) to be resolved with the IKE address.
	LocalTS, RemoteTS               []string
	LocalSelectors, RemoteSelectors []ts.Selector
	// ESPProposals from suite.ParseESPProposal, numbered from 1;
	// default suite.DefaultESPProposals().
	ESPProposals []ike.Proposal
	// StartAction is "none" (default), "start" or "trap" (install a trap
	// policy; the first matching packet initiates).
	StartAction string
	// ReplayWindow is replay_window: the anti-replay window in packets
	// (default DefaultReplayWindow), 0 for none (RFC 4303 3.4.3).
	ReplayWindow int
	// TFCPadding is tfc_padding: pad tunnel-mode payloads up to this many
	// octets (RFC 4303 2.4), TFCPaddingMTU for the MTU, 0 for none.
	TFCPadding int
	// Mode is "tunnel" (default), "transport" (asked for with
	// USE_TRANSPORT_MODE, RFC 7296 1.3.1), or "pass" or "drop" for a shunt
	// policy installed at load (RFC 4301 4.4.1 BYPASS, DISCARD) without IKE.
	Mode string
	// Life: rekey_time (default 1h), life_time (default rekey_time +
	// 10%), rand_time (default life_time - rekey_time), and the same for
	// _bytes and _packets (default 0: no limit).
	Life ChildLifetime
	// DPDAction is dpd_action: "clear" (default), "restart" or "trap".
	DPDAction string
	// CloseAction is close_action: "none" (default), "start" or "trap".
	CloseAction string
	// Updown is updown: a shell command line run when the child's
	// tunnel comes up and goes down, with strongSwan's PLUTO_*
	// environment (daemon/updown.go); empty for none.
	Updown string
}

// Secret is one secrets.<type>[-suffix] section. Only IKE pre-shared keys
// (secrets.ike[-suffix]) are supported yet.
type Secret struct {
	Name string // the section name, e.g. "ike-site"
	Pos  Pos
	Type string // "ike"
	Data []byte // decoded: plain or quoted text, 0x hex, 0s base64
	IDs  []string
}

// Load reads and parses a swanctl.conf file (with its includes).
func Load(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses swanctl.conf data; filename names it in errors and anchors
// relative includes.
func Parse(filename string, data []byte) (*Config, error) {
	root, err := ParseTree(filename, data)
	if err != nil {
		return nil, err
	}
	c, err := FromTree(root)
	if err != nil {
		return nil, err
	}
	c.Dir = filepath.Dir(filename)
	return c, nil
}

// FromTree validates a parsed tree and builds the typed Config. It returns
// the first problem found as an *Error.
func FromTree(root *Section) (*Config, error) {
	return FromTreeWithPools(root, nil)
}

// FromTreeWithPools is FromTree for a tree whose connections may also
// name pools defined elsewhere (a connection loaded over VICI naming a
// pool of the config file): known reports whether such a pool exists.
func FromTreeWithPools(root *Section, known func(name string) bool) (*Config, error) {
	if root == nil {
		return &Config{}, nil
	}
	c := &Config{}
	if err := checkDuplicates(root, ""); err != nil {
		return nil, err
	}
	if len(root.Values) > 0 {
		v := root.Values[0]
		return nil, unknownKey(v.Pos, v.Key)
	}
	for _, s := range root.Sections {
		var err error
		switch s.Name {
		case "connections":
			err = c.addConnections(s)
		case "secrets":
			err = c.addSecrets(s)
		case "pools":
			err = c.addPools(s)
		case "authorities":
			err = unsupported(s.Pos, s.Name, "section")
		default:
			err = unknownSection(s.Pos, s.Name)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := c.checkPoolRefs(known); err != nil {
		return nil, err
	}
	return c, nil
}

// Connection returns the connection with the given name, or nil.
func (c *Config) Connection(name string) *Connection {
	for _, conn := range c.Connections {
		if conn.Name == name {
			return conn
		}
	}
	return nil
}

// SharedKey finds the IKE pre-shared key for a pair of identities the way
// strongSwan ranks shared keys: a secret with ids that match both identities
// wins, then one with an id matching either, then one with no ids at all.
// Within a rank, better matches win (an equal id beats a '*' pattern, which
// beats %any), then the first in file order. An id matches an identity if
// it is equal (IP addresses compared as addresses, names case-insensitively),
// if it is %any, or if it starts with '*' and the identity ends with the
// rest ("*@example.org", "*.example.org").
func (c *Config) SharedKey(localID, remoteID string) ([]byte, bool) {
	var best *Secret
	bestScore := 0
	for _, s := range c.Secrets {
		if s.Type != "ike" {
			continue
		}
		score := 50 // no ids: matches anyone, below any secret whose ids match
		if len(s.IDs) > 0 {
			l, r := s.match(localID), s.match(remoteID)
			score = l + r
			if l > 0 {
				score += 100
			}
			if r > 0 {
				score += 100
			}
			if l == 0 && r == 0 {
				score = 0
			}
		}
		if score > bestScore {
			best, bestScore = s, score
		}
	}
	if best == nil {
		return nil, false
	}
	return best.Data, true
}

// Describe renders a connection for humans, one line for the IKE SA and one
// per child, e.g.
//
//	site: IKEv2 192.0.2.1:500 -> 192.0.2.2:500, local psk "moon", remote psk "sun"
//	  net: 10.1.0.0/24 === 10.2.0.0/24, tunnel, start_action none
func (c *Connection) Describe() string {
	var b strings.Builder
	id := func(s string) string {
		if s == "" {
			return "(default)"
		}
		return fmt.Sprintf("%q", s)
	}
	fmt.Fprintf(&b, "%s: IKEv%d %s:%d -> %s:%d, local %s %s, remote %s %s",
		c.Name, c.Version, strings.Join(c.LocalAddrs, ","), c.LocalPort,
		strings.Join(c.RemoteAddrs, ","), c.RemotePort,
		c.Local.Auth, id(c.Local.ID), c.Remote.Auth, id(c.Remote.ID))
	for _, v := range c.VIPs {
		fmt.Fprintf(&b, ", vip %s", v)
	}
	if len(c.Pools) > 0 {
		fmt.Fprintf(&b, ", pools %s", strings.Join(c.Pools, ","))
	}
	for _, ch := range c.Children {
		fmt.Fprintf(&b, "\n  %s: %s === %s, %s, start_action %s", ch.Name,
			strings.Join(ch.LocalTS, ","), strings.Join(ch.RemoteTS, ","), ch.Mode, ch.StartAction)
	}
	return b.String()
}

// Helpers for errors.

func unknownKey(pos Pos, key string) *Error {
	return &Error{Pos: pos, Key: key, Msg: "unknown key", Err: ErrUnknown}
}

func unknownSection(pos Pos, key string) *Error {
	return &Error{Pos: pos, Key: key, Msg: "unknown section", Err: ErrUnknown}
}

// unsupported reports a strongSwan key or section this build does not
// implement; what is "key" or "section".
func unsupported(pos Pos, key, what string) *Error {
	return &Error{Pos: pos, Key: key, Msg: what + " not supported yet", Err: ErrUnsupported}
}

func invalid(pos Pos, key, format string, args ...any) *Error {
	return &Error{Pos: pos, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// checkDuplicates rejects a key given twice in one section, and a named
// section (a connection, child, auth round or secret) defined twice.
// strongSwan would merge or override; a typo-prone config is better stopped.
// The container sections connections, secrets and children may repeat (each
// included file usually opens its own); their entries are merged in order.
func checkDuplicates(s *Section, path string) error {
	vals := map[string]*Value{}
	for _, v := range s.Values {
		if first, ok := vals[v.Key]; ok {
			return invalid(v.Pos, join2(path, v.Key), "duplicate key (first set at %s)", first.Pos)
		}
		vals[v.Key] = v
	}
	secs := map[string]*Section{}
	for _, c := range s.Sections {
		if first, ok := secs[c.Name]; ok && !isContainer(path, c.Name) {
			return invalid(c.Pos, join2(path, c.Name), "duplicate section (first defined at %s)", first.Pos)
		}
		if _, ok := vals[c.Name]; ok {
			return invalid(c.Pos, join2(path, c.Name), "is both a key and a section")
		}
		secs[c.Name] = c
	}
	return nil
}

// isContainer reports whether a section name at path may repeat.
func isContainer(path, name string) bool {
	switch {
	case path == "":
		return name == "connections" || name == "secrets" || name == "pools"
	case strings.HasPrefix(path, "connections.") && strings.Count(path, ".") == 1:
		return name == "children"
	}
	return false
}

func join2(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
