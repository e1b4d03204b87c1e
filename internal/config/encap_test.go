package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestEncap: encap is a swanctl boolean, default no as in strongSwan
// (raw ESP where no NAT is detected); yes forces ESP in UDP; a bad value
// is invalid and named with file, line and key.
func TestEncap(t *testing.T) {
	for line, want := range map[string]bool{
		"":             false,
		"encap = no":   false,
		"encap = yes":  true,
		"encap = true": true,
		"encap = Yes":  true,
		"encap = 0":    false,
	} {
		cfg, err := Parse("t.conf", []byte(fmt.Sprintf(template, line, "", "")))
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if got := cfg.Connections[0].Encap; got != want {
			t.Errorf("%q: Encap %v, want %v", line, got, want)
		}
	}
	_, err := Parse("t.conf", []byte(fmt.Sprintf(template, "encap = maybe", "", "")))
	if err == nil || errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "t.conf:9: connections.site.encap") {
		t.Errorf("encap = maybe: %v, want an invalid value at t.conf:9", err)
	}
}
