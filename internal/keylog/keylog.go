// Package keylog writes IKE and ESP keys in the formats Wireshark reads,
// so that captures of goipsec's traffic can be decrypted for debugging:
// the IKEv2 decryption table (ikev2_decryption_table) and the ESP SA table
// (esp_sa), the user access tables of Wireshark's ISAKMP and ESP
// dissectors. Anyone who reads these files can decrypt the traffic: they
// are created with mode 0600 and the daemon warns loudly when logging is on.
package keylog

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// File names Wireshark looks for in a configuration profile directory.
const (
	IKEFile = "ikev2_decryption_table"
	ESPFile = "esp_sa"
)

// Writer appends key lines to the two tables in a directory.
type Writer struct {
	mu       sync.Mutex
	ike, esp *os.File
}

// Open creates dir (0700) if needed and opens both tables for appending,
// with mode 0600 (tightened if the files already existed).
func Open(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keylog: %w", err)
	}
	open := func(name string) (*os.File, error) {
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("keylog: %w", err)
		}
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("keylog: %w", err)
		}
		return f, nil
	}
	w := &Writer{}
	var err error
	if w.ike, err = open(IKEFile); err != nil {
		return nil, err
	}
	if w.esp, err = open(ESPFile); err != nil {
		w.ike.Close()
		return nil, err
	}
	return w, nil
}

// Close closes both tables.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err1, err2 := w.ike.Close(), w.esp.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

// ikeEncrName is Wireshark's name for an IKE SA encryption algorithm
// (packet-isakmp.c); the keys include the salt or nonce of the counter
// modes (RFC 5282, RFC 5930).
func ikeEncrName(encrID uint16, keyBits int) (string, bool) {
	aesKey := keyBits == 128 || keyBits == 192 || keyBits == 256
	switch encrID {
	case wire.Encr3DES:
		return "3DES [RFC2451]", true
	case wire.EncrAESCBC:
		return fmt.Sprintf("AES-CBC-%d [RFC3602]", keyBits), aesKey
	case wire.EncrAESCTR:
		return fmt.Sprintf("AES-CTR-%d [RFC5930]", keyBits), aesKey
	}
	icv := map[uint16]int{
		wire.EncrAESGCM8: 8, wire.EncrAESGCM12: 12, wire.EncrAESGCM16: 16,
		wire.EncrAESCCM8: 8, wire.EncrAESCCM12: 12, wire.EncrAESCCM16: 16,
	}
	if n, ok := icv[encrID]; ok {
		mode := "GCM"
		if encrID == wire.EncrAESCCM8 || encrID == wire.EncrAESCCM12 || encrID == wire.EncrAESCCM16 {
			mode = "CCM"
		}
		return fmt.Sprintf("AES-%s-%d with %d octet ICV [RFC5282]", mode, keyBits, n), aesKey
	}
	return "", false // e.g. ChaCha20-Poly1305: Wireshark has no IKE decryption for it
}

// ikeAuthName is Wireshark's name for an IKE SA integrity algorithm. It
// has no AES-XCBC or AES-CMAC: for those the table says "decrypt, do not
// check" with the ICV length, so the capture still decrypts.
func ikeAuthName(integID uint16) string {
	switch integID {
	case wire.IntegHMACSHA1_96:
		return "HMAC_SHA1_96 [RFC2404]"
	case wire.IntegHMACSHA256_128:
		return "HMAC_SHA2_256_128 [RFC4868]"
	case wire.IntegHMACSHA384_192:
		return "HMAC_SHA2_384_192 [RFC4868]"
	case wire.IntegHMACSHA512_256:
		return "HMAC_SHA2_512_256 [RFC4868]"
	case wire.IntegAESXCBC96, wire.IntegAESCMAC96:
		return "ANY 96-bits of Authentication [No Checking]"
	}
	return "NONE [RFC4306]"
}

// espEncrName is Wireshark's name for an ESP encryption algorithm
// (packet-esp.c); keys include the salt or nonce of the mode.
func espEncrName(encrID uint16) (string, bool) {
	switch encrID {
	case wire.EncrAESGCM8:
		return "AES-GCM with 8 octet ICV [RFC4106]", true
	case wire.EncrAESGCM12:
		return "AES-GCM with 12 octet ICV [RFC4106]", true
	case wire.EncrAESGCM16:
		return "AES-GCM with 16 octet ICV [RFC4106]", true
	case wire.EncrChaCha20Poly1305:
		return "ChaCha20 with Poly1305 [RFC7634]", true // Wireshark 4.2 and later
	case wire.EncrAESCBC:
		return "AES-CBC [RFC3602]", true
	case wire.EncrAESCTR:
		return "AES-CTR [RFC3686]", true
	case wire.Encr3DES:
		return "TripleDES-CBC [RFC2451]", true
	case wire.EncrNull:
		return "NULL", true
	}
	return "", false // AES-CCM, AES-GMAC: no Wireshark ESP decryption
}

// espAuthName is Wireshark's name for an ESP integrity algorithm.
func espAuthName(integID uint16) (string, bool) {
	switch integID {
	case wire.IntegNone:
		return "NULL", true
	case wire.IntegHMACSHA1_96:
		return "HMAC-SHA-1-96 [RFC2404]", true
	case wire.IntegHMACSHA256_128:
		return "HMAC-SHA-256-128 [RFC4868]", true
	case wire.IntegHMACSHA384_192:
		return "HMAC-SHA-384-192 [RFC4868]", true
	case wire.IntegHMACSHA512_256:
		return "HMAC-SHA-512-256 [RFC4868]", true
	}
	return "", false // AES-XCBC-96
}

// LogIKESA records an IKE SA's encryption and integrity keys (SK_ei,
// SK_er, SK_ai, SK_ar, RFC 7296 2.14; the integrity keys are empty and
// integID is 0 for a combined-mode cipher). Algorithms Wireshark cannot
// decrypt are written as a comment.
func (w *Writer) LogIKESA(spiI, spiR uint64, encrID uint16, keyBits int, skEi, skEr []byte, integID uint16, skAi, skAr []byte) {
	name, ok := ikeEncrName(encrID, keyBits)
	line := fmt.Sprintf("%016x,%016x,%x,%x,%q,%x,%x,%q\n", spiI, spiR, skEi, skEr, name, skAi, skAr, ikeAuthName(integID))
	if !ok {
		line = fmt.Sprintf("# %016x,%016x: %s has no Wireshark IKEv2 decryption\n", spiI, spiR, wire.TransformName(wire.TransformENCR, encrID))
	}
	w.write(w.ike, line)
}

// LogChildSA records one direction of a Child SA: packets from src to dst
// with this SPI are decrypted with encKey (with the mode's salt or nonce,
// RFC 4106 / 7634 / 3686) and authenticated with integKey.
func (w *Writer) LogChildSA(src, dst netip.Addr, spi uint32, encrID uint16, encKey []byte, integID uint16, integKey []byte) {
	family := "IPv4"
	if src.Unmap().Is6() {
		family = "IPv6"
	}
	enc, okE := espEncrName(encrID)
	auth, okA := espAuthName(integID)
	authKey := ""
	if len(integKey) > 0 {
		authKey = "0x" + hex.EncodeToString(integKey)
	}
	line := fmt.Sprintf("%q,%q,%q,\"0x%08x\",%q,\"0x%s\",%q,%q\n", family, src.Unmap(), dst.Unmap(), spi, enc, hex.EncodeToString(encKey), auth, authKey)
	if !okE || !okA {
		line = fmt.Sprintf("# 0x%08x: %s/%s has no Wireshark ESP decryption\n", spi,
			wire.TransformName(wire.TransformENCR, encrID), wire.TransformName(wire.TransformINTEG, integID))
	}
	w.write(w.esp, line)
}

func (w *Writer) write(f *os.File, line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = f.WriteString(line) // a debugging aid: a failed write must not stop the daemon
}
