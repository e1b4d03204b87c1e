package config

import (
	"strconv"
	"strings"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// Defaults and bounds of the ESP settings of a child.
const (
	// DefaultReplayWindow is goipsec's anti-replay window (strongSwan's
	// charon.replay_window is 32; a larger window costs 8 bytes per 64
	// packets and keeps a fast, batched data plane clear of false
	// replays).
	DefaultReplayWindow = 1024
	MinReplayWindow     = 32 // RFC 4303 3.4.3
	MaxReplayWindow     = 65536
	// TFCPaddingMTU is Child.TFCPadding for tfc_padding = mtu: pad to the
	// tunnel's MTU.
	TFCPaddingMTU = -1
)

// childESPKey parses the ESP settings of a child (replay_window,
// tfc_padding); ok is false for other keys.
func childESPKey(ch *Child, v *Value, key string) (ok bool, err error) {
	switch v.Key {
	case "replay_window":
		ch.ReplayWindow, err = parseReplayWindow(v, key)
	case "tfc_padding":
		ch.TFCPadding, err = parseTFCPadding(v, key)
	default:
		return false, nil
	}
	return true, err
}

// parseReplayWindow reads replay_window: 0 turns the anti-replay check
// off, otherwise MinReplayWindow..MaxReplayWindow packets.
func parseReplayWindow(v *Value, key string) (int, error) {
	s, err := single(v, key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n != 0 && (n < MinReplayWindow || n > MaxReplayWindow) {
		return 0, invalid(v.Pos, key, "invalid replay_window %q (want 0 to turn replay protection off, or %d to %d packets)",
			s, MinReplayWindow, MaxReplayWindow)
	}
	return n, nil
}

// parseTFCPadding reads tfc_padding (RFC 4303 2.4): 0, mtu, or a number
// of octets to pad tunnel-mode payloads up to.
func parseTFCPadding(v *Value, key string) (int, error) {
	s, err := single(v, key)
	if err != nil {
		return 0, err
	}
	if strings.EqualFold(s, "mtu") {
		return TFCPaddingMTU, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, invalid(v.Pos, key, "invalid tfc_padding %q (want 0, mtu or 1 to 65535 octets)", s)
	}
	return n, nil
}

// checkReplayESN refuses replay_window = 0 with an ESP proposal that
// allows Extended Sequence Numbers: the receiver needs the window to
// infer their high-order bits (RFC 4303 2.2.1, appendix A).
func checkReplayESN(ch *Child, pos Pos, key string) error {
	if ch.ReplayWindow != 0 {
		return nil
	}
	for _, p := range ch.ESPProposals {
		for _, t := range p.Get(ike.TransformESN) {
			if t.ID == ike.ESNYes {
				return invalid(pos, key, "replay_window = 0 cannot be used with extended sequence numbers (esn in esp_proposals)")
			}
		}
	}
	return nil
}
