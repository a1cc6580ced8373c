#!/usr/bin/env bash
# ollama.sh records the ollama cassettes live against a real Ollama server serving the
# project's scripted test model (../shared/tools/ollama-local: "scripted" and
# "scripted-think"), then replays them. Extra arguments go to `ccrelay conform`, e.g.
#   scripts/record/ollama.sh --case tool-choice-any
#   OLLAMA_URL=http://127.0.0.1:11435 scripts/record/ollama.sh --force
set -euo pipefail
cd "$(dirname "$0")/../.."
url=${OLLAMA_URL:-http://127.0.0.1:11434}
if ! version=$(curl -fsS "$url/api/version"); then
  echo "ollama.sh: no Ollama at $url; start one with ../shared/tools/ollama-local/setup.sh" >&2
  exit 2
fi
echo "ollama.sh: recording against $url $version" >&2
cfg=$(mktemp --suffix .yaml)
trap 'rm -f "$cfg"' EXIT
cat >"$cfg" <<YAML
providers:
- name: ollama
  type: ollama
  base_url: "$url"
YAML
exec go run ./cmd/ccrelay conform --record --provider ollama --config "$cfg" \
  --note "Ollama $(printf %s "$version" | tr -d "{}\"" | sed "s/version:/v/") serving the scripted test model of ../shared/tools/ollama-local" \
  --model "${OLLAMA_MODEL:-scripted}" --thinking-model "${OLLAMA_THINKING_MODEL:-scripted-think}" "$@"
