#!/usr/bin/env bash
# run.sh VERSION... records what each given version of Claude Code sends through ccrelay:
# it installs @anthropic-ai/claude-code@VERSION from npm into a temporary prefix, builds ccrelay,
# and runs scripts/cc-versions (main.go) with them, which writes fixtures/claude-code/VERSION/.
# Then it runs the credential scan. See scripts/cc-versions/README.md.
#
#   bash scripts/cc-versions/run.sh 2.1.332 2.1.223 2.1.111
#   npm view @anthropic-ai/claude-code versions --json    # the versions there are
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || { echo "usage: $0 VERSION..." >&2; exit 2; }
command -v npm >/dev/null || { echo "run.sh: npm is needed to install Claude Code" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/ccrelay" ./cmd/ccrelay
go build -o "$work/cc-versions" ./scripts/cc-versions

for v in "$@"; do
  prefix=$(mktemp -d "$work/claude-code-$v.XXXX")
  echo "run.sh: npm install --prefix $prefix @anthropic-ai/claude-code@$v"
  npm install --no-audit --no-fund --loglevel=error --prefix "$prefix" "@anthropic-ai/claude-code@$v" >/dev/null
  got=$("$prefix/node_modules/.bin/claude" --version | awk '{print $1}')
  [ "$got" = "$v" ] || { echo "run.sh: installed claude says $got, not $v" >&2; exit 1; }
  "$work/cc-versions" -claude "$prefix/node_modules/.bin/claude" -version "$v" -ccrelay "$work/ccrelay" -out fixtures/claude-code
  rm -rf "$prefix"
done
bash scripts/check-scrub.sh
echo "run.sh: now run go test ./conformance -run TestCassettesUpToDate -update, then go test ./conformance -run 'TestCassettesReadme|TestTestedVersionsTable' -update"
