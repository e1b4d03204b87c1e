#!/usr/bin/env bash
# Runs every goipsec test on a fresh Debian machine: installs strongSwan and
# the tools the tests use, checks formatting and vet, runs the unit, vector,
# simulator and fuzz-seed tests with the race detector, then the network
# namespace tests (goipsec to goipsec and goipsec to strongSwan), which need
# root. Without root those are skipped loudly; CI runs as root and sets
# GOIPSEC_LAB_REQUIRED=1 so that a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
if [ "$(id -u)" -eq 0 ]; then
	install_packages iproute2 iputils-ping strongswan-charon strongswan-swanctl \
		libcharon-extra-plugins libstrongswan-standard-plugins libstrongswan-extra-plugins iperf3 tcpdump tshark python3-scapy nftables
else
	echo "!!! not root: cannot install packages; namespace and strongSwan tests will be SKIPPED" >&2
fi
ensure_go

echo "==> gofmt"
unformatted=$(gofmt -l cmd internal test bench)
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "==> go vet"
go vet ./...
go vet -tags netns ./test/...

echo "==> unit, vector, simulator and fuzz-seed tests (race detector)"
go test -race -count=1 -timeout 20m ./...

echo "==> network namespace and strongSwan tests (build tag netns)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
go test -tags netns -count=1 -timeout 45m -v ./internal/lab/... ./internal/dataplane/ ./test/... >"$log" 2>&1
rc=$?
set -e
grep -E '^(--- |ok|FAIL|panic)|!!!' "$log" | grep -v -- '--- PASS: .*/' || true
if [ $rc -ne 0 ]; then
	echo "==> namespace tests FAILED; full output:" >&2
	cat "$log" >&2
	exit $rc
fi
echo "==> all tests passed"
