package lab_test

import (
	"strings"
	"testing"
	"time"

	"github.com/goipsec/goipsec/internal/lab"
)

func TestNewNamespaceRejectsBadPrefix(t *testing.T) {
	for _, p := range []string{"", "a/b", "a b", strings.Repeat("x", 65)} {
		if ns, err := lab.NewNamespace(p); err == nil {
			ns.Close()
			t.Errorf("NewNamespace(%q) succeeded", p)
		}
	}
}

func TestTransferResult(t *testing.T) {
	r := lab.TransferResult{Bytes: 125_000_000, Duration: time.Second, Intact: true}
	if got := r.Mbps(); got != 1000 {
		t.Errorf("Mbps = %v, want 1000", got)
	}
	if got := (lab.TransferResult{Bytes: 1}).Mbps(); got != 0 {
		t.Errorf("Mbps with zero duration = %v, want 0", got)
	}
}
