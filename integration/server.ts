// Starts and stops the real nexo binary for end-to-end tests.
//
// Each server gets free ports (--port 0 --http-port 0) and a fresh data
// directory; the real ports are read from the ready line the binary logs to
// stderr:  msg="ready to accept connections" addr=HOST:PORT http=HOST:PORT
// (http= only while the binary serves HTTP).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where global-setup.ts builds the release binary. */
export const NEXO_BIN = join(dirname(fileURLToPath(import.meta.url)), '.build', 'nexo');

/** How long the binary may take from spawn to its ready line. */
export const START_TIMEOUT_MS = 15_000;
/** How long a graceful shutdown (SIGTERM) may take before the process is killed. */
export const STOP_TIMEOUT_MS = 10_000;
/** How much of the server's recent output is kept for error messages. */
const OUTPUT_TAIL_BYTES = 16 * 1024;
/** The log message that marks the server as ready. */
const READY_MESSAGE = 'msg="ready to accept connections"';
/** The binary reads configuration from variables with this prefix. */
const ENV_PREFIX = 'NEXO_';
/** Prefix of the fresh data directories. */
const DATA_DIR_PREFIX = 'nexo-e2e-';

export interface StartOptions {
  /** Started with --password; clients must authenticate. */
  password?: string;
  /** Extra command-line arguments, e.g. ['--maxmemory', '10mb']. */
  args?: string[];
  /**
   * Reuse an existing data directory (for restart tests). The caller owns
   * it: stop() leaves it in place. Without it a fresh directory is created
   * and stop() removes it.
   */
  dataDir?: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NexoServer {
  host: string;
  /** The RESP port the server really bound. */
  port: number;
  /** The HTTP (dashboard) port the server really bound; undefined when its ready line names none. */
  httpPort: number | undefined;
  /** redis://HOST:PORT (no credentials). */
  url: string;
  /** http://HOST:HTTPPORT; undefined when the server serves no HTTP. */
  httpUrl: string | undefined;
  dataDir: string;
  pid: number;
  /** The server's recent stdout and stderr, for diagnostics. */
  output(): string;
  /**
   * Graceful shutdown: SIGTERM, wait for exit, remove the data directory
   * unless the caller passed it in. Throws when the process does not exit
   * within STOP_TIMEOUT_MS (it is then killed), exits with a non-zero code,
   * or had died before without kill().
   */
  stop(): Promise<ExitStatus>;
  /**
   * Sends a signal (SIGKILL by default) and waits for the process to exit.
   * Keeps the data directory, e.g. to start a new server on it; a later
   * stop() only removes what the server owns.
   */
  kill(signal?: NodeJS.Signals): Promise<ExitStatus>;
}

/** Processes still running, killed if the test worker exits without stopping them. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The test runner's environment without NEXO_* variables, so only the given flags configure the server. */
function serverEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith(ENV_PREFIX)));
}

/** Parses HOST:PORT, also [IPv6]:PORT; slog may quote the value. */
function parseAddr(line: string, key: string): { host: string; port: number } | undefined {
  const match = new RegExp(`(?:^|\\s)${key}="?([^"\\s]+)"?`).exec(line);
  if (!match) return undefined;
  const value = match[1];
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port <= 0) return undefined;
  return { host: value.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port };
}

/** The host to dial: a wildcard bind address is reached over loopback. */
function dialHost(host: string): string {
  switch (host) {
    case '':
    case '0.0.0.0':
      return '127.0.0.1';
    case '::':
      return '::1';
    default:
      return host;
  }
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess): Promise<ExitStatus> {
  if (hasExited(child)) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Sends signal, waits up to STOP_TIMEOUT_MS, then SIGKILLs. Reports whether it exited in time. */
async function terminate(
  child: ChildProcess,
  signal: NodeJS.Signals,
): Promise<{ status: ExitStatus; inTime: boolean }> {
  const exited = waitForExit(child);
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
  });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return { status: first, inTime: true };
  child.kill('SIGKILL');
  return { status: await exited, inTime: false };
}

export async function startServer(opts: StartOptions = {}): Promise<NexoServer> {
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), DATA_DIR_PREFIX)));
  const args = ['--port', '0', '--http-port', '0', '--data-dir', dataDir];
  if (opts.password !== undefined) args.push('--password', opts.password);
  args.push(...(opts.args ?? []));

  const child = spawn(NEXO_BIN, args, { env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));

  let tail = '';
  const record = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout!.on('data', record);

  const removeDataDir = async (): Promise<void> => {
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };

  type Addr = { host: string; port: number };
  let ready: { resp: Addr; http: Addr | undefined };
  try {
    ready = await new Promise((resolve, reject) => {
      let pending = '';
      let settled = false;
      const timer = setTimeout(() => {
        finish(new Error(`nexo did not log ready within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      const finish = (err?: Error, value?: typeof ready): void => {
        if (settled) return;
        settled = true;
        pending = '';
        clearTimeout(timer);
        child.off('close', onClose);
        child.off('error', onError);
        if (err) reject(err);
        else resolve(value!);
      };
      // 'close' comes after the output pipes are drained, so the error shows all of it.
      const onClose = (code: number | null, signal: NodeJS.Signals | null): void => {
        finish(new Error(`nexo exited before it was ready (code ${code}, signal ${signal})`));
      };
      const onError = (err: Error): void => {
        finish(new Error(`cannot start ${NEXO_BIN}: ${err.message}`));
      };
      child.once('close', onClose);
      child.once('error', onError);
      child.stderr!.on('data', (chunk: Buffer) => {
        record(chunk);
        if (settled) return;
        pending += chunk.toString('utf8');
        let newline: number;
        while (!settled && (newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          if (!line.includes(READY_MESSAGE)) continue;
          const resp = parseAddr(line, 'addr');
          const http = parseAddr(line, 'http');
          if (!resp) {
            finish(new Error(`cannot parse addr= from the ready line: ${line}`));
          } else {
            finish(undefined, { resp, http });
          }
        }
      });
    });
  } catch (err) {
    if (!hasExited(child)) {
      child.kill('SIGKILL');
      await waitForExit(child);
    }
    await removeDataDir();
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${message}\n--- nexo ${args.join(' ')} output ---\n${tail}`);
  }

  const host = dialHost(ready.resp.host);
  const http = ready.http;
  /** Set by kill(): stop() then only cleans up. */
  let killed = false;
  return {
    host,
    port: ready.resp.port,
    httpPort: http?.port,
    url: `redis://${urlHost(host)}:${ready.resp.port}`,
    httpUrl: http && `http://${urlHost(dialHost(http.host))}:${http.port}`,
    dataDir,
    pid: child.pid!,
    output: () => tail,
    async stop(): Promise<ExitStatus> {
      if (hasExited(child)) {
        // Stopped earlier by kill(), or it died on its own.
        await removeDataDir();
        const status = { code: child.exitCode, signal: child.signalCode };
        if (!killed) {
          throw new Error(`nexo had already exited (code ${status.code}, signal ${status.signal})\n${tail}`);
        }
        return status;
      }
      const { status, inTime } = await terminate(child, 'SIGTERM');
      await removeDataDir();
      if (!inTime) {
        throw new Error(`nexo did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM and was killed\n${tail}`);
      }
      if (status.code !== 0) {
        throw new Error(`nexo exited with code ${status.code} (signal ${status.signal}) after SIGTERM\n${tail}`);
      }
      return status;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitStatus> {
      killed = true;
      return (await terminate(child, signal)).status;
    },
  };
}
