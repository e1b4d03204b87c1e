package daemon

import (
	"context"
	"strings"

	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/vici"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// viciGetAlgorithms answers get-algorithms (swanctl --list-algs) with the
// transforms goipsec implements, found by asking the suite package for
// each IANA transform ID (RFC 7296 3.3.2, IANA "IKEv2 Transform
// Attribute" registries), so the list cannot drift from the code. Every
// implementation is goipsec's own ("plugin" goipsec).
func (d *Daemon) viciGetAlgorithms(context.Context, *vici.Message, func(string, *vici.Message)) (*vici.Message, error) {
	aead, encr := vici.NewMessage(), vici.NewMessage()
	for id := uint16(1); id < 64; id++ {
		name := strings.TrimPrefix(wire.TransformName(wire.TransformENCR, id), "ENCR_")
		for _, bits := range []int{0, 128, 192, 256} {
			if _, _, err := suite.ESPKeymatLen(id, bits, 0); err == nil && id != wire.EncrNull {
				_ = aead.Set(name, "goipsec")
			} else if _, _, err := suite.ESPKeymatLen(id, bits, wire.IntegHMACSHA256_128); err == nil {
				_ = encr.Set(name, "goipsec")
			}
		}
	}
	integ := vici.NewMessage()
	for id := uint16(1); id < 32; id++ {
		if _, err := suite.IntegKeyLen(id); err == nil {
			_ = integ.Set(strings.TrimPrefix(wire.TransformName(wire.TransformINTEG, id), "AUTH_"), "goipsec")
		}
	}
	prf := vici.NewMessage()
	for id := uint16(1); id < 16; id++ {
		if _, err := suite.NewPRF(id); err == nil {
			_ = prf.Set(wire.TransformName(wire.TransformPRF, id), "goipsec")
		}
	}
	dh := vici.NewMessage()
	for id := uint16(1); id < 64; id++ {
		if suite.SupportedGroup(id) {
			_ = dh.Set(wire.TransformName(wire.TransformKE, id), "goipsec")
		}
	}
	return msg("encryption", encr, "integrity", integ, "aead", aead, "prf", prf, "dh", dh), nil
}
