package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// SA lifetimes, liveness and retry keys of swanctl.conf(5), with
// strongSwan's defaults: an IKE SA is rekeyed after 4h (over_time and
// rand_time 10% of that), a Child SA after 1h (life_time 10% more,
// rand_time the difference), no volume limits, no liveness checks.

// IKELifetime are connections.<conn>.{rekey_time, reauth_time,
// over_time, rand_time}.
type IKELifetime struct {
	RekeyTime, ReauthTime, OverTime, RandTime time.Duration
}

// ChildLifetime are children.<child>.{rekey,life,rand}_{time,bytes,packets}.
type ChildLifetime struct {
	RekeyTime, LifeTime, RandTime          time.Duration
	RekeyBytes, LifeBytes, RandBytes       uint64
	RekeyPackets, LifePackets, RandPackets uint64
}

const (
	defaultIKERekey   = 4 * time.Hour
	defaultChildRekey = time.Hour
)

// lifetimeKeys collects which lifetime keys a section set, so that the
// defaults that depend on other keys come out right.
type lifetimeKeys struct {
	set map[string]*Value
}

func (l *lifetimeKeys) note(v *Value) {
	if l.set == nil {
		l.set = map[string]*Value{}
	}
	l.set[v.Key] = v
}

func (l *lifetimeKeys) has(k string) bool { _, ok := l.set[k]; return ok }

// parseDuration reads strongSwan's time syntax: a number with an
// optional unit s, m, h or d (seconds without one).
func parseDuration(v *Value, key string) (time.Duration, error) {
	s, err := single(v, key)
	if err != nil {
		return 0, err
	}
	unit := time.Second
	num := s
	switch s[len(s)-1] {
	case 's':
		num = s[:len(s)-1]
	case 'm':
		unit, num = time.Minute, s[:len(s)-1]
	case 'h':
		unit, num = time.Hour, s[:len(s)-1]
	case 'd':
		unit, num = 24*time.Hour, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > uint64(math.MaxInt64/int64(unit)) {
		return 0, invalid(v.Pos, key, "invalid time %q (want a number with an optional unit s, m, h or d)", s)
	}
	return time.Duration(n) * unit, nil
}

// parseVolume reads a byte or packet count with an optional K, M or G
// suffix (multiples of 1024, as swanctl reads them).
func parseVolume(v *Value, key string) (uint64, error) {
	s, err := single(v, key)
	if err != nil {
		return 0, err
	}
	mult := uint64(1)
	num := s
	switch strings.ToLower(s[len(s)-1:]) {
	case "k":
		mult, num = 1<<10, s[:len(s)-1]
	case "m":
		mult, num = 1<<20, s[:len(s)-1]
	case "g":
		mult, num = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > math.MaxUint64/mult {
		return 0, invalid(v.Pos, key, "invalid number %q (want digits with an optional K, M or G)", s)
	}
	return n * mult, nil
}

// connLifetimeKey handles one IKE lifetime, DPD or retry key of a
// connection; ok is false if key is none of them.
func connLifetimeKey(conn *Connection, v *Value, key string, seen *lifetimeKeys) (bool, error) {
	var err error
	switch v.Key {
	case "rekey_time":
		conn.Life.RekeyTime, err = parseDuration(v, key)
	case "reauth_time":
		conn.Life.ReauthTime, err = parseDuration(v, key)
	case "over_time":
		conn.Life.OverTime, err = parseDuration(v, key)
	case "rand_time":
		conn.Life.RandTime, err = parseDuration(v, key)
	case "dpd_delay":
		conn.DPDDelay, err = parseDuration(v, key)
	case "keyingtries":
		var s string
		if s, err = single(v, key); err == nil {
			n, perr := strconv.Atoi(s)
			if perr != nil || n < 0 {
				return true, invalid(v.Pos, key, "invalid keyingtries %q (want 0 for forever, or a count)", s)
			}
			conn.KeyingTries = n
		}
	default:
		return false, nil
	}
	if err == nil {
		seen.note(v)
	}
	return true, err
}

// finishIKELifetime applies the defaults and checks the combination, as
// swanctl.conf(5) gives them: rekey_time is 4h unless reauth_time is set
// (then 0, "explicitly set both to enforce rekeying and
// reauthentication"), over_time 10% of the longer of the two, rand_time
// over_time.
func finishIKELifetime(conn *Connection, path string, seen *lifetimeKeys) error {
	l := &conn.Life
	if !seen.has("rekey_time") && l.ReauthTime == 0 {
		l.RekeyTime = defaultIKERekey
	}
	if !seen.has("over_time") {
		l.OverTime = max(l.RekeyTime, l.ReauthTime) / 10
	}
	if !seen.has("rand_time") {
		l.RandTime = l.OverTime
	}
	if v := seen.set["rand_time"]; v != nil {
		for _, t := range []struct {
			name string
			d    time.Duration
		}{{"rekey_time", l.RekeyTime}, {"reauth_time", l.ReauthTime}} {
			if t.d > 0 && l.RandTime >= t.d {
				return invalid(v.Pos, join2(path, "rand_time"), "rand_time (%v) must be shorter than %s (%v)", l.RandTime, t.name, t.d)
			}
		}
	}
	return nil
}

// childLifetimeKey handles one lifetime or action key of a child.
func childLifetimeKey(ch *Child, v *Value, key string, seen *lifetimeKeys) (bool, error) {
	var err error
	l := &ch.Life
	switch v.Key {
	case "rekey_time":
		l.RekeyTime, err = parseDuration(v, key)
	case "life_time":
		l.LifeTime, err = parseDuration(v, key)
	case "rand_time":
		l.RandTime, err = parseDuration(v, key)
	case "rekey_bytes":
		l.RekeyBytes, err = parseVolume(v, key)
	case "life_bytes":
		l.LifeBytes, err = parseVolume(v, key)
	case "rand_bytes":
		l.RandBytes, err = parseVolume(v, key)
	case "rekey_packets":
		l.RekeyPackets, err = parseVolume(v, key)
	case "life_packets":
		l.LifePackets, err = parseVolume(v, key)
	case "rand_packets":
		l.RandPackets, err = parseVolume(v, key)
	case "dpd_action":
		ch.DPDAction, err = parseAction(v, key, "clear", "restart", "clear|trap|restart")
	case "close_action":
		ch.CloseAction, err = parseAction(v, key, "none", "start", "none|trap|start")
	default:
		return false, nil
	}
	if err == nil {
		seen.note(v)
	}
	return true, err
}

// parseAction reads dpd_action/close_action: the "nothing more" word,
// the "set it up again" word, or trap (clear the SA and install a trap
// policy in its place, so the next packet sets it up again).
func parseAction(v *Value, key, none, again, want string) (string, error) {
	s, err := single(v, key)
	if err != nil {
		return "", err
	}
	switch l := strings.ToLower(s); l {
	case none, "none", "clear":
		return none, nil
	case again, "restart", "start":
		return again, nil
	case "trap", "route":
		return "trap", nil
	case "trap|start", "start|trap":
		return "", &Error{Pos: v.Pos, Key: key, Msg: fmt.Sprintf("%q not supported yet; use %s", s, want), Err: ErrUnsupported}
	}
	return "", invalid(v.Pos, key, "invalid value %q (want %s)", s, want)
}

// finishChildLifetime applies swanctl's defaults and checks that each
// hard limit lies beyond its rekey limit and each random range below it.
func finishChildLifetime(ch *Child, path string, seen *lifetimeKeys) error {
	l := &ch.Life
	if !seen.has("rekey_time") {
		l.RekeyTime = defaultChildRekey
	}
	if !seen.has("life_time") {
		l.LifeTime = l.RekeyTime + l.RekeyTime/10
	}
	if !seen.has("rand_time") && l.RekeyTime > 0 && l.LifeTime > l.RekeyTime {
		l.RandTime = l.LifeTime - l.RekeyTime
	}
	if !seen.has("life_bytes") {
		l.LifeBytes = l.RekeyBytes + l.RekeyBytes/10
	}
	if !seen.has("rand_bytes") && l.RekeyBytes > 0 && l.LifeBytes > l.RekeyBytes {
		l.RandBytes = l.LifeBytes - l.RekeyBytes
	}
	if !seen.has("life_packets") {
		l.LifePackets = l.RekeyPackets + l.RekeyPackets/10
	}
	if !seen.has("rand_packets") && l.RekeyPackets > 0 && l.LifePackets > l.RekeyPackets {
		l.RandPackets = l.LifePackets - l.RekeyPackets
	}
	if ch.DPDAction == "" {
		ch.DPDAction = "clear"
	}
	if ch.CloseAction == "" {
		ch.CloseAction = "none"
	}
	check := func(rekeyKey, lifeKey, randKey string, rekey, life, rnd uint64, show func(uint64) string) error {
		if v := seen.set[lifeKey]; v != nil && rekey > 0 && life > 0 && life <= rekey {
			return invalid(v.Pos, join2(path, lifeKey), "%s (%s) must be greater than %s (%s)", lifeKey, show(life), rekeyKey, show(rekey))
		}
		if v := seen.set[randKey]; v != nil && rekey > 0 && rnd >= rekey {
			return invalid(v.Pos, join2(path, randKey), "%s (%s) must be less than %s (%s)", randKey, show(rnd), rekeyKey, show(rekey))
		}
		return nil
	}
	dur := func(n uint64) string { return time.Duration(n).String() }
	num := func(n uint64) string { return strconv.FormatUint(n, 10) }
	if err := check("rekey_time", "life_time", "rand_time", uint64(l.RekeyTime), uint64(l.LifeTime), uint64(l.RandTime), dur); err != nil {
		return err
	}
	if err := check("rekey_bytes", "life_bytes", "rand_bytes", l.RekeyBytes, l.LifeBytes, l.RandBytes, num); err != nil {
		return err
	}
	return check("rekey_packets", "life_packets", "rand_packets", l.RekeyPackets, l.LifePackets, l.RandPackets, num)
}
