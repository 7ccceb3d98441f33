// STREAM end to end: the real binary driven by ioredis 6, once on its defaults
// (RESP3 via HELLO 3) and once with protocol: 2. ioredis returns RESP3 maps as
// flat arrays, as RESP2 sends them, so both protocols read the same. Then
// through the SDK's Stream and Consumer.
import { NexoError, type Message as SdkMessage, type Stream } from '@nexo/sdk';
import { Redis, type RedisOptions } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNexo, useRestartableNexo } from './nexo.js';
import { deferred, errorOf, killByName, settle, toObject } from './helpers.js';

/** A BLOCK timeout a test waits out. */
const SHORT_BLOCK_MS = 100;
/** The lateness allowed when a BLOCK timeout ends. */
const BLOCK_MARGIN_MS = 1_000;
/** A BLOCK that an append wakes long before it ends. */
const LONG_BLOCK_MS = 10_000;
/** Every byte value, for binary-safety checks. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** A message as XFETCH and XCONSUME return it. */
interface Message {
  partition: number;
  offset: number;
  time_ms: number;
  key: string | null;
  value: string;
}

function toMessages(reply: unknown): Message[] {
  return (reply as unknown[]).map((m) => toObject(m) as unknown as Message);
}

/** Messages as "partition:offset=value", for compact comparisons. */
function brief(messages: Message[]): string[] {
  return messages.map((m) => `${m.partition}:${m.offset}=${m.value}`);
}

/** Waits until INFO clients shows exactly n blocked clients. */
async function blockedClients(redis: Redis, n: number): Promise<void> {
  await settle(async () => String(await redis.info('clients')).includes(`\r\nblocked_clients:${n}\r\n`));
}

/** The SDK's CONSUMER_RETRY_MS (sdk/src/stream.ts, not exported by the package): the pause before a failed message is delivered again. */
const SDK_CONSUMER_RETRY_MS = 1_000;
/** The SDK's CONSUME_BLOCK_MS (sdk/src/stream.ts): how long an idle consumer's XCONSUME waits unless close() ends it. */
const SDK_CONSUME_BLOCK_MS = 5_000;
/** The lateness allowed for the redelivery after SDK_CONSUMER_RETRY_MS. */
const RETRY_MARGIN_MS = 1_000;
/** Node timers may fire a little before Date.now() shows their full delay. */
const TIMER_SLACK_MS = 5;
/** The difference allowed between the server's append time and the test's clock. */
const CLOCK_MARGIN_MS = 1_000;
/** A time far enough ahead that no message was appended at or after it. */
const FUTURE_MS = 3_600_000;
/** Partitions of the keyed streams. */
const KEYED_PARTITIONS = 4;
/** Appends with one key in the KEY test. */
const KEYED_APPENDS = 5;
/** SDK clients appending at once in the APPENDERS race. */
const APPENDER_CLIENTS = 4;
/** Appends each of them sends at once. */
const APPENDS_PER_CLIENT = 50;
/** Retention settings of the INFO test. */
const RETENTION_AGE_MS = 60_000;
const RETENTION_BYTES = 1_000_000;
const RETENTION_MESSAGES = 50;
/** Messages and the batch size of the BATCHSIZE test: several batches and a partial last one. */
const BATCHED_MESSAGES = 7;
const SMALL_BATCH = 2;
/** Messages the FOLLOW test waits for. */
const FOLLOW_MESSAGES = 2;
/** Messages of the CONSUME test, an even number over two partitions. */
const CONSUMED_MESSAGES = 10;
/** Partitions and messages of the race between two consumers. */
const RACE_PARTITIONS = 4;
const RACE_MESSAGES = 200;
/** Bounds the wait for a consumer's reconnection, which ioredis makes within its first retries. */
const RECONNECT_BOUND_MS = 5_000;
/** The server's --stream-session-timeout in the SLOW BATCH test, and what one message's handler takes there. */
const SHORT_SESSION_MS = 3_000;
const SLOW_HANDLER_MS = 1_000;
/** Messages of the SLOW BATCH test: one batch whose handlers take longer than the session timeout. */
const SLOW_MESSAGES = 5;
/** Messages appended before the SIGKILL in the RESTART test (as many after), an even number. */
const RESTART_MESSAGES = 20;

/** A consumer handler that records the messages it gets; done resolves once it got `count`. */
function recorder<T>(count: number): { messages: SdkMessage<T>[]; handler: (m: SdkMessage<T>) => void; done: Promise<SdkMessage<T>[]> } {
  const messages: SdkMessage<T>[] = [];
  const { promise, resolve } = deferred<SdkMessage<T>[]>();
  return {
    messages,
    handler: (m) => {
      messages.push(m);
      if (messages.length === count) resolve(messages);
    },
    done: promise,
  };
}

/** Every message an async iterator yields. */
async function all<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterator) out.push(item);
  return out;
}

/** The error a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Resolves as the promise does, or rejects when it takes longer than ms. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The members of a group, 0 while the group does not exist yet. */
async function memberCount(stream: Stream<unknown>, group: string): Promise<number> {
  try {
    return (await stream.groupInfo(group)).members.length;
  } catch (err) {
    if (err instanceof NexoError && (err.code === 'NOGROUP' || err.code === 'NOSTREAM')) return 0;
    throw err;
  }
}

const nexo = useNexo();

const PROTOCOLS: { title: string; prefix: string; options?: RedisOptions }[] = [
  { title: 'RESP3 (ioredis defaults)', prefix: 'resp3' },
  { title: 'RESP2 (protocol: 2)', prefix: 'resp2', options: { protocol: 2 } },
];

describe('STREAM', () => {
  for (const { title, prefix, options } of PROTOCOLS) {
    describe(`over ${title}`, () => {
      let redis: Redis;
      /** A second client, for blocking calls. */
      let other: Redis;
      beforeAll(async () => {
        redis = options ? await nexo.connect(options) : nexo.redis;
        other = await nexo.connect(options);
      });
      /** A stream name unique to this protocol block and test. */
      const s = (name: string): string => `${prefix}:${name}`;

      describe('APPEND', () => {
        it('XAPPEND creates the stream and returns [partition, offset] per payload, dense from 0', async () => {
          expect(await redis.call('XAPPEND', s('append'), 'a', 'b')).toEqual([
            [0, 0],
            [0, 1],
          ]);
          expect(await redis.call('XAPPEND', s('append'), 'c')).toEqual([[0, 2]]);
          expect(await redis.call('XSTREAMS')).toEqual(expect.arrayContaining([s('append')]));
        });

        it('XAPPEND KEY puts the same key in the same partition, in order', async () => {
          expect(await redis.call('XCREATE', s('keyed'), 'PARTITIONS', '4')).toBe('OK');
          const first = (await redis.call('XAPPEND', s('keyed'), 'KEY', 'user-1', 'x')) as number[][];
          const second = (await redis.call('XAPPEND', s('keyed'), 'KEY', 'user-1', 'y', 'z')) as number[][];
          const partition = first[0][0];
          expect(second).toEqual([
            [partition, first[0][1] + 1],
            [partition, first[0][1] + 2],
          ]);
          const msgs = toMessages(await redis.call('XFETCH', s('keyed'), 'PARTITION', String(partition)));
          expect(msgs.map((m) => [m.key, m.value])).toEqual([
            ['user-1', 'x'],
            ['user-1', 'y'],
            ['user-1', 'z'],
          ]);
        });

        it('XAPPEND without KEY goes ROUND-ROBIN over the partitions', async () => {
          await redis.call('XCREATE', s('rr'), 'PARTITIONS', '3');
          const parts: number[] = [];
          for (let i = 0; i < 6; i++) {
            const [[partition]] = (await redis.call('XAPPEND', s('rr'), `m${i}`)) as number[][];
            parts.push(partition);
          }
          expect(parts).toEqual([0, 1, 2, 0, 1, 2]);
        });

        it('a BINARY payload with every byte value round-trips', async () => {
          await redis.call('XAPPEND', s('binary'), ALL_BYTES);
          const [msg] = (await redis.callBuffer('XFETCH', s('binary'), 'PARTITION', '0')) as unknown[];
          expect(toObject(msg).value).toEqual(ALL_BYTES);
        });
      });

      describe('FETCH', () => {
        it('XFETCH returns messages with partition, offset, time_ms, key (null without one) and value', async () => {
          const before = Date.now();
          await redis.call('XAPPEND', s('fetch'), 'a', 'b', 'c');
          const msgs = toMessages(await redis.call('XFETCH', s('fetch'), 'PARTITION', '0'));
          expect(brief(msgs)).toEqual(['0:0=a', '0:1=b', '0:2=c']);
          expect(msgs[0].key).toBeNull();
          expect(msgs[0].time_ms).toBeGreaterThanOrEqual(before - BLOCK_MARGIN_MS);
          expect(msgs[0].time_ms).toBeLessThanOrEqual(Date.now() + BLOCK_MARGIN_MS);
        });

        it('XFETCH FROM offset, EARLIEST, LATEST and COUNT', async () => {
          await redis.call('XAPPEND', s('from'), 'a', 'b', 'c');
          expect(brief(toMessages(await redis.call('XFETCH', s('from'), 'PARTITION', '0', 'FROM', '1', 'COUNT', '1')))).toEqual([
            '0:1=b',
          ]);
          expect(brief(toMessages(await redis.call('XFETCH', s('from'), 'PARTITION', '0', 'FROM', 'EARLIEST', 'COUNT', '2')))).toEqual([
            '0:0=a',
            '0:1=b',
          ]);
          expect(await redis.call('XFETCH', s('from'), 'PARTITION', '0', 'FROM', 'LATEST')).toEqual([]);
          // The end itself reads nothing yet.
          expect(await redis.call('XFETCH', s('from'), 'PARTITION', '0', 'FROM', '3')).toEqual([]);
        });

        it('XFETCH FROM TIME starts at the first message appended at or after that time', async () => {
          await redis.call('XAPPEND', s('time'), 'a', 'b');
          const [, last] = toMessages(await redis.call('XFETCH', s('time'), 'PARTITION', '0'));
          const got = brief(toMessages(await redis.call('XFETCH', s('time'), 'PARTITION', '0', 'FROM', 'TIME', String(last.time_ms))));
          expect(got[got.length - 1]).toBe('0:1=b');
          const future = String(last.time_ms + 3_600_000);
          expect(await redis.call('XFETCH', s('time'), 'PARTITION', '0', 'FROM', 'TIME', future)).toEqual([]);
        });

        it('XALTER MAXMSGS RETENTION removes the oldest messages; an offset removed starts at the earliest', async () => {
          await redis.call('XAPPEND', s('retention'), 'a', 'b', 'c', 'd');
          expect(await redis.call('XALTER', s('retention'), 'MAXMSGS', '2')).toBe('OK');
          expect(brief(toMessages(await redis.call('XFETCH', s('retention'), 'PARTITION', '0', 'FROM', '0')))).toEqual([
            '0:2=c',
            '0:3=d',
          ]);
          const [part] = (toObject(await redis.call('XSTREAMINFO', s('retention'))).partition_info as unknown[]).map(toObject);
          expect(part).toMatchObject({ partition: 0, first: 2, next: 4, messages: 2 });
        });
      });

      describe('BLOCKING FETCH', () => {
        it('XFETCH FROM LATEST BLOCK is woken by the next APPEND', async () => {
          await redis.call('XAPPEND', s('tail'), 'first');
          const waiting = other.call('XFETCH', s('tail'), 'PARTITION', '0', 'FROM', 'LATEST', 'BLOCK', String(LONG_BLOCK_MS));
          await blockedClients(redis, 1);
          await redis.call('XAPPEND', s('tail'), 'second');
          expect(brief(toMessages(await waiting))).toEqual(['0:1=second']);
          await blockedClients(redis, 0);
        });

        it('XCONSUME BLOCK is woken by an APPEND to its partition', async () => {
          await redis.call('XCREATE', s('consume-block'));
          await redis.call('XGROUPCREATE', s('consume-block'), 'g');
          const waiting = other.call('XCONSUME', s('consume-block'), 'GROUP', 'g', 'MEMBER', 'm', 'BLOCK', String(LONG_BLOCK_MS));
          await blockedClients(redis, 1);
          await redis.call('XAPPEND', s('consume-block'), 'job');
          expect(brief(toMessages(await waiting))).toEqual(['0:0=job']);
          await blockedClients(redis, 0);
        });

        it('a BLOCK TIMEOUT answers an empty array', async () => {
          await redis.call('XAPPEND', s('timeout'), 'only');
          const start = Date.now();
          expect(await redis.call('XFETCH', s('timeout'), 'PARTITION', '0', 'FROM', '1', 'BLOCK', String(SHORT_BLOCK_MS))).toEqual([]);
          const elapsed = Date.now() - start;
          expect(elapsed).toBeGreaterThanOrEqual(SHORT_BLOCK_MS);
          expect(elapsed).toBeLessThan(SHORT_BLOCK_MS + BLOCK_MARGIN_MS);
        });

        it('XLEAVE ends a blocked XCONSUME of the member with an empty array', async () => {
          await redis.call('XCREATE', s('leave-block'));
          await redis.call('XGROUPCREATE', s('leave-block'), 'g');
          const waiting = other.call('XCONSUME', s('leave-block'), 'GROUP', 'g', 'MEMBER', 'm', 'BLOCK', '0');
          await blockedClients(redis, 1);
          expect(await redis.call('XLEAVE', s('leave-block'), 'GROUP', 'g', 'MEMBER', 'm')).toBe('OK');
          expect(await waiting).toEqual([]);
          await blockedClients(redis, 0);
        });
      });

      describe('GROUPS', () => {
        it('XCONSUME delivers from the committed offset; XCOMMIT records progress', async () => {
          await redis.call('XAPPEND', s('group'), 'a', 'b', 'c');
          expect(await redis.call('XGROUPCREATE', s('group'), 'g')).toBe('OK');
          const first = toMessages(await redis.call('XCONSUME', s('group'), 'GROUP', 'g', 'MEMBER', 'm', 'COUNT', '2'));
          expect(brief(first)).toEqual(['0:0=a', '0:1=b']);
          expect(brief(toMessages(await redis.call('XCONSUME', s('group'), 'GROUP', 'g', 'MEMBER', 'm')))).toEqual(['0:2=c']);
          expect(await redis.call('XCONSUME', s('group'), 'GROUP', 'g', 'MEMBER', 'm')).toEqual([]);
          expect(await redis.call('XCOMMIT', s('group'), 'GROUP', 'g', 'MEMBER', 'm', 'PARTITION', '0', 'OFFSET', '2')).toBe('OK');
          const [part] = (toObject(await redis.call('XGROUPINFO', s('group'), 'g')).partitions as unknown[]).map(toObject);
          expect(part).toMatchObject({ partition: 0, owner: 'm', committed: 2, lag: 1 });
        });

        it('XGROUPCREATE FROM LATEST skips what is there; XSEEK rewinds', async () => {
          await redis.call('XAPPEND', s('seek'), 'old');
          await redis.call('XGROUPCREATE', s('seek'), 'g', 'FROM', 'LATEST');
          expect(await redis.call('XCONSUME', s('seek'), 'GROUP', 'g', 'MEMBER', 'm')).toEqual([]);
          expect(await redis.call('XSEEK', s('seek'), 'g', 'FROM', 'EARLIEST')).toBe('OK');
          expect(brief(toMessages(await redis.call('XCONSUME', s('seek'), 'GROUP', 'g', 'MEMBER', 'm')))).toEqual(['0:0=old']);
          expect(await redis.call('XSEEK', s('seek'), 'g', 'PARTITION', '0', 'FROM', '1')).toBe('OK');
          expect(await redis.call('XCONSUME', s('seek'), 'GROUP', 'g', 'MEMBER', 'm')).toEqual([]);
        });

        it('RANGE ASSIGNMENT shares the partitions; XLEAVE gives them to the others', async () => {
          await redis.call('XCREATE', s('range'), 'PARTITIONS', '2');
          await redis.call('XGROUPCREATE', s('range'), 'g');
          expect(await redis.call('XCONSUME', s('range'), 'GROUP', 'g', 'MEMBER', 'm1')).toEqual([]);
          expect(await redis.call('XCONSUME', s('range'), 'GROUP', 'g', 'MEMBER', 'm2')).toEqual([]);
          await redis.call('XAPPEND', s('range'), 'p0');
          await redis.call('XAPPEND', s('range'), 'p1');
          expect(brief(toMessages(await redis.call('XCONSUME', s('range'), 'GROUP', 'g', 'MEMBER', 'm1')))).toEqual(['0:0=p0']);
          expect(brief(toMessages(await redis.call('XCONSUME', s('range'), 'GROUP', 'g', 'MEMBER', 'm2')))).toEqual(['1:0=p1']);
          const members = (toObject(await redis.call('XGROUPINFO', s('range'), 'g')).members as unknown[]).map(toObject);
          expect(members.map((m) => [m.member, m.partitions])).toEqual([
            ['m1', [0]],
            ['m2', [1]],
          ]);
          expect(await redis.call('XLEAVE', s('range'), 'GROUP', 'g', 'MEMBER', 'm2')).toBe('OK');
          // Partition 1 changes owner and is read again from its committed offset.
          expect(brief(toMessages(await redis.call('XCONSUME', s('range'), 'GROUP', 'g', 'MEMBER', 'm1')))).toEqual(['1:0=p1']);
        });

        it('XGROUPDEL removes the group', async () => {
          await redis.call('XCREATE', s('groupdel'));
          await redis.call('XGROUPCREATE', s('groupdel'), 'g');
          expect(await redis.call('XGROUPDEL', s('groupdel'), 'g')).toBe('OK');
          expect(await errorOf(redis.call('XGROUPDEL', s('groupdel'), 'g'))).toBe('NOGROUP no such consumer group');
          expect(toObject(await redis.call('XSTREAMINFO', s('groupdel'))).groups).toEqual([]);
        });
      });

      describe('INFO', () => {
        it('XSTREAMINFO shows settings, groups and per-partition counts', async () => {
          await redis.call('XCREATE', s('info'), 'PARTITIONS', '2', 'MAXAGE', '60000', 'MAXBYTES', '1000000', 'MAXMSGS', '50');
          await redis.call('XGROUPCREATE', s('info'), 'b');
          await redis.call('XGROUPCREATE', s('info'), 'a');
          await redis.call('XAPPEND', s('info'), 'KEY', 'k', 'x', 'y');
          const info = toObject(await redis.call('XSTREAMINFO', s('info')));
          expect(info).toMatchObject({ name: s('info'), partitions: 2, maxage_ms: 60000, maxbytes: 1000000, maxmsgs: 50, groups: ['a', 'b'] });
          const parts = (info.partition_info as unknown[]).map(toObject);
          expect(parts.map((p) => p.partition)).toEqual([0, 1]);
          expect(parts.reduce((n, p) => n + (p.messages as number), 0)).toBe(2);
          for (const p of parts) expect(p).toMatchObject({ first: 0, next: p.messages });
        });

        it('XALTER PARTITIONS grows the stream', async () => {
          await redis.call('XCREATE', s('grow'), 'PARTITIONS', '2');
          expect(await redis.call('XALTER', s('grow'), 'PARTITIONS', '3')).toBe('OK');
          expect(toObject(await redis.call('XSTREAMINFO', s('grow'))).partitions).toBe(3);
          expect(await redis.call('XFETCH', s('grow'), 'PARTITION', '2')).toEqual([]);
        });

        it('XGROUPINFO shows members and partitions; XSTREAMS lists the streams sorted', async () => {
          await redis.call('XAPPEND', s('ginfo'), 'a', 'b');
          await redis.call('XGROUPCREATE', s('ginfo'), 'g');
          await redis.call('XCONSUME', s('ginfo'), 'GROUP', 'g', 'MEMBER', 'worker', 'COUNT', '1');
          const info = toObject(await redis.call('XGROUPINFO', s('ginfo'), 'g'));
          expect(info.name).toBe('g');
          const [member] = (info.members as unknown[]).map(toObject);
          expect(member).toMatchObject({ member: 'worker', partitions: [0], blocked: 0 });
          expect(typeof member.last_seen_ms).toBe('number');
          const [part] = (info.partitions as unknown[]).map(toObject);
          expect(part).toMatchObject({ partition: 0, owner: 'worker', committed: 0, lag: 2 });
          const streams = (await redis.call('XSTREAMS')) as string[];
          expect(streams).toContain(s('ginfo'));
          expect(streams).toEqual([...streams].sort());
        });

        it('INFO has a stream section', async () => {
          const info = String(await redis.info('stream'));
          expect(info).toMatch(/^# Stream\r\n/);
          expect(info).toMatch(/\r\nstreams:\d+\r\n/);
          expect(info).toMatch(/\r\nstream_groups:\d+\r\n/);
        });
      });

      describe('ERRORS', () => {
        it('unknown STREAMS, GROUPS and duplicates are refused', async () => {
          expect(await errorOf(redis.call('XFETCH', s('nope'), 'PARTITION', '0'))).toBe('NOSTREAM no such stream');
          expect(await errorOf(redis.call('XALTER', s('nope'), 'PARTITIONS', '2'))).toBe('NOSTREAM no such stream');
          expect(await errorOf(redis.call('XSTREAMINFO', s('nope')))).toBe('NOSTREAM no such stream');
          expect(await errorOf(redis.call('XGROUPCREATE', s('nope'), 'g'))).toBe('NOSTREAM no such stream');
          await redis.call('XCREATE', s('errors'));
          expect(await errorOf(redis.call('XCREATE', s('errors')))).toBe('BUSYSTREAM the stream already exists');
          expect(await errorOf(redis.call('XGROUPINFO', s('errors'), 'g'))).toBe('NOGROUP no such consumer group');
          expect(await errorOf(redis.call('XCONSUME', s('errors'), 'GROUP', 'g', 'MEMBER', 'm'))).toBe('NOGROUP no such consumer group');
          expect(await errorOf(redis.call('XSEEK', s('errors'), 'g', 'FROM', 'EARLIEST'))).toBe('NOGROUP no such consumer group');
          expect(await errorOf(redis.call('XLEAVE', s('errors'), 'GROUP', 'g', 'MEMBER', 'm'))).toBe('NOGROUP no such consumer group');
          await redis.call('XGROUPCREATE', s('errors'), 'g');
          expect(await errorOf(redis.call('XGROUPCREATE', s('errors'), 'g'))).toBe('BUSYGROUP the consumer group already exists');
        });

        it('OFFSETS and PARTITIONS out of range, and a shrink, are refused and change nothing', async () => {
          await redis.call('XCREATE', s('range-errors'), 'PARTITIONS', '2');
          await redis.call('XAPPEND', s('range-errors'), 'KEY', 'k', 'a');
          expect(await errorOf(redis.call('XFETCH', s('range-errors'), 'PARTITION', '2'))).toBe('ERR partition out of range');
          expect(await errorOf(redis.call('XFETCH', s('range-errors'), 'PARTITION', '0', 'FROM', '9'))).toBe('ERR offset out of range');
          expect(await errorOf(redis.call('XGROUPCREATE', s('range-errors'), 'g', 'FROM', '9'))).toBe('ERR offset out of range');
          expect(await errorOf(redis.call('XALTER', s('range-errors'), 'PARTITIONS', '1'))).toBe(
            'ERR the partition count of a stream can only grow',
          );
          expect(await errorOf(redis.call('XCREATE', s('bad-count'), 'PARTITIONS', '0'))).toBe('ERR PARTITIONS must be between 1 and 256');
          await redis.call('XGROUPCREATE', s('range-errors'), 'g');
          expect(await redis.call('XCONSUME', s('range-errors'), 'GROUP', 'g', 'MEMBER', 'm')).toHaveLength(1);
          expect(await errorOf(redis.call('XCOMMIT', s('range-errors'), 'GROUP', 'g', 'MEMBER', 'other', 'PARTITION', '0', 'OFFSET', '0'))).toBe(
            'NOTASSIGNED the partition is not assigned to this member',
          );
          expect(await errorOf(redis.call('XCOMMIT', s('range-errors'), 'GROUP', 'g', 'MEMBER', 'm', 'PARTITION', '5', 'OFFSET', '0'))).toBe(
            'ERR partition out of range',
          );
          expect(await errorOf(redis.call('XSEEK', s('range-errors'), 'g', 'PARTITION', '0', 'FROM', '9'))).toBe('ERR offset out of range');
          const info = toObject(await redis.call('XSTREAMINFO', s('range-errors')));
          expect(info.partitions).toBe(2);
          expect(await redis.call('XSTREAMS')).not.toContain(s('bad-count'));
        });

        it('missing or malformed ARGUMENTS are refused', async () => {
          await redis.call('XCREATE', s('syntax'));
          expect(await errorOf(redis.call('XAPPEND', s('syntax'), 'KEY', 'k'))).toBe('ERR XAPPEND needs a payload after its options');
          expect(await errorOf(redis.call('XFETCH', s('syntax'), 'COUNT', '1'))).toBe('ERR PARTITION is required');
          expect(await errorOf(redis.call('XFETCH', s('syntax'), 'PARTITION', '0', 'COUNT', '0'))).toBe('ERR COUNT must be > 0');
          expect(await errorOf(redis.call('XFETCH', s('syntax'), 'PARTITION', '0', 'FROM'))).toBe('ERR syntax error');
          expect(await errorOf(redis.call('XFETCH', s('syntax')))).toBe("ERR wrong number of arguments for 'xfetch' command");
          expect(await errorOf(redis.call('XCONSUME', s('syntax'), 'COUNT', '1', 'BLOCK', '1'))).toBe('ERR GROUP and MEMBER are required');
          expect(await errorOf(redis.call('XSEEK', s('syntax'), 'g', 'PARTITION', '0'))).toBe('ERR FROM is required');
          expect(await errorOf(redis.call('XCOMMIT', s('syntax'), 'GROUP', 'g', 'MEMBER', 'm', 'PARTITION', '0', 'PARTITION', '0'))).toBe('ERR PARTITION and OFFSET are required');
          expect(await errorOf(redis.call('XCREATE', s('syntax-2'), 'MAXAGE', 'soon'))).toBe('ERR value is not an integer or out of range');
          expect(await errorOf(redis.call('XCREATE', 'x'.repeat(101)))).toBe('ERR invalid name (1 to 100 bytes)');
          expect(toObject(await redis.call('XSTREAMINFO', s('syntax'))).partition_info).toHaveLength(1);
          expect(await redis.call('XFETCH', s('syntax'), 'PARTITION', '0')).toEqual([]);
        });

        it('REDIS STREAMS commands are unknown', async () => {
          expect(await errorOf(redis.call('XADD', s('redis'), '*', 'f', 'v'))).toMatch(/^ERR unknown command/);
        });
      });
    });
  }

  describe('PAYLOAD LIMIT', () => {
    const limited = useNexo({ args: ['--stream-max-payload', '16'] });

    it('a payload above stream-max-payload is refused and nothing is appended', async () => {
      expect(await errorOf(limited.redis.call('XAPPEND', 'limit', 'ok', 'x'.repeat(17)))).toBe(
        'ERR key plus payload larger than stream-max-payload',
      );
      expect(await limited.redis.call('XAPPEND', 'limit', 'x'.repeat(16))).toEqual([[0, 0]]);
    });
  });

  describe('RESTART', () => {
    const nexo = useRestartableNexo('nexo-stream-restart-');
    const start = () => nexo.start();

    it('acknowledged MESSAGES and COMMITTED offsets survive a clean stop and a SIGKILL', async () => {
      let client = await start();
      await client.call('XCREATE', 'orders', 'PARTITIONS', '2', 'MAXMSGS', '100');
      await client.call('XGROUPCREATE', 'orders', 'billing');
      await client.call('XAPPEND', 'orders', 'a0', 'a1', 'a2');
      await client.call('XAPPEND', 'orders', 'b0');
      await client.call('XCONSUME', 'orders', 'GROUP', 'billing', 'MEMBER', 'm');
      await client.call('XCOMMIT', 'orders', 'GROUP', 'billing', 'MEMBER', 'm', 'PARTITION', '0', 'OFFSET', '2');
      await nexo.server.stop();
      client.disconnect();

      client = await start();
      expect(brief(toMessages(await client.call('XFETCH', 'orders', 'PARTITION', '0')))).toEqual(['0:0=a0', '0:1=a1', '0:2=a2']);
      expect(brief(toMessages(await client.call('XFETCH', 'orders', 'PARTITION', '1')))).toEqual(['1:0=b0']);
      expect(toObject(await client.call('XSTREAMINFO', 'orders'))).toMatchObject({ partitions: 2, maxmsgs: 100, groups: ['billing'] });
      let parts = (toObject(await client.call('XGROUPINFO', 'orders', 'billing')).partitions as unknown[]).map(toObject);
      expect(parts.map((p) => p.committed)).toEqual([2, 0]);
      const [[latePartition, lateOffset]] = (await client.call('XAPPEND', 'orders', 'KEY', 'k', 'late')) as number[][];
      expect(await client.call('XCONSUME', 'orders', 'GROUP', 'billing', 'MEMBER', 'm2')).toHaveLength(3);
      const committed = [2, 1];
      committed[latePartition] = lateOffset + 1;
      for (const [partition, offset] of committed.entries()) {
        expect(
          await client.call('XCOMMIT', 'orders', 'GROUP', 'billing', 'MEMBER', 'm2', 'PARTITION', String(partition), 'OFFSET', String(offset)),
        ).toBe('OK');
      }
      await nexo.server.kill('SIGKILL');
      client.disconnect();

      client = await start();
      const expected = [['0:0=a0', '0:1=a1', '0:2=a2'], ['1:0=b0']];
      expected[latePartition].push(`${latePartition}:${lateOffset}=late`);
      for (const [partition, messages] of expected.entries()) {
        expect(brief(toMessages(await client.call('XFETCH', 'orders', 'PARTITION', String(partition))))).toEqual(messages);
      }
      parts = (toObject(await client.call('XGROUPINFO', 'orders', 'billing')).partitions as unknown[]).map(toObject);
      expect(parts.map((p) => p.committed)).toEqual(committed);
      // Members are not persisted: a new member owns both partitions and resumes at the committed offsets.
      const rest = brief(toMessages(await client.call('XCONSUME', 'orders', 'GROUP', 'billing', 'MEMBER', 'm3')));
      expect(rest).toEqual(latePartition === 0 ? [] : ['0:2=a2']);
      client.disconnect();
    });
  });

  describe('SDK APPEND', () => {
    it('APPEND returns the partition and offset, dense from 0', async () => {
      const stream = nexo.sdk.stream<{ n: number }>('sdk:append');
      expect(await stream.append({ n: 0 })).toEqual({ partition: 0, offset: 0 });
      expect(await stream.append({ n: 1 })).toEqual({ partition: 0, offset: 1 });
    });

    it('the same KEY always lands in the same partition, in order', async () => {
      const stream = nexo.sdk.stream<string>('sdk:append-key');
      await stream.create({ partitions: KEYED_PARTITIONS });
      const first = await stream.append('a', { key: 'user-1' });
      for (let i = 1; i < KEYED_APPENDS; i++) {
        expect(await stream.append(`m${i}`, { key: 'user-1' })).toEqual({ partition: first.partition, offset: first.offset + i });
      }
      const read = await all(stream.read({ partition: first.partition }));
      expect(read.map((m) => m.key)).toEqual(Array(KEYED_APPENDS).fill('user-1'));
    });

    it('APPENDMANY puts every payload in one partition and returns the positions in order', async () => {
      const stream = nexo.sdk.stream<number>('sdk:append-many');
      await stream.create({ partitions: KEYED_PARTITIONS });
      const positions = await stream.appendMany([1, 2, 3], { key: 'k' });
      const [{ partition }] = positions;
      expect(positions).toEqual([0, 1, 2].map((offset) => ({ partition, offset })));
      expect((await all(stream.read({ partition }))).map((m) => m.payload)).toEqual([1, 2, 3]);
      expect(await stream.appendMany([])).toEqual([]);
    });

    it("ENCODING 'raw' round-trips a Buffer of every byte value; a string goes in as its bytes", async () => {
      const stream = nexo.sdk.stream('sdk:raw', { encoding: 'raw' });
      await stream.append(ALL_BYTES);
      await stream.append('text');
      const [binary, text] = await all(stream.read());
      expect(Buffer.isBuffer(binary.payload)).toBe(true);
      expect(binary.payload).toEqual(ALL_BYTES);
      expect(text.payload).toEqual(Buffer.from('text'));
    });

    it('many concurrent APPENDERS on several clients get dense, unique offsets', async () => {
      const clients = [nexo.sdk];
      for (let i = 1; i < APPENDER_CLIENTS; i++) clients.push(await nexo.connectSdk());
      await nexo.sdk.stream('sdk:append-race').create({ partitions: KEYED_PARTITIONS });
      const positions = await Promise.all(
        clients.flatMap((client, c) =>
          Array.from({ length: APPENDS_PER_CLIENT }, (_, i) => client.stream<string>('sdk:append-race').append(`${c}-${i}`)),
        ),
      );
      const total = APPENDER_CLIENTS * APPENDS_PER_CLIENT;
      expect(new Set(positions.map((p) => `${p.partition}:${p.offset}`)).size).toBe(total);
      const info = await nexo.sdk.stream('sdk:append-race').info();
      for (const { partition, next } of info.partitionInfo) {
        const offsets = positions.filter((p) => p.partition === partition).map((p) => p.offset);
        expect(offsets.sort((a, b) => a - b)).toEqual(Array.from({ length: next }, (_, i) => i));
      }
      const payloads = (await all(nexo.sdk.stream<string>('sdk:append-race').read())).map((m) => m.payload);
      expect(new Set(payloads).size).toBe(total);
    });
  });

  describe('SDK SETTINGS AND INFO', () => {
    it('CREATE sets partitions and retention; INFO shows them with groups and per-partition offsets', async () => {
      const stream = nexo.sdk.stream<string>('sdk:info');
      await stream.create({ partitions: 2, maxAge: RETENTION_AGE_MS, maxBytes: RETENTION_BYTES, maxMessages: RETENTION_MESSAGES });
      await stream.createGroup('b');
      await stream.createGroup('a');
      const { partition } = (await stream.appendMany(['x', 'y'], { key: 'k' }))[0];
      const info = await stream.info();
      expect(info).toMatchObject({
        name: 'sdk:info',
        partitions: 2,
        maxAge: RETENTION_AGE_MS,
        maxBytes: RETENTION_BYTES,
        maxMessages: RETENTION_MESSAGES,
        groups: ['a', 'b'],
      });
      expect(info.partitionInfo.map((p) => p.partition)).toEqual([0, 1]);
      expect(info.partitionInfo[partition]).toMatchObject({ first: 0, next: 2, messages: 2 });
      expect(info.partitionInfo[partition].bytes).toBeGreaterThan(0);
      expect(info.partitionInfo[1 - partition]).toMatchObject({ first: 0, next: 0, messages: 0, bytes: 0 });
    });

    it('ALTER grows the partitions and applies retention at once', async () => {
      const stream = nexo.sdk.stream<string>('sdk:alter');
      await stream.create({ partitions: 1 });
      await stream.appendMany(['a', 'b', 'c', 'd']);
      const before = await stream.info();
      await stream.alter({ partitions: 3, maxMessages: 2 });
      const info = await stream.info();
      // Settings left out keep their value.
      expect(info).toMatchObject({ partitions: 3, maxMessages: 2, maxAge: before.maxAge, maxBytes: before.maxBytes });
      expect(info.partitionInfo[0]).toMatchObject({ first: 2, next: 4, messages: 2 });
      expect((await all(stream.read({ partition: 0 }))).map((m) => `${m.offset}=${m.payload}`)).toEqual(['2=c', '3=d']);
    });

    it('ERRORS are NexoError with the server code: NOSTREAM for INFO of a missing stream, BUSYSTREAM for CREATE twice', async () => {
      const missing = await rejection(nexo.sdk.stream('sdk:no-such-stream').info());
      expect(missing).toBeInstanceOf(NexoError);
      expect(missing).toMatchObject({ code: 'NOSTREAM', command: 'XSTREAMINFO' });
      const stream = nexo.sdk.stream('sdk:create-twice');
      await stream.create();
      expect(await rejection(stream.create())).toMatchObject({ code: 'BUSYSTREAM', command: 'XCREATE' });
      expect(await rejection(stream.alter({ partitions: 0 }))).toMatchObject({ code: 'ERR' });
      expect(await rejection(stream.groupInfo('no-such-group'))).toMatchObject({ code: 'NOGROUP' });
    });
  });

  describe('SDK READ', () => {
    it("READ from 'earliest' yields every message with partition, offset, time, key and payload", async () => {
      const stream = nexo.sdk.stream<{ v: string }>('sdk:read');
      const before = Date.now();
      await stream.appendMany([{ v: 'a' }, { v: 'b' }, { v: 'c' }]);
      const read = await all(stream.read({ from: 'earliest' }));
      expect(read.map((m) => [m.partition, m.offset, m.key, m.payload.v])).toEqual([
        [0, 0, null, 'a'],
        [0, 1, null, 'b'],
        [0, 2, null, 'c'],
      ]);
      expect(read[0].time).toBeInstanceOf(Date);
      expect(read[0].time.getTime()).toBeGreaterThanOrEqual(before - CLOCK_MARGIN_MS);
      expect(read[0].time.getTime()).toBeLessThanOrEqual(Date.now() + CLOCK_MARGIN_MS);
    });

    it("READ from an OFFSET, from 'latest' (nothing) and with COUNT", async () => {
      const stream = nexo.sdk.stream<string>('sdk:read-from');
      await stream.appendMany(['a', 'b', 'c']);
      expect((await all(stream.read({ partition: 0, from: 1 }))).map((m) => m.payload)).toEqual(['b', 'c']);
      expect(await all(stream.read({ partition: 0, from: 'latest' }))).toEqual([]);
      expect(await all(stream.read({ from: 'latest' }))).toEqual([]);
      expect((await all(stream.read({ count: 2 }))).map((m) => m.payload)).toEqual(['a', 'b']);
      expect((await all(stream.read({ from: 1, count: 1 }))).map((m) => m.payload)).toEqual(['b']);
    });

    it('READ from a DATE starts at the first message appended at or after it', async () => {
      const stream = nexo.sdk.stream<string>('sdk:read-time');
      await stream.appendMany(['a', 'b']);
      const [, last] = await all(stream.read());
      const read = await all(stream.read({ from: last.time }));
      expect(read[read.length - 1]).toMatchObject({ offset: 1, payload: 'b' });
      for (const m of read) expect(m.time.getTime()).toBeGreaterThanOrEqual(last.time.getTime());
      expect(await all(stream.read({ from: new Date(last.time.getTime() + FUTURE_MS) }))).toEqual([]);
    });

    it('READ with a small BATCHSIZE goes across batches to the end, and stops at COUNT', async () => {
      const stream = nexo.sdk.stream<number>('sdk:read-batches');
      const payloads = Array.from({ length: BATCHED_MESSAGES }, (_, i) => i);
      await stream.appendMany(payloads);
      expect((await all(stream.read({ batchSize: SMALL_BATCH }))).map((m) => m.payload)).toEqual(payloads);
      const counted = SMALL_BATCH * 2 + 1;
      expect((await all(stream.read({ batchSize: SMALL_BATCH, count: counted }))).map((m) => m.payload)).toEqual(payloads.slice(0, counted));
    });

    it('READ without a partition reads EVERY PARTITION in turn', async () => {
      const stream = nexo.sdk.stream<string>('sdk:read-all');
      await stream.create({ partitions: 3 });
      // Appends without a key go round-robin: p0, p1, p2, p0, p1, p2.
      for (let i = 0; i < 6; i++) await stream.append(`m${i}`);
      expect((await all(stream.read())).map((m) => `${m.partition}:${m.offset}=${m.payload}`)).toEqual([
        '0:0=m0',
        '0:1=m3',
        '1:0=m1',
        '1:1=m4',
        '2:0=m2',
        '2:1=m5',
      ]);
    });

    it('READ with FOLLOW on a partition yields messages appended after it started, until the loop breaks', async () => {
      const stream = nexo.sdk.stream<string>('sdk:follow');
      await stream.append('old');
      const got: string[] = [];
      const reading = (async () => {
        for await (const m of stream.read({ partition: 0, from: 'latest', follow: true })) {
          got.push(`${m.offset}=${m.payload}`);
          if (got.length === FOLLOW_MESSAGES) break;
        }
      })();
      await blockedClients(nexo.redis, 1);
      // The shared connection is not held up by the follow read's blocking XFETCH.
      await stream.append('new-1');
      await stream.append('new-2');
      await reading;
      expect(got).toEqual(['1=new-1', '2=new-2']);
      // Breaking out of the loop closes the follow read's connection.
      await settle(async () => !String(await nexo.redis.client('LIST')).includes(' name=nexo-sdk:follow:sdk:follow:0 '));
    });

    it('READ of a MISSING stream yields nothing and creates nothing', async () => {
      expect(await all(nexo.sdk.stream('sdk:read-missing').read())).toEqual([]);
      expect(await nexo.redis.call('XSTREAMS')).not.toContain('sdk:read-missing');
    });

    it('READ with FOLLOW and no partition throws NexoError code SDK', async () => {
      const err = await rejection(nexo.sdk.stream('sdk:follow-all').read({ follow: true }).next());
      expect(err).toBeInstanceOf(NexoError);
      expect(err).toMatchObject({ code: 'SDK' });
    });
  });

  describe('SDK CONSUME', () => {
    it('CONSUME handles every message and commits: GROUPINFO shows the member, lag 0 and the committed offsets', async () => {
      const stream = nexo.sdk.stream<number>('sdk:consume');
      await stream.create({ partitions: 2 });
      const payloads = Array.from({ length: CONSUMED_MESSAGES }, (_, i) => i);
      for (const p of payloads) await stream.append(p);
      const seen = recorder<number>(CONSUMED_MESSAGES);
      const consumer = stream.consume({ group: 'billing', member: 'worker-1' }, seen.handler);
      try {
        expect(consumer).toMatchObject({ stream: 'sdk:consume', group: 'billing', member: 'worker-1' });
        const messages = await seen.done;
        expect(messages.map((m) => m.payload).sort((a, b) => a - b)).toEqual(payloads);
        // In order within each partition.
        for (const partition of [0, 1]) {
          const offsets = messages.filter((m) => m.partition === partition).map((m) => m.offset);
          expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
        }
        await settle(async () => (await stream.groupInfo('billing')).partitions.every((p) => p.lag === 0));
        const info = await stream.groupInfo('billing');
        expect(info.name).toBe('billing');
        expect(info.members.map((m) => [m.member, m.partitions])).toEqual([['worker-1', [0, 1]]]);
        expect(info.members[0].lastSeen).toBeInstanceOf(Date);
        expect(info.partitions).toEqual([
          { partition: 0, owner: 'worker-1', committed: CONSUMED_MESSAGES / 2, lag: 0 },
          { partition: 1, owner: 'worker-1', committed: CONSUMED_MESSAGES / 2, lag: 0 },
        ]);
      } finally {
        await consumer.close();
      }
    });

    it("CONSUME creates the stream and the group at FROM: 'latest' skips the messages already there", async () => {
      const stream = nexo.sdk.stream<string>('sdk:consume-latest');
      await stream.append('old');
      const seen = recorder<string>(1);
      const consumer = stream.consume({ group: 'g', from: 'latest' }, seen.handler);
      try {
        await settle(async () => (await memberCount(stream, 'g')) === 1);
        await stream.append('new');
        expect((await seen.done).map((m) => `${m.offset}=${m.payload}`)).toEqual(['1=new']);
        await settle(async () => (await stream.groupInfo('g')).partitions[0].committed === 2);
        expect(seen.messages).toHaveLength(1);
      } finally {
        await consumer.close();
      }
      const fresh = nexo.sdk.stream<string>('sdk:consume-new-stream');
      const first = recorder<string>(1);
      const creating = fresh.consume({ group: 'g' }, first.handler);
      try {
        await settle(async () => (await memberCount(fresh, 'g')) === 1);
        expect((await fresh.info()).groups).toEqual(['g']);
        await fresh.append('hello');
        expect((await first.done).map((m) => m.payload)).toEqual(['hello']);
      } finally {
        await creating.close();
      }
    });

    it('a message whose HANDLER THROWS is delivered again after CONSUMER_RETRY_MS and the ERROR event reports the error', async () => {
      const stream = nexo.sdk.stream<string>('sdk:consume-retry');
      await stream.appendMany(['flaky', 'next']);
      const attempts: { offset: number; at: number }[] = [];
      const failure = deferred<Error>();
      const seen = recorder<string>(2);
      const consumer = stream.consume({ group: 'g' }, async (m) => {
        attempts.push({ offset: m.offset, at: Date.now() });
        if (attempts.length === 1) throw new Error('handler failed');
        await seen.handler(m);
      });
      consumer.on('error', (err) => failure.resolve(err));
      try {
        const err = await failure.promise;
        const failedAt = Date.now();
        expect(err.message).toBe('handler failed');
        const messages = await within(seen.done, SDK_CONSUMER_RETRY_MS + RETRY_MARGIN_MS);
        expect(messages.map((m) => `${m.offset}=${m.payload}`)).toEqual(['0=flaky', '1=next']);
        expect(attempts.map((a) => a.offset)).toEqual([0, 0, 1]);
        expect(attempts[1].at - failedAt).toBeGreaterThanOrEqual(SDK_CONSUMER_RETRY_MS - TIMER_SLACK_MS);
        await settle(async () => (await stream.groupInfo('g')).partitions[0].committed === 2);
      } finally {
        await consumer.close();
      }
    });

    it('a message that is NOT JSON is reported as an ERROR naming its partition and offset, and the consumer goes on past it', async () => {
      const stream = nexo.sdk.stream<string>('sdk:consume-not-json');
      await nexo.sdk.stream('sdk:consume-not-json', { encoding: 'raw' }).append('not json {');
      await stream.append('next');
      const failure = deferred<Error>();
      const seen = recorder<string>(1);
      const consumer = stream.consume({ group: 'g' }, seen.handler);
      consumer.on('error', (err) => failure.resolve(err));
      try {
        const err = await failure.promise;
        expect(err).toBeInstanceOf(NexoError);
        expect((err as NexoError).code).toBe('SDK');
        expect(err.message).toMatch(/cannot parse the message at partition 0 offset 0 as JSON/);
        expect((await seen.done).map((m) => `${m.offset}=${m.payload}`)).toEqual(['1=next']);
        await settle(async () => (await stream.groupInfo('g')).partitions[0].committed === 2);
      } finally {
        await consumer.close();
      }
      const read = await rejection(all(stream.read()));
      expect(read.message).toMatch(/cannot parse the message at partition 0 offset 0 as JSON/);
    });

    it('SEEK moves a group back so its messages are delivered again, in all partitions or one', async () => {
      const stream = nexo.sdk.stream<string>('sdk:seek');
      await stream.appendMany(['a', 'b', 'c']);
      const seen = recorder<string>(3 + 3 + 1);
      const consumer = stream.consume({ group: 'g' }, seen.handler);
      try {
        await settle(async () => seen.messages.length === 3 && (await stream.groupInfo('g')).partitions[0].committed === 3);
        await stream.seek('g', 'earliest');
        await settle(async () => seen.messages.length === 6 && (await stream.groupInfo('g')).partitions[0].committed === 3);
        await stream.seek('g', 2, 0);
        expect((await seen.done).map((m) => m.payload)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'c']);
      } finally {
        await consumer.close();
      }
    });

    it('CREATEGROUP starts a group at a position; DELETEGROUP removes it and its offsets', async () => {
      const stream = nexo.sdk.stream<string>('sdk:groups');
      await stream.appendMany(['a', 'b', 'c']);
      await stream.createGroup('from-one', 1);
      await stream.createGroup('from-latest', 'latest');
      await stream.createGroup('from-earliest');
      const committed = async (group: string) => (await stream.groupInfo(group)).partitions[0];
      expect(await committed('from-one')).toMatchObject({ owner: null, committed: 1, lag: 2 });
      expect(await committed('from-latest')).toMatchObject({ committed: 3, lag: 0 });
      expect(await committed('from-earliest')).toMatchObject({ committed: 0, lag: 3 });
      expect(await rejection(stream.createGroup('from-one'))).toMatchObject({ code: 'BUSYGROUP' });
      await stream.deleteGroup('from-one');
      expect((await stream.info()).groups).toEqual(['from-earliest', 'from-latest']);
      expect(await rejection(stream.groupInfo('from-one'))).toMatchObject({ code: 'NOGROUP' });
      expect(await rejection(stream.deleteGroup('from-one'))).toMatchObject({ code: 'NOGROUP' });
    });

    it('CLOSE waits for the running handler and its commit, then leaves the group at once', async () => {
      const stream = nexo.sdk.stream<string>('sdk:close');
      await stream.append('slow');
      const started = deferred();
      const release = deferred();
      let finished = false;
      const consumer = stream.consume({ group: 'g' }, async () => {
        started.resolve();
        await release.promise;
        finished = true;
      });
      await started.promise;
      let closed = false;
      const closing = consumer.close().then(() => (closed = true));
      // A round trip on the shared connection: close() is still waiting for the handler, and the member is still in the group.
      expect((await stream.groupInfo('g')).members).toHaveLength(1);
      expect(closed).toBe(false);
      release.resolve();
      await closing;
      expect(finished).toBe(true);
      const info = await stream.groupInfo('g');
      expect(info.members).toEqual([]);
      expect(info.partitions[0]).toMatchObject({ owner: null, committed: 1, lag: 0 });
    });

    it('CLOSE of an idle consumer ends its blocked XCONSUME at once and leaves the group', async () => {
      const stream = nexo.sdk.stream<string>('sdk:close-idle');
      await stream.create();
      const consumer = stream.consume({ group: 'g' }, () => undefined);
      await settle(async () => (await stream.groupInfo('g').catch(() => undefined))?.members[0]?.blocked === true);
      const started = Date.now();
      await consumer.close();
      expect(Date.now() - started).toBeLessThan(SDK_CONSUME_BLOCK_MS);
      expect((await stream.groupInfo('g')).members).toEqual([]);
      await consumer.close();
    });

    it('a consumer that takes over a MEMBER ID whose messages were handed out but never committed receives them again', async () => {
      const stream = nexo.sdk.stream<string>('sdk:takeover');
      await stream.appendMany(['a', 'b']);
      await stream.createGroup('g');
      // The member reads both messages (its delivery position moves past them), then its process dies without a commit.
      expect(await nexo.redis.call('XCONSUME', 'sdk:takeover', 'GROUP', 'g', 'MEMBER', 'fixed')).toHaveLength(2);
      const seen = recorder<string>(2);
      const consumer = stream.consume({ group: 'g', member: 'fixed' }, seen.handler);
      try {
        expect((await seen.done).map((m) => m.payload)).toEqual(['a', 'b']);
      } finally {
        await consumer.close();
      }
    });

    it('two CONSUMERS on two clients in one group split a 4-partition stream and handle every message exactly once', async () => {
      const name = 'sdk:consume-race';
      const stream = nexo.sdk.stream<number>(name);
      await stream.create({ partitions: RACE_PARTITIONS });
      await stream.createGroup('g');
      const other = await nexo.connectSdk();
      const handled: { member: string; message: SdkMessage<number> }[] = [];
      const done = deferred();
      const handler = (member: string) => (message: SdkMessage<number>) => {
        handled.push({ member, message });
        if (handled.length === RACE_MESSAGES) done.resolve();
      };
      const first = stream.consume({ group: 'g', member: 'a' }, handler('a'));
      const second = other.stream<number>(name).consume({ group: 'g', member: 'b' }, handler('b'));
      try {
        await settle(async () => {
          const { members } = await stream.groupInfo('g');
          return JSON.stringify(members.map((m) => [m.member, m.partitions])) === JSON.stringify([['a', [0, 1]], ['b', [2, 3]]]);
        });
        const payloads = Array.from({ length: RACE_MESSAGES }, (_, i) => i);
        await Promise.all(payloads.map((p) => (p % 2 === 0 ? stream : other.stream<number>(name)).append(p, { key: `k${p}` })));
        await done.promise;
        await settle(async () => (await stream.groupInfo('g')).partitions.every((p) => p.lag === 0));
        expect(handled).toHaveLength(RACE_MESSAGES);
        expect(handled.map((h) => h.message.payload).sort((x, y) => x - y)).toEqual(payloads);
        for (const { member, message } of handled) expect(member).toBe(message.partition < RACE_PARTITIONS / 2 ? 'a' : 'b');
        expect(new Set(handled.map((h) => h.member))).toEqual(new Set(['a', 'b']));
      } finally {
        await Promise.all([first.close(), second.close()]);
      }
    });

    it('a member that JOINS mid-stream takes half the partitions (REBALANCE); nothing is lost or handled twice', async () => {
      const name = 'sdk:rebalance';
      const stream = nexo.sdk.stream<number>(name);
      await stream.create({ partitions: RACE_PARTITIONS });
      const other = await nexo.connectSdk();
      const handled: { member: string; message: SdkMessage<number> }[] = [];
      const handler = (member: string) => (message: SdkMessage<number>) => {
        handled.push({ member, message });
      };
      const half = RACE_MESSAGES / 2;
      const first = stream.consume({ group: 'g', member: 'a' }, handler('a'));
      let second: ReturnType<typeof stream.consume> | undefined;
      try {
        await Promise.all(Array.from({ length: half }, (_, p) => stream.append(p, { key: `k${p}` })));
        await settle(async () => handled.length === half && (await stream.groupInfo('g')).partitions.every((p) => p.lag === 0));
        second = other.stream<number>(name).consume({ group: 'g', member: 'b' }, handler('b'));
        await settle(async () => {
          const { members } = await stream.groupInfo('g');
          return JSON.stringify(members.map((m) => [m.member, m.partitions])) === JSON.stringify([['a', [0, 1]], ['b', [2, 3]]]);
        });
        await Promise.all(Array.from({ length: half }, (_, i) => stream.append(half + i, { key: `k${half + i}` })));
        await settle(async () => handled.length >= RACE_MESSAGES && (await stream.groupInfo('g')).partitions.every((p) => p.lag === 0));
        expect(handled.map((h) => h.message.payload).sort((x, y) => x - y)).toEqual(Array.from({ length: RACE_MESSAGES }, (_, i) => i));
        expect(handled.slice(0, half).every((h) => h.member === 'a')).toBe(true);
        for (const { member, message } of handled.slice(half)) expect(member).toBe(message.partition < RACE_PARTITIONS / 2 ? 'a' : 'b');
      } finally {
        await Promise.all([first.close(), second?.close()]);
      }
    });

    it('a consumer whose connection is cut with CLIENT KILL RECONNECTS and keeps consuming', async () => {
      const stream = nexo.sdk.stream<string>('sdk:consume-kill');
      const seen = recorder<string>(2);
      const consumer = stream.consume({ group: 'g' }, seen.handler);
      try {
        await stream.append('before');
        await settle(async () => seen.messages.length === 1 && (await stream.groupInfo('g')).members[0]?.blocked === true);
        await killByName(nexo.redis, 'nexo-sdk:consumer:sdk:consume-kill:g');
        await stream.append('after');
        const messages = await within(seen.done, RECONNECT_BOUND_MS);
        expect(messages.map((m) => m.payload)).toEqual(['before', 'after']);
        await settle(async () => (await stream.groupInfo('g')).partitions[0].committed === 2);
      } finally {
        await consumer.close();
      }
    });
  });

  describe('SDK SLOW BATCH', () => {
    const short = useNexo({ args: ['--stream-session-timeout', String(SHORT_SESSION_MS)] });

    it('a batch whose handlers take longer than the session timeout keeps the member: each message is handled once and committed', async () => {
      const stream = short.sdk.stream<number>('sdk:slow-batch');
      await stream.appendMany(Array.from({ length: SLOW_MESSAGES }, (_, i) => i));
      const seen = recorder<number>(SLOW_MESSAGES);
      const consumer = stream.consume({ group: 'g' }, async (m) => {
        await new Promise((resolve) => setTimeout(resolve, SLOW_HANDLER_MS));
        seen.handler(m);
      });
      try {
        await seen.done;
        await settle(async () => (await stream.groupInfo('g')).partitions[0].committed === SLOW_MESSAGES);
        expect(seen.messages.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4]);
        expect((await stream.groupInfo('g')).members.map((m) => m.member)).toEqual([consumer.member]);
      } finally {
        await consumer.close();
      }
    });
  });

  describe('SDK RESTART', () => {
    const restartable = useRestartableNexo('nexo-sdk-stream-restart-');

    it('a CONSUMER keeps consuming across a SIGKILL and a restart; committed offsets survive, nothing is handled twice or lost', async () => {
      let client = await restartable.start();
      const sdk = await restartable.connectSdk();
      const stream = sdk.stream<number>('orders');
      await stream.create({ partitions: 2 });
      const payloads = Array.from({ length: RESTART_MESSAGES * 2 }, (_, i) => i);
      const seen = recorder<number>(payloads.length);
      const consumer = stream.consume({ group: 'billing' }, seen.handler);
      try {
        await stream.appendMany(payloads.slice(0, RESTART_MESSAGES / 2), { key: 'a' });
        await stream.appendMany(payloads.slice(RESTART_MESSAGES / 2, RESTART_MESSAGES), { key: 'b' });
        // Every message before the SIGKILL is handled and committed.
        await settle(
          async () => seen.messages.length === RESTART_MESSAGES && (await stream.groupInfo('billing')).partitions.every((p) => p.lag === 0),
        );
        await restartable.server.kill('SIGKILL');
        client.disconnect();

        client = await restartable.start();
        await stream.appendMany(payloads.slice(RESTART_MESSAGES, RESTART_MESSAGES * 3 / 2), { key: 'a' });
        await stream.appendMany(payloads.slice(RESTART_MESSAGES * 3 / 2), { key: 'b' });
        const messages = await seen.done;
        await settle(async () => (await stream.groupInfo('billing')).partitions.every((p) => p.lag === 0));
        expect(seen.messages).toHaveLength(payloads.length);
        expect(messages.map((m) => m.payload).sort((x, y) => x - y)).toEqual(payloads);
      } finally {
        await consumer.close();
        client.disconnect();
      }
    });
  });
});
