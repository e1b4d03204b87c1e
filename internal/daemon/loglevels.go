package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Subsystems are the values of the "subsys" attribute the daemon gives
// each part's logger; records without one belong to "daemon". charon's
// log group names (filelog/syslog sections of strongswan.conf) are
// accepted as aliases, so an operator can write "ike=debug,esp=warn".
var Subsystems = []string{"daemon", "ike", "dataplane", "vici"}

var subsysAliases = map[string]string{
	"dmn": "daemon", "ike": "ike", "esp": "dataplane", "net": "dataplane",
	"knl": "dataplane",
}

// LogLevels is a default level plus overrides per subsystem.
type LogLevels struct {
	Default slog.Level
	Subsys  map[string]slog.Level
}

// ParseLogLevels reads "LEVEL[,SUBSYS=LEVEL...]" (or only overrides, the
// default then being info): "info", "warn,ike=debug", "ike=debug,esp=error".
// Levels are slog's names (debug, info, warn, error, optionally with an
// offset such as debug-4) or charon's numbers -1..4 (-1 silent ... 4
// raw), mapped to the closest slog level.
func ParseLogLevels(s string) (LogLevels, error) {
	lv := LogLevels{Default: slog.LevelInfo, Subsys: map[string]slog.Level{}}
	seenDefault := false
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return lv, fmt.Errorf("empty entry in %q", s)
		}
		name, level, ok := strings.Cut(part, "=")
		if !ok {
			if seenDefault {
				return lv, fmt.Errorf("two default levels in %q", s)
			}
			l, err := parseLevel(part)
			if err != nil {
				return lv, err
			}
			lv.Default, seenDefault = l, true
			continue
		}
		sub, err := subsystem(strings.TrimSpace(name))
		if err != nil {
			return lv, err
		}
		if _, dup := lv.Subsys[sub]; dup {
			return lv, fmt.Errorf("subsystem %q given twice", sub)
		}
		l, err := parseLevel(strings.TrimSpace(level))
		if err != nil {
			return lv, fmt.Errorf("%s: %w", name, err)
		}
		lv.Subsys[sub] = l
	}
	return lv, nil
}

func subsystem(name string) (string, error) {
	n := strings.ToLower(name)
	if slices.Contains(Subsystems, n) {
		return n, nil
	}
	if s, ok := subsysAliases[n]; ok {
		return s, nil
	}
	return "", fmt.Errorf("unknown subsystem %q (want one of %s, or charon's dmn, esp, net, knl)",
		name, strings.Join(Subsystems, ", "))
}

// levelSilent is above every level the daemon logs at (charon's -1).
const levelSilent = slog.Level(100)

// parseLevel accepts slog's level names and charon's numeric log levels:
// -1 silent, 0 audit (warn and above), 1 control (info), 2 controlmore and
// above (debug; slog has nothing finer that the daemon uses).
func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "-1", "silent":
		return levelSilent, nil
	case "0":
		return slog.LevelWarn, nil
	case "1":
		return slog.LevelInfo, nil
	case "2", "3", "4":
		return slog.LevelDebug, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("bad level %q (want debug, info, warn, error, silent or charon's -1..4)", s)
	}
	return l, nil
}

// Min is the most verbose level any subsystem logs at: the level the
// handler under a LevelHandler must let through.
func (lv LogLevels) Min() slog.Level {
	m := lv.Default
	for _, l := range lv.Subsys {
		m = min(m, l)
	}
	return m
}

func (lv LogLevels) level(subsys string) slog.Level {
	if l, ok := lv.Subsys[subsys]; ok {
		return l
	}
	return lv.Default
}

// LevelHandler filters records by the level of their subsystem, which it
// learns from the "subsys" attribute of WithAttrs (how the daemon makes
// each part's logger). inner should accept everything down to lv.Min().
func LevelHandler(inner slog.Handler, lv LogLevels) slog.Handler {
	return &levelHandler{inner: inner, lv: lv, level: lv.level("daemon")}
}

type levelHandler struct {
	inner slog.Handler
	lv    LogLevels
	level slog.Level
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.inner.Enabled(ctx, l)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.level {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	cp := *h
	for _, a := range attrs {
		if a.Key == "subsys" {
			cp.level = h.lv.level(a.Value.String())
		}
	}
	cp.inner = h.inner.WithAttrs(attrs)
	return &cp
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	cp := *h
	cp.inner = h.inner.WithGroup(name)
	return &cp
}
