package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
	"github.com/goipsec/goipsec/internal/wire/ike"
)

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// The swanctl.conf(5) keys of strongSwan 6.x that this build does not
// implement yet: using one is "not supported yet" rather than "unknown key".
var (
	connUnsupportedKeys = set(`aggressive pull dscp mobike dpd_timeout
		ppk_id ppk_required
		if_id_in if_id_out mediation
		mediated_by mediation_peer close_action ocsp`)
	authUnsupportedKeys = set(`round ca_id eap_id aaa_id xauth_id revocation
		groups cert_policy`)
	childUnsupportedKeys = set(`ah_proposals sha256_96 updown
		hostaccess policies policies_fwd_out ipcomp inactivity reqid priority
		interface mark_in mark_in_sa mark_out set_mark_in set_mark_out if_id_in if_id_out
		label label_mode hw_offload copy_df copy_ecn copy_dscp
		per_cpu_sas`)
)

func (c *Config) addConnections(s *Section) error {
	if len(s.Values) > 0 {
		v := s.Values[0]
		return invalid(v.Pos, join2("connections", v.Key), "unknown key: a connection must be a section (name { ... })")
	}
	for _, cs := range s.Sections {
		if first := c.Connection(cs.Name); first != nil {
			return invalid(cs.Pos, join2("connections", cs.Name), "duplicate connection (first defined at %s)", first.Pos)
		}
		conn, err := parseConnection(cs, join2("connections", cs.Name))
		if err != nil {
			return err
		}
		c.Connections = append(c.Connections, conn)
	}
	return nil
}

func parseConnection(s *Section, path string) (*Connection, error) {
	if err := checkDuplicates(s, path); err != nil {
		return nil, err
	}
	conn := &Connection{
		Name:          s.Name,
		Pos:           s.Pos,
		Version:       2,
		SendCert:      "ifasked",
		SendCertReq:   true,
		Unique:        "no",
		Childless:     "allow",
		LocalAddrs:    []string{"%any"},
		RemoteAddrs:   []string{"%any"},
		LocalPort:     500,
		RemotePort:    500,
		Proposals:     suite.DefaultIKEProposals(),
		Fragmentation: "yes",
		KeyingTries:   1,
	}
	var seen lifetimeKeys
	for _, v := range s.Values {
		key := join2(path, v.Key)
		if ok, err := connLifetimeKey(conn, v, key, &seen); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		var err error
		switch v.Key {
		case "version":
			err = parseVersion(v, key, &conn.Version)
		case "local_addrs":
			conn.LocalAddrs, err = parseAddrs(v, key)
		case "remote_addrs":
			conn.RemoteAddrs, err = parseAddrs(v, key)
		case "local_port":
			conn.LocalPort, err = parsePort(v, key)
		case "remote_port":
			conn.RemotePort, err = parsePort(v, key)
		case "proposals":
			conn.Proposals, err = parseProposals(v, key, suite.ParseIKEProposal)
		case "send_cert":
			conn.SendCert, err = parseSendCert(v, key)
		case "send_certreq":
			conn.SendCertReq, err = parseYesNo(v, key)
		case "fragmentation":
			conn.Fragmentation, err = parseFragmentation(v, key)
		case "encap":
			err = parseEncap(v, key)
		case "unique":
			conn.Unique, err = parseUnique(v, key)
		case "childless":
			conn.Childless, err = parseChildless(v, key)
		case "vips":
			conn.VIPs, err = parseVIPs(v, key)
		case "pools":
			err = parsePoolRefs(v, key, conn)
		default:
			err = otherKey(v, key, connUnsupportedKeys)
		}
		if err != nil {
			return nil, err
		}
	}
	var haveLocal, haveRemote *Section
	for _, sub := range s.Sections {
		key := join2(path, sub.Name)
		var err error
		switch {
		case sub.Name == "children":
			err = parseChildren(conn, sub, key)
		case strings.HasPrefix(sub.Name, "local"):
			if haveLocal != nil {
				return nil, unsupported(sub.Pos, key, fmt.Sprintf("a second local authentication round (RFC 4739, after %s at %s) is", haveLocal.Name, haveLocal.Pos))
			}
			haveLocal = sub
			conn.Local, err = parseAuthRound(sub, key, true)
		case strings.HasPrefix(sub.Name, "remote"):
			if haveRemote != nil {
				return nil, unsupported(sub.Pos, key, fmt.Sprintf("a second remote authentication round (RFC 4739, after %s at %s) is", haveRemote.Name, haveRemote.Pos))
			}
			haveRemote = sub
			conn.Remote, err = parseAuthRound(sub, key, false)
		default:
			err = unknownSection(sub.Pos, key)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := finishIKELifetime(conn, path, &seen); err != nil {
		return nil, err
	}
	if haveLocal == nil {
		return nil, missingAuth(s.Pos, join2(path, "local.auth"))
	}
	if haveRemote == nil {
		return nil, missingAuth(s.Pos, join2(path, "remote.auth"))
	}
	return conn, nil
}

func missingAuth(pos Pos, key string) *Error {
	return &Error{Pos: pos, Key: key, Msg: "missing: a connection needs a local and a remote section (auth = pubkey or psk)"}
}

// otherKey classifies a key that the caller does not handle.
func otherKey(v *Value, key string, unsupportedKeys map[string]bool) error {
	if unsupportedKeys[v.Key] {
		return unsupported(v.Pos, key, "key")
	}
	return unknownKey(v.Pos, key)
}

func parseVersion(v *Value, key string, out *int) error {
	s, err := single(v, key)
	if err != nil {
		return err
	}
	switch s {
	case "0", "2":
		*out = 2
		return nil
	case "1":
		return &Error{Pos: v.Pos, Key: key, Msg: "IKEv1 not supported yet", Err: ErrUnsupported}
	}
	return invalid(v.Pos, key, "invalid version %q (want 0 or 2)", s)
}

func parsePort(v *Value, key string) (int, error) {
	s, err := single(v, key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, invalid(v.Pos, key, "invalid port %q (want 1..65535)", s)
	}
	return n, nil
}

func parseAddrs(v *Value, key string) ([]string, error) {
	items, err := list(v, key)
	if err != nil {
		return nil, err
	}
	for _, a := range items {
		if err := checkAddr(a); err != nil {
			return nil, invalid(v.Pos, key, "%v", err)
		}
	}
	return items, nil
}

// checkAddr accepts what swanctl.conf takes for local_addrs/remote_addrs:
// an IP address, a CIDR subnet, an IP range, %any/%any4/%any6 or a DNS name.
func checkAddr(a string) error {
	switch a {
	case "%any", "%any4", "%any6":
		return nil
	}
	if strings.ContainsRune(a, '/') {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fmt.Errorf("invalid subnet %q", a)
		}
		return nil
	}
	if lo, hi, ok := strings.Cut(a, "-"); ok {
		l, errL := netip.ParseAddr(strings.TrimSpace(lo))
		h, errH := netip.ParseAddr(strings.TrimSpace(hi))
		if errL == nil && errH == nil {
			if l.BitLen() != h.BitLen() || l.Compare(h) > 0 || l.Zone() != "" || h.Zone() != "" {
				return fmt.Errorf("invalid address range %q", a)
			}
			return nil
		}
	}
	if ip, err := netip.ParseAddr(a); err == nil {
		if ip.Zone() != "" {
			return fmt.Errorf("address %q: zones not supported yet", a)
		}
		return nil
	}
	if !isDNSName(a) {
		return fmt.Errorf("%q is not an IP address, subnet, range, %%any or DNS name", a)
	}
	return nil
}

// isDNSName checks host name syntax (RFC 1123 2.1): dot-separated labels of
// letters, digits and inner hyphens, at most 63 octets each and 253 in all,
// the last label not all digits (so "10.1.0" is not a name).
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

func parseProposals(v *Value, key string, parse func(string) (ike.Proposal, error)) ([]ike.Proposal, error) {
	items, err := list(v, key)
	if err != nil {
		return nil, err
	}
	if len(items) > 255 {
		return nil, invalid(v.Pos, key, "too many proposals (%d, at most 255)", len(items))
	}
	var out []ike.Proposal
	for _, it := range items {
		p, err := parse(it)
		if err != nil {
			return nil, &Error{Pos: v.Pos, Key: key, Msg: err.Error(), Err: err}
		}
		p.Number = uint8(len(out) + 1) // RFC 7296 3.3.1: numbered from 1 in order
		out = append(out, p)
	}
	return out, nil
}

func parseAuthRound(s *Section, path string, local bool) (AuthRound, error) {
	var a AuthRound
	if err := checkDuplicates(s, path); err != nil {
		return a, err
	}
	for _, v := range s.Values {
		key := join2(path, v.Key)
		switch v.Key {
		case "auth":
			m, err := single(v, key)
			if err != nil {
				return a, err
			}
			if err = parseAuth(m, &a); err != nil {
				return a, &Error{Pos: v.Pos, Key: key, Msg: err.Error(), Err: err}
			}
		case "id":
			id, err := single(v, key)
			if err != nil {
				return a, err
			}
			if _, err := ParseIdentity(id); err != nil {
				return a, &Error{Pos: v.Pos, Key: key, Msg: err.Error(), Err: err}
			}
			a.ID = id
		default:
			if ok, err := parseAuthKey(v, key, local, &a); ok {
				if err != nil {
					return a, err
				}
				continue
			}
			if err := otherKey(v, key, authUnsupportedKeys); err != nil {
				return a, err
			}
		}
	}
	if len(s.Sections) > 0 {
		sub := s.Sections[0]
		key := join2(path, sub.Name)
		if strings.HasPrefix(sub.Name, "cert") || strings.HasPrefix(sub.Name, "cacert") {
			return a, unsupported(sub.Pos, key, "section")
		}
		return a, unknownSection(sub.Pos, key)
	}
	return a, checkAuthRound(s, path, &a)
}

func parseChildren(conn *Connection, s *Section, path string) error {
	if len(s.Values) > 0 {
		v := s.Values[0]
		return invalid(v.Pos, join2(path, v.Key), "unknown key: a child must be a section (name { ... })")
	}
	for _, cs := range s.Sections {
		for _, prev := range conn.Children {
			if prev.Name == cs.Name {
				return invalid(cs.Pos, join2(path, cs.Name), "duplicate child (first defined at %s)", prev.Pos)
			}
		}
		ch, err := parseChild(cs, join2(path, cs.Name))
		if err != nil {
			return err
		}
		conn.Children = append(conn.Children, ch)
	}
	return nil
}

func parseChild(s *Section, path string) (*Child, error) {
	if err := checkDuplicates(s, path); err != nil {
		return nil, err
	}
	dyn, _ := ts.Parse("dynamic")
	ch := &Child{
		Name:            s.Name,
		Pos:             s.Pos,
		LocalTS:         []string{"dynamic"},
		RemoteTS:        []string{"dynamic"},
		LocalSelectors:  []ts.Selector{dyn},
		RemoteSelectors: []ts.Selector{dyn},
		ESPProposals:    suite.DefaultESPProposals(),
		StartAction:     "none",
		Mode:            "tunnel",
		ReplayWindow:    DefaultReplayWindow,
	}
	var seen lifetimeKeys
	var modePos, replayPos Pos
	for _, v := range s.Values {
		key := join2(path, v.Key)
		if ok, err := childLifetimeKey(ch, v, key, &seen); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		if ok, err := childESPKey(ch, v, key); ok {
			if err != nil {
				return nil, err
			}
			if v.Key == "replay_window" {
				replayPos = v.Pos
			}
			continue
		}
		var err error
		switch v.Key {
		case "local_ts":
			ch.LocalTS, ch.LocalSelectors, err = parseSelectors(v, key)
		case "remote_ts":
			ch.RemoteTS, ch.RemoteSelectors, err = parseSelectors(v, key)
		case "esp_proposals":
			ch.ESPProposals, err = parseProposals(v, key, suite.ParseESPProposal)
		case "start_action":
			ch.StartAction, err = parseStartAction(v, key)
		case "mode":
			ch.Mode, err = parseMode(v, key)
			modePos = v.Pos
		default:
			err = otherKey(v, key, childUnsupportedKeys)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(s.Sections) > 0 {
		sub := s.Sections[0]
		return nil, unknownSection(sub.Pos, join2(path, sub.Name))
	}
	if err := finishChildLifetime(ch, path, &seen); err != nil {
		return nil, err
	}
	if err := checkReplayESN(ch, replayPos, join2(path, "replay_window")); err != nil {
		return nil, err
	}
	if ch.Mode == "pass" || ch.Mode == "drop" {
		if err := checkShunt(ch, path, modePos); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

func parseSelectors(v *Value, key string) ([]string, []ts.Selector, error) {
	items, err := list(v, key)
	if err != nil {
		return nil, nil, err
	}
	sels := make([]ts.Selector, 0, len(items))
	for _, it := range items {
		sel, err := ts.Parse(it)
		if err != nil {
			return nil, nil, &Error{Pos: v.Pos, Key: key, Msg: strings.TrimPrefix(err.Error(), "ts: "), Err: err}
		}
		sels = append(sels, sel)
	}
	return items, sels, nil
}

// parseFragmentation reads connections.<conn>.fragmentation (RFC 7383).
func parseFragmentation(v *Value, key string) (string, error) {
	s, err := single(v, key)
	if err != nil {
		return "", err
	}
	switch l := strings.ToLower(s); l {
	case "yes", "accept", "force", "no":
		return l, nil
	}
	return "", invalid(v.Pos, key, "invalid fragmentation %q (want yes, accept, force or no)", s)
}

func parseUnique(v *Value, key string) (string, error) {
	s, err := single(v, key)
	if err != nil {
		return "", err
	}
	switch l := strings.ToLower(s); l {
	case "no", "never", "keep", "replace":
		return l, nil
	}
	return "", invalid(v.Pos, key, "invalid unique %q (want no, never, keep or replace)", s)
}

func parseChildless(v *Value, key string) (string, error) {
	s, err := single(v, key)
	if err != nil {
		return "", err
	}
	switch l := strings.ToLower(s); l {
	case "allow", "prefer", "force", "never":
		return l, nil
	}
	return "", invalid(v.Pos, key, "invalid childless %q (want allow, prefer, force or never)", s)
}

func parseStartAction(v *Value, key string) (string, error) {
	s, err := single(v, key)
	if err != nil {
		return "", err
	}
	switch l := strings.ToLower(s); {
	case l == "none" || l == "clear":
		return "none", nil
	case l == "start" || l == "restart":
		return "start", nil
	case l == "trap" || l == "route":
		// swanctl.conf(5): install a trap policy; the first matching
		// packet makes the daemon initiate (RFC 4301 5.1 step 3c).
		return "trap", nil
	case strings.Contains(l, "trap") || strings.Contains(l, "route"):
		return "", &Error{Pos: v.Pos, Key: key, Msg: fmt.Sprintf("%q not supported yet (none, start or trap)", s), Err: ErrUnsupported}
	}
	return "", invalid(v.Pos, key, "invalid start_action %q (want none, start or trap)", s)
}

// parseMode reads children.<child>.mode (swanctl.conf(5)): tunnel (the
// default); transport, which asks the peer for transport mode (RFC 7296
// 1.3.1) and falls back to tunnel mode if it does not agree; or the shunt
// modes pass and drop.
func parseMode(v *Value, key string) (string, error) {
	s, err := single(v, key)
	if err != nil {
		return "", err
	}
	switch l := strings.ToLower(s); l {
	case "tunnel", "transport", "pass", "drop":
		return l, nil
	case "transport_proxy", "beet":
		return "", &Error{Pos: v.Pos, Key: key, Msg: fmt.Sprintf("mode %q not supported yet (tunnel, transport, pass or drop)", s), Err: ErrUnsupported}
	}
	return "", invalid(v.Pos, key, "invalid mode %q (want tunnel, transport, pass or drop)", s)
}

// checkShunt validates a mode = pass|drop child (a shunt policy, RFC 4301
// 4.4.1 BYPASS/DISCARD, installed at load without IKE): its selectors must
// be explicit, since no IKE SA resolves "dynamic"; pass also takes plain
// address selectors only, as it works by routing (see the data plane's
// shunt.go); start_action = start means nothing for it.
func checkShunt(ch *Child, path string, modePos Pos) error {
	key := join2(path, "mode")
	for _, list := range [][]ts.Selector{ch.LocalSelectors, ch.RemoteSelectors} {
		for _, sel := range list {
			if sel.IsDynamic() {
				return &Error{Pos: modePos, Key: key, Msg: fmt.Sprintf("mode = %s needs explicit local_ts and remote_ts (dynamic has no IKE address to resolve to)", ch.Mode)}
			}
			if ch.Mode == "pass" && (sel.Proto != 0 || !sel.IsAnyPort()) {
				return &Error{Pos: modePos, Key: key, Msg: "mode = pass with a protocol or ports in the selectors is not supported yet (pass works by routing, by address only)", Err: ErrUnsupported}
			}
		}
	}
	if ch.StartAction == "start" {
		return &Error{Pos: modePos, Key: key, Msg: fmt.Sprintf("mode = %s takes start_action = none or trap (a shunt policy negotiates nothing)", ch.Mode)}
	}
	return nil
}

// single returns the one non-empty item of a scalar value.
func single(v *Value, key string) (string, error) {
	if len(v.Items) != 1 {
		return "", invalid(v.Pos, key, "takes a single value, not a list of %d", len(v.Items))
	}
	s := strings.TrimSpace(v.Items[0])
	if s == "" {
		return "", invalid(v.Pos, key, "empty value")
	}
	return s, nil
}

// list splits every item at commas, as swanctl does for list keys.
func list(v *Value, key string) ([]string, error) {
	var out []string
	for _, it := range v.Items {
		for _, f := range strings.Split(it, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				return nil, invalid(v.Pos, key, "empty list item in %q", strings.Join(v.Items, ", "))
			}
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, invalid(v.Pos, key, "empty value")
	}
	return out, nil
}
