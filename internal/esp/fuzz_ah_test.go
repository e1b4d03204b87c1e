package esp

import (
	"bytes"
	"testing"

	"github.com/goipsec/goipsec/internal/wire/ike"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// fuzzAHKey is a fixed key, so that the fuzzer's mutations of valid seeds
// stay meaningful across runs.
var fuzzAHKey = bytes.Repeat([]byte{0x5a}, 32)

// FuzzAHOpen feeds arbitrary packets to AH verification in both modes:
// never a panic, and only the seeds themselves (or packets equal to them
// in the fields AH does not cover) verify.
func FuzzAHOpen(f *testing.F) {
	m := newInteg(f, ike.IntegHMACSHA256_128, fuzzAHKey)
	o := NewAHOutbound(testSPI, m, false)
	for _, tp := range transportPackets() {
		f.Add(ahSealTransport(f, o, tp.pkt, 1))
	}
	for _, tc := range tunnelCases {
		f.Add(ahSealTunnel(f, o, tunnelFor(tc.src, tc.dst), innerFor(tc.inner6, 40), 1))
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, esn := range []bool{false, true} {
			in := NewAHInbound(testSPI, m, 64, esn)
			if out, err := in.OpenTransport(bytes.Clone(pkt)); err == nil && len(out) >= len(pkt) {
				t.Fatalf("OpenTransport returned %d octets of %d", len(out), len(pkt))
			}
			in = NewAHInbound(testSPI, m, 64, esn)
			if out, err := in.OpenTunnel(bytes.Clone(pkt)); err == nil && len(out) >= len(pkt) {
				t.Fatalf("OpenTunnel returned %d octets of %d", len(out), len(pkt))
			}
		}
	})
}

// FuzzAHGMACOpen is FuzzAHOpen with AES-GMAC, whose Authentication Data
// carries an IV (RFC 4543 4): never a panic, and only packets AH-equal to
// the seeds verify.
func FuzzAHGMACOpen(f *testing.F) {
	m := newInteg(f, ike.IntegAES128GMAC, fuzzAHKey[:20])
	o := NewAHOutbound(testSPI, m, false)
	for _, tp := range transportPackets() {
		f.Add(ahSealTransport(f, o, tp.pkt, 1))
	}
	for _, tc := range tunnelCases {
		f.Add(ahSealTunnel(f, o, tunnelFor(tc.src, tc.dst), innerFor(tc.inner6, 40), 1))
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, esn := range []bool{false, true} {
			in := NewAHInbound(testSPI, m, 64, esn)
			if out, err := in.OpenTransport(bytes.Clone(pkt)); err == nil && len(out) >= len(pkt) {
				t.Fatalf("OpenTransport returned %d octets of %d", len(out), len(pkt))
			}
			in = NewAHInbound(testSPI, m, 64, esn)
			if out, err := in.OpenTunnel(bytes.Clone(pkt)); err == nil && len(out) >= len(pkt) {
				t.Fatalf("OpenTunnel returned %d octets of %d", len(out), len(pkt))
			}
		}
	})
}

// FuzzAHSealTransport seals arbitrary packets in transport mode: never a
// panic, and a sealed IPv4 packet without options, or an IPv6 packet
// without extension headers, verifies and comes back as it was.
func FuzzAHSealTransport(f *testing.F) {
	m := newInteg(f, ike.IntegHMACSHA1_96, fuzzAHKey[:20])
	for _, tp := range transportPackets() {
		f.Add(tp.pkt)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		o := NewAHOutbound(testSPI, m, false)
		buf := make([]byte, ahHeadroom+len(pkt))
		copy(buf[ahHeadroom:], pkt)
		out, err := o.SealTransport(buf, ahHeadroom, len(pkt))
		if err != nil {
			return
		}
		simple := pkt[0]>>4 == 4 && pkt[0]&0x0f == 5 || pkt[0]>>4 == 6 && !isExt(pkt[6])
		in := NewAHInbound(testSPI, m, 64, false)
		got, err := in.OpenTransport(out)
		want := bytes.Clone(pkt)
		if want[0]>>4 == 4 {
			packet.IPv4(want).UpdateChecksum() // both sides write a correct one
		}
		if simple && (err != nil || !bytes.Equal(got, want)) {
			t.Fatalf("sealed packet did not come back: %v\n%x\n%x", err, got, want)
		}
	})
}

func isExt(proto uint8) bool {
	return proto == 0 || proto == 43 || proto == 44 || proto == 60 || proto == 51 || proto == 50
}

// FuzzESPOpenModes feeds arbitrary packets to ESP's transport and tunnel
// mode helpers: never a panic.
func FuzzESPOpenModes(f *testing.F) {
	x := newXform(f, modeSuites[3], bytes.Repeat([]byte{7}, 36))
	o := NewOutboundTransform(testSPI, x, false)
	for _, tp := range transportPackets() {
		f.Add(espSealTransport(f, o, tp.pkt, 1))
	}
	for _, tc := range tunnelCases {
		f.Add(espSealTunnel(f, o, tunnelFor(tc.src, tc.dst), innerFor(tc.inner6, 40), 1))
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		in := NewInboundTransform(testSPI, x, 64, false)
		if out, _, err := in.OpenTransport(bytes.Clone(pkt)); err == nil && len(out) >= len(pkt) {
			t.Fatalf("OpenTransport returned %d octets of %d", len(out), len(pkt))
		}
		in = NewInboundTransform(testSPI, x, 64, false)
		if out, _, err := in.OpenTunnel(bytes.Clone(pkt)); err == nil && len(out) >= len(pkt) {
			t.Fatalf("OpenTunnel returned %d octets of %d", len(out), len(pkt))
		}
	})
}
