#!/usr/bin/env bash
# bench/scale.sh — many tunnels against one goipsec daemon (issue 5,
# "Scale"). Run as root:
#
#	sudo bench/scale.sh                  # 1,000 then 10,000 tunnels
#	sudo TUNNELS=2000,5000 bench/scale.sh
#
# It builds goipsec and the load generator (bench/scale), which makes two
# network namespaces, runs the daemon in one as the responder and brings up
# the tunnels from the other with goipsec's own IKE engine (one identity and
# one /32 inner address per tunnel), then prints the setup rate and the
# daemon's memory per established tunnel. Last, the data plane's outbound
# policy lookup with 10 to 10,000 installed policies (BenchmarkOutboundLookup).
# The generator removes its namespaces and stops the daemon by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_go

TUNNELS=${TUNNELS:-1000,10000}
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (network namespaces)" >&2
	exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "==> building goipsec and the load generator"
go build -o "$TMP/goipsec" ./cmd/goipsec
go build -o "$TMP/scale" ./bench/scale
echo "==> tunnels: $TUNNELS (machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r))"
# The daemon writes a heap profile (after a full GC) before each memory
# reading, so the heap figures count live objects only; the last one is
# kept in the temporary directory for `go tool pprof` while the script runs.
GOIPSEC_HEAPPROFILE="$TMP/heap.prof" "$TMP/scale" -binary "$TMP/goipsec" -n "$TUNNELS"
echo "==> data plane outbound policy lookup (ns per packet)"
go test -run '^$' -bench OutboundLookup -benchtime 20000x ./internal/dataplane/ | grep -E '^Benchmark'
