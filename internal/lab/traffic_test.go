package lab_test

import (
	"testing"

	"github.com/goipsec/goipsec/internal/lab"
)

func TestCyclicEqual(t *testing.T) {
	p := []byte("abcd")
	for _, tc := range []struct {
		off  int
		b    string
		want bool
	}{
		{0, "", true},
		{0, "abcd", true},
		{0, "abcdabcdab", true},
		{2, "cdabcdab", true},
		{3, "dabcdabcda", true},
		{3, "dabcdXbcda", false},
		{1, "a", false},
		{0, "abce", false},
	} {
		if got := lab.CyclicEqual(p, tc.off, []byte(tc.b)); got != tc.want {
			t.Errorf("cyclicEqual(%q, %d, %q) = %v, want %v", p, tc.off, tc.b, got, tc.want)
		}
	}
}
