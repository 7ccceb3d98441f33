// Throughput of the SDK against the real binary, side by side with the real
// thing on a redis-server this file starts itself: ioredis on Redis for the
// store and pub/sub, BullMQ on Redis for the queue.
//
// Run with `npm run bench` (or `npx vitest bench --run sdk`); `vitest run`
// does not pick this file up (its include is *.test.ts).
//
// Store get/set are ops/s benchmarks: one batch is STORE_BATCH concurrent
// commands (ioredis writes them back to back on one socket, so they are
// pipelined on the wire). End-to-end cases (queue jobs, pub/sub messages,
// stream appends and group reads) are benchmarks whose iteration is one
// whole run of N items. Where nexo is compared with Redis, one vitest
// benchmark runs every contender once per iteration, alternating which goes
// first, so a noisy moment on the machine hits them alike; vitest's table
// then shows whole iterations per second, and the summary printed at the
// end shows items per second per contender (the median over the measured
// iterations) and the ratios, also per iteration.
//
// Vitest runs only the file-level beforeAll/afterAll in bench mode, so the
// servers are started and stopped there, not per describe.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { Nexo } from '@nexo/sdk';
import { startServer, type NexoServer } from './server.js';

// ---- Workload sizes ------------------------------------------------------

/** Bytes of the string in every value, job payload and message (JSON adds a few). */
const PAYLOAD_BYTES = 100;
/** Concurrent store commands per get/set iteration. */
const STORE_BATCH = 1_000;
/** Distinct keys the store benchmarks cycle through (all written before the get benchmarks). */
const STORE_KEYSPACE = 10_000;
/** Keys per MSET while the keyspace is written before the benchmarks. */
const STORE_PREFILL_CHUNK = 1_000;
/** How long each store benchmark runs after its warmup. */
const STORE_BENCH_TIME_MS = 2_000;
/** How long each store benchmark warms up. */
const STORE_WARMUP_TIME_MS = 300;

/** Jobs per queue run. */
const QUEUE_JOBS = 10_000;
/** Jobs per pushMany (nexo) and addBulk (BullMQ) call. */
const QUEUE_PUSH_CHUNK = 100;
/** pushMany/addBulk calls in flight at once while pushing. */
const QUEUE_PUSH_CHUNKS_IN_FLIGHT = 10;
/** Jobs a worker runs at once, nexo and BullMQ alike. */
const WORKER_CONCURRENCY = 16;

/** Messages per pub/sub run. */
const PUBSUB_MESSAGES = 50_000;
/** Concurrent publishes in flight while publishing. */
const PUBLISH_BATCH = 1_000;

/** Messages per stream append run and per group read. */
const STREAM_MESSAGES = 20_000;
/** Messages per appendMany call. */
const STREAM_APPEND_CHUNK = 100;
/** appendMany calls in flight at once. */
const STREAM_APPEND_CHUNKS_IN_FLIGHT = 10;
/** Concurrent single appends in flight at once. */
const STREAM_SINGLE_APPEND_BATCH = 1_000;
/** Messages per XCONSUME round trip of the group consumer. */
const STREAM_CONSUME_BATCH = 100;

/** Measured runs of each end-to-end case. */
const E2E_ROUNDS = 3;
/** Measured runs of each queue case: nexo against BullMQ is the decision-grade ratio, so more rounds. */
const QUEUE_ROUNDS = 5;
/** Unmeasured runs before them (connections, scripts and JIT warm). */
const E2E_WARMUP_ROUNDS = 1;
/** An end-to-end run that has not finished by then has lost items: it fails instead of hanging. */
const E2E_RUN_TIMEOUT_MS = 120_000;

/** How long redis-server may take to log that it is ready. */
const REDIS_START_TIMEOUT_MS = 10_000;
/** How long redis-server may take to exit after SIGTERM before it is killed. */
const REDIS_STOP_TIMEOUT_MS = 10_000;
/** The line redis-server logs once it accepts connections. */
const REDIS_READY_MESSAGE = 'Ready to accept connections';
/** Loopback, where every server of this file listens. */
const HOST = '127.0.0.1';

/** The fsync policies compared: nexo's --fsync against Redis's appendfsync of the same name. */
const FSYNC_MODES = ['always', 'everysec'] as const;
type Fsync = (typeof FSYNC_MODES)[number];

const PAYLOAD = { data: 'x'.repeat(PAYLOAD_BYTES) };
type Payload = typeof PAYLOAD;
/** The exact bytes the SDK stores for PAYLOAD, so ioredis on Redis stores the same. */
const PAYLOAD_JSON = JSON.stringify(PAYLOAD);
const BULL_JOB_NAME = 'bench';

/** Options of a classic ops/s benchmark. */
const STORE_BENCH_OPTIONS = { time: STORE_BENCH_TIME_MS, warmupTime: STORE_WARMUP_TIME_MS };
/** Options of an end-to-end benchmark: one iteration is one whole run. */
const E2E_BENCH_OPTIONS = { time: 0, iterations: E2E_ROUNDS, warmupTime: 0, warmupIterations: E2E_WARMUP_ROUNDS };
/** Options of a queue benchmark: one iteration is one run of nexo and one of BullMQ. */
const QUEUE_BENCH_OPTIONS = { ...E2E_BENCH_OPTIONS, iterations: QUEUE_ROUNDS };

// ---- Results -------------------------------------------------------------

interface Case {
  broker: string;
  name: string;
  /** Items per second of every measured iteration. */
  rates: number[];
}

/** Every case in the order it ran, for the summary. */
const cases: Case[] = [];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function caseOf(broker: string, name: string): Case | undefined {
  return cases.find((c) => c.broker === broker && c.name === name && c.rates.length > 0);
}

/** What one iteration of an end-to-end case measured. */
interface Measured {
  items: number;
  /** Milliseconds of the measured span (setup and cleanup inside the iteration stay out of it). */
  ms: number;
  /** Milliseconds of named phases within the span, each reported as a case of its own (same items). */
  phases?: Record<string, number>;
}

/** Records one measured iteration of a case, and of each of its phases as a case of its own. */
function record(entry: Case, { items, ms, phases = {} }: Measured): void {
  entry.rates.push((items * 1_000) / ms);
  for (const [phase, phaseMs] of Object.entries(phases)) {
    const phaseName = `${entry.name} (${phase} only)`;
    let part = cases.find((c) => c.broker === entry.broker && c.name === phaseName);
    if (part === undefined) {
      part = { broker: entry.broker, name: phaseName, rates: [] };
      let at = cases.indexOf(entry) + 1;
      while (at < cases.length && cases[at].name.startsWith(`${entry.name} (`)) at++;
      cases.splice(at, 0, part);
    }
    part.rates.push((items * 1_000) / phaseMs);
  }
}

/**
 * A vitest benchmark whose iteration measures itself: `run` returns how many
 * items it handled and how long its measured span took. Only iterations of
 * the measured phase (not the warmup) are recorded.
 */
function measure(broker: string, name: string, run: () => Promise<Measured>, options: Record<string, number>): void {
  measureAlternating(broker, name, [[name, run]], options);
}

/**
 * One vitest benchmark for several cases measured side by side: each
 * iteration runs every case once, starting with the next one each time
 * (A B, B A, …), so a slow moment of the machine hits all of them alike.
 * Each case is recorded on its own for the summary; vitest's own numbers
 * are those of the whole iteration.
 */
function measureAlternating(
  broker: string,
  benchName: string,
  runs: [name: string, run: () => Promise<Measured>][],
  options: Record<string, number>,
): void {
  const entries = runs.map(([name]) => {
    const entry: Case = { broker, name, rates: [] };
    cases.push(entry);
    return entry;
  });
  let recording = false;
  let iteration = 0;
  bench(
    benchName,
    async () => {
      const first = iteration++ % runs.length;
      for (let i = 0; i < runs.length; i++) {
        const which = (first + i) % runs.length;
        const measured = await runs[which][1]();
        if (recording) record(entries[which], measured);
      }
    },
    {
      ...options,
      setup: (_task, mode) => {
        recording = mode === 'run';
      },
    },
  );
}

// ---- Helpers -------------------------------------------------------------

/** A resolve-once signal with a deadline, for "all N items arrived". */
function completion(what: string): { promise: Promise<number>; done: () => void; fail: (err: unknown) => void } {
  let done!: () => void;
  let fail!: (err: unknown) => void;
  const promise = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not finish within ${E2E_RUN_TIMEOUT_MS} ms`)), E2E_RUN_TIMEOUT_MS);
    done = () => {
      clearTimeout(timer);
      resolve(performance.now());
    };
    fail = (err) => {
      clearTimeout(timer);
      reject(err instanceof Error ? err : new Error(String(err)));
    };
  });
  return { promise, done, fail };
}

/** Runs `send` for each chunk of `count` items of `size`, with `inFlight` calls at a time. */
async function inChunks<T>(items: T[], size: number, inFlight: number, send: (chunk: T[]) => Promise<unknown>): Promise<void> {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  for (let i = 0; i < chunks.length; i += inFlight) {
    await Promise.all(chunks.slice(i, i + inFlight).map(send));
  }
}

/** Fires `count` calls of `send`, `batch` of them concurrently at a time. */
async function inBatches(count: number, batch: number, send: (i: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < count; start += batch) {
    const calls: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(count, start + batch); i++) calls.push(send(i));
    await Promise.all(calls);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

interface RedisServer {
  port: number;
  stop(): Promise<void>;
}

/** Starts redis-server on a free port with a fresh directory; appendfsync `fsync`, or no AOF at all without it. */
async function startRedis(fsync?: Fsync): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'nexo-bench-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--protected-mode', 'no'];
  args.push(...(fsync === undefined ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', fsync]));
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not log ready within ${REDIS_START_TIMEOUT_MS} ms`)), REDIS_START_TIMEOUT_MS);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}`)));
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        if (output.includes(REDIS_READY_MESSAGE)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- redis-server ${args.join(' ')} ---\n${output}`);
  }
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), REDIS_STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- Servers and clients (file level: see the header) --------------------

/** nexo per fsync policy; the store and pub/sub (in memory) use the default one (always). */
const nexoServers = new Map<Fsync, NexoServer>();
const sdks = new Map<Fsync, Nexo>();
/** Redis with AOF per fsync policy, for BullMQ. */
const redisAof = new Map<Fsync, RedisServer>();
/** Redis without persistence, for the in-memory store and pub/sub baselines. */
let redisMemory: RedisServer;
/** Raw ioredis clients: on nexo (the same server without the SDK) and on Redis. */
let ioNexo: Redis;
let ioRedis: Redis;
let ioRedisSubscriber: Redis;

const sdk = (fsync: Fsync = 'always'): Nexo => sdks.get(fsync)!;

beforeAll(async () => {
  await Promise.all(
    FSYNC_MODES.map(async (fsync) => {
      const server = await startServer({ args: ['--fsync', fsync] });
      nexoServers.set(fsync, server);
      sdks.set(fsync, await Nexo.connect(server.url));
      redisAof.set(fsync, await startRedis(fsync));
    }),
  );
  redisMemory = await startRedis();
  ioNexo = new Redis(nexoServers.get('always')!.port, HOST);
  ioRedis = new Redis(redisMemory.port, HOST);
  ioRedisSubscriber = new Redis(redisMemory.port, HOST);
  for (const client of [ioNexo, ioRedis]) {
    for (let start = 0; start < STORE_KEYSPACE; start += STORE_PREFILL_CHUNK) {
      const args: string[] = [];
      for (let i = start; i < Math.min(STORE_KEYSPACE, start + STORE_PREFILL_CHUNK); i++) args.push(storeKey(i), PAYLOAD_JSON);
      await client.mset(...args);
    }
  }
});

afterAll(async () => {
  printSummary();
  for (const client of [ioNexo, ioRedis, ioRedisSubscriber]) await client?.quit();
  await Promise.all([...sdks.values()].map((client) => client.close()));
  await Promise.all([...nexoServers.values()].map((server) => server.stop()));
  await Promise.all([...redisAof.values(), redisMemory].filter(Boolean).map((server) => server.stop()));
});

function storeKey(i: number): string {
  return `bench:key:${i % STORE_KEYSPACE}`;
}

/** Unique names per run, so runs never see each other's jobs or messages. */
let runCounter = 0;
function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${++runCounter}`;
}

// ---- STORE ----------------------------------------------------------------

describe('STORE', () => {
  let cursor = 0;
  const batch = (send: (key: string) => Promise<unknown>) => async () => {
    const start = performance.now();
    await inBatches(STORE_BATCH, STORE_BATCH, () => send(storeKey(cursor++)));
    return { items: STORE_BATCH, ms: performance.now() - start };
  };
  const targets = {
    SET: [
      ['SDK on nexo', (key: string) => sdk().store.set(key, PAYLOAD)],
      ['ioredis on nexo', (key: string) => ioNexo.set(key, PAYLOAD_JSON)],
      ['ioredis on Redis', (key: string) => ioRedis.set(key, PAYLOAD_JSON)],
    ],
    GET: [
      ['SDK on nexo', (key: string) => sdk().store.get<Payload>(key)],
      ['ioredis on nexo', (key: string) => ioNexo.get(key)],
      ['ioredis on Redis', (key: string) => ioRedis.get(key)],
    ],
  } as const;
  for (const [op, clients] of Object.entries(targets)) {
    measureAlternating(
      'STORE',
      `${op}: ${clients.map(([client]) => client).join(' / ')} (one batch of ${STORE_BATCH} on each)`,
      clients.map(([client, send]) => [`${op}: ${client}`, batch(send)]),
      STORE_BENCH_OPTIONS,
    );
  }
});

// ---- QUEUE ----------------------------------------------------------------

/** The payloads of one queue run (the same object each time; each client encodes it per job). */
const JOBS: Payload[] = Array.from({ length: QUEUE_JOBS }, () => PAYLOAD);

/** nexo: pushMany in chunks, then a worker runs every job; first push to last ack. */
async function nexoQueueRun(fsync: Fsync): Promise<Measured> {
  const queue = sdk(fsync).queue<Payload>(unique('bench-queue'));
  const start = performance.now();
  await inChunks(JOBS, QUEUE_PUSH_CHUNK, QUEUE_PUSH_CHUNKS_IN_FLIGHT, (chunk) => queue.pushMany(chunk));
  const pushed = performance.now();
  const all = completion(`nexo queue run (${fsync})`);
  let completed = 0;
  const worker = queue.process(async () => undefined, { concurrency: WORKER_CONCURRENCY });
  worker.on('completed', () => {
    if (++completed === QUEUE_JOBS) all.done();
  });
  worker.on('failed', (_job, err) => all.fail(err));
  worker.on('error', (err) => all.fail(err));
  try {
    const end = await all.promise;
    return { items: QUEUE_JOBS, ms: end - start, phases: { push: pushed - start, process: end - pushed } };
  } finally {
    await worker.close();
    await queue.delete();
  }
}

/** BullMQ: addBulk in chunks, then a Worker runs every job; first add to last completion. */
async function bullQueueRun(fsync: Fsync): Promise<Measured> {
  const connection = { host: HOST, port: redisAof.get(fsync)!.port };
  const name = unique('bench-queue');
  // removeOnComplete: a completed job is gone, as an acked nexo job is.
  const queue = new BullQueue<Payload>(name, { connection, defaultJobOptions: { removeOnComplete: true } });
  const all = completion(`BullMQ queue run (${fsync})`);
  queue.on('error', (err) => all.fail(err));
  await queue.waitUntilReady();
  let worker: BullWorker<Payload> | undefined;
  try {
    const start = performance.now();
    await inChunks(JOBS, QUEUE_PUSH_CHUNK, QUEUE_PUSH_CHUNKS_IN_FLIGHT, (chunk) =>
      queue.addBulk(chunk.map((data) => ({ name: BULL_JOB_NAME, data }))),
    );
    const pushed = performance.now();
    let completed = 0;
    worker = new BullWorker<Payload>(name, async () => undefined, {
      connection: { ...connection, maxRetriesPerRequest: null },
      concurrency: WORKER_CONCURRENCY,
    });
    worker.on('completed', () => {
      if (++completed === QUEUE_JOBS) all.done();
    });
    worker.on('failed', (_job, err) => all.fail(err));
    worker.on('error', (err) => all.fail(err));
    const end = await all.promise;
    return { items: QUEUE_JOBS, ms: end - start, phases: { push: pushed - start, process: end - pushed } };
  } finally {
    await worker?.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

describe('QUEUE', () => {
  for (const fsync of FSYNC_MODES) {
    measureAlternating(
      'QUEUE',
      `jobs: SDK on nexo --fsync ${fsync} vs BullMQ on Redis appendfsync ${fsync} (one run of each)`,
      [
        [`jobs: SDK on nexo --fsync ${fsync}`, () => nexoQueueRun(fsync)],
        [`jobs: BullMQ on Redis appendfsync ${fsync}`, () => bullQueueRun(fsync)],
      ],
      QUEUE_BENCH_OPTIONS,
    );
  }
});

// ---- PUBSUB ---------------------------------------------------------------

/** nexo: one SDK subscriber, PUBSUB_MESSAGES publishes; first publish to last delivery. */
async function nexoPubSubRun(): Promise<Measured> {
  const nexo = sdk();
  const topic = unique('bench/topic');
  const all = completion('nexo pub/sub run');
  let received = 0;
  const unsubscribe = await nexo.pubsub.subscribe<Payload>(topic, () => {
    if (++received === PUBSUB_MESSAGES) all.done();
  });
  try {
    const start = performance.now();
    await inBatches(PUBSUB_MESSAGES, PUBLISH_BATCH, () => nexo.pubsub.publish(topic, PAYLOAD));
    return { items: PUBSUB_MESSAGES, ms: (await all.promise) - start };
  } finally {
    await unsubscribe();
  }
}

/** Redis: one ioredis subscriber parsing each message as JSON (as the SDK does), PUBSUB_MESSAGES publishes. */
async function redisPubSubRun(): Promise<Measured> {
  const channel = unique('bench/topic');
  const all = completion('Redis pub/sub run');
  let received = 0;
  const onMessage = (from: string, message: string): void => {
    if (from !== channel) return;
    JSON.parse(message);
    if (++received === PUBSUB_MESSAGES) all.done();
  };
  ioRedisSubscriber.on('message', onMessage);
  await ioRedisSubscriber.subscribe(channel);
  try {
    const start = performance.now();
    await inBatches(PUBSUB_MESSAGES, PUBLISH_BATCH, () => ioRedis.publish(channel, PAYLOAD_JSON));
    return { items: PUBSUB_MESSAGES, ms: (await all.promise) - start };
  } finally {
    ioRedisSubscriber.off('message', onMessage);
    await ioRedisSubscriber.unsubscribe(channel);
  }
}

describe('PUBSUB', () => {
  measureAlternating(
    'PUBSUB',
    'messages: SDK on nexo vs ioredis on Redis (one run of each)',
    [
      ['messages: SDK on nexo', nexoPubSubRun],
      ['messages: ioredis on Redis', redisPubSubRun],
    ],
    E2E_BENCH_OPTIONS,
  );
});

// ---- STREAM ---------------------------------------------------------------

const MESSAGES: Payload[] = Array.from({ length: STREAM_MESSAGES }, () => PAYLOAD);

/** The stream the group reads come from, appended once. */
let consumeStream: string | undefined;
async function filledStream(): Promise<string> {
  if (consumeStream === undefined) {
    const name = unique('bench-consume');
    const stream = sdk().stream<Payload>(name);
    await inChunks(MESSAGES, STREAM_APPEND_CHUNK, STREAM_APPEND_CHUNKS_IN_FLIGHT, (chunk) => stream.appendMany(chunk));
    consumeStream = name;
  }
  return consumeStream;
}

describe('STREAM', () => {
  for (const fsync of FSYNC_MODES) {
    measure(
      'STREAM',
      `append: appendMany x${STREAM_APPEND_CHUNK}, SDK on nexo --fsync ${fsync}`,
      async () => {
        const stream = sdk(fsync).stream<Payload>(unique('bench-append'));
        const start = performance.now();
        await inChunks(MESSAGES, STREAM_APPEND_CHUNK, STREAM_APPEND_CHUNKS_IN_FLIGHT, (chunk) => stream.appendMany(chunk));
        return { items: STREAM_MESSAGES, ms: performance.now() - start };
      },
      E2E_BENCH_OPTIONS,
    );
    measure(
      'STREAM',
      `append: single, SDK on nexo --fsync ${fsync}`,
      async () => {
        const stream = sdk(fsync).stream<Payload>(unique('bench-append'));
        const start = performance.now();
        await inBatches(STREAM_MESSAGES, STREAM_SINGLE_APPEND_BATCH, () => stream.append(PAYLOAD));
        return { items: STREAM_MESSAGES, ms: performance.now() - start };
      },
      E2E_BENCH_OPTIONS,
    );
  }
  measure(
    'STREAM',
    'consume: group consumer, SDK on nexo',
    async () => {
      const stream = sdk().stream<Payload>(await filledStream());
      const all = completion('stream group read');
      let received = 0;
      const start = performance.now();
      const consumer = stream.consume({ group: unique('bench-group'), from: 'earliest', batchSize: STREAM_CONSUME_BATCH }, () => {
        if (++received === STREAM_MESSAGES) all.done();
      });
      consumer.on('error', (err) => all.fail(err));
      try {
        return { items: STREAM_MESSAGES, ms: (await all.promise) - start };
      } finally {
        await consumer.close();
      }
    },
    E2E_BENCH_OPTIONS,
  );
});

// ---- Summary --------------------------------------------------------------

function formatRate(rate: number | undefined): string {
  return rate === undefined ? 'n/a' : Math.round(rate).toLocaleString('en-US');
}

/** Width of the broker column of the summary. */
const SUMMARY_BROKER_WIDTH = 7;
/** Width of the case column of the summary. */
const SUMMARY_CASE_WIDTH = 64;
/** Width of each number column of the summary. */
const SUMMARY_NUMBER_WIDTH = 12;
/** Width of the label of a ratio line. */
const RATIO_LABEL_WIDTH = 72;

/**
 * The ratio of two cases' medians and, when they were measured side by side
 * (same iteration count), the median and range of the per-iteration ratios.
 */
function ratioLine(label: string, broker: string, numerator: string, denominator: string): string {
  const a = caseOf(broker, numerator);
  const b = caseOf(broker, denominator);
  if (!a || !b) return `  ${label.padEnd(RATIO_LABEL_WIDTH)} n/a`;
  let line = `  ${label.padEnd(RATIO_LABEL_WIDTH)} ${(median(a.rates) / median(b.rates)).toFixed(2)}x`;
  if (a.rates.length === b.rates.length) {
    const paired = a.rates.map((rate, i) => rate / b.rates[i]);
    const fmt = (x: number): string => `${x.toFixed(2)}x`;
    line += `   per iteration: median ${fmt(median(paired))}, min ${fmt(Math.min(...paired))}, max ${fmt(Math.max(...paired))}`;
  }
  return line;
}

function printSummary(): void {
  const num = (text: string): string => text.padStart(SUMMARY_NUMBER_WIDTH);
  const lines = [
    '',
    'SDK throughput, items per second (median, min and max over the measured iterations)',
    `  ${'broker'.padEnd(SUMMARY_BROKER_WIDTH)} ${'case'.padEnd(SUMMARY_CASE_WIDTH)} ${num('median')} ${num('min')} ${num('max')} ${num('iterations')}`,
  ];
  for (const c of cases) {
    const has = c.rates.length > 0;
    lines.push(
      `  ${c.broker.padEnd(SUMMARY_BROKER_WIDTH)} ${c.name.padEnd(SUMMARY_CASE_WIDTH)} ${num(formatRate(has ? median(c.rates) : undefined))} ` +
        `${num(formatRate(has ? Math.min(...c.rates) : undefined))} ${num(formatRate(has ? Math.max(...c.rates) : undefined))} ${num(String(c.rates.length))}`,
    );
  }
  lines.push('', 'Ratios (median / median):');
  for (const fsync of FSYNC_MODES) {
    const nexo = `jobs: SDK on nexo --fsync ${fsync}`;
    const bull = `jobs: BullMQ on Redis appendfsync ${fsync}`;
    lines.push(ratioLine(`QUEUE jobs/s, nexo --fsync ${fsync} / BullMQ appendfsync ${fsync}`, 'QUEUE', nexo, bull));
    for (const phase of ['push', 'process']) {
      lines.push(ratioLine(`  ${phase} phase only`, 'QUEUE', `${nexo} (${phase} only)`, `${bull} (${phase} only)`));
    }
  }
  for (const op of ['SET', 'GET']) {
    lines.push(ratioLine(`STORE ${op}, SDK on nexo / ioredis on Redis`, 'STORE', `${op}: SDK on nexo`, `${op}: ioredis on Redis`));
    lines.push(ratioLine(`STORE ${op}, ioredis on nexo / ioredis on Redis`, 'STORE', `${op}: ioredis on nexo`, `${op}: ioredis on Redis`));
    lines.push(ratioLine(`STORE ${op}, SDK on nexo / ioredis on nexo`, 'STORE', `${op}: SDK on nexo`, `${op}: ioredis on nexo`));
  }
  lines.push(ratioLine('PUBSUB messages/s, SDK on nexo / ioredis on Redis', 'PUBSUB', 'messages: SDK on nexo', 'messages: ioredis on Redis'));
  console.log(`${lines.join('\n')}\n`);
}
