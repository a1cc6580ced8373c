#!/usr/bin/env bash
# ccrelay overhead benchmark: one command.
#
#   scripts/bench/run.sh                 # quick run (~1-2 min): direct, floor, ccrelay
#   scripts/bench/run.sh --full          # full run (~5-10 min)
#   scripts/bench/run.sh --out bench.md  # also write the markdown table to bench.md
#   scripts/bench/run.sh --selfcheck     # add a second floor (A/A) to see the noise
#   scripts/bench/run.sh --no-ccrelay    # direct and floor only
#   scripts/bench/run.sh --sizes 49k,250k,1m --configs single,chain
#                                        # cost per request against body size (long Claude Code
#                                        # sessions; --sweep alone: these defaults), instead of the
#                                        # main table; --sweep-modes stream,json adds JSON requests
#
# Every other flag goes to the driver (scripts/bench/driver; `--help` lists them), e.g.
# --rounds 5 --seq-n 500 --tput-n 4000 --d 15s --open 1000 --max-time 200s.
#
# It builds the binaries into a temp dir (go build -o), builds ccrelay from ./cmd/ccrelay if it
# can (and says why not otherwise, then runs direct and floor only), and runs the driver, which
# starts the fake upstream, the floor and ccrelay on 127.0.0.1 (free ports, generated config),
# interleaves the targets round by round, and prints the table. Everything it starts is
# stopped when it ends; every load is bounded in requests and time, and so is the whole run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
orig="$PWD"
cd "$root"

abs() { [[ $1 == /* ]] && printf '%s' "$1" || printf '%s/%s' "$orig" "$1"; }

mode=quick
keep=0
want_ccrelay=1
ccrelay_bin=""
sweep=0
sizes=""
configs=""
args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--quick) mode=quick ;;
	--full) mode=full ;;
	--keep) keep=1 ;;
	--no-ccrelay) want_ccrelay=0 ;;
	--ccrelay-bin) ccrelay_bin="$2"; shift ;;
	--ccrelay-bin=*) ccrelay_bin="${1#*=}" ;;
	--sweep|-sweep) sweep=1 ;;
	--sizes|-sizes) sweep=1; sizes="$2"; shift ;;
	--sizes=*|-sizes=*) sweep=1; sizes="${1#*=}" ;;
	--configs|-configs) sweep=1; configs="$2"; shift ;;
	--configs=*|-configs=*) sweep=1; configs="${1#*=}" ;;
	# Paths given relative to where run.sh was started from.
	--out|-out|--raw|-raw|--ccrelay-config|-ccrelay-config) args+=("$1" "$(abs "$2")"); shift ;;
	--out=*|-out=*|--raw=*|-raw=*|--ccrelay-config=*|-ccrelay-config=*) args+=("${1%%=*}=$(abs "${1#*=}")") ;;
	-h|--help)
		sed -n '2,21p' "$0"
		echo
		args+=(-help) ;;
	*) args+=("$1") ;;
	esac
	shift
done

# The sweep's configs: single, chain, or template paths (relative to where run.sh was started).
if [[ $sweep == 1 ]]; then
	sizes="${sizes:-49k,250k,1m}"
	configs="${configs:-single,chain}"
	resolved=()
	IFS=',' read -ra cfgs <<<"$configs"
	for c in "${cfgs[@]}"; do
		case "$c" in
		single|chain) resolved+=("$c") ;;
		*) resolved+=("$(abs "$c")") ;;
		esac
	done
	configs="$(IFS=','; echo "${resolved[*]}")"
	args+=(-sweep -sizes "$sizes" -configs "$configs")
	IFS=',' read -ra nsizes <<<"$sizes"
	cells=$(( ${#nsizes[@]} * ${#cfgs[@]} ))
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ccrelay-bench.XXXXXX")"
status=0
cleanup() {
	if [[ $keep == 1 || $status != 0 ]]; then
		echo "bench: kept $tmp (binaries, process logs, generated configs, raw.json)" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

t0=$SECONDS
echo "bench: building upstream, floor, load, driver into $tmp" >&2
go build -o "$tmp/" ./scripts/bench/upstream ./scripts/bench/floor ./scripts/bench/load ./scripts/bench/driver

note=""
if [[ $want_ccrelay == 0 ]]; then
	note="skipped (--no-ccrelay)"
elif [[ -n $ccrelay_bin ]]; then
	cp "$(cd "$orig" && realpath "$ccrelay_bin")" "$tmp/ccrelay"
	ccrelay_bin="$tmp/ccrelay"
elif out="$(go build -o "$tmp/ccrelay" "${BENCH_CCRELAY_PKG:-./cmd/ccrelay}" 2>&1)"; then
	ccrelay_bin="$tmp/ccrelay"
	echo "bench: built ccrelay" >&2
else
	note="go build ${BENCH_CCRELAY_PKG:-./cmd/ccrelay} failed: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	echo "bench: ccrelay can't be built yet; running direct and floor only." >&2
	echo "bench:   $note" >&2
fi

# Time budget of the whole command, build included: quick 170 s, full 600 s; the sweep 60 s plus
# 45 s (quick) or 150 s (full) per cell (BENCH_BUDGET overrides, in seconds; --max-time DUR sets
# the driver's own budget directly). The driver skips the phases it has no time left for;
# `timeout` is the backstop.
if [[ $sweep == 1 ]]; then
	default_budget=$(( 60 + cells * $([[ $mode == full ]] && echo 150 || echo 45) ))
else
	default_budget=$([[ $mode == full ]] && echo 600 || echo 170)
fi
budget="${BENCH_BUDGET:-$default_budget}"
left=$(( budget - (SECONDS - t0) ))
(( left < 60 )) && left=60
limit=$(( left + 120 ))

set +e
timeout --kill-after=10s "${limit}s" "$tmp/driver" \
	-mode "$mode" -max-time "${left}s" -bin "$tmp" -workdir "$tmp/work" -raw "$tmp/raw.json" \
	-ccrelay "$ccrelay_bin" -ccrelay-note "$note" \
	${args[@]+"${args[@]}"}
status=$?
set -e
exit $status
