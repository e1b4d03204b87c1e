package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/suite"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// TestEstablishWithAdditionalKE runs IKE_SA_INIT, one IKE_INTERMEDIATE per
// additional key exchange (RFC 9370) and IKE_AUTH with its IntAuth (RFC
// 9242 3.3) between two engines, then checks both sides agree on the
// suite and on the Child SA keys, and that the exchanges really ran.
func TestEstablishWithAdditionalKE(t *testing.T) {
	for _, tc := range []struct {
		ike      string
		exchange int
		want     []string
	}{
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768", 1, []string{"CURVE_25519", "ML_KEM_768"}},
		{"aes256gcm16-prfsha384-ecp384-ke1_mlkem1024-ke2_mlkem768", 2, []string{"ECP_384", "ML_KEM_1024", "ML_KEM_768"}},
	} {
		t.Run(tc.ike, func(t *testing.T) {
			n, l, r := newPair(t, pairOpts{leftIKE: tc.ike})
			// Distinct messages (fragments share the header's flags and ID).
			var mu sync.Mutex
			seen := map[[5]byte]bool{}
			n.drop = func(_ netip.AddrPort, pkt []byte) bool {
				if len(pkt) > 28 && wire.ExchangeType(pkt[18]) == wire.IKEIntermediate {
					mu.Lock()
					seen[[5]byte(pkt[19:24])] = true
					mu.Unlock()
				}
				return false
			}
			if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
				t.Fatalf("initiate: %v", err)
			}
			checkChildPair(t, l, r)
			waitFor(t, "responder established", func() bool {
				s := r.e.SAs()
				return len(s) == 1 && s[0].State == StateEstablished
			})
			ls, rs := l.e.SAs()[0], r.e.SAs()[0]
			if ls.Proposal != rs.Proposal {
				t.Errorf("left negotiated %q, right %q", ls.Proposal, rs.Proposal)
			}
			for _, w := range tc.want {
				if !strings.Contains(ls.Proposal, w) {
					t.Errorf("negotiated %q lacks %s", ls.Proposal, w)
				}
			}
			mu.Lock()
			got := len(seen)
			mu.Unlock()
			if got != 2*tc.exchange {
				t.Errorf("%d IKE_INTERMEDIATE messages, want %d", got, 2*tc.exchange)
			}
			if n, err := l.e.Terminate(ctxT(t), "site"); err != nil || n != 1 {
				t.Fatalf("terminate: %d %v", n, err)
			}
			waitFor(t, "both sides empty", func() bool { return len(l.e.SAs()) == 0 && len(r.e.SAs()) == 0 })
		})
	}
}

// TestAdditionalKEMismatch: a responder that wants no, or another,
// additional key exchange answers NO_PROPOSAL_CHOSEN.
func TestAdditionalKEMismatch(t *testing.T) {
	for _, right := range []string{"aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha384-x25519-ke1_mlkem1024"} {
		_, l, r := newPair(t, pairOpts{leftIKE: "aes256gcm16-prfsha384-x25519-ke1_mlkem768", rightIKE: right})
		err := l.e.Initiate(ctxT(t), "site", "net")
		var ne *NotifyError
		if !errors.As(err, &ne) || ne.Type != wire.NotifyNoProposalChosen {
			t.Fatalf("right %q: got %v, want NO_PROPOSAL_CHOSEN", right, err)
		}
		waitFor(t, "no SA left", func() bool { return len(l.e.SAs()) == 0 && len(r.e.SAs()) == 0 })
	}
}

// TestTamperedIntermediate flips one bit of the first IKE_INTERMEDIATE
// request: the responder drops it as an integrity failure, and the
// untouched retransmission completes the handshake.
func TestTamperedIntermediate(t *testing.T) {
	n, l, r := newPair(t, pairOpts{leftIKE: "aes256gcm16-prfsha384-x25519-ke1_mlkem768", retransmitTimeout: 100 * 1e6, retransmitTries: 3})
	var tampered atomic.Bool
	n.drop = func(from netip.AddrPort, pkt []byte) bool {
		if from.Addr() != leftAddr || len(pkt) < 100 || wire.ExchangeType(pkt[18]) != wire.IKEIntermediate || !tampered.CompareAndSwap(false, true) {
			return false
		}
		cp := bytes.Clone(pkt)
		cp[len(cp)-20] ^= 1
		go r.e.HandlePacket(netip.AddrPortFrom(rightAddr, 500), from, cp)
		return true
	}
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	checkChildPair(t, l, r)
	if !tampered.Load() {
		t.Fatal("no IKE_INTERMEDIATE request seen")
	}
	if got := r.e.Stats.IntegrityFailed.Load(); got < 1 {
		t.Errorf("responder counted %d integrity failures, want at least 1", got)
	}
}

// TestADDKEKeyUpdate checks the key update after an additional key
// exchange (RFC 9370 2.2.2) against the formula computed here with
// crypto/hmac: SKEYSEED(1) = prf(SK_d(0), SK(1) | Ni | Nr), then prf+
// (RFC 7296 2.13) over Ni | Nr | SPIi | SPIr.
func TestADDKEKeyUpdate(t *testing.T) {
	p, err := suite.ParseIKEProposal("aes256gcm16-prfsha384-x25519-ke1_mlkem768")
	if err != nil {
		t.Fatal(err)
	}
	s, err := suiteOf(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.addKE) != 1 || s.addKE[0] != wire.GroupMLKEM768 {
		t.Fatalf("addKE = %v", s.addKE)
	}
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	k0, err := deriveIKEKeys(s, ni, nr, bytes.Repeat([]byte{3}, 32), 0x1111, 0x2222)
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{4}, 32)
	skd0 := bytes.Clone(k0.skD)
	k1, err := k0.rekeyIKEKeys(s, ni, nr, secret, 0x1111, 0x2222)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, parts ...[]byte) []byte {
		h := hmac.New(sha512.New384, key)
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	skeyseed := mac(skd0, secret, ni, nr)
	spis := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 0x1111), 0x2222)
	seed := append(append(bytes.Clone(ni), nr...), spis...)
	var km, prev []byte
	for i := byte(1); len(km) < 3*48+2*36; i++ {
		prev = mac(skeyseed, prev, seed, []byte{i})
		km = append(km, prev...)
	}
	// SK_d | SK_ai (none) | SK_ar (none) | SK_ei | SK_er (32+4 each) | SK_pi | SK_pr
	want := map[string][]byte{"SK_d": km[:48], "SK_ei": km[48:84], "SK_er": km[84:120], "SK_pi": km[120:168], "SK_pr": km[168:216]}
	got := map[string][]byte{"SK_d": k1.skD, "SK_ei": k1.skEi, "SK_er": k1.skEr, "SK_pi": k1.skPi, "SK_pr": k1.skPr}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s = %x, want %x", name, got[name], w)
		}
	}
	if bytes.Equal(k1.skD, skd0) {
		t.Error("SK_d unchanged")
	}
}

// TestRekeyIKEWithAdditionalKE rekeys an IKE SA set up with an additional
// key exchange: the CREATE_CHILD_SA rekey offers the proposals without
// ADDKE (IKE_FOLLOWUP_KE is not implemented), and the new SA keeps the
// Child SA.
func TestRekeyIKEWithAdditionalKE(t *testing.T) {
	_, l, r := newPair(t, pairOpts{leftIKE: "aes256gcm16-prfsha384-x25519-ke1_mlkem768"})
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	checkChildPair(t, l, r)
	old := l.e.SAs()[0]
	if err := l.e.Rekey(ctxT(t), old.UniqueID, ""); err != nil {
		t.Fatalf("rekey: %v", err)
	}
	waitFor(t, "one rekeyed SA on each side", func() bool {
		ls, rs := l.e.SAs(), r.e.SAs()
		return len(ls) == 1 && len(rs) == 1 && ls[0].SPIi != old.SPIi && ls[0].State == StateEstablished && rs[0].State == StateEstablished
	})
	if p := l.e.SAs()[0].Proposal; p != "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519" {
		t.Errorf("rekeyed SA negotiated %q", p)
	}
	checkChildPair(t, l, r)
}

// TestIntAuth checks IntAuth (RFC 9242 3.3.1) against an independent
// computation: IntAuth_i1 = prf(SK_pi, A | P) with A the IKE header and
// Encrypted payload header, IntAuth_i2 chained on IntAuth_i1, and the
// IKE_AUTH message ID appended.
func TestIntAuth(t *testing.T) {
	p, err := suite.ParseIKEProposal("aes256gcm16-prfsha384-x25519-ke1_mlkem768")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := suiteOf(p)
	k, err := deriveIKEKeys(s, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32), 0x0102030405060708, 0x1112131415161718)
	if err != nil {
		t.Fatal(err)
	}
	inner := []byte{0, 0, 0, 8, 0, 36, 0, 0} // a KE payload header with no data
	h := wire.Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Exchange: wire.IKEIntermediate, Flags: wire.FlagInitiator, MessageID: 1}
	a := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		46, 0x20, 43, 0x08, 0, 0, 0, 1, 0, 0, 0, 28 + 4 + 8, // header: next SK, version, exchange, flags, ID, length
		34, 0, 0, 4 + 8} // Encrypted payload header: first inner KE
	mac := hmac.New(sha512.New384, k.skPi)
	mac.Write(a)
	mac.Write(inner)
	want1 := mac.Sum(nil)
	got1 := intAuthStep(k.prf, k.skPi, nil, h, wire.PayloadKE, inner)
	if !bytes.Equal(got1, want1) {
		t.Fatalf("IntAuth_i1 = %x, want %x", got1, want1)
	}
	h.MessageID = 2
	a[23], a[27] = 2, 28+4+8
	mac = hmac.New(sha512.New384, k.skPi)
	mac.Write(want1)
	mac.Write(a)
	mac.Write(inner)
	want2 := mac.Sum(nil)
	if got := intAuthStep(k.prf, k.skPi, got1, h, wire.PayloadKE, inner); !bytes.Equal(got, want2) {
		t.Fatalf("IntAuth_i2 = %x, want %x", got, want2)
	}
	sa := &ikeSA{}
	sa.inter = intermediateState{count: 2, authI: want2, authR: []byte{9, 9}}
	if got := sa.intAuth(); !bytes.Equal(got, append(append(bytes.Clone(want2), 9, 9), 0, 0, 0, 3)) {
		t.Errorf("IntAuth = %x", got)
	}
	if (&ikeSA{}).intAuth() != nil {
		t.Error("IntAuth without IKE_INTERMEDIATE must be empty")
	}
}

// TestMLKEMOnly uses ML-KEM as the key exchange of IKE_SA_INIT (the
// responder encapsulates to the initiator's key, RFC 9370 2.2.2) and for
// the PFS of a Child SA rekey in CREATE_CHILD_SA.
func TestMLKEMOnly(t *testing.T) {
	_, l, r := newPair(t, pairOpts{leftIKE: "aes256gcm16-prfsha384-mlkem768", leftESP: "aes256gcm16-mlkem1024"})
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	checkChildPair(t, l, r)
	sa := l.e.SAs()[0]
	if sa.Proposal != "AES_GCM_16_256/PRF_HMAC_SHA2_384/ML_KEM_768" {
		t.Errorf("negotiated %q", sa.Proposal)
	}
	before := l.inst.all()[0].In.SPI()
	if err := l.e.Rekey(ctxT(t), sa.UniqueID, "net"); err != nil {
		t.Fatalf("child rekey: %v", err)
	}
	// The replaced SA takes inbound packets for deleteRekeyedDelay after
	// its DELETE before it goes, so wait for longer than that.
	waitForWithin(t, deleteRekeyedDelay+10*time.Second, "rekeyed Child SA on both sides", func() bool {
		ls, rs := l.inst.all(), r.inst.all()
		return len(ls) == 1 && len(rs) == 1 && ls[0].In.SPI() != before && rs[0].Out.SPI() == ls[0].In.SPI()
	})
	checkChildPair(t, l, r)
}

// TestIntermediateResponseLost drops the first IKE_INTERMEDIATE response:
// the initiator retransmits its request, which the responder (already on
// the new keys) answers from its cache, protected with the old keys as
// the first time (RFC 7296 2.1).
func TestIntermediateResponseLost(t *testing.T) {
	n, l, r := newPair(t, pairOpts{leftIKE: "aes256gcm16-prfsha384-x25519-ke1_mlkem768", retransmitTimeout: 100 * 1e6, retransmitTries: 3})
	var dropped atomic.Int64
	var firstID atomic.Uint32
	var firstAt atomic.Int64
	n.drop = func(from netip.AddrPort, pkt []byte) bool {
		if from.Addr() != rightAddr || len(pkt) < 28 || wire.ExchangeType(pkt[18]) != wire.IKEIntermediate {
			return false
		}
		// Drop every fragment of the first response (sent together),
		// not the retransmissions 100ms later.
		id := binary.BigEndian.Uint32(pkt[20:24])
		if firstID.CompareAndSwap(0, id) {
			firstAt.Store(time.Now().UnixNano())
		}
		if firstID.Load() == id && time.Since(time.Unix(0, firstAt.Load())) < 30*time.Millisecond {
			dropped.Add(1)
			return true
		}
		return false
	}
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	checkChildPair(t, l, r)
	if dropped.Load() == 0 || r.e.Stats.CachedResponses.Load() == 0 {
		t.Errorf("dropped %d, cached responses %d", dropped.Load(), r.e.Stats.CachedResponses.Load())
	}
}

// TestSelectADDKE: the responder picks one transform of each additional
// key exchange type offered, NONE when offered and it has none of that
// type, and refuses when it wants one the initiator did not offer.
func TestSelectADDKE(t *testing.T) {
	base := []wire.Transform{
		{Type: wire.TransformENCR, ID: wire.EncrAESGCM16, KeyLength: 256},
		{Type: wire.TransformPRF, ID: wire.PRFHMACSHA384},
		{Type: wire.TransformKE, ID: wire.GroupCurve25519},
	}
	prop := func(extra ...wire.Transform) wire.Proposal {
		return wire.Proposal{Number: 1, Protocol: wire.ProtoIKE, Transforms: append(slices.Clone(base), extra...)}
	}
	ke1 := func(id uint16) wire.Transform { return wire.Transform{Type: 6, ID: id} }
	ke2 := func(id uint16) wire.Transform { return wire.Transform{Type: 7, ID: id} }
	for _, tc := range []struct {
		name        string
		ours, peers wire.Proposal
		ok          bool
		addKE       []uint16
	}{
		{"same", prop(ke1(wire.GroupMLKEM768)), prop(ke1(wire.GroupMLKEM768)), true, []uint16{wire.GroupMLKEM768}},
		{"ours first", prop(ke1(wire.GroupMLKEM1024), ke1(wire.GroupMLKEM768)), prop(ke1(wire.GroupMLKEM768), ke1(wire.GroupMLKEM1024)), true, []uint16{wire.GroupMLKEM1024}},
		{"peer allows none", prop(), prop(ke1(wire.GroupMLKEM768), ke1(0)), true, nil},
		{"ke2 only", prop(ke2(wire.GroupMLKEM768)), prop(ke1(0), ke2(wire.GroupMLKEM768)), true, []uint16{wire.GroupMLKEM768}},
		{"peer requires", prop(), prop(ke1(wire.GroupMLKEM768)), false, nil},
		{"we require", prop(ke1(wire.GroupMLKEM768)), prop(), false, nil},
		{"we require, peer allows none", prop(ke1(wire.GroupMLKEM768)), prop(ke1(0)), false, nil},
		{"different", prop(ke1(wire.GroupMLKEM1024)), prop(ke1(wire.GroupMLKEM768)), false, nil},
	} {
		chosen, ok := selectProposal([]wire.Proposal{tc.ours}, []wire.Proposal{tc.peers}, wire.GroupCurve25519)
		if ok != tc.ok {
			t.Errorf("%s: selected %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if _, ok := checkChosen([]wire.Proposal{tc.peers}, &wire.SA{Proposals: []wire.Proposal{chosen}}); !ok {
			t.Errorf("%s: initiator refuses the choice %v", tc.name, chosen)
		}
		s, err := suiteOf(chosen)
		if err != nil || !slices.Equal(s.addKE, tc.addKE) {
			t.Errorf("%s: addKE %v %v, want %v", tc.name, s.addKE, err, tc.addKE)
		}
	}
	// A responder leaving out an ADDKE type the initiator offered is refused.
	if _, ok := checkChosen([]wire.Proposal{prop(ke1(wire.GroupMLKEM768))}, &wire.SA{Proposals: []wire.Proposal{prop()}}); ok {
		t.Error("initiator accepted a choice without the offered additional key exchange")
	}
}
