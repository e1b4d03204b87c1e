package ike

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// SAInfo describes an IKE SA for status output (the fields of VICI's
// list-sas).
type SAInfo struct {
	Name        string
	UniqueID    uint32
	State       State
	Initiator   bool
	SPIi, SPIr  uint64
	Local       netip.AddrPort
	Remote      netip.AddrPort
	LocalID     string
	RemoteID    string
	NATLocal    bool
	NATRemote   bool
	NATFake     bool   // no NAT seen, UDP encapsulation forced (swanctl's nat-fake)
	Proposal    string // e.g. AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519 or AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_3072
	EncrAlg     string
	EncrKeySize int
	IntegAlg    string // empty for AEADs
	PRFAlg      string
	DHGroup     string
	Established time.Duration // time since established (0 while connecting)
	// HandshakeTime is how long IKE_SA_INIT and IKE_AUTH took, from the
	// SA's creation to its establishment (0 while connecting and for SAs
	// created by a rekey).
	HandshakeTime time.Duration
	// RekeyIn, ReauthIn and ExpireIn are the times left until the IKE SA
	// is rekeyed, reauthenticated and until its hard lifetime ends (0:
	// not scheduled).
	RekeyIn, ReauthIn, ExpireIn time.Duration
	// LocalVIPs are the virtual IPs the peer assigned us, RemoteVIPs the
	// ones we leased to it (RFC 7296 2.19; swanctl's local-vips and
	// remote-vips).
	LocalVIPs, RemoteVIPs []netip.Addr
	Children              []ChildInfo
}

// ChildInfo describes an installed Child SA.
type ChildInfo struct {
	Name                 string
	UniqueID, ReqID      uint32
	SPIIn, SPIOut        uint32
	Proposal             string
	EncrAlg              string
	EncrKeySize          int
	IntegAlg             string // empty for AEADs
	ESN                  bool
	Mode                 sadb.Mode // as negotiated (RFC 7296 1.3.1)
	LocalTS, RemoteTS    []ts.Selector
	BytesIn, PacketsIn   uint64
	BytesOut, PacketsOut uint64
	Installed            time.Duration
	// Packets dropped on this SA, by reason (RFC 4303 3.4.3 replay, 3.4.4
	// integrity, RFC 4301 5.2 policy), and the times of the last packet
	// each way (zero if none yet).
	DropsReplay, DropsIntegrity, DropsPolicy uint64
	LastIn, LastOut                          time.Time
	// RekeyIn and ExpireIn: time left until the rekey and the hard
	// lifetime (0: not scheduled).
	RekeyIn, ExpireIn time.Duration
}

// SAs returns every IKE SA, ordered by unique ID.
func (e *Engine) SAs() []SAInfo {
	var out []SAInfo
	for _, sa := range e.snapshot() {
		out = append(out, sa.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UniqueID < out[j].UniqueID })
	return out
}

func (sa *ikeSA) info() SAInfo {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	in := SAInfo{
		UniqueID:  sa.unique,
		State:     sa.state,
		Initiator: sa.initiator,
		SPIi:      sa.spiI,
	}
	if sa.state == StateConnecting {
		// The SA goroutine writes the rest while connecting; only what
		// was fixed before it started may be read.
		if sa.initiator {
			in.Name = sa.peer.Name
		} else {
			in.SPIr = sa.spiR
		}
		return in
	}
	in.SPIr = sa.spiR
	in.NATLocal, in.NATRemote, in.NATFake = sa.natLocal, sa.natRemote, sa.natFake
	if sa.peer != nil {
		in.Name = sa.peer.Name
	}
	in.Local, in.Remote = sa.local, sa.remote
	in.LocalID, in.RemoteID = sa.localID.String(), sa.remoteID.String()
	in.LocalVIPs = append([]netip.Addr(nil), sa.vip.local...)
	in.RemoteVIPs = append([]netip.Addr(nil), sa.vip.remote...)
	in.Proposal = sa.describeSuite()
	in.EncrAlg = strings.TrimPrefix(wire.TransformName(wire.TransformENCR, sa.suite.encrID), "ENCR_")
	in.EncrKeySize = sa.suite.keyBits
	if sa.suite.integID != wire.IntegNone {
		in.IntegAlg = strings.TrimPrefix(wire.TransformName(wire.TransformINTEG, sa.suite.integID), "AUTH_")
	}
	in.PRFAlg = wire.TransformName(wire.TransformPRF, sa.suite.prfID)
	in.DHGroup = wire.TransformName(wire.TransformKE, sa.suite.group)
	now := sa.e.clock.Now()
	if !sa.established.IsZero() {
		in.Established = now.Sub(sa.established).Truncate(time.Second)
		if !sa.fromRekey {
			in.HandshakeTime = sa.established.Sub(sa.created)
		}
	}
	in.RekeyIn, in.ReauthIn, in.ExpireIn = left(now, sa.shown.rekeyAt), left(now, sa.shown.reauthAt), left(now, sa.shown.expireAt)
	for _, c := range sa.children {
		in.Children = append(in.Children, c.info(now))
	}
	return in
}

// info describes an installed Child SA; its fields are fixed at install
// time except the atomic counters, so no lock is needed.
func (c *childSA) info(now time.Time) ChildInfo {
	ci := ChildInfo{
		Name:      c.cfg.Name,
		UniqueID:  c.installed.ReqID,
		ReqID:     c.installed.ReqID,
		SPIIn:     c.inSPI,
		SPIOut:    c.outSPI,
		Proposal:  suite.Describe(c.proposal),
		Mode:      c.installed.Mode,
		LocalTS:   c.installed.LocalTS,
		RemoteTS:  c.installed.RemoteTS,
		BytesIn:   c.installed.Stats.BytesIn.Load(),
		PacketsIn: c.installed.Stats.PacketsIn.Load(),
		BytesOut:  c.installed.Stats.BytesOut.Load(),
		Installed: now.Sub(c.created).Truncate(time.Second),
	}
	ci.PacketsOut = c.installed.Stats.PacketsOut.Load()
	ci.RekeyIn, ci.ExpireIn = left(now, c.shown.rekeyAt), left(now, c.shown.expireAt)
	st := &c.installed.Stats
	ci.DropsReplay, ci.DropsIntegrity, ci.DropsPolicy = st.DropsReplay.Load(), st.DropsAuth.Load(), st.DropsPolicy.Load()
	if ns := st.LastIn.Load(); ns != 0 {
		ci.LastIn = time.Unix(0, ns)
	}
	if ns := st.LastOut.Load(); ns != 0 {
		ci.LastOut = time.Unix(0, ns)
	}
	if integ := c.proposal.Get(wire.TransformINTEG); len(integ) == 1 && integ[0].ID != wire.IntegNone {
		ci.IntegAlg = strings.TrimPrefix(wire.TransformName(wire.TransformINTEG, integ[0].ID), "AUTH_")
	}
	if e := c.proposal.Get(wire.TransformESN); len(e) == 1 {
		ci.ESN = e[0].ID == wire.ESNYes
	}
	if enc := c.proposal.Get(wire.TransformENCR); len(enc) == 1 {
		ci.EncrAlg = strings.TrimPrefix(wire.TransformName(wire.TransformENCR, enc[0].ID), "ENCR_")
		ci.EncrKeySize = int(enc[0].KeyLength)
	}
	return ci
}

// String is a one-line summary, for logs.
func (in SAInfo) String() string {
	return fmt.Sprintf("%s[%d] %v %v...%v %s", in.Name, in.UniqueID, in.State, in.Local, in.Remote, in.Proposal)
}

// left is the time from now until t, at least one second, or 0 if t is unset.
func left(now, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return max(time.Second, t.Sub(now).Truncate(time.Second))
}
