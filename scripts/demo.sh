#!/usr/bin/env bash
# Runs `goipsec demo` on a fresh Debian machine: installs what it needs,
# builds goipsec, creates two network namespaces with a tunnel between
# them, sends traffic across it and cleans up. Extra arguments go to the
# demo (e.g. --esp chacha20poly1305 --duration 5s).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
need_root "goipsec demo"
install_packages iproute2 iputils-ping
ensure_go
mkdir -p bin
go build -o bin/goipsec ./cmd/goipsec
exec bin/goipsec demo "$@"
