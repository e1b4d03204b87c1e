// Package labtest gates tests that need package lab's namespaces or
// strongSwan. It is separate from lab so that the goipsec binary, which uses
// lab for `goipsec demo`, does not link package testing.
package labtest

import (
	"fmt"
	"os"
	"testing"

	"github.com/goipsec/goipsec/internal/lab"
)

// StrictEnv names the environment variable that turns these skips into
// failures (set it to 1 in CI, where root and strongSwan are expected).
const StrictEnv = "GOIPSEC_LAB_REQUIRED"

// RequireRoot skips tb, loudly, unless the process is root and `ip netns`
// works. With GOIPSEC_LAB_REQUIRED=1 it fails instead.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if err := lab.CheckRoot(); err != nil {
		skip(tb, "needs root and iproute2 for network namespaces", err)
	}
}

// RequireStrongSwan skips tb, loudly, unless charon, its kernel-libipsec
// and vici plugins and swanctl are installed. With GOIPSEC_LAB_REQUIRED=1 it
// fails instead. It does not check for root: call RequireRoot as well.
func RequireStrongSwan(tb testing.TB) {
	tb.Helper()
	if err := lab.CheckStrongSwan(); err != nil {
		skip(tb, "needs strongSwan", err)
	}
}

func skip(tb testing.TB, what string, err error) {
	tb.Helper()
	msg := fmt.Sprintf("SKIPPING %s: %s: %v", tb.Name(), what, err)
	if os.Getenv(StrictEnv) == "1" {
		tb.Fatalf("%s (%s=1)", msg, StrictEnv)
	}
	// Also on stderr, so the skip shows without -v.
	fmt.Fprintln(os.Stderr, "!!! "+msg)
	tb.Skip(msg)
}

// RequirePlugin skips tb, loudly, unless strongSwan's plugin NAME is
// installed (an optional one, such as cmac from libstrongswan-extra-plugins).
// With GOIPSEC_LAB_REQUIRED=1 it fails instead.
func RequirePlugin(tb testing.TB, name, debianPackage string) {
	tb.Helper()
	if err := lab.CheckPlugin(name); err != nil {
		skip(tb, "needs strongSwan's "+name+" plugin (Debian: "+debianPackage+")", err)
	}
}
