package ike

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// IKE fragmentation (RFC 7383). Both sides announce
// IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT; once both did, an
// encrypted message that would not fit the path is sent as several
// messages with one SKF payload each, every one encrypted and
// integrity-protected on its own (2.5). Retransmissions resend the same
// fragments (2.6.1); the receiver verifies each fragment's ICV before it
// keeps it and processes the reassembled message as if it had come whole
// (see reassembler).

// FragmentationMode is swanctl.conf's connections.<conn>.fragmentation.
type FragmentationMode int

const (
	// FragmentationYes announces support and fragments oversized
	// messages if the peer supports it too (the default).
	FragmentationYes FragmentationMode = iota
	// FragmentationAccept announces support (we reassemble) but sends
	// every message whole.
	FragmentationAccept
	// FragmentationForce is strongSwan's IKEv1 option to fragment the
	// first message; IKE_SA_INIT is never fragmented in IKEv2 (RFC 7383
	// 2.5), so for IKEv2 it behaves like yes, as in strongSwan.
	FragmentationForce
	// FragmentationNo neither announces nor accepts fragments.
	FragmentationNo
)

func (m FragmentationMode) String() string {
	switch m {
	case FragmentationYes:
		return "yes"
	case FragmentationAccept:
		return "accept"
	case FragmentationForce:
		return "force"
	case FragmentationNo:
		return "no"
	}
	return fmt.Sprintf("FragmentationMode(%d)", int(m))
}

// DefaultFragmentSize is the largest IP datagram a fragment makes, as
// strongSwan's charon.fragment_size default: 1280, the IPv6 minimum MTU
// (RFC 7383 2.5.1 recommends it for IPv6; it also passes nearly every
// IPv4 path, where 576 is the only guarantee).
const DefaultFragmentSize = 1280

// minFragmentSize keeps fragments big enough to carry content after the
// IP, UDP, IKE, SKF, IV and ICV overhead.
const minFragmentSize = 256

// fragState is an IKE SA's fragmentation state.
type fragState struct {
	announced bool           // we sent IKEV2_FRAGMENTATION_SUPPORTED
	supported bool           // both did: fragments may flow in either direction
	send      bool           // our config lets us send fragments (yes, force)
	in        [2]reassembler // [0] requests, [1] responses
	// out keeps the fragments of the last request and the last response
	// we encoded, keyed by the unfragmented message, so that every
	// (re)transmission of that message sends the same fragments.
	out [2]fragmented
}

type fragmented struct {
	msg   *byte // first octet of the unfragmented encoding
	frags [][]byte
}

// reassembledMsg is a message put together from fragments, already
// authenticated and decrypted.
type reassembledMsg struct {
	payloads []wire.Payload
	inner    []byte // the reassembled content, for IntAuth (RFC 9242 3.3.2)
	first    wire.PayloadType
}

// fragNotify returns the IKEV2_FRAGMENTATION_SUPPORTED notify for an
// IKE_SA_INIT message we send, if the connection allows fragmentation.
func (sa *ikeSA) fragNotify(p *PeerConfig) []wire.Payload {
	sa.frag.announced = p != nil && p.Fragmentation != FragmentationNo
	sa.frag.send = p != nil && (p.Fragmentation == FragmentationYes || p.Fragmentation == FragmentationForce)
	if !sa.frag.announced {
		return nil
	}
	return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyIKEv2FragmentationSupported}}
}

// fragRespond records whether the initiator announced fragmentation and
// returns our notify for the IKE_SA_INIT response: we announce only to a
// peer that did (RFC 7383 2.3).
func (sa *ikeSA) fragRespond(p *PeerConfig, req []wire.Payload) []wire.Payload {
	if wire.FindNotify(req, wire.NotifyIKEv2FragmentationSupported) == nil {
		return nil
	}
	n := sa.fragNotify(p)
	sa.frag.supported = sa.frag.announced
	return n
}

// fragNegotiated records the responder's answer (initiator side).
func (sa *ikeSA) fragNegotiated(resp []wire.Payload) {
	sa.frag.supported = sa.frag.announced && wire.FindNotify(resp, wire.NotifyIKEv2FragmentationSupported) != nil
	sa.log.Debug("IKE fragmentation", "supported", sa.frag.supported, "send", sa.frag.supported && sa.frag.send)
}

// maxMessageSize is the largest IKE message (UDP payload, without the
// non-ESP marker) that fits a fragment on the current path.
func (sa *ikeSA) maxMessageSize() int {
	size := sa.e.cfg.FragmentSize
	if size == 0 {
		size = DefaultFragmentSize
	}
	size = max(size, minFragmentSize)
	size -= 8 // UDP header
	if sa.remote.Addr().Unmap().Is4() {
		size -= 20
	} else {
		size -= 40
	}
	if sa.local.Port() == sa.e.cfg.NATTPort {
		size -= 4 // non-ESP marker (RFC 3948 2.2)
	}
	return size
}

// fragmentIfNeeded splits the encrypted message pkt (encoded from h and
// ps) into fragments when both sides support fragmentation and pkt does
// not fit (RFC 7383 2.5); sa.send then sends those instead. IKE_SA_INIT
// is never fragmented.
func (sa *ikeSA) fragmentIfNeeded(h wire.Header, ps []wire.Payload, pkt []byte, t suite.SKTransform) error {
	slot := &sa.frag.out[boolIndex(h.Flags&wire.FlagResponse != 0)]
	*slot = fragmented{}
	limit := sa.maxMessageSize()
	if !sa.frag.supported || !sa.frag.send || h.Exchange == wire.IKESAInit || len(pkt) <= limit {
		return nil
	}
	first, plain, err := wire.MarshalPayloads(ps)
	if err != nil {
		return err
	}
	defer clear(plain)
	// Each fragment: SKF message header, IV, content, padding to the
	// cipher's block size, Pad Length, ICV.
	room := limit - wire.SKFOverhead - t.IVLen() - t.ICVLen()
	chunk := room - room%t.BlockSize() - 1
	if chunk < 1 {
		return fmt.Errorf("ike: fragment size %d leaves no room for content", limit)
	}
	total := (len(plain) + chunk - 1) / chunk
	if total > 0xffff {
		return fmt.Errorf("ike: message of %d octets needs %d fragments", len(plain), total)
	}
	frags := make([][]byte, 0, total)
	for i := 0; i < total; i++ {
		part := plain[i*chunk : min((i+1)*chunk, len(plain))]
		sa.ivCounter++
		f, err := sealSKF(h, first, uint16(i+1), uint16(total), part, t, sa.ivCounter, sa.e.cfg.Rand)
		if err != nil {
			return err
		}
		frags = append(frags, f)
	}
	*slot = fragmented{msg: &pkt[0], frags: frags}
	sa.log.Debug("sending message in fragments", "exchange", h.Exchange, "msg_id", h.MessageID,
		"octets", len(pkt), "fragments", total)
	return nil
}

// fragmentsOf returns the fragments pkt is sent as, or nil to send it whole.
func (sa *ikeSA) fragmentsOf(pkt []byte) [][]byte {
	if len(pkt) == 0 {
		return nil
	}
	for _, o := range sa.frag.out {
		if o.msg == &pkt[0] {
			return o.frags
		}
	}
	return nil
}

// sealSKF builds one fragment message (RFC 7383 2.5): header | SKF header
// | Fragment Number | Total Fragments | IV | E(content | padding | padlen)
// | ICV, with everything before the IV authenticated. Every fragment is
// its own encrypted message with its own IV.
func sealSKF(h wire.Header, first wire.PayloadType, num, total uint16, content []byte, t suite.SKTransform, ivCounter uint64, rnd io.Reader) ([]byte, error) {
	return sealEncrypted(func(bodyLen int) []byte { return wire.SKFPrefix(h, first, num, total, bodyLen) }, content, t, ivCounter, rnd)
}

// openSKF verifies and decrypts one fragment and returns its content.
func openSKF(f *wire.EncryptedFragment, t suite.SKTransform) ([]byte, error) {
	return openEncrypted(f.Body, f.AAD, t, "SKF")
}

// reassemble looks at every packet the SA goroutine takes from its queue.
// A message without SKF passes unchanged. A fragment passes only when it
// completes a message, which then carries the reassembled payloads; it is
// held or dropped (and counted) otherwise (RFC 7383 2.6).
func (sa *ikeSA) reassemble(ev packetEvent) (packetEvent, bool) {
	f := ev.msg.Fragment
	if f == nil {
		return ev, true
	}
	h := ev.msg.Header
	st := &sa.e.Stats
	if !sa.frag.announced || sa.keys == nil || h.Exchange == wire.IKESAInit || len(ev.msg.Payloads) != 0 {
		st.FragmentsDropped.Add(1)
		return ev, false
	}
	resp := h.IsResponse()
	switch {
	case !resp && sa.lastResp != nil && h.MessageID+1 == sa.expectReqID:
		// A retransmitted request we answered: only its first fragment
		// makes us send the response again (RFC 7383 2.6.1).
		return ev, f.FragmentNumber == 1
	case !resp && h.MessageID != sa.expectReqID, resp && h.MessageID != sa.nextReqID:
		st.UnexpectedID.Add(1)
		return ev, false
	}
	aead := sa.keys.encI // the peer's direction
	if sa.initiator {
		aead = sa.keys.encR
	}
	content, err := openSKF(f, aead)
	if err != nil {
		if errors.Is(err, errIntegrity) {
			st.IntegrityFailed.Add(1)
		} else {
			st.Malformed.Add(1)
		}
		return ev, false
	}
	r := &sa.frag.in[boolIndex(resp)]
	r.budget = &sa.e.fragBudget
	first, msg, err := r.add(sa.e.clock.Now(), h.MessageID, f.FragmentNumber, f.TotalFragments, f.NextPayload, content)
	if err != nil {
		st.FragmentsDropped.Add(1)
		sa.log.Debug("dropped fragment", "msg_id", h.MessageID, "fragment", f.FragmentNumber, "total", f.TotalFragments, "err", err)
		return ev, false
	}
	if msg == nil {
		return ev, false // more to come
	}
	ps, err := wire.ParsePayloads(first, msg)
	if err != nil {
		st.Malformed.Add(1)
		sa.log.Debug("dropped reassembled message", "msg_id", h.MessageID, "err", err)
		return ev, false
	}
	st.FragmentedMessages.Add(1)
	sa.log.Debug("reassembled fragmented message", "exchange", h.Exchange, "msg_id", h.MessageID,
		"fragments", f.TotalFragments, "octets", len(msg))
	ev.msg = &wire.Message{Header: h}
	ev.frag = &reassembledMsg{payloads: ps, inner: slices.Clone(msg), first: first}
	return ev, true
}

// releaseFragments gives back what the SA's reassemblers hold.
func (sa *ikeSA) releaseFragments() {
	for i := range sa.frag.in {
		if sa.frag.in[i].budget != nil {
			sa.frag.in[i].reset()
		}
	}
	sa.frag.out = [2]fragmented{}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sendAll sends the fragments of one message, in order.
func (sa *ikeSA) sendAll(frags [][]byte) {
	for _, f := range frags {
		if err := sa.e.cfg.Send(sa.local, sa.remote, f); err != nil {
			sa.log.Warn("send failed", "err", err)
			return
		}
	}
}

// FragmentCounters count IKE fragmentation events (RFC 7383).
type FragmentCounters struct {
	FragmentedMessages atomic.Uint64 // messages reassembled from fragments
	FragmentsDropped   atomic.Uint64 // fragments refused: unexpected, duplicate, stale, over a limit
}

func (c *Counters) addFragments(m map[string]uint64) map[string]uint64 {
	m["fragmented_messages"] = c.FragmentedMessages.Load()
	m["fragments_dropped"] = c.FragmentsDropped.Load()
	return m
}

// ParseFragmentationMode reads swanctl.conf's fragmentation value.
func ParseFragmentationMode(s string) (FragmentationMode, error) {
	for m := FragmentationYes; m <= FragmentationNo; m++ {
		if s == m.String() {
			return m, nil
		}
	}
	if s == "" {
		return FragmentationYes, nil
	}
	return 0, fmt.Errorf("invalid fragmentation %q (want yes, accept, force or no)", s)
}

// inherited is the fragmentation state of an IKE SA that replaces this
// one by rekeying: what IKE_SA_INIT negotiated carries over (strongSwan
// does the same), nothing held in flight does.
func (f *fragState) inherited() fragState {
	return fragState{announced: f.announced, supported: f.supported, send: f.send}
}
