#!/usr/bin/env bash
# bench/throughput.sh — single-stream TCP throughput and ping RTT through
# tunnels between two network namespaces (issue 6). Run as root:
#
#	sudo bench/throughput.sh
#	sudo RUNS=5 DURATION=20 bench/throughput.sh
#	sudo SETUPS="plain goipsec-aesgcm" bench/throughput.sh
#
# Setups (each gets its own freshly created pair of namespaces):
#
#	plain              the veth pair itself, outer addresses, no tunnel
#	goipsec-aesgcm     goipsec <-> goipsec, ESP in UDP (encap = yes), AES-256-GCM
#	goipsec-aesgcm-raw goipsec <-> goipsec, raw ESP (encap = no), AES-256-GCM
#	goipsec-chacha     goipsec <-> goipsec, ESP in UDP (encap = yes), ChaCha20-Poly1305
#	strongswan-aesgcm  charon <-> charon, kernel-libipsec, OpenSSL crypto, AES-256-GCM
#
# and, not run by default, goipsec AES-256-GCM with levers of the data plane
# turned off (GOIPSEC_DATAPLANE, internal/dataplane/tuning.go), to see what
# each one buys:
#
#	goipsec-aesgcm-serial     no crypto workers (readers seal and open)
#	goipsec-aesgcm-nooffload  no UDP GSO/GRO
#	goipsec-aesgcm-baseline   both off (close to the first data plane)
#
# Topology (DESIGN.md; the same as internal/lab.SiteToSite):
#
#	left ns:  veth "outer" 192.0.2.1/24, "lan0" 10.1.0.1/24
#	right ns: veth "outer" 192.0.2.2/24, "lan0" 10.2.0.1/24
#
# Tunnels protect 10.1.0.0/24 <-> 10.2.0.0/24; iperf3 runs between the lan0
# addresses (client in left, server in right: left -> right data). Each
# measurement runs RUNS times (default 3) for DURATION seconds (default 10);
# the script prints every run, the median per setup and the ratios issue 6
# sets goals for. Environment knobs: RUNS, DURATION, SETUPS, PING_COUNT.
#
# Everything it creates (namespaces, processes, the temporary directory) is
# removed on exit, on failure and on Ctrl-C. Processes are stopped by the PID
# this script recorded when it started them, never by name.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/setup.sh

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
PING_COUNT=${PING_COUNT:-20}
SETUPS=${SETUPS:-plain goipsec-aesgcm goipsec-aesgcm-raw goipsec-chacha strongswan-aesgcm}

LEFT_OUTER=192.0.2.1
RIGHT_OUTER=192.0.2.2
LEFT_INNER=10.1.0.1
RIGHT_INNER=10.2.0.1
LEFT_NET=10.1.0.0/24
RIGHT_NET=10.2.0.0/24
IKE_AES=aes256gcm16-prfsha256-x25519
IKE_CHACHA=chacha20poly1305-prfsha384-ecp256
CHARON=/usr/lib/ipsec/charon
# DESIGN.md, "strongSwan as a test peer": openssl right after nonce, so OpenSSL
# (AES-NI) provides the ciphers rather than strongSwan's own aes/gcm plugins.
CHARON_PLUGINS="random nonce openssl aes sha1 sha2 hmac gcm chapoly curve25519 gmp pem pkcs1 pkcs8 pubkey x509 kdf constraints revocation kernel-libipsec kernel-netlink socket-default vici updown"

# ---------------------------------------------------------------- helpers

die() {
	echo "bench: FAILED: $*" >&2
	exit 1
}

# Appears in every failure message so the reader knows where it broke.
STEP="start-up"
step() {
	STEP="$*"
	echo "==> $*"
}

PIDS=()       # processes this script started (and has not reaped yet)
NAMESPACES=() # namespaces this script created (and has not deleted yet)
LOGS=()       # daemon logs shown when a step fails
TMP=""

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
	local st
	st=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

# stop_pid PID: SIGTERM, SIGKILL after 5 s, then reap. Only PIDs this script
# started are ever passed here.
stop_pid() {
	local pid=$1 i
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			echo "bench: PID $pid ignored SIGTERM for 5 s, sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

# start_bg LOG CMD... runs CMD in the background with its output in LOG and
# sets BG_PID. `ip netns exec`, `unshare` (without --fork) and `sh -c 'exec …'`
# all exec the next program, so the PID is that of the daemon itself.
start_bg() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

show_logs() {
	local f
	for f in "${LOGS[@]+"${LOGS[@]}"}"; do
		[ -s "$f" ] || continue
		echo "--- ${f#"$TMP"/} (last 30 lines) ---" >&2
		tail -n 30 "$f" >&2
	done
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
		echo "bench: interrupted during step: $STEP" >&2
	elif [ "$rc" -ne 0 ]; then
		echo "bench: failed at step: $STEP (exit $rc)" >&2
		show_logs
	fi
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
	for ns in "${NAMESPACES[@]+"${NAMESPACES[@]}"}"; do ip netns del "$ns" 2>/dev/null; done
	[ -n "$TMP" ] && rm -rf "$TMP"
	[ "$rc" -ne 0 ] && echo "bench: cleaned up (namespaces deleted, processes stopped)" >&2
	exit "$rc"
}

# --------------------------------------------------------------- topology

# new_topology TAG creates two namespaces with unique names (LNS, RNS) joined
# by a veth pair. The pair is created inside LNS with its peer moved straight
# into RNS, so no interface name ever exists in the caller's namespace and
# concurrent runs cannot collide.
new_topology() {
	local tag=$1 rnd
	rnd=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	LNS="gbench-$tag-l-$rnd"
	RNS="gbench-$tag-r-$rnd"
	ip netns add "$LNS" || die "ip netns add $LNS"
	NAMESPACES+=("$LNS")
	ip netns add "$RNS" || die "ip netns add $RNS"
	NAMESPACES+=("$RNS")
	ip -n "$LNS" link add outer type veth peer name outer netns "$RNS" || die "creating the veth pair"
	local ns outer inner
	for side in left right; do
		if [ $side = left ]; then ns=$LNS outer=$LEFT_OUTER inner=$LEFT_INNER; else ns=$RNS outer=$RIGHT_OUTER inner=$RIGHT_INNER; fi
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$outer/24" dev outer
		ip -n "$ns" link set outer up
		# This kernel has no dummy driver; an ifb device holds addresses just
		# as well (internal/lab/topology.go does the same).
		if ! ip -n "$ns" link add lan0 type dummy 2>/dev/null; then
			ip -n "$ns" link add lan0 type ifb || die "creating lan0 (neither dummy nor ifb) in $ns"
		fi
		ip -n "$ns" addr add "$inner/24" dev lan0
		ip -n "$ns" link set lan0 up
	done
}

delete_topology() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
	local keep=() ns
	for ns in "${NAMESPACES[@]}"; do
		if [ "$ns" = "$LNS" ] || [ "$ns" = "$RNS" ]; then
			ip netns del "$ns" 2>/dev/null || true
		else
			keep+=("$ns")
		fi
	done
	NAMESPACES=("${keep[@]+"${keep[@]}"}")
	LOGS=()
}

# ------------------------------------------------------------ measurements

# json_get FILE EXPR prints a number from iperf3's JSON (jq syntax for EXPR;
# the python fallback understands the same dotted paths).
json_get() {
	if [ "$JSON_TOOL" = jq ]; then
		jq -r "$2 // empty" "$1"
	else
		/usr/bin/python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].lstrip(".").split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1" "$2"
	fi
}

# cpu_ticks PID... prints the sum of utime+stime (clock ticks) of the PIDs.
cpu_ticks() {
	local total=0 pid t
	for pid in "$@"; do
		t=$(sed -E 's/.*\) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# machine_busy_ticks prints "busy total" jiffies from /proc/stat.
machine_ticks() {
	awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit}' /proc/stat
}

# iperf_run SETUP RUN SERVER CLIENT: one iperf3 run from LNS (bound to
# CLIENT) to RNS (bound to SERVER). Appends Mbit/s to RESULTS[SETUP] and
# prints one line. DAEMON_PIDS are the tunnel daemons whose CPU is reported.
iperf_run() {
	local setup=$1 run=$2 server=$3 client=$4 i
	local json="$TMP/$setup-$run.json" slog="$TMP/$setup-$run-server.log"
	STEP="$setup: iperf3 run $run ($client -> $server)"
	start_bg "$slog" ip netns exec "$RNS" iperf3 -s -1 -B "$server" -p 5201
	local spid=$BG_PID
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$RNS" ss -Hltn "sport = :5201" 2>/dev/null | grep -q . && break
		alive "$spid" || { cat "$slog" >&2; die "$STEP: iperf3 server exited"; }
		sleep 0.05
	done
	local d0 m0 mt0 d1 m1 mt1
	d0=$(cpu_ticks "${DAEMON_PIDS[@]+"${DAEMON_PIDS[@]}"}")
	read -r m0 mt0 < <(machine_ticks)
	if ! timeout --foreground $((DURATION + 30)) ip netns exec "$LNS" \
		iperf3 -c "$server" -B "$client" -p 5201 -t "$DURATION" -J >"$json" 2>"$json.err"; then
		echo "--- iperf3 client output ---" >&2
		head -c 2000 "$json" >&2
		cat "$json.err" >&2
		die "$STEP: iperf3 client failed"
	fi
	d1=$(cpu_ticks "${DAEMON_PIDS[@]+"${DAEMON_PIDS[@]}"}")
	read -r m1 mt1 < <(machine_ticks)
	stop_pid "$spid"
	local bps retr hcpu rcpu err
	err=$(json_get "$json" .error)
	[ -z "$err" ] || die "$STEP: iperf3: $err"
	bps=$(json_get "$json" .end.sum_received.bits_per_second)
	[ -n "$bps" ] || die "$STEP: no end.sum_received.bits_per_second in $json"
	retr=$(json_get "$json" .end.sum_sent.retransmits)
	hcpu=$(json_get "$json" .end.cpu_utilization_percent.host_total)
	rcpu=$(json_get "$json" .end.cpu_utilization_percent.remote_total)
	local mbps
	mbps=$(awk -v b="$bps" 'BEGIN {printf "%.0f", b / 1e6}')
	RESULTS[$setup]+="$mbps "
	local extra=""
	if [ ${#DAEMON_PIDS[@]} -gt 0 ]; then
		extra=$(awk -v d=$((d1 - d0)) -v hz="$HZ" -v s="$DURATION" \
			'BEGIN {printf ", tunnel daemons %.2f cores", d / hz / s}')
	fi
	extra+=$(awk -v b=$((m1 - m0)) -v t=$((mt1 - mt0)) -v n="$NPROC" \
		'BEGIN {if (t > 0) printf ", machine %.0f%% busy (of %d cores)", 100 * b / t, n}')
	printf "    run %d: %8s Mbit/s  (retransmits %s, iperf3 cpu client %.0f%% server %.0f%%%s)\n" \
		"$run" "$mbps" "${retr:-?}" "${hcpu:-0}" "${rcpu:-0}" "$extra"
}

# measure SETUP SERVER CLIENT: ping RTT, then RUNS iperf3 runs.
measure() {
	local setup=$1 server=$2 client=$3 out r
	STEP="$setup: ping $client -> $server"
	out=$(ip netns exec "$LNS" ping -c "$PING_COUNT" -i 0.05 -W 1 -I "$client" "$server" 2>&1) ||
		{ echo "$out" >&2; die "$STEP: no replies"; }
	PING[$setup]=$(sed -n 's|^rtt [^=]*= [^/]*/\([^/]*\)/.*|\1|p' <<<"$out")
	local loss
	loss=$(grep -o '[0-9.]*% packet loss' <<<"$out")
	echo "    ping: avg RTT ${PING[$setup]} ms over $PING_COUNT packets ($loss)"
	for ((r = 1; r <= RUNS; r++)); do
		iperf_run "$setup" "$r" "$server" "$client"
	done
	echo "    median: $(median "${RESULTS[$setup]}") Mbit/s"
}

# drops NS IF... prints the interfaces' drop and error counters (after a setup).
drops() {
	local ns=$1 dev s
	shift
	for dev in "$@"; do
		s=$(ip netns exec "$ns" sh -c "cd /sys/class/net/$dev/statistics 2>/dev/null && echo rx_dropped=\$(cat rx_dropped) tx_dropped=\$(cat tx_dropped) rx_errors=\$(cat rx_errors) tx_errors=\$(cat tx_errors)") || s="(gone)"
		echo "      $dev: ${s:-(gone)}"
	done
}

# udp_errors NS prints the namespace's UDP error counters (/proc/net/snmp is
# per network namespace, and every setup has fresh ones): receive-buffer
# overflows here mean ESP-in-UDP packets dropped before a daemon read them.
udp_errors() {
	ip netns exec "$1" awk '/^Udp:/ {
		if (!h) { for (i = 2; i <= NF; i++) n[i] = $i; h = 1; next }
		for (i = 2; i <= NF; i++) if (n[i] ~ /^(InErrors|RcvbufErrors|SndbufErrors)$/) printf "%s=%s ", n[i], $i
	}' /proc/net/snmp
}

# softnet_drops prints the machine-wide count of packets dropped because a
# CPU's input backlog was full (/proc/net/softnet_stat, second column, hex).
softnet_drops() {
	local d=0 a b rest
	while read -r a b rest; do d=$((d + 16#$b)); done </proc/net/softnet_stat
	echo "$d"
}

median() {
	tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "?"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ------------------------------------------------------------ the tunnels

random_psk() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# swanctl_conf LOCAL REMOTE LOCAL_ID REMOTE_ID LOCAL_NET REMOTE_NET IKE ESP PSK [ENCAP]
# prints one side's swanctl.conf, one key per line (goipsec and charon both
# read it; internal/demo's siteConf is the format goipsec accepts). ENCAP
# (yes or no) sets encap: yes is ESP in UDP, no (the default) raw ESP
# where no NAT is found.
swanctl_conf() {
	local encap=""
	[ -n "${10:-}" ] && encap="
        encap = ${10}"
	cat <<EOF
# written by goipsec bench/throughput.sh
connections {
    site {
        version = 2
        local_addrs = $1
        remote_addrs = $2
        proposals = $7$encap
        local {
            auth = psk
            id = $3
        }
        remote {
            auth = psk
            id = $4
        }
        children {
            net {
                local_ts = $5
                remote_ts = $6
                esp_proposals = $8
                mode = tunnel
            }
        }
    }
}
secrets {
    ike-site {
        id-1 = $3
        id-2 = $4
        secret = 0x$9
    }
}
EOF
}

write_confs() { # DIR IKE ESP [ENCAP]
	local dir=$1 psk
	psk=$(random_psk)
	mkdir -p "$dir"
	swanctl_conf $LEFT_OUTER $RIGHT_OUTER left.bench.test right.bench.test $LEFT_NET $RIGHT_NET "$2" "$3" "$psk" "${4:-}" >"$dir/left.conf"
	swanctl_conf $RIGHT_OUTER $LEFT_OUTER right.bench.test left.bench.test $RIGHT_NET $LEFT_NET "$2" "$3" "$psk" "${4:-}" >"$dir/right.conf"
	chmod 600 "$dir/left.conf" "$dir/right.conf"
}

# check_tunnel: three pings LAN to LAN must get through.
check_tunnel() {
	local out
	STEP="$1: first traffic through the tunnel ($LEFT_INNER -> $RIGHT_INNER)"
	out=$(ip netns exec "$LNS" ping -c 3 -i 0.2 -W 2 -I "$LEFT_INNER" "$RIGHT_INNER" 2>&1) ||
		{ echo "$out" >&2; die "$STEP: the tunnel is up but ping fails"; }
}

# goipsec_setup SETUP IKE ESP [TUNING]: a goipsec daemon per namespace, left
# initiates; TUNING is the daemons' GOIPSEC_DATAPLANE.
goipsec_setup() { # SETUP IKE ESP [TUNING [ENCAP]]; ENCAP defaults to yes (ESP in UDP)
	local setup=$1 dir="$TMP/$1" tuning=${4:-} side ns i
	write_confs "$dir" "$2" "$3" "${5:-yes}"
	DAEMON_PIDS=()
	for side in left right; do
		if [ $side = left ]; then ns=$LNS; else ns=$RNS; fi
		STEP="$setup: starting goipsec daemon ($side, $ns)"
		LOGS+=("$dir/goipsec-$side.log")
		start_bg "$dir/goipsec-$side.log" ip netns exec "$ns" env GOIPSEC_DATAPLANE="$tuning" \
			"$GOIPSEC" daemon --config "$dir/$side.conf" --control "$dir/$side.sock"
		DAEMON_PIDS+=("$BG_PID")
	done
	for i in 0 1; do
		side=$([ $i = 0 ] && echo left || echo right)
		STEP="$setup: waiting for the $side daemon's control socket"
		local n
		for ((n = 0; ; n++)); do
			"$GOIPSEC" status --control "$dir/$side.sock" --timeout 1s >/dev/null 2>&1 && break
			alive "${DAEMON_PIDS[i]}" || die "$STEP: the $side daemon exited"
			[ $n -lt 100 ] || die "$STEP: no control socket after 10 s"
			sleep 0.1
		done
	done
	STEP="$setup: goipsec up site (left initiates)"
	local out
	out=$("$GOIPSEC" up site --control "$dir/left.sock" --timeout 30s 2>&1) || { echo "$out" >&2; die "$STEP"; }
	check_tunnel "$setup"
	TUN_IFS="goipsec0"
}

# charon_start SIDE NS DIR: charon in NS, in its own mount namespace with a
# tmpfs /run (charon keeps its pid file there), like internal/lab/charon.go.
charon_start() {
	local side=$1 ns=$2 dir=$3/$1
	mkdir -p "$dir"
	cat >"$dir/strongswan.conf" <<EOF
# written by goipsec bench/throughput.sh
charon {
  load_modular = no
  load = $CHARON_PLUGINS
  install_routes = yes
  install_virtual_ip = yes
  plugins {
    vici {
      socket = "unix://$dir/charon.vici"
    }
  }
  filelog {
    bench {
      path = "$dir/charon.log"
      append = no
      flush_line = yes
      time_format = %H:%M:%S
      default = 1
    }
  }
}
swanctl {
  load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random
}
EOF
	cp "$3/$side.conf" "$dir/swanctl.conf"
	chmod 600 "$dir/swanctl.conf"
	[ ${#dir} -lt 90 ] || die "charon directory $dir is too long for a unix socket path"
	STEP="strongswan: starting charon ($side, $ns)"
	LOGS+=("$dir/charon.log" "$dir/charon.out")
	start_bg "$dir/charon.out" ip netns exec "$ns" unshare -m sh -c \
		'mount -t tmpfs tmpfs /run && STRONGSWAN_CONF="$1" exec '"$CHARON" sh "$dir/strongswan.conf"
	local pid=$BG_PID n
	DAEMON_PIDS+=("$pid")
	STEP="strongswan: waiting for the $side charon's VICI socket"
	for ((n = 0; ; n++)); do
		swanctl_in "$dir" --version --daemon >/dev/null 2>&1 && break
		alive "$pid" || die "$STEP: charon exited"
		[ $n -lt 100 ] || die "$STEP: no VICI socket after 10 s"
		sleep 0.1
	done
	STEP="strongswan: swanctl --load-all ($side)"
	local out
	out=$(swanctl_in "$dir" --load-all --noprompt --file "$dir/swanctl.conf" 2>&1) || { echo "$out" >&2; die "$STEP"; }
}

swanctl_in() { # DIR ARGS...
	local dir=$1
	shift
	STRONGSWAN_CONF="$dir/strongswan.conf" SWANCTL_DIR="$dir" swanctl "$@" --uri "unix://$dir/charon.vici"
}

strongswan_setup() {
	local setup=$1 dir="$TMP/$1"
	write_confs "$dir" "$2" "$3"
	DAEMON_PIDS=()
	charon_start left "$LNS" "$dir"
	charon_start right "$RNS" "$dir"
	STEP="$setup: swanctl --initiate --child net (left initiates)"
	local out
	out=$(swanctl_in "$dir/left" --initiate --child net --timeout 30 2>&1) || { echo "$out" >&2; die "$STEP"; }
	check_tunnel "$setup"
	TUN_IFS="ipsec0"
}

# ------------------------------------------------------------------- main

need_root "bench/throughput.sh"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (seconds), not '$DURATION'"
for s in $SETUPS; do
	case $s in plain | goipsec-aesgcm | goipsec-aesgcm-raw | goipsec-chacha | strongswan-aesgcm | goipsec-aesgcm-serial | goipsec-aesgcm-nooffload | goipsec-aesgcm-baseline) ;;
	*) die "unknown setup '$s' in SETUPS (want: plain goipsec-aesgcm goipsec-aesgcm-raw goipsec-chacha strongswan-aesgcm goipsec-aesgcm-serial goipsec-aesgcm-nooffload goipsec-aesgcm-baseline)" ;;
	esac
done
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "checking packages"
pkgs=(iproute2 iputils-ping iperf3 coreutils util-linux)
case " $SETUPS " in *" strongswan-"*) pkgs+=(strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins) ;; esac
install_packages "${pkgs[@]}"
if command -v jq >/dev/null 2>&1; then
	JSON_TOOL=jq
elif [ -x /usr/bin/python3 ]; then
	JSON_TOOL=python3
else
	install_packages jq
	JSON_TOOL=jq
fi
ensure_go >/dev/null

TMP=$(mktemp -d "${TMPDIR:-/tmp}/goipsec-bench.XXXXXX")
case $(realpath "$TMP") in /run | /run/*) die "TMPDIR $TMP is under /run, which charon's private /run hides" ;; esac
chmod 700 "$TMP"
GOIPSEC="$TMP/goipsec"
case " $SETUPS " in *" goipsec-"*)
	step "building goipsec"
	STEP="go build ./cmd/goipsec"
	go build -o "$GOIPSEC" ./cmd/goipsec || die "go build ./cmd/goipsec"
	;;
esac

NPROC=$(nproc)
HZ=$(getconf CLK_TCK)
declare -A RESULTS=() PING=()
DAEMON_PIDS=()

echo
echo "goipsec throughput benchmark — $(date -u '+%Y-%m-%d %H:%M:%SZ')"
echo "  machine:    $NPROC CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "  kernel:     $(uname -srm)"
echo "  go:         $(go version)"
if [ -x "$GOIPSEC" ]; then
	commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ", uncommitted changes" || true)
	echo "  goipsec:    $("$GOIPSEC" version) at $commit$dirty"
fi
if [ -x "$CHARON" ]; then
	echo "  strongSwan: $("$CHARON" --version 2>/dev/null | head -1) (charon $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null)), kernel-libipsec + openssl"
fi
echo "  iperf3:     $(iperf3 --version | head -1)"
echo "  runs:       $RUNS x ${DURATION}s single TCP stream per setup, left -> right; ping -c $PING_COUNT -i 0.05"
echo

for setup in $SETUPS; do
	new_topology "${setup%%-*}"
	SOFTNET0=$(softnet_drops)
	DAEMON_PIDS=()
	TUN_IFS=""
	case $setup in
	plain)
		step "plain veth ($LEFT_OUTER -> $RIGHT_OUTER, no tunnel)"
		measure plain $RIGHT_OUTER $LEFT_OUTER
		;;
	goipsec-aesgcm)
		step "goipsec <-> goipsec, AES-256-GCM (ESP in UDP), $LEFT_INNER -> $RIGHT_INNER"
		goipsec_setup "$setup" "$IKE_AES" aes256gcm16
		measure "$setup" $RIGHT_INNER $LEFT_INNER
		;;
	goipsec-aesgcm-raw)
		step "goipsec <-> goipsec, AES-256-GCM (raw ESP, IP protocol 50), $LEFT_INNER -> $RIGHT_INNER"
		goipsec_setup "$setup" "$IKE_AES" aes256gcm16 "" no
		measure "$setup" $RIGHT_INNER $LEFT_INNER
		;;
	goipsec-aesgcm-serial | goipsec-aesgcm-nooffload | goipsec-aesgcm-baseline)
		case $setup in
		*-serial) tuning=serial ;;
		*-nooffload) tuning=nooffload ;;
		*) tuning=serial,nooffload ;;
		esac
		step "goipsec <-> goipsec, AES-256-GCM (ESP in UDP), GOIPSEC_DATAPLANE=$tuning, $LEFT_INNER -> $RIGHT_INNER"
		goipsec_setup "$setup" "$IKE_AES" aes256gcm16 "$tuning"
		measure "$setup" $RIGHT_INNER $LEFT_INNER
		;;
	goipsec-chacha)
		step "goipsec <-> goipsec, ChaCha20-Poly1305 (ESP in UDP), $LEFT_INNER -> $RIGHT_INNER"
		goipsec_setup "$setup" "$IKE_CHACHA" chacha20poly1305
		measure "$setup" $RIGHT_INNER $LEFT_INNER
		;;
	strongswan-aesgcm)
		step "strongSwan <-> strongSwan (kernel-libipsec, OpenSSL), AES-256-GCM, $LEFT_INNER -> $RIGHT_INNER"
		strongswan_setup "$setup" "$IKE_AES" aes256gcm16
		measure "$setup" $RIGHT_INNER $LEFT_INNER
		;;
	esac
	echo "    drops and errors after the runs (left | right):"
	drops "$LNS" outer $TUN_IFS | sed 's/^      /      left  /'
	drops "$RNS" outer $TUN_IFS | sed 's/^      /      right /'
	echo "      left  UDP: $(udp_errors "$LNS")"
	echo "      right UDP: $(udp_errors "$RNS")"
	echo "      softnet backlog drops (whole machine, during this setup): $(($(softnet_drops) - SOFTNET0))"
	STEP="$setup: tearing down"
	delete_topology
done

# ----------------------------------------------------------------- summary

med() { [ -n "${RESULTS[$1]:-}" ] && median "${RESULTS[$1]}"; }

echo
echo "== summary (single TCP stream, median of $RUNS x ${DURATION}s) =="
printf "  %-24s %12s %14s   %s\n" setup "Mbit/s" "ping avg ms" "runs"
for setup in $SETUPS; do
	printf "  %-24s %12s %14s   %s\n" "$setup" "$(med "$setup")" "${PING[$setup]:-?}" "${RESULTS[$setup]% }"
done

# ratio NAME NUM DEN GOAL KIND: KIND is "pct" (goal in percent) or "x" (factor).
ratio() {
	local name=$1 num=$2 den=$3 goal=$4 kind=$5
	local a b
	a=$(med "$num") || true
	b=$(med "$den") || true
	if [ -z "$a" ] || [ -z "$b" ]; then
		printf "  %-44s (not measured: SETUPS lacks %s or %s)\n" "$name" "$num" "$den"
		return
	fi
	awk -v a="$a" -v b="$b" -v g="$goal" -v k="$kind" -v n="$name" 'BEGIN {
		r = (b > 0) ? a / b : 0
		if (k == "pct") { v = sprintf("%.1f%%", 100 * r); ok = (100 * r >= g); gs = sprintf(">= %g%%", g) }
		else            { v = sprintf("%.2fx", r);       ok = (r >= g);       gs = sprintf(">= %gx", g) }
		printf "  %-44s %9s   goal %-7s %s\n", n, v, gs, ok ? "met" : "NOT met"
	}'
}

echo
echo "== ratios (issue 6 goals) =="
ratio "goipsec AES-256-GCM / plain veth" goipsec-aesgcm plain 25 pct
ratio "goipsec AES-256-GCM / strongSwan AES-256-GCM" goipsec-aesgcm strongswan-aesgcm 8 x
ratio "goipsec ChaCha20-Poly1305 / plain veth" goipsec-chacha plain 18 pct
ratio "goipsec raw ESP / plain veth" goipsec-aesgcm-raw plain 0 pct
ratio "goipsec raw ESP / goipsec ESP in UDP" goipsec-aesgcm-raw goipsec-aesgcm 0 x
for lever in serial nooffload baseline; do
	case " $SETUPS " in *" goipsec-aesgcm-$lever "*) ;; *) continue ;; esac
	ratio "goipsec AES-256-GCM / goipsec-aesgcm-$lever" goipsec-aesgcm "goipsec-aesgcm-$lever" 1 x
done

echo
echo "== ping RTT through each tunnel vs plain veth =="
for setup in goipsec-aesgcm goipsec-aesgcm-raw goipsec-chacha strongswan-aesgcm goipsec-aesgcm-serial goipsec-aesgcm-nooffload goipsec-aesgcm-baseline; do
	[ -n "${PING[$setup]:-}" ] || continue
	if [ -n "${PING[plain]:-}" ]; then
		awk -v t="${PING[$setup]}" -v p="${PING[plain]}" -v n="$setup" \
			'BEGIN {printf "  %-20s %7.3f ms  vs plain %.3f ms  (+%.3f ms, %.1fx)\n", n, t, p, t - p, (p > 0 ? t / p : 0)}'
	else
		printf "  %-20s %7s ms\n" "$setup" "${PING[$setup]}"
	fi
done
STEP="done"
