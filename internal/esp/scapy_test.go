package esp

// Cross-check against an independent ESP implementation, scapy's IPsec
// module (scapy.layers.ipsec, Debian python3-scapy), in both directions and
// in tunnel mode (DESIGN.md, Testing):
//
//	goipsec Seal -> outer IPv4 (proto 50) -> scapy SecurityAssociation.decrypt
//	scapy SecurityAssociation.encrypt -> outer IPv4 -> goipsec Open
//
// The whole batch of cases runs in one Python process, testdata/scapy_esp.py,
// fed JSON on stdin. The test skips loudly when /usr/bin/python3 or scapy is
// missing; otherwise every disagreement fails it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/wire/ike"
	"github.com/goipsec/goipsec/internal/wire/packet"
)

// scapyPython is called by absolute path: another python3 earlier on PATH
// may lack scapy.
const (
	scapyPython = "/usr/bin/python3"
	scapyHelper = "testdata/scapy_esp.py"
)

var (
	scapyOuterSrc = netip.MustParseAddr("192.0.2.1")
	scapyOuterDst = netip.MustParseAddr("198.51.100.2")
	scapyInnerSrc = netip.MustParseAddr("10.1.0.1")
	scapyInnerDst = netip.MustParseAddr("10.2.0.1")
)

// scapySuites maps our transforms to scapy's CRYPT_ALGOS and AUTH_ALGOS
// names. scapy takes the salt or nonce as the last bytes of crypt_key, as
// we do (RFC 4106 8.1, RFC 7634 2, RFC 3686 5.1, RFC 4309 7.1: 4 octets,
// 3 for CCM), uses 16-byte ICVs for its AEADs, and the auth key is the
// integrity half of the keying material (RFC 7296 2.17).
var scapySuites = []struct {
	xformSuite
	algo, auth string // auth: "" for the AEADs
}{
	{xformSuite{"aes128gcm16", ike.EncrAESGCM16, 128, ike.IntegNone}, "AES-GCM", ""},
	{xformSuite{"aes256gcm16", ike.EncrAESGCM16, 256, ike.IntegNone}, "AES-GCM", ""},
	{xformSuite{"chacha20poly1305", ike.EncrChaCha20Poly1305, 0, ike.IntegNone}, "CHACHA20-POLY1305", ""},
	{xformSuite{"aes128-sha256", ike.EncrAESCBC, 128, ike.IntegHMACSHA256_128}, "AES-CBC", "SHA2-256-128"},
	{xformSuite{"aes256-sha256", ike.EncrAESCBC, 256, ike.IntegHMACSHA256_128}, "AES-CBC", "SHA2-256-128"},
	{xformSuite{"aes128ctr-sha256", ike.EncrAESCTR, 128, ike.IntegHMACSHA256_128}, "AES-CTR", "SHA2-256-128"},
	{xformSuite{"aes256ctr-sha256", ike.EncrAESCTR, 256, ike.IntegHMACSHA256_128}, "AES-CTR", "SHA2-256-128"},
	{xformSuite{"aes128ccm16", ike.EncrAESCCM16, 128, ike.IntegNone}, "AES-CCM", ""},
	{xformSuite{"null-sha256", ike.EncrNull, 0, ike.IntegHMACSHA256_128}, "NULL", "SHA2-256-128"},
}

// scapyUDPPayloadLens give inner packets of 28, 29, 30, 31, 128 and 1400
// bytes: ESP padding of 2, 1, 0, 3, 2 and 2 bytes.
var scapyUDPPayloadLens = []int{0, 1, 2, 3, 100, 1372}

// scapyHighSeq has the top bit set, to catch sign or byte-order slips in
// the AAD.
const scapyHighSeq = 0x89abcdef

type scapyOp struct {
	Op      string `json:"op"` // "encrypt" or "decrypt"
	Algo    string `json:"algo"`
	Key     string `json:"key"`                // hex key || salt
	Auth    string `json:"auth,omitempty"`     // scapy AUTH_ALGOS name
	AuthKey string `json:"auth_key,omitempty"` // hex
	SPI     uint32 `json:"spi"`
	Packet  string `json:"packet,omitempty"` // decrypt: hex outer IPv4 || ESP
	Seq     uint32 `json:"seq,omitempty"`    // encrypt
	IV      string `json:"iv,omitempty"`     // encrypt; empty: scapy picks one
	Src     string `json:"src,omitempty"`
	Dst     string `json:"dst,omitempty"`
	Inner   string `json:"inner,omitempty"` // encrypt: hex inner IPv4 packet

	ESNEn     bool   `json:"esn_en,omitempty"`    // Extended Sequence Numbers
	ESN       uint32 `json:"esn,omitempty"`       // their high 32 bits
	Transport bool   `json:"transport,omitempty"` // ESP: no tunnel header
	Tunnel    bool   `json:"tunnel,omitempty"`    // ah_decrypt: tunnel mode
}

type scapyResult struct {
	Inner       string `json:"inner"`  // decrypt
	NH          int    `json:"nh"`     // decrypt
	PadLen      int    `json:"padlen"` // decrypt
	SPI         uint32 `json:"spi"`    // decrypt: as scapy parsed the header
	Seq         uint32 `json:"seq"`    // decrypt
	Packet      string `json:"packet"` // encrypt
	Error       string `json:"error"`  // "integrity" or "exception"
	Detail      string `json:"detail"`
	Unsupported string `json:"unsupported"`
}

type scapyResponse struct {
	Missing    string        `json:"missing"`
	Python     string        `json:"python"`
	Scapy      string        `json:"scapy"`
	CryptAlgos []string      `json:"crypt_algos"`
	Results    []scapyResult `json:"results"`
}

// scapyBatch collects the operations of all cases; add returns the index
// of the operation's result.
type scapyBatch struct{ ops []scapyOp }

func (b *scapyBatch) add(op scapyOp) int {
	b.ops = append(b.ops, op)
	return len(b.ops) - 1
}

// run sends the batch to the helper. It skips the test when python3 or
// scapy is missing.
func (b *scapyBatch) run(t *testing.T) *scapyResponse {
	t.Helper()
	if _, err := os.Stat(scapyPython); err != nil {
		t.Skipf("!!! SKIPPING: scapy ESP cross-check: %s not found (install python3-scapy): %v", scapyPython, err)
	}
	in, err := json.Marshal(map[string]any{"ops": b.ops})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, scapyPython, scapyHelper)
	cmd.Env = append(scapyEnv(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", scapyPython, scapyHelper, err, stderr.String())
	}
	var resp scapyResponse
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		t.Fatalf("%s: bad JSON answer: %v\nstdout:\n%s\nstderr:\n%s", scapyHelper, err, stdout.String(), stderr.String())
	}
	if resp.Missing != "" {
		t.Skipf("!!! SKIPPING: scapy ESP cross-check: %s (install python3-scapy and python3-cryptography)", resp.Missing)
	}
	if len(resp.Results) != len(b.ops) {
		t.Fatalf("%s: %d results for %d operations", scapyHelper, len(resp.Results), len(b.ops))
	}
	t.Logf("scapy %s (Python %s), CRYPT_ALGOS %v", resp.Scapy, resp.Python, resp.CryptAlgos)
	return &resp
}

// scapyEnv is the environment without the variables of another Python
// installation, which could shadow Debian's modules.
func scapyEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PYTHONPATH=") && !strings.HasPrefix(kv, "PYTHONHOME=") {
			env = append(env, kv)
		}
	}
	return env
}

// scapyInnerPacket returns an IPv4/UDP packet with udpPayloadLen random
// payload bytes and a valid UDP checksum: what tunnel mode carries.
func scapyInnerPacket(udpPayloadLen int, id uint16) []byte {
	udpLen := packet.UDPHeaderLen + udpPayloadLen
	p := make([]byte, packet.IPv4MinHeader+udpLen)
	packet.EncodeIPv4(p, packet.IPv4Fields{
		TotalLen: uint16(len(p)), ID: id, Flags: packet.IPv4FlagDF, TTL: 64,
		Protocol: packet.ProtoUDP, Src: scapyInnerSrc, Dst: scapyInnerDst,
	})
	udp := p[packet.IPv4MinHeader:]
	packet.EncodeUDP(udp, 40000+id, 53, uint16(udpLen))
	rand.Read(udp[packet.UDPHeaderLen:])
	sum := packet.Checksum(udp, packet.PseudoHeaderSum(packet.ProtoUDP, scapyInnerSrc, scapyInnerDst, uint32(udpLen)))
	if sum == 0 {
		sum = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	return p
}

// scapySeal seals inner with seq in a fresh buffer.
func scapySeal(t *testing.T, o *Outbound, inner []byte, seq uint64) []byte {
	t.Helper()
	buf := make([]byte, len(inner)+o.Overhead(len(inner)))
	copy(buf[o.PayloadOffset():], inner)
	esp, err := o.SealSeq(buf, len(inner), NextHeaderIPv4, seq)
	if err != nil {
		t.Fatal(err)
	}
	return esp
}

// scapyOuter wraps an ESP packet in the outer IPv4 header of tunnel mode.
func scapyOuter(esp []byte) []byte {
	p := make([]byte, packet.IPv4MinHeader+len(esp))
	packet.EncodeIPv4(p, packet.IPv4Fields{
		TotalLen: uint16(len(p)), ID: 1, TTL: 64,
		Protocol: packet.ProtoESP, Src: scapyOuterSrc, Dst: scapyOuterDst,
	})
	copy(p[packet.IPv4MinHeader:], esp)
	return p
}

// scapyESP checks the outer IPv4 header scapy wrote and returns the ESP
// packet it carries.
func scapyESP(t *testing.T, r scapyResult) []byte {
	t.Helper()
	if r.Error != "" {
		t.Fatalf("scapy encrypt: %s: %s", r.Error, r.Detail)
	}
	wire, err := hex.DecodeString(r.Packet)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := packet.ParseIPv4(wire)
	if err != nil {
		t.Fatalf("scapy's outer header: %v (%x)", err, wire)
	}
	if ip.Protocol() != packet.ProtoESP || !ip.ChecksumValid() || ip.Src() != scapyOuterSrc || ip.Dst() != scapyOuterDst {
		t.Fatalf("scapy's outer header: proto %d checksum valid %v %v -> %v, want proto 50 %v -> %v",
			ip.Protocol(), ip.ChecksumValid(), ip.Src(), ip.Dst(), scapyOuterSrc, scapyOuterDst)
	}
	return bytes.Clone(ip.Payload())
}

// scapyCase is one transform's share of the batch: the keys, what goipsec
// sealed, and the indices of scapy's answers.
type scapyCase struct {
	name   string
	keymat []byte
	spi    uint32
	xf     suite.ESPTransform
	align  int // padding alignment

	sealed []scapyPacket // goipsec -> scapy, ascending seq
	forged int           // a sealed packet with one bit flipped

	fromScapy []scapyPacket // scapy -> goipsec, ascending seq
	flipped   scapyPacket   // for the bit-flip checks
	sameIV    scapyPacket   // IV = seq, as goipsec chooses it (a fixed random one for CBC)
	iv        []byte        // sameIV's IV
}

// scapyPacket is one inner packet, the sequence number it is sent with and
// the index of scapy's result for it.
type scapyPacket struct {
	inner []byte
	seq   uint64
	res   int
}

func TestScapyESPTunnel(t *testing.T) {
	var batch scapyBatch
	var cases []*scapyCase
	for i, s := range scapySuites {
		encLen, integLen, err := suite.ESPKeymatLen(s.encrID, s.keyBits, s.integID)
		if err != nil {
			t.Fatal(err)
		}
		c := &scapyCase{name: s.name, keymat: make([]byte, encLen+integLen), spi: 0x5ca90001 + uint32(i)}
		rand.Read(c.keymat)
		c.xf = newXform(t, s.xformSuite, c.keymat)
		c.align = alignment(c.xf.BlockSize())
		op := scapyOp{Algo: s.algo, Key: hex.EncodeToString(c.keymat[:encLen]), SPI: c.spi,
			Src: scapyOuterSrc.String(), Dst: scapyOuterDst.String()}
		if s.auth != "" {
			op.Auth, op.AuthKey = s.auth, hex.EncodeToString(c.keymat[encLen:])
		}
		c.iv = be64(scapyHighSeq + 2)
		if c.xf.RandomIV() || c.xf.IVLen() != 8 {
			c.iv = randBytes(c.xf.IVLen()) // NULL: none
		}

		o := NewOutboundTransform(c.spi, c.xf, false)
		var seqs []uint64
		for j := range scapyUDPPayloadLens {
			seqs = append(seqs, uint64(j+1))
		}
		seqs = append(seqs, scapyHighSeq)
		for j, seq := range seqs {
			inner := scapyInnerPacket(scapyUDPPayloadLens[j%len(scapyUDPPayloadLens)], uint16(j))
			dec := op
			dec.Op, dec.Packet = "decrypt", hex.EncodeToString(scapyOuter(scapySeal(t, o, inner, seq)))
			c.sealed = append(c.sealed, scapyPacket{inner, seq, batch.add(dec)})

			enc := op
			enc.Op, enc.Seq, enc.Inner = "encrypt", uint32(seq), hex.EncodeToString(inner)
			c.fromScapy = append(c.fromScapy, scapyPacket{inner, seq, batch.add(enc)})
		}

		forged := scapySeal(t, o, scapyInnerPacket(100, 100), scapyHighSeq+1)
		forged[len(forged)/2] ^= 0x20
		dec := op
		dec.Op, dec.Packet = "decrypt", hex.EncodeToString(scapyOuter(forged))
		c.forged = batch.add(dec)

		for _, e := range []*scapyPacket{&c.flipped, &c.sameIV} {
			e.inner = scapyInnerPacket(100, 200)
			e.seq = scapyHighSeq + 2
			enc := op
			enc.Op, enc.Seq, enc.Inner = "encrypt", uint32(e.seq), hex.EncodeToString(e.inner)
			if e == &c.sameIV {
				enc.IV = hex.EncodeToString(c.iv)
			}
			e.res = batch.add(enc)
		}
		cases = append(cases, c)
	}

	resp := batch.run(t)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range resp.Results[c.sealed[0].res : c.sameIV.res+1] {
				if r.Unsupported != "" {
					t.Logf("scapy cannot cross-check %s: %s", c.name, r.Unsupported)
					t.Skipf("!!! SKIPPING: scapy ESP cross-check of %s: %s", c.name, r.Unsupported)
				}
			}
			t.Logf("SPI %#x, key||salt %x", c.spi, c.keymat)
			t.Run("goipsec-seals-scapy-opens", func(t *testing.T) { scapyCheckSealed(t, c, resp) })
			t.Run("scapy-seals-goipsec-opens", func(t *testing.T) { scapyCheckOpen(t, c, resp) })
			t.Run("scapy-bit-flips-rejected", func(t *testing.T) { scapyCheckBitFlips(t, c, resp) })
			t.Run("same-iv-same-bytes", func(t *testing.T) { scapyCheckSameIV(t, c, resp) })
		})
	}
}

// scapyCheckSealed: scapy decrypts and verifies what goipsec sealed, finds
// the inner packet, next header 4 and goipsec's padding, and rejects a
// forgery (so that the check cannot pass vacuously).
func scapyCheckSealed(t *testing.T, c *scapyCase, resp *scapyResponse) {
	for _, s := range c.sealed {
		r := resp.Results[s.res]
		if r.Error != "" {
			t.Fatalf("seq %#x, %d-byte inner packet: scapy decrypt: %s: %s", s.seq, len(s.inner), r.Error, r.Detail)
		}
		got, err := hex.DecodeString(r.Inner)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, s.inner) {
			t.Errorf("seq %#x: scapy decrypted\n%x\nwant\n%x", s.seq, got, s.inner)
		}
		if r.NH != NextHeaderIPv4 {
			t.Errorf("seq %#x: scapy read next header %d, want %d", s.seq, r.NH, NextHeaderIPv4)
		}
		if r.SPI != c.spi || uint64(r.Seq) != s.seq {
			t.Errorf("scapy parsed SPI %#x seq %#x, want %#x %#x", r.SPI, r.Seq, c.spi, s.seq)
		}
		if want := padLen(len(s.inner), c.align); r.PadLen != want {
			t.Errorf("seq %#x: scapy read pad length %d, want %d", s.seq, r.PadLen, want)
		}
	}
	if r := resp.Results[c.forged]; r.Error != "integrity" {
		t.Errorf("scapy accepted a sealed packet with a flipped bit: %+v", r)
	}
}

// scapyCheckOpen: goipsec opens what scapy encrypted with IVs of its own
// choosing. Equal lengths mean scapy pads as we do (to 4 octets, RFC 4303
// 2.4, or the cipher's block size, with no extra padding).
func scapyCheckOpen(t *testing.T, c *scapyCase, resp *scapyResponse) {
	in := NewInboundTransform(c.spi, c.xf, 0, false)
	o := NewOutboundTransform(c.spi, c.xf, false) // for Overhead only
	for _, e := range c.fromScapy {
		esp := scapyESP(t, resp.Results[e.res])
		if want := len(e.inner) + o.Overhead(len(e.inner)); len(esp) != want {
			t.Errorf("seq %#x, %d-byte inner packet: scapy's ESP packet is %d bytes, goipsec's %d (different padding)",
				e.seq, len(e.inner), len(esp), want)
		}
		if spi, seq := binary.BigEndian.Uint32(esp), binary.BigEndian.Uint32(esp[4:]); spi != c.spi || uint64(seq) != e.seq {
			t.Fatalf("scapy's ESP header: SPI %#x seq %#x, want %#x %#x", spi, seq, c.spi, e.seq)
		}
		payload, nh, err := in.Open(esp)
		if err != nil {
			t.Fatalf("seq %#x: Open of scapy's packet: %v\n%x", e.seq, err, esp)
		}
		if nh != NextHeaderIPv4 || !bytes.Equal(payload, e.inner) {
			t.Errorf("seq %#x: Open = next header %d\n%x\nwant 4\n%x", e.seq, nh, payload, e.inner)
		}
	}
	if st := in.Stats(); st != (Stats{}) {
		t.Errorf("Stats = %+v, want zero", st)
	}
}

// scapyCheckBitFlips: one flipped bit anywhere in the authenticated part of
// a scapy packet (sequence number, IV, ciphertext, trailer, ICV) makes Open
// fail with ErrAuth and leaves the window alone, so the intact packet is
// still accepted afterwards.
func scapyCheckBitFlips(t *testing.T, c *scapyCase, resp *scapyResponse) {
	esp := scapyESP(t, resp.Results[c.flipped.res])
	in := NewInboundTransform(c.spi, c.xf, 0, false)
	positions := map[string]int{
		"seq":            7,
		"ciphertext":     HeaderLen + c.xf.IVLen() + 20, // the inner UDP header
		"next header":    len(esp) - c.xf.ICVLen() - 1,
		"icv":            len(esp) - 1,
		"icv first byte": len(esp) - c.xf.ICVLen(),
	}
	if c.xf.IVLen() > 0 {
		positions["iv"] = HeaderLen
	}
	for name, pos := range positions {
		for _, bit := range []byte{0x01, 0x80} {
			pkt := bytes.Clone(esp)
			pkt[pos] ^= bit
			if _, _, err := in.Open(pkt); !errors.Is(err, ErrAuth) {
				t.Errorf("%s (byte %d) ^ %#x: Open err = %v, want ErrAuth", name, pos, bit, err)
			}
		}
	}
	if got, want := in.Stats().Auth, uint64(2*len(positions)); got != want {
		t.Errorf("Stats().Auth = %d, want %d", got, want)
	}
	payload, nh, err := in.Open(bytes.Clone(esp))
	if err != nil || nh != NextHeaderIPv4 || !bytes.Equal(payload, c.flipped.inner) {
		t.Fatalf("intact packet after the forgeries: Open = nh %d, %v; payload equal %v", nh, err, bytes.Equal(payload, c.flipped.inner))
	}
}

// scapyCheckSameIV: given goipsec's IV (the sequence number; for CBC, whose
// IV is random, the same random one), scapy's packet is byte for byte
// goipsec's: same header, nonce, AAD, padding, trailer and ICV.
func scapyCheckSameIV(t *testing.T, c *scapyCase, resp *scapyResponse) {
	got := scapyESP(t, resp.Results[c.sameIV.res])
	o := NewOutboundTransform(c.spi, c.xf, false)
	inner := c.sameIV.inner
	buf := make([]byte, len(inner)+o.Overhead(len(inner)))
	copy(buf[o.PayloadOffset():], inner)
	want, err := o.seal(buf, len(inner), NextHeaderIPv4, c.sameIV.seq, c.iv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("IV = seq %#x: scapy's ESP packet\n%x\ngoipsec's\n%x\n%s", c.sameIV.seq, got, want, scapyFirstDiff(got, want))
	}
}

func scapyFirstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at byte %d (lengths %d, %d)", i, len(a), len(b))
		}
	}
	return fmt.Sprintf("lengths %d, %d", len(a), len(b))
}
