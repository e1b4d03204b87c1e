package vici

import (
	"fmt"
	"testing"

	govici "github.com/strongswan/govici/vici"
)

func TestZZProbe(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.Handle("list-sas", listSAs) })
	s := ts.session(t)
	for _, n := range []int{1, 2, 10, 50} {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprint("c", i)
		}
		lost := 0
		for i := 0; i < 300; i++ {
			req := govici.NewMessage()
			req.Set("names", names)
			msgs, err := s.StreamedCommandRequest("list-sas", "list-sa", req)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != n {
				lost++
			}
		}
		t.Logf("events=%d: incomplete streams %d/300", n, lost)
	}
}
