#!/usr/bin/env bash
# ccrelay overhead benchmark: one command.
#
#   scripts/bench/run.sh                 # quick run (~1-2 min): direct, floor, ccrelay
#   scripts/bench/run.sh --full          # full run (~5-10 min)
#   scripts/bench/run.sh --out bench.md  # also write the markdown table to bench.md
#   scripts/bench/run.sh --selfcheck     # add a second floor (A/A) to see the noise
#   scripts/bench/run.sh --no-ccrelay    # direct and floor only
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
args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--quick) mode=quick ;;
	--full) mode=full ;;
	--keep) keep=1 ;;
	--no-ccrelay) want_ccrelay=0 ;;
	--ccrelay-bin) ccrelay_bin="$2"; shift ;;
	--ccrelay-bin=*) ccrelay_bin="${1#*=}" ;;
	# Paths given relative to where run.sh was started from.
	--out|-out|--raw|-raw|--ccrelay-config|-ccrelay-config) args+=("$1" "$(abs "$2")"); shift ;;
	--out=*|-out=*|--raw=*|-raw=*|--ccrelay-config=*|-ccrelay-config=*) args+=("${1%%=*}=$(abs "${1#*=}")") ;;
	-h|--help)
		sed -n '2,17p' "$0"
		echo
		args+=(-help) ;;
	*) args+=("$1") ;;
	esac
	shift
done

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

# Time budget of the whole command, build included: quick 170 s, full 600 s (BENCH_BUDGET
# overrides, in seconds; --max-time DUR sets the driver's own budget directly). The driver skips
# the phases it has no time left for; `timeout` is the backstop.
budget="${BENCH_BUDGET:-$([[ $mode == full ]] && echo 600 || echo 170)}"
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
