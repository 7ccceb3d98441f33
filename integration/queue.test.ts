// QUEUE end to end: the real binary driven by ioredis 6, once on its defaults
// (RESP3 via HELLO 3) and once with protocol: 2. ioredis returns RESP3 maps as
// flat arrays, as RESP2 sends them, so both protocols read the same.
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNexo, useRestartableNexo } from './nexo.js';

/** A BLOCK timeout a test waits out. */
const SHORT_BLOCK_MS = 100;
/** The lateness allowed when a BLOCK timeout ends. */
const BLOCK_MARGIN_MS = 1_000;
/** Bounds the wait for a state the server reaches at once (a closed connection's jobs released). */
const SETTLE_TIMEOUT_MS = 5_000;
/** Pause between checks of such a state. */
const POLL_MS = 5;
/** A visibility timeout no test outlives. */
const LONG_VISIBILITY_MS = 60_000;
/** Every byte value, for binary-safety checks. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** A job as QPOP returns it, fields converted. */
interface Job {
  id: string;
  queue: string;
  payload: string;
  attempt: number;
  priority: number;
  enqueued_ms: number;
  deadline_ms: number;
}

/** Turns a flat [k1, v1, k2, v2, ...] reply into an object. */
function toObject(reply: unknown): Record<string, unknown> {
  const flat = reply as unknown[];
  const out: Record<string, unknown> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

function toJob(reply: unknown): Job {
  return toObject(reply) as unknown as Job;
}

/** The message of the error a promise rejects with. */
async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the command to fail, but it succeeded');
}

/** Waits until check() is true; the server reaches the state at once, the bound only guards a hang. */
async function settle(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`state not reached within ${SETTLE_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

const nexo = useNexo();

const PROTOCOLS: { title: string; prefix: string; options?: RedisOptions }[] = [
  { title: 'RESP3 (ioredis defaults)', prefix: 'resp3' },
  { title: 'RESP2 (protocol: 2)', prefix: 'resp2', options: { protocol: 2 } },
];

describe('QUEUE', () => {
  for (const { title, prefix, options } of PROTOCOLS) {
    describe(`over ${title}`, () => {
      let redis: Redis;
      /** A second consumer on its own connection. */
      let other: Redis;
      beforeAll(async () => {
        redis = options ? await nexo.connect(options) : nexo.redis;
        other = await nexo.connect(options);
      });
      /** A queue name unique to this protocol block and test. */
      const q = (name: string): string => `${prefix}:${name}`;

      describe('PUSH, TAKE, SETTLE', () => {
        it('QPUSH returns ids; QPOP returns the job with its metadata; QACK removes it', async () => {
          const before = Date.now();
          const ids = (await redis.call('QPUSH', q('basic'), 'PRIORITY', '2', 'hello')) as string[];
          expect(ids).toHaveLength(1);
          expect(ids[0]).toMatch(/^\d+$/);
          const job = toJob(await redis.call('QPOP', q('basic'), 'VISIBILITY', String(LONG_VISIBILITY_MS)));
          expect(job).toMatchObject({ id: ids[0], queue: q('basic'), payload: 'hello', attempt: 1, priority: 2 });
          expect(job.enqueued_ms).toBeGreaterThanOrEqual(before - BLOCK_MARGIN_MS);
          expect(job.deadline_ms).toBeGreaterThanOrEqual(job.enqueued_ms + LONG_VISIBILITY_MS - BLOCK_MARGIN_MS);
          expect(await redis.call('QACK', q('basic'), job.id)).toBe(1);
          expect(toObject(await redis.call('QLEN', q('basic')))).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0 });
        });

        it('QPOP COUNT returns an array in priority then FIFO order; no job is null', async () => {
          await redis.call('QPUSH', q('count'), 'a', 'b');
          await redis.call('QPUSH', q('count'), 'PRIORITY', '5', 'urgent');
          const jobs = ((await redis.call('QPOP', q('count'), 'COUNT', '10')) as unknown[]).map(toJob);
          expect(jobs.map((j) => j.payload)).toEqual(['urgent', 'a', 'b']);
          expect(await redis.call('QACK', q('count'), ...jobs.map((j) => j.id))).toBe(3);
          expect(await redis.call('QPOP', q('count'))).toBeNull();
          expect(await redis.call('QPOP', q('count'), 'COUNT', '2')).toBeNull();
        });

        it('DELAY keeps a job out of reach; DEDUP returns the waiting job', async () => {
          await redis.call('QPUSH', q('delay'), 'DELAY', '600000', 'later');
          expect(await redis.call('QPOP', q('delay'))).toBeNull();
          const [first] = (await redis.call('QPUSH', q('delay'), 'DEDUP', 'order-1', 'once')) as string[];
          expect(await redis.call('QPUSH', q('delay'), 'DEDUP', 'order-1', 'twice')).toEqual([first]);
          expect(toObject(await redis.call('QLEN', q('delay')))).toMatchObject({ ready: 1, delayed: 1 });
        });

        it('a payload with every byte value round-trips', async () => {
          await redis.call('QPUSH', q('binary'), ALL_BYTES);
          const job = (await redis.callBuffer('QPOP', q('binary'))) as Buffer[];
          expect(job[5]).toEqual(ALL_BYTES);
        });

        it('QNACK retries with the error kept, then makes a dead letter', async () => {
          await redis.call('QCONFIG', 'SET', q('nack'), 'max-attempts', '2', 'backoff-delay', '0');
          await redis.call('QPUSH', q('nack'), 'job');
          let job = toJob(await redis.call('QPOP', q('nack')));
          expect(await redis.call('QNACK', q('nack'), job.id, 'ERROR', 'smtp down')).toBe('ready');
          job = toJob(await redis.call('QPOP', q('nack')));
          expect(job.attempt).toBe(2);
          expect(await redis.call('QNACK', q('nack'), job.id, 'DELAY', '0', 'ERROR', 'final')).toBe('dead');
          const [dead] = ((await redis.call('QDLQ', 'LIST', q('nack'))) as unknown[]).map(toObject);
          expect(dead).toMatchObject({ id: job.id, state: 'dead', failures: 2, last_error: 'final', last_reason: 'nack' });
          const errors = (dead.errors as unknown[]).map(toObject);
          expect(errors.map((e) => e.message)).toEqual(['smtp down', 'final']);
        });

        it('QNACK with a delay delays the retry', async () => {
          await redis.call('QPUSH', q('nack-delay'), 'job');
          const job = toJob(await redis.call('QPOP', q('nack-delay')));
          expect(await redis.call('QNACK', q('nack-delay'), job.id, 'DELAY', '600000')).toBe('delayed');
          expect(toObject(await redis.call('QLEN', q('nack-delay')))).toMatchObject({ delayed: 1 });
        });

        it('QTOUCH returns the new deadline', async () => {
          await redis.call('QPUSH', q('touch'), 'long job');
          const job = toJob(await redis.call('QPOP', q('touch')));
          const deadline = (await redis.call('QTOUCH', q('touch'), job.id, String(LONG_VISIBILITY_MS))) as number;
          expect(deadline).toBeGreaterThanOrEqual(job.enqueued_ms + LONG_VISIBILITY_MS);
          expect(typeof (await redis.call('QTOUCH', q('touch'), job.id))).toBe('number');
          expect(await redis.call('QACK', q('touch'), job.id)).toBe(1);
        });
      });

      describe('CONSUMERS', () => {
        it('a job is settled only by the connection that took it', async () => {
          await redis.call('QPUSH', q('owner'), 'job');
          const job = toJob(await redis.call('QPOP', q('owner')));
          expect(await errorOf(other.call('QACK', q('owner'), job.id))).toBe(
            `NOTHELD the job is not held by this connection: ${job.id}`,
          );
          expect(await errorOf(other.call('QNACK', q('owner'), job.id))).toMatch(/^NOTHELD /);
          expect(await errorOf(other.call('QTOUCH', q('owner'), job.id))).toMatch(/^NOTHELD /);
          expect(await redis.call('QACK', q('owner'), job.id)).toBe(1);
          expect(await errorOf(redis.call('QACK', q('owner'), job.id))).toBe(
            `NOTHELD the job is not held by this connection: ${job.id}`,
          );
        });

        it('QPOP BLOCK is served by a later push, first come first served', async () => {
          const third = await nexo.connect(options);
          const firstWait = other.call('QPOP', q('block'), 'BLOCK', '0');
          await settle(async () => toObject(await redis.call('QINFO', q('block'))).consumers_waiting === 1);
          const secondWait = third.call('QPOP', q('block'), 'BLOCK', '0');
          await settle(async () => toObject(await redis.call('QINFO', q('block'))).consumers_waiting === 2);
          await redis.call('QPUSH', q('block'), 'one', 'two');
          expect(toJob(await firstWait).payload).toBe('one');
          expect(toJob(await secondWait).payload).toBe('two');
        });

        it('QPOP BLOCK times out with null', async () => {
          const start = Date.now();
          expect(await redis.call('QPOP', q('block-timeout'), 'BLOCK', String(SHORT_BLOCK_MS))).toBeNull();
          const elapsed = Date.now() - start;
          expect(elapsed).toBeGreaterThanOrEqual(SHORT_BLOCK_MS);
          expect(elapsed).toBeLessThan(SHORT_BLOCK_MS + BLOCK_MARGIN_MS);
        });

        it('the jobs of a connection that closes return to the queue at once', async () => {
          await redis.call('QCONFIG', 'SET', q('gone'), 'backoff-delay', '0');
          await redis.call('QPUSH', q('gone'), 'a', 'b');
          const worker = await nexo.connect(options);
          expect(await worker.call('QPOP', q('gone'), 'COUNT', '2')).toHaveLength(2);
          worker.disconnect();
          await settle(async () => toObject(await redis.call('QLEN', q('gone'))).ready === 2);
          const [job] = ((await redis.call('QPEEK', q('gone'))) as unknown[]).map(toObject);
          expect(job).toMatchObject({ attempt: 1, last_reason: 'worker-gone' });
          expect(job.last_error).toBe('');
        });
      });

      describe('INSPECT AND MANAGE', () => {
        it('QINFO returns counts, counters and settings', async () => {
          await redis.call('QPUSH', q('info'), 'a');
          const info = toObject(await redis.call('QINFO', q('info')));
          expect(info).toMatchObject({ name: q('info'), ready: 1, pushed: 1, paused: 0, consumers_waiting: 0 });
          expect(toObject(info.settings)).toMatchObject({ 'visibility-timeout': '30000', 'max-attempts': '5' });
          expect(info.overrides).toEqual([]);
        });

        it('QPEEK shows the next jobs without taking them', async () => {
          await redis.call('QPUSH', q('peek'), 'a', 'b', 'c');
          const jobs = ((await redis.call('QPEEK', q('peek'), 'COUNT', '2')) as unknown[]).map(toObject);
          expect(jobs.map((j) => j.payload)).toEqual(['a', 'b']);
          expect(jobs[0]).toMatchObject({ state: 'ready', attempt: 0, failures: 0, dedup: null, last_error: null });
          expect(toObject(await redis.call('QLEN', q('peek')))).toMatchObject({ ready: 3 });
        });

        it('QLIST, QPAUSE, QRESUME, QPURGE and QDEL', async () => {
          await redis.call('QPUSH', q('manage'), 'a', 'b');
          expect(await redis.call('QPAUSE', q('manage'))).toBe('OK');
          expect(await redis.call('QPOP', q('manage'))).toBeNull();
          const [listed] = ((await redis.call('QLIST', 'MATCH', q('manage'))) as unknown[]).map(toObject);
          expect(listed).toMatchObject({ name: q('manage'), ready: 2, paused: 1 });
          expect(await redis.call('QRESUME', q('manage'))).toBe('OK');
          expect(await redis.call('QPURGE', q('manage'))).toBe(2);
          expect(await redis.call('QDEL', q('manage'))).toBe(1);
          expect(await redis.call('QDEL', q('manage'))).toBe(0);
          expect(await redis.call('QLIST', 'MATCH', q('manage'))).toEqual([]);
        });

        it('QCONFIG SET overrides settings, GET reads them, default restores', async () => {
          expect(await redis.call('QCONFIG', 'SET', q('config'), 'visibility-timeout', '1234', 'backoff', 'fixed')).toBe('OK');
          expect(toObject(await redis.call('QCONFIG', 'GET', q('config'), 'visibility-timeout', 'backoff'))).toEqual({
            'visibility-timeout': '1234',
            backoff: 'fixed',
          });
          await redis.call('QCONFIG', 'SET', q('config'), 'visibility-timeout', 'default');
          expect(toObject(await redis.call('QCONFIG', 'GET', q('config')))['visibility-timeout']).toBe('30000');
          expect(await redis.call('QCONFIG', 'HELP')).toEqual(expect.arrayContaining(['HELP']));
        });

        it('QDLQ REQUEUE moves dead letters to another queue; QDLQ PURGE removes them', async () => {
          await redis.call('QCONFIG', 'SET', q('dlq'), 'max-attempts', '1');
          await redis.call('QPUSH', q('dlq'), 'a', 'b', 'c');
          const jobs = ((await redis.call('QPOP', q('dlq'), 'COUNT', '3')) as unknown[]).map(toJob);
          for (const job of jobs) expect(await redis.call('QNACK', q('dlq'), job.id)).toBe('dead');
          expect(await redis.call('QDLQ', 'REQUEUE', q('dlq'), 'TO', q('dlq-retry'), jobs[0].id)).toBe(1);
          expect(toJob(await redis.call('QPOP', q('dlq-retry')))).toMatchObject({ id: jobs[0].id, payload: 'a', attempt: 1 });
          expect(await redis.call('QDLQ', 'PURGE', q('dlq'), jobs[1].id)).toBe(1);
          expect(await redis.call('QDLQ', 'REQUEUE', q('dlq'))).toBe(1);
          expect(toObject(await redis.call('QLEN', q('dlq')))).toMatchObject({ ready: 1, dead: 0 });
          expect(await redis.call('QDLQ', 'PURGE', q('dlq'))).toBe(0);
          expect(await redis.call('QDLQ', 'HELP')).toEqual(expect.arrayContaining(['HELP']));
        });

        it('INFO has a queue section', async () => {
          const info = String(await redis.info('queue'));
          expect(info).toMatch(/^# Queue\r\n/);
          expect(info).toMatch(/\r\nqueue_pushed:\d+\r\n/);
          expect(info).toMatch(/\r\nqueue_read_only:0\r\n/);
        });
      });

      describe('ERRORS', () => {
        it('bad input is refused with a Redis-style error and changes nothing', async () => {
          const name = q('errors');
          const [id] = (await redis.call('QPUSH', name, 'a')) as string[];
          expect(await errorOf(redis.call('QPUSH', name, 'DELAY', 'soon', 'x'))).toBe('ERR value is not an integer or out of range');
          expect(await errorOf(redis.call('QPUSH', name, 'DELAY', '5'))).toBe('ERR QPUSH needs a payload after its options');
          expect(await errorOf(redis.call('QPUSH', name, 'DEDUP', 'k', 'x', 'y'))).toBe('ERR DEDUP takes a single payload');
          expect(await errorOf(redis.call('QPOP', name, 'COUNT', '-1'))).toBe('ERR COUNT must be > 0');
          expect(await errorOf(redis.call('QPOP', name, 'BLOCK', '-1'))).toBe('ERR timeout is negative');
          expect(await errorOf(redis.call('QPOP', name, 'SOON', '1'))).toBe('ERR syntax error');
          expect(await errorOf(redis.call('QACK', name, '12345678'))).toBe(
            'NOTHELD the job is not held by this connection: 12345678',
          );
          expect(await errorOf(redis.call('QACK', name, id, 'nope'))).toBe("ERR invalid job id 'nope'");
          expect(await errorOf(redis.call('QCONFIG', 'SET', name, 'colour', 'blue'))).toBe('ERR unknown queue parameter "colour"');
          expect(await errorOf(redis.call('QCONFIG', 'SET', name, 'max-attempts', '-2'))).toMatch(/^ERR max-attempts: invalid value/);
          expect(await errorOf(redis.call('QDLQ', 'PURGE', name, id))).toBe(`ERR the job is not a dead letter: ${id}`);
          expect(await errorOf(redis.call('QPEEK'))).toBe("ERR wrong number of arguments for 'qpeek' command");
          expect(toObject(await redis.call('QLEN', name))).toEqual({ ready: 1, delayed: 0, inflight: 0, dead: 0 });
        });
      });
    });
  }

  describe('PAYLOAD LIMIT', () => {
    const limited = useNexo({ args: ['--queue-max-payload', '16'] });

    it('a payload above queue-max-payload is refused and nothing is pushed', async () => {
      expect(await errorOf(limited.redis.call('QPUSH', 'limit', 'ok', 'x'.repeat(17)))).toBe(
        'ERR payload larger than queue-max-payload',
      );
      expect(toObject(await limited.redis.call('QLEN', 'limit'))).toMatchObject({ ready: 0 });
      expect(await limited.redis.call('QPUSH', 'limit', 'x'.repeat(16))).toHaveLength(1);
    });
  });

  describe('RESTART', () => {
    const nexo = useRestartableNexo('nexo-queue-restart-');
    const start = () => nexo.start();

    it('jobs, settings and dead letters survive a clean stop and a SIGKILL; jobs in flight are ready again', async () => {
      let client = await start();
      await client.call('QCONFIG', 'SET', 'jobs', 'max-attempts', '1');
      await client.call('QPUSH', 'jobs', 'kept', 'held', 'failed', 'done');
      await client.call('QPUSH', 'jobs', 'DELAY', '600000', 'later');
      const taken = ((await client.call('QPOP', 'jobs', 'COUNT', '4')) as unknown[]).map(toJob);
      await client.call('QNACK', 'jobs', taken[2].id, 'ERROR', 'boom');
      await client.call('QACK', 'jobs', taken[3].id);
      await client.call('QNACK', 'jobs', taken[0].id, 'DELAY', '0');
      await client.call('QDLQ', 'REQUEUE', 'jobs', taken[0].id);
      // The server stops under the open connection: a shutdown does not fail
      // the jobs it holds (a disconnect would).
      await nexo.server.stop();
      client.disconnect();

      client = await start();
      const expected = { ready: 2, delayed: 1, inflight: 0, dead: 1 };
      expect(toObject(await client.call('QLEN', 'jobs'))).toEqual(expected);
      await nexo.server.kill('SIGKILL');
      client.disconnect();

      client = await start();
      expect(toObject(await client.call('QLEN', 'jobs'))).toEqual(expected);
      expect(toObject(await client.call('QCONFIG', 'GET', 'jobs', 'max-attempts'))).toEqual({ 'max-attempts': '1' });
      const [dead] = ((await client.call('QDLQ', 'LIST', 'jobs')) as unknown[]).map(toObject);
      expect(dead).toMatchObject({ payload: 'failed', last_error: 'boom' });
      const jobs = ((await client.call('QPOP', 'jobs', 'COUNT', '5')) as unknown[]).map(toJob);
      expect(Object.fromEntries(jobs.map((j) => [j.payload, j.attempt]))).toEqual({ held: 2, kept: 1 });
      client.disconnect();
    });
  });
});
