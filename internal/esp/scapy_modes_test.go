package esp

// Cross-check of ESP transport mode, IPv6 (outer and inner, with extension
// headers) and Extended Sequence Numbers against scapy, both directions:
//
//	goipsec SealTransport/SealTunnel -> scapy decrypt
//	scapy encrypt -> goipsec OpenTransport/OpenTunnel
//
// scapy authenticates the high-order ESN bits only for its AEADs (its
// separate integrity algorithms ignore them, contrary to RFC 4303 2.2.1),
// so the ESN cases run with the AEAD suites only.

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

type scapyModeCase struct {
	name      string
	keymat    []byte
	xf        suite.ESPTransform
	esn       bool
	tunnel    *Tunnel
	pkt       []byte // transport: the packet; tunnel: the inner packet
	seq       uint64
	sealed    []byte
	toScapy   int
	forged    int
	fromScapy int
}

func TestScapyESPModes(t *testing.T) {
	var batch scapyBatch
	var cases []*scapyModeCase
	for _, s := range scapySuites {
		for _, esn := range []bool{false, true} {
			if esn && s.auth != "" {
				continue // see the comment at the top
			}
			add := func(name string, tun *Tunnel, pkt []byte) {
				encLen, integLen, err := suite.ESPKeymatLen(s.encrID, s.keyBits, s.integID)
				if err != nil {
					t.Fatal(err)
				}
				c := &scapyModeCase{name: fmt.Sprintf("%s/esn=%v/%s", s.name, esn, name), esn: esn, tunnel: tun, pkt: pkt,
					keymat: randBytes(encLen + integLen), seq: scapyHighSeq}
				if esn {
					c.seq = 5<<32 | scapyHighSeq
				}
				c.xf = newXform(t, s.xformSuite, c.keymat)
				o := NewOutboundTransform(testSPI, c.xf, esn)
				if tun == nil {
					c.sealed = espSealTransport(t, o, pkt, c.seq)
				} else {
					c.sealed = espSealTunnel(t, o, tun, pkt, c.seq)
				}
				op := scapyOp{Algo: s.algo, Key: hex.EncodeToString(c.keymat[:encLen]), SPI: testSPI,
					ESNEn: esn, ESN: uint32(c.seq >> 32), Transport: tun == nil}
				if s.auth != "" {
					op.Auth, op.AuthKey = s.auth, hex.EncodeToString(c.keymat[encLen:])
				}
				if tun != nil {
					op.Src, op.Dst = tun.Src.String(), tun.Dst.String()
				}
				dec := op
				dec.Op, dec.Packet = "decrypt", hex.EncodeToString(c.sealed)
				c.toScapy = batch.add(dec)
				forged := bytes.Clone(c.sealed)
				forged[len(forged)-3] ^= 0x04
				dec.Packet = hex.EncodeToString(forged)
				c.forged = batch.add(dec)
				enc := op
				enc.Op, enc.Seq, enc.Inner = "encrypt", uint32(c.seq), hex.EncodeToString(pkt)
				c.fromScapy = batch.add(enc)
				cases = append(cases, c)
			}
			for _, tp := range transportPackets() {
				add("transport/"+tp.name, nil, tp.pkt)
			}
			for _, tc := range tunnelCases {
				add("tunnel/"+tc.name, tunnelFor(tc.src, tc.dst), innerFor(tc.inner6, 200))
			}
		}
	}

	resp := batch.run(t)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := resp.Results[c.toScapy]
			if r.Unsupported != "" {
				t.Skipf("!!! SKIPPING: %s", r.Unsupported)
			}
			if r.Error != "" {
				t.Fatalf("scapy rejected goipsec's packet: %s: %s\n%x", r.Error, r.Detail, c.sealed)
			}
			got, _ := hex.DecodeString(r.Inner)
			if !bytes.Equal(got, c.pkt) {
				t.Errorf("scapy decrypted goipsec's packet to\n%x\nwant\n%x", got, c.pkt)
			}
			if f := resp.Results[c.forged]; f.Error != "integrity" {
				t.Errorf("scapy accepted a forged packet: %+v", f)
			}

			e := resp.Results[c.fromScapy]
			if e.Error != "" {
				t.Fatalf("scapy encrypt: %s: %s", e.Error, e.Detail)
			}
			theirs, _ := hex.DecodeString(e.Packet)
			checkIPHeader(t, theirs, packet.ProtoESP)
			// Same layout and padding as ours (scapy puts a lone
			// Destination Options header before ESP, as Linux does;
			// RFC 4303 3.1.1 allows both).
			if !bytes.Contains([]byte(c.name), []byte("destopts")) && len(theirs) != len(c.sealed) {
				t.Errorf("scapy's packet is %d octets, goipsec's %d", len(theirs), len(c.sealed))
			}
			in := NewInboundTransform(testSPI, c.xf, 0, c.esn)
			if c.esn {
				in.window.Update(c.seq &^ 0xffffffff)
			}
			var opened []byte
			var nh uint8
			var err error
			if c.tunnel == nil {
				opened, nh, err = in.OpenTransport(theirs)
			} else {
				opened, nh, err = in.OpenTunnel(theirs)
			}
			if err != nil {
				t.Fatalf("goipsec rejected scapy's packet: %v\n%x", err, theirs)
			}
			if !bytes.Equal(opened, c.pkt) {
				t.Errorf("goipsec opened scapy's packet (nh %d) to\n%x\nwant\n%x", nh, opened, c.pkt)
			}
		})
	}
}
