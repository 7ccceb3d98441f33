// Builds the release binary once, before any test file runs, so that a
// single file (npx vitest run store) works on its own.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NEXO_BIN } from './server.js';

/** The Go module root, one level above this suite. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** A cold build with an empty module cache takes well under this. */
const BUILD_TIMEOUT_MS = 5 * 60_000;
/** Version stamped into the test build unless VERSION is set (make passes it). */
const DEFAULT_VERSION = 'e2e';

export default function setup(): void {
  mkdirSync(dirname(NEXO_BIN), { recursive: true });
  const version = process.env.VERSION || DEFAULT_VERSION;
  const args = ['build', '-trimpath', '-ldflags', `-s -w -X main.version=${version}`, '-o', NEXO_BIN, './cmd/nexo'];
  const result = spawnSync('go', args, {
    cwd: REPO_ROOT,
    env: { ...process.env, CGO_ENABLED: '0' },
    stdio: 'inherit',
    timeout: BUILD_TIMEOUT_MS,
  });
  if (result.error) throw new Error(`go ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`go ${args.join(' ')} failed with exit code ${result.status}`);
}
