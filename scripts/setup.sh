# shellcheck shell=bash
# Sourced by demo.sh and test.sh: installs what goipsec needs on Debian
# (or Ubuntu) when it is missing. Only apt-get and the Go module proxy are
# used; nothing else is downloaded.

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$1 needs root (network namespaces, TUN devices, ports 500/4500): run it with sudo" >&2
		exit 1
	fi
}

# install_packages PKG... installs the Debian packages that are not installed yet.
install_packages() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "==> installing Debian packages: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# ensure_go makes the Go toolchain that go.mod names available. A Go of
# 1.21 or later fetches it by itself (GOTOOLCHAIN=auto); older ones (Debian
# 12's golang-go is 1.19) and machines without Go get it straight from the
# Go module proxy, where it is published as the module golang.org/toolchain.
ensure_go() {
	for d in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin" /usr/local/lib/goipsec-go/bin; do
		case ":$PATH:" in *":$d:"*) ;; *) [ -d "$d" ] && PATH="$PATH:$d" ;; esac
	done
	export PATH
	export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
	local want minor
	want=$(sed -n 's/^go \([0-9.]*\).*/\1/p' go.mod)
	minor=0
	if command -v go >/dev/null 2>&1; then
		minor=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
	fi
	if [ "${minor:-0}" -lt 21 ]; then
		local arch proxy dir
		arch=$(uname -m)
		case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
		proxy="${GOPROXY:-https://proxy.golang.org}"
		proxy="${proxy%%,*}"
		dir=/usr/local/lib/goipsec-go
		echo "==> fetching Go $want from $proxy (golang.org/toolchain)"
		install_packages curl unzip ca-certificates
		local tmp
		tmp=$(mktemp -d)
		curl -fsSL "$proxy/golang.org/toolchain/@v/v0.0.1-go$want.linux-$arch.zip" -o "$tmp/go.zip"
		unzip -q "$tmp/go.zip" -d "$tmp"
		rm -rf "$dir"
		mv "$tmp/golang.org/toolchain@v0.0.1-go$want.linux-$arch" "$dir"
		chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/* 2>/dev/null || true
		rm -rf "$tmp"
		PATH="$dir/bin:$PATH"
		export PATH
	fi
	go version
}
