#!/usr/bin/env bash
# check-scrub.sh fails when anything under cassettes/ or fixtures/ looks like a credential:
# well-known key and token shapes anywhere, and credential headers whose value is not redacted.
# CI runs it (.ci/run); run it yourself after recording: bash scripts/check-scrub.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=()
for d in cassettes fixtures; do [ -d "$d" ] && dirs+=("$d"); done
[ ${#dirs[@]} -eq 0 ] && { echo "check-scrub: nothing to scan"; exit 0; }

fail=0
# 1. Key and token shapes: Anthropic keys, AWS access keys, Google OAuth tokens and API keys,
#    JWTs, AWS signatures, private keys.
patterns='sk-ant-[A-Za-z0-9_-]{16,}|(AKIA|ASIA)[0-9A-Z]{16}|ya29\.[0-9A-Za-z_-]{16,}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+|Signature=[0-9a-f]{64}|-----BEGIN [A-Z ]*PRIVATE KEY-----'
if grep -rnoE "$patterns" "${dirs[@]}" | grep -v 'check-scrub: allow'; then
  echo "check-scrub: credential-shaped strings found (above)" >&2
  fail=1
fi

# 2. Credential headers in go-vcr YAML cassettes: the value line after the header must be a
#    redaction placeholder.
while IFS= read -r f; do
  awk -v file="$f" '
    BEGIN { IGNORECASE = 1 }
    /^[[:space:]]*(x-api-key|authorization|api-key|x-amz-security-token|cookie|set-cookie|x-goog-api-key):[[:space:]]*$/ { want = NR + 1; name = $1; next }
    NR == want {
      v = $0; sub(/^[[:space:]]*-[[:space:]]*/, "", v); gsub(/["\047]/, "", v)
      if (v != "" && v !~ /^(REDACTED|\[REDACTED\]|<redacted>)$/ && v !~ /\*\*\*/) {
        printf "%s:%d: %s has an unredacted value\n", file, NR, name; bad = 1
      }
    }
    END { exit bad }
  ' "$f" || fail=1
done < <(find "${dirs[@]}" -name '*.yaml' -o -name '*.yml')

# 3. The same headers in JSON fixtures ("name": ["value", ...], values possibly on later lines)
#    must be redacted.
while IFS= read -r f; do
  perl -0777 -ne '
    while (/"(x-api-key|authorization|api-key|x-amz-security-token|cookie)"\s*:\s*\[\s*"([^"]*)"/gi) {
      my ($h, $v) = ($1, $2);
      next if $v eq "REDACTED" || $v =~ /\*\*\*/;
      print "$ARGV: $h has an unredacted value\n"; $bad = 1;
    }
    END { exit($bad ? 1 : 0) }
  ' "$f" || fail=1
done < <(find "${dirs[@]}" -name '*.json')

if [ "$fail" -ne 0 ]; then
  echo "check-scrub: FAILED" >&2
  exit 1
fi
echo "check-scrub: ok (${dirs[*]})"
