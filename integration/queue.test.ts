// QUEUE end to end: the real binary driven by ioredis 6, once on its defaults
// (RESP3 via HELLO 3) and once with protocol: 2 (ioredis returns RESP3 maps as
// flat arrays, as RESP2 sends them, so both protocols read the same), then
// through the SDK's Queue and Worker.
import { NexoError, type Job as SdkJob, type QueueEvent, type Worker } from '@nexo/sdk';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNexo, useRestartableNexo } from './nexo.js';
import { deferred, errorOf, killByName, nexoErrorOf, SDK_IDLE_BLOCK_MS, settle, toObject } from './helpers.js';

/** A BLOCK timeout a test waits out. */
const SHORT_BLOCK_MS = 100;
/** The lateness allowed when a BLOCK timeout ends. */
const BLOCK_MARGIN_MS = 1_000;
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

function toJob(reply: unknown): Job {
  return toObject(reply) as unknown as Job;
}

/** Resolves with the arguments of the first `count` emissions of an event. */
function collect<A extends unknown[]>(
  emitter: { on(event: string, listener: (...args: A) => void): unknown },
  event: string,
  count: number,
): Promise<A[]> {
  const seen: A[] = [];
  return new Promise((resolve) => {
    emitter.on(event, (...args: A) => {
      seen.push(args);
      if (seen.length === count) resolve(seen);
    });
  });
}

/** A visibility timeout short enough for a test to outlive it a few times. */
const SHORT_VISIBILITY_MS = 200;
/** How many visibility timeouts the long job of the AUTO EXTEND test lasts. */
const LONG_JOB_VISIBILITIES = 3;
/** Retry settings that make a failed job ready again at once and deterministically. */
const INSTANT_RETRY = { backoff: 'fixed', backoffDelay: 1, backoffJitter: 0 } as const;
/** Jobs of the race between two workers. */
const RACE_JOBS = 200;
/** Concurrency of each worker in the race. */
const RACE_CONCURRENCY = 8;
/** Concurrency of the CONCURRENCY test, and twice as many jobs. */
const CONCURRENCY = 4;

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
          expect(toObject(await redis.call('QLEN', q('basic')))).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0, completed: 0 });
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

        it('QJOB finds a job by id in any state; QCANCEL removes waiting jobs, all or none', async () => {
          const [ready, delayed] = [
            ...((await redis.call('QPUSH', q('job'), 'a')) as string[]),
            ...((await redis.call('QPUSH', q('job'), 'DELAY', String(LONG_VISIBILITY_MS), 'b')) as string[]),
          ];
          expect(toObject(await redis.call('QJOB', q('job'), delayed))).toMatchObject({ id: delayed, payload: 'b', state: 'delayed' });
          const taken = toJob(await redis.call('QPOP', q('job')));
          expect(taken.id).toBe(ready);
          expect(toObject(await redis.call('QJOB', q('job'), ready))).toMatchObject({ state: 'inflight', attempt: 1 });
          expect(await errorOf(redis.call('QCANCEL', q('job'), delayed, ready))).toBe(
            `ERR the job is not waiting (ready or delayed): ${ready}`,
          );
          expect(await redis.call('QCANCEL', q('job'), delayed)).toBe(1);
          expect(await redis.call('QJOB', q('job'), delayed)).toBeNull();
          expect(toObject(await redis.call('QLEN', q('job')))).toMatchObject({ ready: 0, delayed: 0, inflight: 1 });
          expect(await redis.call('QACK', q('job'), ready)).toBe(1);
        });

        it('with keep-completed, QACK … RESULT keeps a job completed with its result, which QJOB shows', async () => {
          await redis.call('QCONFIG', 'SET', q('done'), 'keep-completed', '1');
          const [first, second] = (await redis.call('QPUSH', q('done'), 'a', 'b')) as string[];
          await redis.call('QPOP', q('done'), 'COUNT', '2');
          expect(await errorOf(redis.call('QACK', q('done'), 'RESULT', 'x'))).toBe('ERR syntax error');
          expect(await redis.call('QACK', q('done'), first, 'RESULT', '{"sent":true}')).toBe(1);
          expect(toObject(await redis.call('QJOB', q('done'), first))).toMatchObject({ state: 'completed', result: '{"sent":true}' });
          expect(await redis.call('QACK', q('done'), second)).toBe(1);
          expect(await redis.call('QJOB', q('done'), first)).toBeNull();
          expect(toObject(await redis.call('QJOB', q('done'), second))).toMatchObject({ state: 'completed', result: null });
          expect(toObject(await redis.call('QLEN', q('done')))).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0, completed: 1 });
          const listed = (await redis.call('QPEEK', q('done'), 'STATE', 'completed', 'COUNT', '5')) as unknown[];
          expect(listed.map((j) => toObject(j))).toMatchObject([{ id: second, state: 'completed' }]);
          expect(await errorOf(redis.call('QPEEK', q('done'), 'STATE', 'done'))).toBe(
            'ERR STATE must be ready, delayed, inflight, dead or completed',
          );
          await redis.call('QDEL', q('done'));
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

        it('rate-limit hands out at most that many jobs per window across connections; a waiting QPOP is served when it ends', async () => {
          await redis.call('QCONFIG', 'SET', q('rate'), 'rate-limit', '2', 'rate-window', String(SHORT_BLOCK_MS));
          await redis.call('QPUSH', q('rate'), 'a', 'b', 'c');
          expect(((await redis.call('QPOP', q('rate'), 'COUNT', '3')) as unknown[]).length).toBe(2);
          expect(await other.call('QPOP', q('rate'))).toBeNull();
          // The window ends after SHORT_BLOCK_MS, well before the BLOCK timeout, which would answer null.
          const third = await other.call('QPOP', q('rate'), 'BLOCK', String(SHORT_BLOCK_MS + BLOCK_MARGIN_MS));
          expect(toJob(third).payload).toBe('c');
        });

        it('max-in-flight keeps that many jobs in flight across connections; a waiting QPOP is served when one is acked', async () => {
          await redis.call('QCONFIG', 'SET', q('inflight'), 'max-in-flight', '1');
          await redis.call('QPUSH', q('inflight'), 'a', 'b');
          const [held] = ((await redis.call('QPOP', q('inflight'), 'COUNT', '2')) as unknown[]).map(toJob);
          expect(held.payload).toBe('a');
          const waiting = other.call('QPOP', q('inflight'), 'BLOCK', '0');
          await settle(async () => toObject(await redis.call('QINFO', q('inflight'))).consumers_waiting === 1);
          expect(await redis.call('QACK', q('inflight'), held.id)).toBe(1);
          const next = toJob(await waiting);
          expect(next.payload).toBe('b');
          expect(await other.call('QACK', q('inflight'), next.id)).toBe(1);
        });

        it('with events on, a queue publishes each job step as JSON on __queue__:<queue>', async () => {
          const sub = await nexo.connect(options);
          const messages: Record<string, unknown>[] = [];
          const done = deferred();
          sub.on('message', (_channel: string, message: string) => {
            messages.push(JSON.parse(message));
            if (messages.length === 5) done.resolve();
          });
          await sub.subscribe(`__queue__:${q('events')}`);
          await redis.call('QCONFIG', 'SET', q('events'), 'events', 'yes');
          const [id] = (await redis.call('QPUSH', q('events'), 'a')) as string[];
          await redis.call('QPOP', q('events'));
          await redis.call('QNACK', q('events'), id, 'DELAY', '0', 'ERROR', 'boom');
          await redis.call('QACK', q('events'), toJob(await redis.call('QPOP', q('events'))).id);
          await done.promise;
          expect(messages.map((m) => m.event)).toEqual(['waiting', 'active', 'failed', 'active', 'completed']);
          expect(messages[2]).toEqual({ event: 'failed', queue: q('events'), id, attempt: 1, reason: 'nack', error: 'boom' });
          sub.disconnect();
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
          expect(toObject(await redis.call('QLEN', name))).toEqual({ ready: 1, delayed: 0, inflight: 0, dead: 0, completed: 0 });
        });
      });
    });
  }

  describe('SDK PUSH AND INSPECT', () => {
    it('PUSH returns the job id; the job waits with its JSON payload, priority and dedup id; a DEDUP push returns the same id', async () => {
      const queue = nexo.sdk.queue<{ to: string }>('sdk:push');
      const id = await queue.push({ to: 'a@example.com' }, { priority: 5, dedupId: 'mail-1' });
      expect(id).toMatch(/^\d+$/);
      expect(await queue.push({ to: 'other' }, { dedupId: 'mail-1' })).toBe(id);
      expect(await queue.counts()).toEqual({ ready: 1, delayed: 0, inflight: 0, dead: 0, completed: 0 });
      const [job] = await queue.peek();
      expect(job).toMatchObject({ id, queue: 'sdk:push', payload: { to: 'a@example.com' }, state: 'ready', priority: 5, dedupId: 'mail-1' });
      expect(job.attempt).toBe(0);
      expect(job.enqueuedAt).toBeInstanceOf(Date);
      expect(job.errors).toEqual([]);
    });

    it('PUSHMANY returns the ids in order; with DELAY the jobs wait as delayed', async () => {
      const queue = nexo.sdk.queue<number>('sdk:pushmany');
      const ids = await queue.pushMany([1, 2, 3]);
      expect(ids.map(Number)).toEqual([Number(ids[0]), Number(ids[0]) + 1, Number(ids[0]) + 2]);
      await queue.pushMany([4, 5], { delay: LONG_VISIBILITY_MS });
      expect(await queue.counts()).toEqual({ ready: 3, delayed: 2, inflight: 0, dead: 0, completed: 0 });
      const [later] = (await queue.peek(5)).filter((j) => j.payload === 4);
      expect(later).toBeUndefined();
    });

    it('PEEK lists the ready jobs highest PRIORITY first, FIFO within a priority, without taking them', async () => {
      const queue = nexo.sdk.queue<string>('sdk:peek');
      await queue.push('low-1');
      await queue.push('high', { priority: 10 });
      await queue.push('low-2');
      expect((await queue.peek(3)).map((j) => j.payload)).toEqual(['high', 'low-1', 'low-2']);
      expect((await queue.counts()).ready).toBe(3);
    });

    it('CONFIGURE overrides settings and null restores the default; SETTINGS and INFO show them with the counters', async () => {
      const queue = nexo.sdk.queue('sdk:configure');
      const defaults = await queue.settings();
      expect(defaults).toMatchObject({ visibilityTimeout: 30_000, maxAttempts: 5, backoff: 'exponential', releaseOnDisconnect: true });
      await queue.configure({ maxAttempts: 2, backoff: 'fixed', backoffJitter: 0, releaseOnDisconnect: false });
      expect(await queue.settings()).toEqual({ ...defaults, maxAttempts: 2, backoff: 'fixed', backoffJitter: 0, releaseOnDisconnect: false });
      await queue.configure({ maxAttempts: null });
      expect((await queue.settings()).maxAttempts).toBe(defaults.maxAttempts);
      await queue.push('x');
      const info = await queue.info();
      expect(info).toMatchObject({ name: 'sdk:configure', ready: 1, paused: false, pushed: 1, delivered: 0, consumersWaiting: 0 });
      expect(info.settings.backoff).toBe('fixed');
    });

    it('PAUSE stops handing out jobs, RESUME hands them out again to a waiting worker', async () => {
      const queue = nexo.sdk.queue<string>('sdk:pause');
      await queue.pause();
      expect((await queue.info()).paused).toBe(true);
      await queue.push('held back');
      const worker = queue.process(async () => undefined);
      try {
        const completed = collect<[SdkJob<string>]>(worker, 'completed', 1);
        await settle(async () => (await queue.info()).consumersWaiting === 1);
        expect((await queue.counts()).ready).toBe(1);
        await queue.resume();
        const [[job]] = await completed;
        expect(job.payload).toBe('held back');
      } finally {
        await worker.close();
      }
    });

    it('GET returns a job by id in any state; PROMOTE readies a delayed one; CANCEL removes waiting jobs and refuses a running one', async () => {
      const queue = nexo.sdk.queue<{ to: string }>('sdk:get');
      const id = await queue.push({ to: 'a@example.com' }, { delay: LONG_VISIBILITY_MS, dedupId: 'reminder-1' });
      expect(await queue.get(id)).toMatchObject({ id, payload: { to: 'a@example.com' }, state: 'delayed', dedupId: 'reminder-1' });
      expect(await queue.promote(id)).toBe(1);
      expect((await queue.get(id))?.state).toBe('ready');
      expect(await queue.cancel(id)).toBe(1);
      expect(await queue.get(id)).toBeNull();
      expect(await queue.push({ to: 'b@example.com' }, { dedupId: 'reminder-1' })).not.toBe(id);
      expect(await queue.cancel()).toBe(0);
      const running = await queue.push({ to: 'c@example.com' });
      const taker = await nexo.connect();
      await taker.call('QPOP', 'sdk:get', 'COUNT', '2');
      expect(await nexoErrorOf(queue.cancel(running))).toMatchObject({ code: 'ERR', command: 'QCANCEL' });
      expect((await queue.get(running))?.state).toBe('inflight');
      taker.disconnect();
    });

    it('REPEAT pushes a job on a schedule until UNREPEAT; REPEATS lists the schedules with their next fire time', async () => {
      const queue = nexo.sdk.queue<{ kind: string }>('sdk:repeat');
      await queue.repeat('tick', { kind: 'tick' }, { every: 1, priority: 2 });
      await queue.repeat('digest', { kind: 'digest' }, { cron: '0 9 * * mon-fri', tz: 'Asia/Kolkata' });
      const [digest, tick] = await queue.repeats();
      expect(digest).toMatchObject({ name: 'digest', every: null, cron: '0 9 * * mon-fri', tz: 'Asia/Kolkata', payload: { kind: 'digest' } });
      expect([digest.next?.getUTCHours(), digest.next?.getUTCMinutes()]).toEqual([3, 30]); // 09:00 in Kolkata
      expect(tick.tz).toBeNull();
      expect(tick).toMatchObject({ name: 'tick', every: 1, cron: null, priority: 2, payload: { kind: 'tick' } });
      expect((await queue.info()).repeats).toBe(2);
      const job = deferred<SdkJob<{ kind: string }>>();
      const worker = queue.process(async (j) => job.resolve(j));
      expect(await job.promise).toMatchObject({ payload: { kind: 'tick' }, priority: 2 });
      await worker.close();
      expect(await queue.unrepeat('tick', 'digest', 'nosuch')).toBe(2);
      expect(await queue.repeats()).toEqual([]);
      expect((await nexoErrorOf(queue.repeat('bad', { kind: 'x' }, { cron: '61 * * * *' }))).code).toBe('ERR');
      expect((await nexoErrorOf(queue.repeat('bad', { kind: 'x' }, { every: 5, cron: '* * * * *' }))).code).toBe('SDK');
      await queue.delete();
    });

    it('JOB.PROGRESS shows in GET while the job runs and reaches EVENTS handlers, parsed', async () => {
      const queue = nexo.sdk.queue<string>('sdk:progress');
      const progressed: unknown[] = [];
      const off = await queue.events((e) => {
        if (e.event === 'progress') progressed.push(e.progress);
      });
      const id = await queue.push('a');
      const told = deferred();
      const release = deferred();
      const worker = queue.process(async (job) => {
        await job.progress({ pct: 50 });
        told.resolve();
        await release.promise;
      });
      await told.promise;
      expect((await queue.get(id))?.progress).toEqual({ pct: 50 });
      release.resolve();
      await worker.close();
      expect(await queue.get(id)).toBeNull();
      await settle(async () => progressed.length === 1);
      expect(progressed).toEqual([{ pct: 50 }]);
      await off();
      await queue.delete();
    });

    it('EVENTS hands the queue\'s job events to a handler, from any worker, and turns the events setting on', async () => {
      const queue = nexo.sdk.queue<string>('sdk:events');
      const seen: QueueEvent[] = [];
      const completed = deferred();
      const off = await queue.events((e) => {
        seen.push(e);
        if (e.event === 'completed') completed.resolve();
      });
      expect((await queue.settings()).events).toBe(true);
      const id = await queue.push('a');
      const worker = queue.process(async () => 'done');
      await completed.promise;
      await worker.close();
      expect(seen.map((e) => [e.event, e.id, e.attempt])).toEqual([
        ['waiting', id, 0],
        ['active', id, 1],
        ['completed', id, 1],
      ]);
      await off();
      await queue.delete();
    });

    it('KEEPCOMPLETED keeps completed jobs: GET shows what the handler returned, and the completed event carries it', async () => {
      const queue = nexo.sdk.queue<{ n: number }>('sdk:keep');
      await queue.configure({ keepCompleted: 10, keepCompletedAge: LONG_VISIBILITY_MS });
      expect(await queue.settings()).toMatchObject({ keepCompleted: 10, keepCompletedAge: LONG_VISIBILITY_MS });
      const results: unknown[] = [];
      const off = await queue.events((e) => {
        if (e.event === 'completed') results.push(e.result);
      });
      const worker = queue.process(async (job) => (job.payload.n === 1 ? { doubled: 2 } : undefined));
      const completed = collect(worker, 'completed', 2);
      const [returned, nothing] = await queue.pushMany([{ n: 1 }, { n: 2 }]);
      await completed;
      await worker.close();
      expect(await queue.get(returned)).toMatchObject({ state: 'completed', result: { doubled: 2 } });
      expect(await queue.get(nothing)).toMatchObject({ state: 'completed', result: null });
      expect((await queue.counts()).completed).toBe(2);
      expect((await queue.peek(10, 'completed')).map((j) => [j.id, j.result])).toEqual([
        [returned, { doubled: 2 }],
        [nothing, null],
      ]);
      await settle(async () => results.length === 2);
      expect(results).toContainEqual({ doubled: 2 });
      expect(results).toContainEqual(undefined);
      await off();
      await queue.delete();
    });

    it('PURGE removes the waiting jobs and DELETE removes the queue', async () => {
      const queue = nexo.sdk.queue('sdk:purge');
      await queue.pushMany(['a', 'b']);
      await queue.push('c', { delay: LONG_VISIBILITY_MS });
      expect(await queue.purge()).toBe(3);
      expect(await queue.counts()).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0, completed: 0 });
      await queue.configure({ maxAttempts: 1 });
      expect(await queue.delete()).toBe(true);
      expect(await queue.delete()).toBe(false);
      expect((await queue.settings()).maxAttempts).toBe(5);
    });

    it('PUSHMANY of no payloads sends nothing and returns no ids', async () => {
      const queue = nexo.sdk.queue('sdk:empty');
      expect(await queue.pushMany([])).toEqual([]);
      expect((await queue.info()).pushed).toBe(0);
    });

    it('a misuse is refused by the SDK before anything is sent: a NexoError with code SDK that says what to fix', async () => {
      const queue = nexo.sdk.queue('sdk:misuse');
      for (const attempt of [
        () => queue.push('x', { delay: -1 }),
        () => queue.push('x', { priority: 1.5 }),
        () => queue.pushMany(['x'], { dedupId: 'd' } as never),
        () => queue.configure({ retries: 3 } as never),
        () => queue.peek(0),
      ]) {
        const err = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(NexoError);
        expect((err as NexoError).code).toBe('SDK');
      }
      expect(() => queue.process(async () => undefined, { concurrency: 0 })).toThrow(/concurrency must be a positive whole number/);
      expect((await queue.info()).pushed).toBe(0);
    });

    it('a server error is a NexoError with the server code, the command and a hint', async () => {
      const queue = nexo.sdk.queue('sdk:server-error');
      const err = (await queue.configure({ backoffJitter: 2 }).catch((e: unknown) => e)) as NexoError;
      expect(err).toBeInstanceOf(NexoError);
      expect(err.code).toBe('ERR');
      expect(err.command).toBe('QCONFIG');
      expect(err.message).toMatch(/backoff-jitter/);
    });
  });

  describe('SDK WORKER', () => {
    it('PROCESS acks a job when its handler resolves and emits completed with the job and the result', async () => {
      const queue = nexo.sdk.queue<{ n: number }>('sdk:process');
      const worker = queue.process(async (job) => job.payload.n * 2);
      try {
        const completed = collect<[SdkJob<{ n: number }>, number]>(worker, 'completed', 2);
        const ids = await queue.pushMany([{ n: 1 }, { n: 2 }]);
        const done = await completed;
        expect(done.map(([job, result]) => [job.id, job.attempt, result])).toEqual([
          [ids[0], 1, 2],
          [ids[1], 1, 4],
        ]);
        expect(done[0][0].deadline.getTime()).toBeGreaterThan(done[0][0].enqueuedAt.getTime());
        expect(await queue.counts()).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0, completed: 0 });
        expect((await queue.info()).acked).toBe(2);
      } finally {
        await worker.close();
      }
    });

    it('a completed or failed LISTENER THAT THROWS is reported as an error event, and the worker goes on', async () => {
      const queue = nexo.sdk.queue<string>('sdk:throwing-listener');
      await queue.configure({ maxAttempts: 1 });
      const worker = queue.process(async (job) => {
        if (job.payload === 'fail') throw new Error('handler failed');
      });
      try {
        worker.on('completed', () => {
          throw new Error('completed listener failed');
        });
        worker.on('failed', () => {
          throw new Error('failed listener failed');
        });
        const errors = collect<[Error]>(worker, 'error', 2);
        await queue.push('ok');
        await queue.push('fail');
        expect((await errors).map(([err]) => err.message).sort()).toEqual(['completed listener failed', 'failed listener failed']);
        expect(await queue.counts()).toMatchObject({ ready: 0, inflight: 0, dead: 1 });
      } finally {
        await worker.close();
      }
    });

    it('CONCURRENCY runs that many handlers at once and no more', async () => {
      const queue = nexo.sdk.queue<number>('sdk:concurrency');
      const gate = deferred();
      const full = deferred();
      let active = 0;
      let peak = 0;
      const worker: Worker<number> = queue.process(
        async () => {
          active++;
          peak = Math.max(peak, active);
          if (active === CONCURRENCY) full.resolve();
          await gate.promise;
          active--;
        },
        { concurrency: CONCURRENCY },
      );
      try {
        const completed = collect(worker, 'completed', 2 * CONCURRENCY);
        await queue.pushMany(Array.from({ length: 2 * CONCURRENCY }, (_, i) => i));
        await full.promise;
        expect(worker.active).toBe(CONCURRENCY);
        expect((await queue.counts()).inflight).toBe(CONCURRENCY);
        gate.resolve();
        await completed;
        expect(peak).toBe(CONCURRENCY);
      } finally {
        await worker.close();
      }
    });

    it('a handler that THROWS fails the job with its message: retried as attempt 2, then a DEAD LETTER with its history', async () => {
      const queue = nexo.sdk.queue<string>('sdk:fail');
      await queue.configure({ maxAttempts: 2, ...INSTANT_RETRY });
      const worker = queue.process(async (job) => {
        throw new Error(`boom ${job.attempt}`);
      });
      try {
        const failed = collect<[SdkJob<string>, Error]>(worker, 'failed', 2);
        const id = await queue.push('doomed');
        const failures = await failed;
        expect(failures.map(([job, err]) => [job.id, job.attempt, err.message])).toEqual([
          [id, 1, 'boom 1'],
          [id, 2, 'boom 2'],
        ]);
        await settle(async () => (await queue.counts()).dead === 1);
        const [dead] = await queue.deadLetters();
        expect(dead).toMatchObject({ id, payload: 'doomed', state: 'dead', attempt: 2, failures: 2, lastError: 'boom 2', lastReason: 'nack' });
        expect(dead.errors.map((e) => [e.attempt, e.reason, e.message])).toEqual([
          [1, 'nack', 'boom 1'],
          [2, 'nack', 'boom 2'],
        ]);
        expect(dead.due).toBeInstanceOf(Date);
      } finally {
        await worker.close();
      }
    });

    it('REQUEUE moves dead letters back to work, to the same queue or another; PURGEDEADLETTERS removes them', async () => {
      const queue = nexo.sdk.queue<string>('sdk:dlq');
      await queue.configure({ maxAttempts: 1 });
      const failing = queue.process(async () => {
        throw new Error('no');
      });
      const failed = collect(failing, 'failed', 3);
      const ids = await queue.pushMany(['a', 'b', 'c']);
      await failed;
      await failing.close();
      await settle(async () => (await queue.counts()).dead === 3);
      expect(await queue.requeue({ ids: [ids[0]] })).toBe(1);
      expect(await queue.requeue({ ids: [ids[1]], to: 'sdk:dlq-other' })).toBe(1);
      expect((await queue.peek()).map((j) => [j.id, j.attempt, j.failures])).toEqual([[ids[0], 0, 1]]);
      expect((await nexo.sdk.queue('sdk:dlq-other').peek()).map((j) => j.id)).toEqual([ids[1]]);
      expect(await queue.purgeDeadLetters()).toBe(1);
      expect(await queue.deadLetters()).toEqual([]);
      const err = (await queue.requeue({ ids: [ids[2]] }).catch((e: unknown) => e)) as NexoError;
      expect(err.code).toBe('ERR');
      expect(err.message).toContain('not a dead letter');
    });

    it('AUTO EXTEND keeps a job running longer than its visibility timeout: it is acked on attempt 1, never delivered again', async () => {
      const queue = nexo.sdk.queue<string>('sdk:extend');
      const attempts: number[] = [];
      const worker = queue.process(
        async (job) => {
          attempts.push(job.attempt);
          await new Promise((resolve) => setTimeout(resolve, LONG_JOB_VISIBILITIES * SHORT_VISIBILITY_MS));
        },
        { visibility: SHORT_VISIBILITY_MS },
      );
      try {
        const completed = collect(worker, 'completed', 1);
        await queue.push('long');
        await completed;
        expect(attempts).toEqual([1]);
        expect((await queue.info()).failed).toBe(0);
      } finally {
        await worker.close();
      }
    });

    it('CLOSE waits for the running handler, acks its job, then resolves', async () => {
      const queue = nexo.sdk.queue<string>('sdk:close');
      const started = deferred();
      const release = deferred();
      const worker = queue.process(async () => {
        started.resolve();
        await release.promise;
      });
      await queue.push('in progress');
      await started.promise;
      let closed = false;
      const closing = worker.close().then(() => (closed = true));
      // A round trip on the shared connection: the worker had every chance to finish closing.
      expect((await queue.counts()).inflight).toBe(1);
      expect(closed).toBe(false);
      release.resolve();
      await closing;
      expect(await queue.counts()).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0, completed: 0 });
    });

    it('CLOSE of an idle worker ends its waiting QPOP at once (CLIENT UNBLOCK); a job pushed after stays ready', async () => {
      const queue = nexo.sdk.queue<string>('sdk:close-idle');
      const worker = queue.process(async () => undefined);
      await settle(async () => (await queue.info()).consumersWaiting === 1);
      const begin = Date.now();
      await worker.close();
      expect(Date.now() - begin).toBeLessThan(SDK_IDLE_BLOCK_MS);
      expect((await queue.info()).consumersWaiting).toBe(0);
      await queue.push('later');
      expect((await queue.counts()).ready).toBe(1);
    });

    it('a job whose payload is not JSON fails with the parse error and ends as a dead letter', async () => {
      const queue = nexo.sdk.queue('sdk:not-json');
      await queue.configure({ maxAttempts: 1 });
      await nexo.redis.call('QPUSH', 'sdk:not-json', 'not json');
      const worker = queue.process(async () => undefined);
      try {
        await settle(async () => (await queue.counts()).dead === 1);
        const [dead] = await queue.deadLetters();
        expect(dead.lastError).toMatch(/JSON/);
        expect(dead.payload).toBeUndefined();
        expect(dead.raw.toString()).toBe('not json');
      } finally {
        await worker.close();
      }
    });

    it('RAW encoding hands the handler Buffers with every byte value', async () => {
      const queue = nexo.sdk.queue('sdk:raw', { encoding: 'raw' });
      const worker = queue.process(async (job) => job.payload);
      try {
        const completed = collect<[SdkJob<Buffer>, Buffer]>(worker, 'completed', 2);
        await queue.push(ALL_BYTES);
        await queue.push('text');
        const [[first], [second]] = await completed;
        expect(Buffer.compare(first.payload, ALL_BYTES)).toBe(0);
        expect(second.payload.toString()).toBe('text');
      } finally {
        await worker.close();
      }
    });

    it('two workers on two clients RACE for the jobs: each job is processed exactly once', async () => {
      const queue = nexo.sdk.queue<number>('sdk:race');
      const otherClient = await nexo.connectSdk();
      const seen: number[] = [];
      const all = deferred();
      const handler = async (job: SdkJob<number>): Promise<void> => {
        seen.push(job.payload);
        if (seen.length === RACE_JOBS) all.resolve();
      };
      const workers = [
        queue.process(handler, { concurrency: RACE_CONCURRENCY }),
        otherClient.queue<number>('sdk:race').process(handler, { concurrency: RACE_CONCURRENCY }),
      ];
      try {
        await queue.pushMany(Array.from({ length: RACE_JOBS }, (_, i) => i));
        await all.promise;
        await Promise.all(workers.map((w) => w.close()));
        expect(new Set(seen).size).toBe(RACE_JOBS);
        expect(seen).toHaveLength(RACE_JOBS);
        expect(await queue.counts()).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0, completed: 0 });
      } finally {
        await Promise.all(workers.map((w) => w.close()));
      }
    });

    it('when the worker CONNECTION is cut, its job is delivered again as attempt 2 and the worker goes on by itself', async () => {
      const queue = nexo.sdk.queue<string>('sdk:cut');
      await queue.configure(INSTANT_RETRY);
      const firstStarted = deferred();
      const releaseFirst = deferred();
      // Two slots: the second takes the job again while the first handler still runs.
      const worker = queue.process(
        async (job) => {
          if (job.attempt === 1) {
            firstStarted.resolve();
            await releaseFirst.promise;
          }
        },
        { concurrency: 2 },
      );
      try {
        const errors = collect<[Error]>(worker, 'error', 1);
        const completed = collect<[SdkJob<string>]>(worker, 'completed', 1);
        const id = await queue.push('survivor');
        await firstStarted.promise;
        await killByName(nexo.redis, 'nexo-sdk:worker:sdk:cut');
        const [[job]] = await completed;
        expect([job.id, job.attempt]).toEqual([id, 2]);
        // The first handler's ack comes too late: the job was released when its connection closed.
        releaseFirst.resolve();
        const [[err]] = await errors;
        expect(err).toBeInstanceOf(NexoError);
        expect((err as NexoError).code).toBe('NOTHELD');
        const [history] = (await queue.peek()).concat(await queue.deadLetters());
        expect(history).toBeUndefined();
        expect((await queue.info()).acked).toBe(1);
      } finally {
        releaseFirst.resolve();
        await worker.close();
      }
    });
  });

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
      const expected = { ready: 2, delayed: 1, inflight: 0, dead: 1, completed: 0 };
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
    it('an SDK WORKER under load across a SIGKILL processes every job at least once and leaves none behind', async () => {
      (await start()).disconnect();
      const sdk = await nexo.connectSdk();
      const queue = sdk.queue<number>('sdk:restart-load');
      const seen = new Set<number>();
      const quarter = deferred();
      const all = deferred();
      const worker = queue.process(
        async (job) => {
          seen.add(job.payload);
          if (seen.size === RACE_JOBS / 4) quarter.resolve();
          if (seen.size === RACE_JOBS) all.resolve();
        },
        { concurrency: RACE_CONCURRENCY },
      );
      // Acks lost with the killed server come back as NOTHELD: the jobs are delivered again.
      worker.on('error', () => undefined);
      try {
        await queue.pushMany(Array.from({ length: RACE_JOBS }, (_, i) => i));
        await quarter.promise;
        await nexo.server.kill('SIGKILL');
        (await start()).disconnect();
        await all.promise;
        await settle(async () => {
          const counts = await queue.counts();
          return counts.ready + counts.delayed + counts.inflight + counts.dead === 0;
        });
      } finally {
        await worker.close();
      }
    });

    it('an SDK WORKER keeps processing across a server SIGKILL and restart, without the user doing anything', async () => {
      (await start()).disconnect();
      const sdk = await nexo.connectSdk();
      const queue = sdk.queue<string>('sdk:restart');
      const worker = queue.process(async () => undefined);
      try {
        const before = collect<[SdkJob<string>]>(worker, 'completed', 1);
        await queue.push('before');
        expect((await before)[0][0].payload).toBe('before');
        await nexo.server.kill('SIGKILL');
        (await start()).disconnect();
        const after = collect<[SdkJob<string>]>(worker, 'completed', 1);
        await queue.push('after');
        expect((await after)[0][0].payload).toBe('after');
      } finally {
        await worker.close();
      }
    });
  });
});
