package ike

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// PeerConfig is what the engine needs to know about one configured peer
// (a swanctl.conf connection). The daemon builds it from the config file;
// the engine never reads files.
type PeerConfig struct {
	Name string
	// LocalAddrs and RemoteAddrs restrict which addresses the connection
	// applies to; an empty list means any address. The first remote
	// address is the one the initiator sends to.
	LocalAddrs, RemoteAddrs []netip.Prefix
	// RemoteHost is the concrete address to initiate to (the first
	// single address of remote_addrs); invalid if the peer is
	// responder-only.
	RemoteHost netip.Addr
	LocalPort  uint16 // IKE port we initiate from (500)
	RemotePort uint16 // IKE port we initiate to (500)
	Proposals  []wire.Proposal
	// LocalAuth and RemoteAuth say how each side authenticates (auth.go);
	// the zero values mean pre-shared keys.
	LocalAuth  LocalAuth
	RemoteAuth RemoteAuth
	// LocalID is our identity; the zero Identity means "our IP address".
	// RemoteID is the identity the peer must prove; zero means any.
	LocalID, RemoteID Identity
	Children          []*ChildConfig
	// Fragmentation is swanctl's fragmentation option (RFC 7383).
	Fragmentation FragmentationMode
	// Encap forces UDP encapsulation of ESP (swanctl encap, RFC 3948):
	// our NAT detection source hash is faked so that the peer sees a NAT
	// (RFC 7296 2.23). Without it, ESP is raw unless a NAT is detected.
	Encap bool
	// IKELife are the IKE SA's lifetimes (zero: never rekeyed).
	IKELife IKELifetimes
	// DPDDelay is how long the peer may stay silent before we check that
	// it is alive (swanctl dpd_delay; 0 checks only when sending anyway).
	DPDDelay time.Duration
	// KeyingTries is how many times an initiation the peer did not answer
	// is tried (swanctl keyingtries); 0 and 1 mean once, -1 forever.
	KeyingTries int
	// VIPs are the virtual IPs the initiator asks for (swanctl vips):
	// 0.0.0.0 or :: for any address of that family (RFC 7296 2.19).
	VIPs []netip.Addr
	// Pools are where the responder leases virtual IPs from (swanctl
	// pools), one address per family the initiator asks for.
	Pools []*AddressPool
	// Unique is the uniqueness policy (swanctl unique, unique.go):
	// UniqueNo ("" too), UniqueNever, UniqueKeep or UniqueReplace.
	Unique string
	// Childless is the childless IKE SA policy (swanctl childless, RFC
	// 6023, childless.go): ChildlessAllow ("" too), ChildlessPrefer,
	// ChildlessForce or ChildlessNever.
	Childless string
}

// ChildConfig describes one Child SA of a peer (swanctl.conf children.<name>).
type ChildConfig struct {
	Name string
	// LocalTS and RemoteTS are the traffic selectors; dynamic selectors
	// (ts.Selector.IsDynamic) stand for the IKE SA's own outer address
	// (swanctl's "dynamic").
	LocalTS, RemoteTS []ts.Selector
	ESPProposals      []wire.Proposal
	// StartAction "start" makes the daemon initiate at start-up.
	StartAction string
	// Mode is the mode we ask for (swanctl mode): sadb.ModeTransport
	// sends USE_TRANSPORT_MODE and, as responder, accepts the peer's
	// request for it (RFC 7296 1.3.1; transport.go). The SA falls back to
	// tunnel mode when either side does not agree, as in strongSwan.
	Mode sadb.Mode
	// Life are the Child SA's lifetimes (zero: never rekeyed).
	Life ChildLifetimes
	// DPDAction is what happens when the peer is found dead: ActionClear
	// (the default), ActionRestart or ActionTrap (swanctl dpd_action).
	DPDAction string
	// ReplayWindow is the anti-replay window of our inbound SA in packets
	// (swanctl replay_window): 0 means defaultReplayWindow,
	// esp.ReplayDisabled turns the check off (then ESN cannot be used).
	ReplayWindow int
	// TFCPadding pads our tunnel-mode payloads up to this many octets
	// (swanctl tfc_padding, RFC 4303 2.4); 0 for none. Not sent to a peer
	// that says ESP_TFC_PADDING_NOT_SUPPORTED (RFC 7296 3.10.1).
	TFCPadding int
	// CloseAction is what happens when the peer deletes the Child SA or
	// its IKE SA: ActionNone, ActionRestart (swanctl close_action = start)
	// or ActionTrap.
	CloseAction string
}

// resolveTS replaces each dynamic selector with one selector per address
// in addrs: the outer address (RFC 7296 2.9 leaves the choice to
// configuration; strongSwan uses the IKE address) or the virtual IPs
// (vip.go). An unspecified address (0.0.0.0, ::) stands for its whole
// family.
func resolveTS(cfg []ts.Selector, addrs ...netip.Addr) []ts.Selector {
	out := make([]ts.Selector, 0, len(cfg))
	for _, c := range cfg {
		if !c.IsDynamic() {
			out = append(out, c)
			continue
		}
		for _, a := range addrs {
			if a = a.Unmap(); a.IsUnspecified() {
				out = append(out, wholeFamily(c, a.Is4()))
			} else {
				out = append(out, c.Resolve(a))
			}
		}
	}
	return out
}

// Child finds a child config by name.
func (p *PeerConfig) Child(name string) *ChildConfig {
	for _, c := range p.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func prefixesMatch(list []netip.Prefix, a netip.Addr) bool {
	if len(list) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Identity is an IKEv2 identification (RFC 7296 3.5): a type and its data.
// The zero Identity means "not configured".
type Identity struct {
	Type wire.IDType
	Data []byte
}

// IdentityFromAddr is the ID_IPV4_ADDR or ID_IPV6_ADDR identity of a.
func IdentityFromAddr(a netip.Addr) Identity {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return Identity{Type: wire.IDIPv4Addr, Data: b[:]}
	}
	b := a.As16()
	return Identity{Type: wire.IDIPv6Addr, Data: b[:]}
}

// IsZero reports whether the identity was left unconfigured.
func (id Identity) IsZero() bool { return id.Type == 0 && len(id.Data) == 0 }

// Equal compares type and data.
func (id Identity) Equal(o Identity) bool {
	return id.Type == o.Type && bytes.Equal(id.Data, o.Data)
}

// String renders the identity the way strongSwan prints it.
func (id Identity) String() string {
	switch id.Type {
	case wire.IDIPv4Addr, wire.IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case wire.IDFQDN, wire.IDRFC822Addr:
		return string(id.Data)
	case wire.IDKeyID:
		return "@#" + hex.EncodeToString(id.Data)
	case wire.IDDERASN1DN:
		if s, ok := formatDN(id.Data); ok {
			return s
		}
	case 0:
		if len(id.Data) == 0 {
			return "%any"
		}
	}
	return fmt.Sprintf("%v:%s", id.Type, strings.ToUpper(hex.EncodeToString(id.Data)))
}
