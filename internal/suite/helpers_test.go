package suite

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex written with optional spaces and newlines, the way RFCs
// print their vectors.
func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
