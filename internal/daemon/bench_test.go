package daemon

import (
	"strconv"
	"testing"
)

// BenchmarkLoadConns loads 10,000 distinct connections over VICI, one
// load-conn each, as swanctl --load-all does (apply runs once per
// connection, over all connections loaded so far).
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
	}
}

const loadConnsN = 10000
