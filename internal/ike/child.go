package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/goipsec/goipsec/internal/esp"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// defaultReplayWindow is the anti-replay window of our inbound SAs
// unless the child configures one (ChildConfig.ReplayWindow).
const defaultReplayWindow = 1024

func (c *ChildConfig) replayWindow() int {
	if c.ReplayWindow == 0 {
		return defaultReplayWindow
	}
	return c.ReplayWindow
}

// childSA is an installed Child SA as the IKE SA sees it.
type childSA struct {
	cfg       *ChildConfig
	installed *sadb.ChildSA
	proposal  wire.Proposal
	inSPI     uint32
	outSPI    uint32
	created   time.Time
	life      childLifetimes
	// rekeyed is set once a replacement is up: the SA only waits for its
	// DELETE (RFC 7296 2.8) and is not rekeyed again.
	rekeyed bool
	drainAt time.Time      // when a replaced, deleted SA is finally removed
	shown   childLifetimes // life as of the last armLife; guarded by the IKE SA's mu
	// owner is the IKE SA the Child SA belongs to now (an IKE SA rekey
	// moves it), for the data plane's volume-limit callback.
	owner atomic.Pointer[ikeSA]
}

// volumeLimit is the installed SA's OnLimit: it asks the owning IKE SA's
// goroutine to look at the lifetimes now. Called by the data plane.
func (c *childSA) volumeLimit() bool {
	if sa := c.owner.Load(); sa != nil && sa.State() != StateDeleted {
		return sa.tryEnqueue(command{kind: cmdVolume})
	}
	return true // nobody left to tell
}

// childOffer is what the initiator proposes for a new Child SA.
type childOffer struct {
	cfg       *ChildConfig
	inSPI     uint32
	proposals []wire.Proposal
	tsi, tsr  []ts.Selector
	// mode is what we ask for: the config's, or on a rekey the old
	// SA's (RFC 7296 1.3.3).
	mode sadb.Mode
}

func (sa *ikeSA) newChildOffer(cfg *ChildConfig) *childOffer {
	o := &childOffer{cfg: cfg, inSPI: sa.e.allocChildSPI(), mode: cfg.Mode}
	var spi [4]byte
	binary.BigEndian.PutUint32(spi[:], o.inSPI)
	// KE transforms have no place in IKE_AUTH (RFC 7296 1.2).
	o.proposals = numbered(withoutKE(cfg.ESPProposals), spi[:])
	o.tsi = sa.resolveLocalTS(cfg.LocalTS)
	o.tsr = sa.resolveRemoteTS(cfg.RemoteTS)
	return o
}

func (o *childOffer) payloads() []wire.Payload {
	return o.withMode([]wire.Payload{
		&wire.SA{Proposals: o.proposals},
		&wire.TS{Selectors: toWireTS(o.tsi)},
		&wire.TS{Responder: true, Selectors: toWireTS(o.tsr)},
	})
}

// withMode appends USE_TRANSPORT_MODE to a request if o asks for
// transport mode (RFC 7296 1.3.1).
func (o *childOffer) withMode(ps []wire.Payload) []wire.Payload {
	if o.mode == sadb.ModeTransport {
		ps = append(ps, transportNotify())
	}
	return ps
}

func (sa *ikeSA) releaseOffer(o *childOffer) {
	if o != nil {
		sa.e.freeChildSPI(o.inSPI)
	}
}

// acceptChild checks the responder's answer to our Child SA offer in
// IKE_AUTH (RFC 7296 2.7, 2.9) and installs the Child SA.
func (sa *ikeSA) acceptChild(o *childOffer, resp []wire.Payload) error {
	return sa.acceptChildSeed(o, resp, childSeed{ni: sa.nonceI, nr: sa.nonceR, weInitiated: true})
}

// acceptChildSeed is acceptChild with the key seed of the exchange.
func (sa *ikeSA) acceptChildSeed(o *childOffer, resp []wire.Payload, seed childSeed) error {
	var saP *wire.SA
	var tsi, tsr *wire.TS
	for _, p := range resp {
		switch p := p.(type) {
		case *wire.SA:
			saP = p
		case *wire.TS:
			if p.Responder {
				tsr = p
			} else {
				tsi = p
			}
		}
	}
	if saP == nil {
		if n := firstErrorNotify(resp); n != nil {
			return &NotifyError{Type: n.NotifyType}
		}
		return errors.New("responder created no Child SA")
	}
	chosen, ok := checkChosen(o.proposals, saP)
	if !ok || len(chosen.SPI) != 4 {
		return errors.New("responder chose an ESP proposal we did not offer")
	}
	if asksTransport(resp) && o.mode == sadb.ModeTransport && tsi != nil && tsr != nil {
		// Through a NAT the responder's selectors name the addresses it
		// sees (transport.go): back to ours before the subset check.
		seed.nat = sa.natTransportSelectors(fromWireTS(tsi.Selectors), fromWireTS(tsr.Selectors), true)
		tsi = &wire.TS{Selectors: toWireTS(seed.nat.tsi)}
		tsr = &wire.TS{Responder: true, Selectors: toWireTS(seed.nat.tsr)}
	}
	local, err := narrowedSubset(tsi, o.tsi)
	if err != nil {
		return fmt.Errorf("TSi: %w", err)
	}
	if local, err = sa.narrowToVIPs(o.cfg, local); err != nil {
		return fmt.Errorf("TSi: %w", err)
	}
	remote, err := narrowedSubset(tsr, o.tsr)
	if err != nil {
		return fmt.Errorf("TSr: %w", err)
	}
	mode, err := sa.initiatorMode(o, resp, local, remote)
	if err != nil {
		return err
	}
	outSPI := binary.BigEndian.Uint32(chosen.SPI)
	seed.noTFC = wire.FindNotify(resp, wire.NotifyESPTFCPaddingNotSupported) != nil
	return sa.install(o.cfg, chosen, o.inSPI, outSPI, local, remote, mode, seed)
}

// narrowedSubset checks that the responder's selectors lie within what we
// proposed (RFC 7296 2.9: the responder may only narrow).
func narrowedSubset(got *wire.TS, proposed []ts.Selector) ([]ts.Selector, error) {
	if got == nil || len(got.Selectors) == 0 {
		return nil, errors.New("missing traffic selectors")
	}
	out := fromWireTS(got.Selectors)
	for _, s := range out {
		inside := false
		for _, p := range proposed {
			if p.Contains(s) {
				inside = true
				break
			}
		}
		if !inside {
			return nil, fmt.Errorf("selector %v was not proposed", s)
		}
	}
	return out, nil
}

// childRequest says where a Child SA request came from: IKE_AUTH (keys
// from the IKE SA's nonces, no KE payload) or CREATE_CHILD_SA (its own
// nonces, optional KE for PFS, RFC 7296 1.3.1), and, for a rekey, which
// child config the new SA must belong to.
type childRequest struct {
	inIKEAuth bool
	only      *ChildConfig
	ni, nr    []byte
}

// respondChild answers a request for a Child SA: it picks the child config
// whose selectors overlap the offered ones, narrows them (RFC 7296 2.9),
// selects an ESP proposal and installs the SA. Failures are reported with
// a notify; the IKE SA stays up (RFC 7296 1.2, 1.3).
func (sa *ikeSA) respondChild(ps []wire.Payload, req childRequest) []wire.Payload {
	var offered *wire.SA
	var tsiP, tsrP *wire.TS
	var kei *wire.KE
	for _, p := range ps {
		switch p := p.(type) {
		case *wire.SA:
			offered = p
		case *wire.KE:
			kei = p
		case *wire.TS:
			if p.Responder {
				tsrP = p
			} else {
				tsiP = p
			}
		}
	}
	if tsiP == nil || tsrP == nil {
		return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
	}
	tsi, tsr := fromWireTS(tsiP.Selectors), fromWireTS(tsrP.Selectors)
	group := uint16(0)
	if kei != nil {
		group = kei.Group
	}
	children := sa.peer.Children
	if req.only != nil {
		children = []*ChildConfig{req.only}
	}
	var nat natTransport
	var choice childChoice
	if asksTransport(ps) {
		// Through a NAT, narrow with the IKE addresses on the NAT's
		// side (transport.go). Unlike strongSwan, which does so for
		// any child, a child that will not do transport mode gets the
		// selectors as they came, for the tunnel it can make.
		nat = sa.natTransportSelectors(tsi, tsr, false)
		choice = chooseChild(children, sa.resolveLocalTS, sa.resolveRemoteTS, nat.tsi, nat.tsr, offered.Proposals, group, req.inIKEAuth, nil)
		if choice.cfg == nil || choice.cfg.Mode != sadb.ModeTransport {
			nat = natTransport{}
		}
	}
	if nat.tsi == nil {
		choice = chooseChild(children, sa.resolveLocalTS, sa.resolveRemoteTS, tsi, tsr, offered.Proposals, group, req.inIKEAuth, nil)
	}
	notify := choice.notify
	if cfg := choice.cfg; cfg != nil {
		chosen, local, remote := choice.chosen, choice.local, choice.remote
		seed := childSeed{ni: req.ni, nr: req.nr, noTFC: wire.FindNotify(ps, wire.NotifyESPTFCPaddingNotSupported) != nil, nat: nat}
		var ker *wire.KE
		if req.inIKEAuth {
			chosen = withoutType(chosen, wire.TransformKE)
		} else if g := chosen.Get(wire.TransformKE); len(g) == 1 && g[0].ID != 0 {
			if want, retry := childKERetry(chosen, group); retry {
				var b [2]byte
				binary.BigEndian.PutUint16(b[:], want)
				return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidKEPayload, Data: b[:]}}
			}
			// Respond: a fresh key pair for Diffie-Hellman, an
			// encapsulation for ML-KEM (RFC 9370 2.2.2).
			public, shared, err := suite.Respond(g[0].ID, kei.Data, sa.e.cfg.Rand)
			if err != nil {
				if !errors.Is(err, suite.ErrInvalidPublicValue) {
					return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}}
				}
				sa.log.Info("invalid KE payload in CREATE_CHILD_SA", "err", err)
				return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}}
			}
			defer clear(shared)
			seed.sharedSecret = shared
			ker = &wire.KE{Group: g[0].ID, Data: public}
		}
		mode := sa.responderMode(cfg, asksTransport(ps), local, remote)
		outSPI := binary.BigEndian.Uint32(chosen.SPI)
		inSPI := sa.e.allocChildSPI()
		if err := sa.install(cfg, chosen, inSPI, outSPI, local, remote, mode, seed); err != nil {
			sa.e.freeChildSPI(inSPI)
			sa.log.Error("cannot install Child SA", "child", cfg.Name, "err", err)
			return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyTemporaryFailure}}
		}
		var spi [4]byte
		binary.BigEndian.PutUint32(spi[:], inSPI)
		chosen.SPI = spi[:]
		resp := []wire.Payload{&wire.SA{Proposals: []wire.Proposal{chosen}}}
		if !req.inIKEAuth {
			resp = append(resp, &wire.Nonce{Data: req.nr})
		}
		if ker != nil {
			resp = append(resp, ker)
		}
		resp = append(resp,
			&wire.TS{Selectors: toWireTS(remote)},
			&wire.TS{Responder: true, Selectors: toWireTS(local)},
		)
		if mode == sadb.ModeTransport {
			resp = append(resp, transportNotify()) // RFC 7296 1.3.1: we agree
		}
		return resp
	}
	sa.log.Info("no acceptable Child SA", "reason", notify, "tsi", tsi, "tsr", tsr,
		"offered", describeAll(offered.Proposals))
	return []wire.Payload{&wire.Notify{NotifyType: notify}}
}

// childChoice is the responder's pick for a Child SA request: the child
// config, the ESP proposal and the narrowed selectors, or (cfg nil) the
// notify that refuses the request.
type childChoice struct {
	cfg           *ChildConfig
	chosen        wire.Proposal
	local, remote []ts.Selector
	notify        wire.NotifyType
}

// chooseChild picks, in configuration order, the first child whose
// selectors narrow the offered ones to something on both sides (RFC 7296
// 2.9) and that has a common ESP proposal (RFC 7296 2.7); TSi is the
// initiator's side, our remote selectors. Without a child it answers
// TS_UNACCEPTABLE, or NO_PROPOSAL_CHOSEN if some child's selectors fit
// but no proposal did. group is the KE payload's group (0 if none). With
// a non-nil trace it records every child it looked at, for `goipsec
// check`; the decision is the same.
func chooseChild(children []*ChildConfig, resolveLocal, resolveRemote func([]ts.Selector) []ts.Selector, tsi, tsr []ts.Selector, offered []wire.Proposal, group uint16, inIKEAuth bool, trace *[]ChildCandidate) childChoice {
	notify := wire.NotifyTSUnacceptable
	for _, cfg := range children {
		var cc *ChildCandidate
		if trace != nil {
			*trace = append(*trace, ChildCandidate{Child: cfg.Name})
			cc = &(*trace)[len(*trace)-1]
		}
		remoteCfg, localCfg := resolveRemote(cfg.RemoteTS), resolveLocal(cfg.LocalTS)
		remote := ts.Narrow(tsi, remoteCfg)
		local := ts.Narrow(tsr, localCfg)
		if cc != nil {
			cc.RemoteConfigured, cc.LocalConfigured, cc.Remote, cc.Local = remoteCfg, localCfg, remote, local
		}
		if len(remote) == 0 || len(local) == 0 {
			if cc != nil {
				cc.Result = wire.NotifyTSUnacceptable
			}
			continue
		}
		var pcs, pcsNoKE *[]ProposalComparison
		if cc != nil {
			pcs, pcsNoKE = &cc.Proposals, &cc.ProposalsWithoutKE
		}
		chosen, ok := selectProposalTrace(cfg.ESPProposals, offered, group, pcs)
		if inIKEAuth && !ok {
			// PFS groups apply to later CREATE_CHILD_SA exchanges only
			// (RFC 7296 1.2): match IKE_AUTH proposals without them.
			chosen, ok = selectProposalTrace(withoutKE(cfg.ESPProposals), withoutKE(offered), 0, pcsNoKE)
		}
		if !ok || len(chosen.SPI) != 4 {
			if cc != nil {
				cc.Result = wire.NotifyNoProposalChosen
			}
			notify = wire.NotifyNoProposalChosen
			continue
		}
		if cc != nil {
			cc.Chosen = chosen
		}
		return childChoice{cfg: cfg, chosen: chosen, local: local, remote: remote}
	}
	return childChoice{notify: notify}
}

// childKERetry reports whether a CREATE_CHILD_SA request whose KE payload
// carries group (0: none) must be answered with INVALID_KE_PAYLOAD naming
// want, because the chosen proposal asks for PFS with another group (RFC
// 7296 1.3, 3.10.1).
func childKERetry(chosen wire.Proposal, group uint16) (want uint16, retry bool) {
	g := chosen.Get(wire.TransformKE)
	if len(g) != 1 || g[0].ID == 0 || g[0].ID == group {
		return 0, false
	}
	return g[0].ID, true
}

func withoutKE(ps []wire.Proposal) []wire.Proposal {
	out := make([]wire.Proposal, len(ps))
	for i, p := range ps {
		out[i] = withoutType(p, wire.TransformKE)
	}
	return out
}

// install derives the Child SA keys (RFC 7296 2.17) and hands the SA to the
// data plane.
func (sa *ikeSA) install(cfg *ChildConfig, chosen wire.Proposal, inSPI, outSPI uint32, localTS, remoteTS []ts.Selector, mode sadb.Mode, seed childSeed) error {
	encrID, keyBits, integID, err := suite.ESPTransformFor(chosen)
	if err != nil {
		return err
	}
	esn := false
	if e := chosen.Get(wire.TransformESN); len(e) == 1 {
		esn = e[0].ID == wire.ESNYes
	}
	if esn && cfg.replayWindow() == esp.ReplayDisabled {
		// ESN needs the window to infer the high-order bits (RFC 4303
		// 2.2.1); config refuses the combination, so this is a peer's
		// choice we never offered.
		return errors.New("ike: extended sequence numbers chosen for a Child SA without replay protection")
	}
	encLen, integLen, err := suite.ESPKeymatLen(encrID, keyBits, integID)
	if err != nil {
		return err
	}
	i2r, r2i, err := sa.keys.childKeymat(encLen+integLen, seed)
	if err != nil {
		return err
	}
	defer clear(i2r)
	defer clear(r2i)
	inKey, outKey := r2i, i2r
	if !seed.weInitiated {
		inKey, outKey = i2r, r2i
	}
	if kl := sa.e.cfg.KeyLog; kl != nil {
		kl.LogChildSA(sa.remote.Addr(), sa.local.Addr(), inSPI, encrID, inKey[:encLen], integID, inKey[encLen:])
		kl.LogChildSA(sa.local.Addr(), sa.remote.Addr(), outSPI, encrID, outKey[:encLen], integID, outKey[encLen:])
	}
	inT, err := suite.NewESPTransform(encrID, keyBits, integID, inKey)
	if err != nil {
		return err
	}
	outT, err := suite.NewESPTransform(encrID, keyBits, integID, outKey)
	if err != nil {
		return err
	}
	for _, w := range suite.ESPProposalWarnings(chosen) {
		sa.log.Warn(w, "child", cfg.Name)
	}
	child := &childSA{cfg: cfg, proposal: chosen, inSPI: inSPI, outSPI: outSPI, created: sa.e.clock.Now()}
	sa.startChildLifetimes(child)
	child.owner.Store(sa)
	c := &sadb.ChildSA{
		Limits: sadb.Limits{
			SoftBytes: child.life.rekeyBytes, HardBytes: child.life.lifeBytes,
			SoftPackets: child.life.rekeyPackets, HardPackets: child.life.lifePackets,
		},
		OnLimit:     child.volumeLimit,
		OnPeerMoved: sa.espFollower(child),
		Name:        sa.peer.Name + "/" + cfg.Name,
		ReqID:       sa.e.nextReqID.Add(1),
		In:          esp.NewInboundTransform(inSPI, inT, cfg.replayWindow(), esn),
		Out:         esp.NewOutboundTransform(outSPI, outT, esn),
		Local:       sa.local,
		Remote:      sa.remote,
		Encap:       sa.natAny(), // RFC 3948 when a NAT is there or faked, else raw ESP
		Mode:        mode,
		LocalTS:     localTS,
		RemoteTS:    remoteTS,
	}
	if mode == sadb.ModeTransport {
		c.NATOrigLocal, c.NATOrigRemote = seed.nat.origLocal, seed.nat.origRemote
	}
	// TFC padding needs the payload's own length (RFC 4303 2.7): tunnel
	// mode only, as a transport payload's length is the ESP payload's.
	if cfg.TFCPadding > 0 && !seed.noTFC && mode == sadb.ModeTunnel {
		c.Out.SetTFCPadding(cfg.TFCPadding)
	}
	if sa.e.cfg.Installer != nil {
		if err := sa.e.cfg.Installer.InstallChild(c); err != nil {
			return err
		}
	}
	child.installed = c
	sa.lastInstalled = child
	sa.mu.Lock()
	sa.children = append(sa.children, child)
	sa.mu.Unlock()
	sa.announceChild(child, true)
	sa.log.Info("Child SA installed", "child", cfg.Name, "spi_in", fmt.Sprintf("%08x", inSPI),
		"spi_out", fmt.Sprintf("%08x", outSPI), "local_ts", localTS, "remote_ts", remoteTS,
		"mode", mode, "proposal", suite.Describe(chosen))
	return nil
}

// uninstall removes a Child SA from the data plane and clears its keys.
func (sa *ikeSA) uninstall(c *childSA) {
	sa.announceChild(c, false)
	if sa.e.cfg.Installer != nil {
		sa.e.cfg.Installer.RemoveChild(c.inSPI)
	}
	c.installed.Zero()
	sa.e.freeChildSPI(c.inSPI)
	sa.log.Info("Child SA deleted", "child", c.cfg.Name, "spi_in", fmt.Sprintf("%08x", c.inSPI),
		"spi_out", fmt.Sprintf("%08x", c.outSPI))
}

func withoutType(p wire.Proposal, t wire.TransformType) wire.Proposal {
	out := p
	out.Transforms = nil
	for _, x := range p.Transforms {
		if x.Type != t {
			out.Transforms = append(out.Transforms, x)
		}
	}
	return out
}

func toWireTS(list []ts.Selector) []wire.TrafficSelector {
	out := make([]wire.TrafficSelector, 0, len(list))
	for _, s := range list {
		t := wire.TrafficSelector{
			TSType: wire.TSIPv4AddrRange, IPProtocol: s.Proto,
			StartPort: s.StartPort, EndPort: s.EndPort,
			StartAddr: s.Start, EndAddr: s.End,
		}
		if s.Start.Is6() {
			t.TSType = wire.TSIPv6AddrRange
		}
		out = append(out, t)
	}
	return out
}

func fromWireTS(list []wire.TrafficSelector) []ts.Selector {
	out := make([]ts.Selector, 0, len(list))
	for _, t := range list {
		out = append(out, ts.Selector{
			Proto: t.IPProtocol, StartPort: t.StartPort, EndPort: t.EndPort,
			Start: t.StartAddr.Unmap(), End: t.EndAddr.Unmap(),
		})
	}
	return out
}
