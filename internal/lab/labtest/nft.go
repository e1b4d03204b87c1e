package labtest

import (
	"testing"

	"github.com/goipsec/goipsec/internal/lab"
)

// RequireNFT skips tb, loudly, unless nftables' `nft` is installed (the
// NAT router of lab.NewNATSites). With GOIPSEC_LAB_REQUIRED=1 it fails
// instead.
func RequireNFT(tb testing.TB) {
	tb.Helper()
	if err := lab.CheckNFT(); err != nil {
		skip(tb, "needs nftables", err)
	}
}
