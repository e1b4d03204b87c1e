package ike

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// Virtual IP addresses for remote access (RFC 7296 2.19 and 3.15): the
// initiator asks for an address in a Configuration payload (CFG_REQUEST)
// in IKE_AUTH, the responder leases one from a pool and answers with
// CFG_REPLY, and the Child SAs' "dynamic" selectors stand for that
// address instead of the outer one (strongSwan's vips and pools).

// VIPInstaller may be implemented by the ChildInstaller: AddVIP puts an
// address the peer assigned us on this host (the TUN) before the Child
// SAs that use it as their source are installed; RemoveVIP takes it off
// when the IKE SA that got it is gone. Calls are counted per address: an
// IKE SA rekey adds the address again before the old SA removes it.
type VIPInstaller interface {
	AddVIP(addr netip.Addr) error
	RemoveVIP(addr netip.Addr)
}

// maxVIPDNS is how many name servers from a CFG_REPLY we keep.
const maxVIPDNS = 8

// ErrNoVIP is returned when the peer assigned none of the virtual IPs
// that the connection asks for (INTERNAL_ADDRESS_FAILURE, or no CP).
var ErrNoVIP = errors.New("peer assigned no virtual IP")

// vipState holds the IKE SA's virtual IPs. Written on the SA goroutine
// under sa.mu (status reads them).
type vipState struct {
	local  []netip.Addr // assigned to us by the peer
	remote []netip.Addr // leased by us to the peer, from remotePool[i]
	pool   []*AddressPool
	dns    []netip.Addr // name servers the peer sent with our address
}

// cpRequest is the CFG_REQUEST of an initiator that wants virtual IPs:
// an INTERNAL_IP4_ADDRESS / INTERNAL_IP6_ADDRESS per requested address
// (empty for "any", 0.0.0.0 or ::), and the matching DNS attribute.
func cpRequest(vips []netip.Addr) *wire.CP {
	if len(vips) == 0 {
		return nil
	}
	cp := &wire.CP{CfgType: wire.CfgRequest}
	var v4, v6 bool
	for _, a := range vips {
		a = a.Unmap()
		var val []byte
		if !a.IsUnspecified() {
			val = a.AsSlice()
		}
		if a.Is4() {
			v4 = true
			cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CfgInternalIP4Address, Value: val})
		} else {
			v6 = true
			if val != nil {
				val = append(val, 128) // prefix length (RFC 7296 3.15.1)
			}
			cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CfgInternalIP6Address, Value: val})
		}
	}
	if v4 {
		cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CfgInternalIP4DNS})
	}
	if v6 {
		cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CfgInternalIP6DNS})
	}
	return cp
}

// cpAddress decodes an INTERNAL_IP4/IP6_ADDRESS or _DNS value: zero Addr
// for an empty value, an error for a malformed one.
func cpAddress(a wire.CPAttribute) (netip.Addr, error) {
	switch a.Type {
	case wire.CfgInternalIP4Address, wire.CfgInternalIP4DNS:
		switch len(a.Value) {
		case 0:
			return netip.Addr{}, nil
		case 4:
			return netip.AddrFrom4([4]byte(a.Value)), nil
		}
	case wire.CfgInternalIP6Address:
		switch len(a.Value) {
		case 0:
			return netip.Addr{}, nil
		case 17:
			return netip.AddrFrom16([16]byte(a.Value[:16])), nil
		}
	case wire.CfgInternalIP6DNS:
		switch len(a.Value) {
		case 0:
			return netip.Addr{}, nil
		case 16:
			return netip.AddrFrom16([16]byte(a.Value)), nil
		}
	default:
		return netip.Addr{}, nil
	}
	return netip.Addr{}, fmt.Errorf("configuration attribute %d: %d octets", a.Type, len(a.Value))
}

func findCP(ps []wire.Payload, cfgType uint8) *wire.CP {
	for _, p := range ps {
		if cp, ok := p.(*wire.CP); ok && cp.CfgType == cfgType {
			return cp
		}
	}
	return nil
}

// acceptVIPs takes the addresses of the responder's CFG_REPLY and puts
// them on this host. A connection that asked for virtual IPs and got none
// fails (RFC 7296 2.19 lets the initiator tear the IKE SA down; its
// Child SAs would have no source address).
func (sa *ikeSA) acceptVIPs(resp []wire.Payload) error {
	want := sa.peer.VIPs
	if len(want) == 0 {
		return nil
	}
	cp := findCP(resp, wire.CfgReply)
	if cp == nil {
		if wire.FindNotify(resp, wire.NotifyInternalAddressFailure) != nil {
			return fmt.Errorf("ike: %w (INTERNAL_ADDRESS_FAILURE)", ErrNoVIP)
		}
		return fmt.Errorf("ike: %w (no configuration payload in IKE_AUTH response)", ErrNoVIP)
	}
	var got, dns []netip.Addr
	for _, a := range cp.Attributes {
		addr, err := cpAddress(a)
		if err != nil {
			return fmt.Errorf("ike: CFG_REPLY: %w", err)
		}
		if !addr.IsValid() || addr.IsUnspecified() || addr.IsMulticast() {
			continue
		}
		switch a.Type {
		case wire.CfgInternalIP4Address, wire.CfgInternalIP6Address:
			if wantsFamily(want, addr) && !containsAddr(got, addr) {
				got = append(got, addr)
			}
		case wire.CfgInternalIP4DNS, wire.CfgInternalIP6DNS:
			// The SA keeps these for its lifetime: a bounded few, not
			// whatever a 64 KiB reply can hold.
			if len(dns) < maxVIPDNS {
				dns = append(dns, addr)
			}
		}
	}
	if len(got) == 0 {
		return fmt.Errorf("ike: %w (CFG_REPLY without an address)", ErrNoVIP)
	}
	if vi, ok := sa.e.cfg.Installer.(VIPInstaller); ok {
		for i, a := range got {
			if err := vi.AddVIP(a); err != nil {
				for _, b := range got[:i] {
					vi.RemoveVIP(b)
				}
				return fmt.Errorf("ike: install virtual IP %v: %w", a, err)
			}
		}
	}
	sa.mu.Lock()
	sa.vip.local, sa.vip.dns = got, dns
	sa.mu.Unlock()
	sa.log.Info("virtual IP assigned", "vips", got, "dns", dns)
	return nil
}

func wantsFamily(want []netip.Addr, a netip.Addr) bool {
	for _, w := range want {
		if w.Unmap().Is4() == a.Is4() {
			return true
		}
	}
	return false
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// assignVIPs answers the initiator's CFG_REQUEST with addresses leased
// from the connection's pools, one per requested family, to the peer's
// identity. It returns the CFG_REPLY, or INTERNAL_ADDRESS_FAILURE when a
// request could not be met (the IKE SA is still created, the Child SA is
// not: RFC 7296 3.15.4), or nothing when the peer asked for nothing or
// the connection has no pools (strongSwan answers no CP then either).
func (sa *ikeSA) assignVIPs(ps []wire.Payload) (reply wire.Payload, failed bool) {
	req := findCP(ps, wire.CfgRequest)
	if req == nil || len(sa.peer.Pools) == 0 {
		return nil, false
	}
	cp := &wire.CP{CfgType: wire.CfgReply}
	var leased []netip.Addr
	var from []*AddressPool
	asked := false
	tried := map[bool]bool{} // by family: IPv4 (true), IPv6
	for _, a := range req.Attributes {
		if a.Type != wire.CfgInternalIP4Address && a.Type != wire.CfgInternalIP6Address {
			continue
		}
		asked = true
		requested, err := cpAddress(a)
		if err != nil {
			sa.log.Info("malformed address in CFG_REQUEST; ignoring the request value", "err", err)
			requested = netip.Addr{}
		}
		v4 := a.Type == wire.CfgInternalIP4Address
		if tried[v4] {
			// One address per family, and one try: a request that
			// repeats the attribute gets no more leases (nor warnings).
			continue
		}
		tried[v4] = true
		for _, pool := range sa.peer.Pools {
			if pool.Is4() != v4 {
				continue
			}
			addr, err := pool.Acquire(sa.remoteID.String(), requested)
			if err != nil {
				sa.log.Warn("cannot assign a virtual IP", "pool", pool.Name(), "err", err)
				continue
			}
			leased, from = append(leased, addr), append(from, pool)
			val := addr.AsSlice()
			if !v4 {
				// INTERNAL_IP6_ADDRESS: the address and a prefix
				// length; the peer's own address is a /128 (3.15.3).
				val = append(val, 128)
			}
			cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: a.Type, Value: val})
			break
		}
	}
	if !asked {
		return nil, false
	}
	if len(leased) == 0 {
		return &wire.Notify{NotifyType: wire.NotifyInternalAddressFailure}, true
	}
	cp.Attributes = append(cp.Attributes, dnsAttributes(from)...)
	sa.mu.Lock()
	sa.vip.remote, sa.vip.pool = leased, from
	sa.mu.Unlock()
	sa.log.Info("virtual IP leased to peer", "vips", leased, "remote_id", sa.remoteID)
	return cp, false
}

// dnsAttributes are the name servers of the pools a lease came from, each
// as INTERNAL_IP4_DNS or INTERNAL_IP6_DNS by its own family (RFC 7296
// 3.15.1), whatever the lease's family: strongSwan sends the attributes
// of every pool the peer got an address from the same way.
func dnsAttributes(pools []*AddressPool) []wire.CPAttribute {
	var out []wire.CPAttribute
	var sent []netip.Addr
	for _, pool := range pools {
		for _, d := range pool.dnsServers() {
			if d = d.Unmap(); containsAddr(sent, d) {
				continue
			}
			sent = append(sent, d)
			t := wire.CfgInternalIP4DNS
			if d.Is6() {
				t = wire.CfgInternalIP6DNS
			}
			out = append(out, wire.CPAttribute{Type: t, Value: d.AsSlice()})
		}
	}
	return out
}

// inheritVIPs gives n, the IKE SA that replaces sa in a rekey, sa's
// virtual IPs, counted once more so that sa's teardown leaves them. It is
// called before n's goroutine starts and before sa hands over its Child
// SAs, and never under the engine lock.
func (sa *ikeSA) inheritVIPs(n *ikeSA) {
	sa.mu.Lock()
	v := vipState{
		local:  append([]netip.Addr(nil), sa.vip.local...),
		remote: append([]netip.Addr(nil), sa.vip.remote...),
		pool:   append([]*AddressPool(nil), sa.vip.pool...),
		dns:    append([]netip.Addr(nil), sa.vip.dns...),
	}
	sa.mu.Unlock()
	if vi, ok := sa.e.cfg.Installer.(VIPInstaller); ok {
		for _, a := range v.local {
			if err := vi.AddVIP(a); err != nil {
				sa.log.Warn("cannot keep virtual IP for the rekeyed IKE SA", "vip", a, "err", err)
			}
		}
	}
	for i, a := range v.remote {
		v.pool[i].Retain(a)
	}
	n.mu.Lock() // n may be registered already: status reads vip under mu
	n.vip = v
	n.mu.Unlock()
}

// releaseVIPs takes our virtual IPs off the host and returns the peer's
// leases to their pools (they stay reserved for its identity).
func (sa *ikeSA) releaseVIPs() {
	sa.mu.Lock()
	v := sa.vip
	sa.vip = vipState{}
	sa.mu.Unlock()
	if vi, ok := sa.e.cfg.Installer.(VIPInstaller); ok {
		for _, a := range v.local {
			vi.RemoveVIP(a)
		}
	}
	for i, a := range v.remote {
		v.pool[i].Release(a)
	}
}

// resolveLocalTS resolves our dynamic selectors (resolveTS): to our
// virtual IPs once the peer assigned them; before, while IKE_AUTH asks
// for them, to the whole address space of each requested family (as
// strongSwan does, even for a specific address: the responder may assign
// another, and narrows TSi to it); else to our outer address.
func (sa *ikeSA) resolveLocalTS(cfg []ts.Selector) []ts.Selector {
	sa.mu.Lock()
	addrs := sa.vip.local
	sa.mu.Unlock()
	if len(addrs) == 0 && len(sa.peer.VIPs) > 0 {
		for _, w := range sa.peer.VIPs {
			if w.Unmap().Is4() {
				addrs = append(addrs, netip.IPv4Unspecified())
			} else {
				addrs = append(addrs, netip.IPv6Unspecified())
			}
		}
	}
	if len(addrs) == 0 {
		addrs = []netip.Addr{sa.local.Addr()}
	}
	return resolveTS(cfg, addrs...)
}

// narrowToVIPs narrows the TSi a responder returned to what our
// selectors cover now that the virtual IPs are known (RFC 7296 2.9: the
// responder's narrowing need not go down to the address it assigned, as
// with a gateway whose remote_ts is 0.0.0.0/0 or ::/0; strongSwan's
// initiator narrows the same way). A dynamic local_ts so becomes
// VIP/32 and VIP/128: traffic from any other source would leave with a
// source the gateway never gave us. Without virtual IPs it changes
// nothing.
func (sa *ikeSA) narrowToVIPs(cfg *ChildConfig, local []ts.Selector) ([]ts.Selector, error) {
	sa.mu.Lock()
	n := len(sa.vip.local)
	sa.mu.Unlock()
	if n == 0 || cfg == nil {
		return local, nil
	}
	out := ts.Narrow(local, sa.resolveLocalTS(cfg.LocalTS))
	if len(out) == 0 {
		return nil, fmt.Errorf("selectors %v cover none of our virtual IPs", local)
	}
	return out, nil
}

// resolveRemoteTS resolves the peer's dynamic selectors: to the virtual
// IPs we leased it, else to its outer address.
func (sa *ikeSA) resolveRemoteTS(cfg []ts.Selector) []ts.Selector {
	sa.mu.Lock()
	addrs := sa.vip.remote
	sa.mu.Unlock()
	if len(addrs) == 0 {
		addrs = []netip.Addr{sa.remote.Addr()}
	}
	return resolveTS(cfg, addrs...)
}

// wholeFamily is c with the address range of every IPv4 (or IPv6) address.
func wholeFamily(c ts.Selector, v4 bool) ts.Selector {
	p := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	if v4 {
		p = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	f := ts.FromPrefix(p)
	c.Start, c.End = f.Start, f.End
	return c
}
