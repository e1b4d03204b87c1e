package ike

import (
	"testing"

	"github.com/goipsec/goipsec/internal/esp"
)

// TestChildReplayWindowAndTFC: a child's replay_window and tfc_padding
// reach the installed SAs of that side only; replay protection can be
// turned off.
func TestChildReplayWindowAndTFC(t *testing.T) {
	_, l, r := newPair(t, pairOpts{})
	l.e.Peers()[0].Children[0].ReplayWindow = 4096
	l.e.Peers()[0].Children[0].TFCPadding = 1200
	r.e.Peers()[0].Children[0].ReplayWindow = esp.ReplayDisabled
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	checkChildPair(t, l, r)
	lc, rc := l.inst.all()[0], r.inst.all()[0]
	if got := lc.In.ReplayWindow(); got != 4096 {
		t.Errorf("left replay window %d, want 4096", got)
	}
	if got := rc.In.ReplayWindow(); got != 0 {
		t.Errorf("right replay window %d, want 0 (off)", got)
	}
	if got := lc.Out.TFCPadding(); got != 1200 {
		t.Errorf("left TFC padding %d, want 1200", got)
	}
	if got := rc.Out.TFCPadding(); got != 0 {
		t.Errorf("right TFC padding %d, want 0", got)
	}
}
