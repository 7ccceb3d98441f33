// Builds the release binary and the SDK once, before any test file runs, so
// that a single file (npx vitest run store) works on its own.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NEXO_BIN } from './server.js';

/** The Go module root, one level above this suite. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The SDK package the tests import as @nexo/sdk (linked with file:../sdk). */
const SDK_DIR = join(REPO_ROOT, 'sdk');
/** A cold build with an empty module cache takes well under this. */
const BUILD_TIMEOUT_MS = 5 * 60_000;
/** Version stamped into the test build unless VERSION is set (make passes it). */
const DEFAULT_VERSION = 'e2e';

/** Runs a build command and throws with its exit status when it fails. */
function build(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): void {
  const result = spawnSync(command, args, { cwd, env, stdio: 'inherit', timeout: BUILD_TIMEOUT_MS });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status}`);
}

export default function setup(): void {
  mkdirSync(dirname(NEXO_BIN), { recursive: true });
  const version = process.env.VERSION || DEFAULT_VERSION;
  const args = ['build', '-trimpath', '-ldflags', `-s -w -X main.version=${version}`, '-o', NEXO_BIN, './cmd/nexo'];
  build('go', args, REPO_ROOT, { ...process.env, CGO_ENABLED: '0' });
  build('npm', ['run', '--silent', 'build'], SDK_DIR);
}
