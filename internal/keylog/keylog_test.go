package keylog

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

func TestTables(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	// A pre-existing, too open table gets tightened.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ESPFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.LogIKESA(0x0102030405060708, 0x1112131415161718, wire.EncrAESGCM16, 256, []byte{0xaa, 0xbb}, []byte{0xcc}, wire.IntegNone, nil, nil)
	w.LogIKESA(1, 2, wire.EncrChaCha20Poly1305, 0, []byte{1}, []byte{2}, wire.IntegNone, nil, nil)
	w.LogIKESA(3, 4, wire.EncrAESCBC, 192, []byte{3}, []byte{4}, wire.IntegHMACSHA384_192, []byte{5}, []byte{6})
	w.LogIKESA(5, 6, wire.EncrAESCCM12, 128, []byte{7}, []byte{8}, wire.IntegNone, nil, nil)
	w.LogIKESA(7, 8, wire.EncrAESCTR, 256, []byte{9}, []byte{10}, wire.IntegAESXCBC96, []byte{11}, []byte{12})
	w.LogChildSA(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 0xc0ffee01, wire.EncrAESGCM16, []byte{0xde, 0xad}, wire.IntegNone, nil)
	w.LogChildSA(netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1"), 9, wire.EncrAESCBC, []byte{0xbe}, wire.IntegHMACSHA256_128, []byte{0xef})
	w.LogChildSA(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 7, wire.EncrChaCha20Poly1305, []byte{1}, wire.IntegNone, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		IKEFile: `0102030405060708,1112131415161718,aabb,cc,"AES-GCM-256 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"
# 0000000000000001,0000000000000002: ENCR_CHACHA20_POLY1305 has no Wireshark IKEv2 decryption
0000000000000003,0000000000000004,03,04,"AES-CBC-192 [RFC3602]",05,06,"HMAC_SHA2_384_192 [RFC4868]"
0000000000000005,0000000000000006,07,08,"AES-CCM-128 with 12 octet ICV [RFC5282]",,,"NONE [RFC4306]"
0000000000000007,0000000000000008,09,0a,"AES-CTR-256 [RFC5930]",0b,0c,"ANY 96-bits of Authentication [No Checking]"
`,
		ESPFile: `"IPv4","192.0.2.1","192.0.2.2","0xc0ffee01","AES-GCM with 16 octet ICV [RFC4106]","0xdead","NULL",""
"IPv4","192.0.2.2","192.0.2.1","0x00000009","AES-CBC [RFC3602]","0xbe","HMAC-SHA-256-128 [RFC4868]","0xef"
"IPv6","2001:db8::1","2001:db8::2","0x00000007","ChaCha20 with Poly1305 [RFC7634]","0x01","NULL",""
`,
	}
	for name, w := range want {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != w {
			t.Errorf("%s:\n got %q\nwant %q", name, b, w)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, st.Mode().Perm())
		}
	}
}
