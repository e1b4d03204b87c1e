package daemon

import (
	"strconv"
	"testing"
)

// BenchmarkLoadConns loads 10,000 distinct connections over VICI, one
// load-conn each, as swanctl --load-all does, then unloads them one by
// one as --load-all of an empty file does.
func BenchmarkLoadConns(b *testing.B) {
	t := &testing.T{}
	for b.Loop() {
		d := testDaemon(t, "")
		for i := range loadConnsN {
			m := siteMessage(t, "aes256gcm16")
			site := m.GetSection("site")
			m.Delete("site")
			_ = m.Set("site"+strconv.Itoa(i), site)
			if resp, _ := call(t, d.viciLoadConn, m); resp.GetString("success") != "yes" {
				b.Fatal(resp)
			}
		}
		for i := range loadConnsN {
			if resp, _ := call(t, d.viciUnloadConn, msg("name", "site"+strconv.Itoa(i))); resp.GetString("success") != "yes" {
				b.Fatal(resp)
			}
		}
		if len(d.engine.Peers()) != 0 || len(d.cfg.Load().Connections) != 0 {
			b.Fatal("connections left after unloading all")
		}
	}
}

const loadConnsN = 10000
