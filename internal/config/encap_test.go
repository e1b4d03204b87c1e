package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestEncap: encap = yes is what goipsec always does and is accepted;
// encap = no cannot be honoured without raw ESP and is refused as not
// supported yet, naming file, line and key; a bad value is invalid.
func TestEncap(t *testing.T) {
	for _, line := range []string{"encap = yes", "encap = true", "encap = Yes"} {
		if _, err := Parse("t.conf", []byte(fmt.Sprintf(template, line, "", ""))); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
	_, err := Parse("t.conf", []byte(fmt.Sprintf(template, "encap = no", "", "")))
	if !errors.Is(err, ErrUnsupported) || !strings.HasPrefix(err.Error(), "t.conf:9: connections.site.encap: encap = no") || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("encap = no: %v, want not supported yet at t.conf:9", err)
	}
	_, err = Parse("t.conf", []byte(fmt.Sprintf(template, "encap = maybe", "", "")))
	if err == nil || errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "t.conf:9: connections.site.encap") {
		t.Errorf("encap = maybe: %v, want an invalid value at t.conf:9", err)
	}
}
