package config

import (
	"fmt"
	"testing"
)

// TestTrapAndShuntKeys: start_action = trap (and its alias route), mode =
// pass|drop and the trap actions parse to what the daemon acts on.
func TestTrapAndShuntKeys(t *testing.T) {
	for _, tt := range []struct {
		child                         string
		start, mode, dpd, closeAction string
	}{
		{"start_action = trap", "trap", "tunnel", "clear", "none"},
		{"start_action = route", "trap", "tunnel", "clear", "none"},
		{"dpd_action = trap\n        close_action = route", "none", "tunnel", "trap", "trap"},
		{"mode = pass\n        local_ts = 10.1.0.0/24\n        remote_ts = 10.1.0.0/24", "none", "pass", "clear", "none"},
		{"mode = DROP\n        local_ts = 10.1.0.0/24\n        remote_ts = 10.9.0.0/16[tcp/25]\n        start_action = trap", "trap", "drop", "clear", "none"},
	} {
		c, err := Parse("t.conf", []byte(fmt.Sprintf(template, "", tt.child, "")))
		if err != nil {
			t.Errorf("%q: %v", tt.child, err)
			continue
		}
		ch := c.Connections[0].Children[0]
		if ch.StartAction != tt.start || ch.Mode != tt.mode || ch.DPDAction != tt.dpd || ch.CloseAction != tt.closeAction {
			t.Errorf("%q: start %s mode %s dpd %s close %s", tt.child, ch.StartAction, ch.Mode, ch.DPDAction, ch.CloseAction)
		}
	}
}
