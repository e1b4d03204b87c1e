package daemon

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestParseLogLevels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		def  slog.Level
		subs map[string]slog.Level
		min  slog.Level
	}{
		{"info", slog.LevelInfo, nil, slog.LevelInfo},
		{"warn,ike=debug", slog.LevelWarn, map[string]slog.Level{"ike": slog.LevelDebug}, slog.LevelDebug},
		{"ike=debug, esp=error", slog.LevelInfo, map[string]slog.Level{"ike": slog.LevelDebug, "dataplane": slog.LevelError}, slog.LevelDebug},
		{"1,dmn=-1,vici=2", slog.LevelInfo, map[string]slog.Level{"daemon": levelSilent, "vici": slog.LevelDebug}, slog.LevelDebug},
		{"error,DATAPLANE=0", slog.LevelError, map[string]slog.Level{"dataplane": slog.LevelWarn}, slog.LevelWarn},
	} {
		lv, err := ParseLogLevels(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if lv.Default != tc.def || len(lv.Subsys) != len(tc.subs) || lv.Min() != tc.min {
			t.Errorf("%q: got %+v (min %v), want default %v subs %v min %v", tc.in, lv, lv.Min(), tc.def, tc.subs, tc.min)
		}
		for k, v := range tc.subs {
			if lv.Subsys[k] != v {
				t.Errorf("%q: %s = %v, want %v", tc.in, k, lv.Subsys[k], v)
			}
		}
	}
	for _, bad := range []string{"", "loud", "info,debug", "ike=debug,ike=info", "kernel=debug", "ike=", "info,,ike=debug"} {
		if _, err := ParseLogLevels(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// TestLevelHandler checks that each subsystem's logger, made with
// With("subsys", ...) as the daemon does and passed through the logTee
// that feeds VICI, logs at its own level.
func TestLevelHandler(t *testing.T) {
	lv, err := ParseLogLevels("warn,ike=debug,dataplane=error")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: lv.Min()})
	root := slog.New(newLogTee(LevelHandler(inner, lv)))
	ike, dp, vici := root.With("subsys", "ike"), root.With("subsys", "dataplane"), root.With("subsys", "vici")
	ike.Debug("ike-debug")
	ike.With("conn", "site").Info("ike-info-conn")
	dp.Warn("dp-warn")
	dp.Error("dp-error")
	vici.Info("vici-info")
	vici.Warn("vici-warn")
	root.Info("daemon-info")
	root.Warn("daemon-warn")
	out := buf.String()
	for _, want := range []string{"ike-debug", "ike-info-conn", "dp-error", "vici-warn", "daemon-warn"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s missing from:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"dp-warn", "vici-info", "daemon-info"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("%s logged:\n%s", unwanted, out)
		}
	}
	if !ike.Enabled(t.Context(), slog.LevelDebug) || dp.Enabled(t.Context(), slog.LevelWarn) {
		t.Error("Enabled does not follow the subsystem's level")
	}
}
