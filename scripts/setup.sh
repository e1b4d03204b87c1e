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

# ensure_go makes a Go toolchain available. Debian's golang-go is only the
# bootstrap: go.mod names the Go version, which the go command fetches from
# the module proxy (GOTOOLCHAIN=auto).
ensure_go() {
	for d in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin"; do
		case ":$PATH:" in *":$d:"*) ;; *) [ -d "$d" ] && PATH="$PATH:$d" ;; esac
	done
	export PATH
	if ! command -v go >/dev/null 2>&1; then
		install_packages golang-go ca-certificates git
	fi
	export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
	go version
}
