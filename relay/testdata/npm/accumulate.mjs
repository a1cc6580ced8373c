// accumulate.mjs streams one Messages request with the official Anthropic TypeScript SDK and
// prints the message the SDK assembles, so that Go tests can see what an npm client (Claude Code
// among them) makes of a stream. relay/relaytest/npm.go runs it.
//
// Usage: BASE_URL=http://127.0.0.1:PORT API_KEY=key node accumulate.mjs request.json
//
// It runs client.messages.stream(request), prints `await stream.finalMessage()` as JSON on
// stdout and exits 0; on any error it prints the error (with its stack) on stderr and exits 1.
// The SDK is loaded from the node_modules of $CCRELAY_NPM_DIR when set, else of this directory.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

async function main() {
  const file = process.argv[2];
  const baseURL = process.env.BASE_URL;
  if (!file || !baseURL) {
    throw new Error('usage: BASE_URL=... API_KEY=... node accumulate.mjs request.json');
  }
  const dir = process.env.CCRELAY_NPM_DIR || dirname(fileURLToPath(import.meta.url));
  const sdk = createRequire(join(dir, 'package.json'))('@anthropic-ai/sdk');
  const Anthropic = sdk.Anthropic ?? sdk.default;
  const client = new Anthropic({
    baseURL,
    apiKey: process.env.API_KEY || 'test-key',
    maxRetries: 0,
    timeout: 60_000,
  });
  const request = JSON.parse(readFileSync(file, 'utf8'));
  const stream = client.messages.stream(request);
  const message = await stream.finalMessage();
  process.stdout.write(JSON.stringify(message) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err) + '\n');
  process.exit(1);
});
