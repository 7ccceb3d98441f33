// STREAM end to end: the real binary driven by ioredis 6, once on its defaults
// (RESP3 via HELLO 3) and once with protocol: 2. ioredis returns RESP3 maps as
// flat arrays, as RESP2 sends them, so both protocols read the same.
import { Redis, type RedisOptions } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNexo, useRestartableNexo } from './nexo.js';

/** A BLOCK timeout a test waits out. */
const SHORT_BLOCK_MS = 100;
/** The lateness allowed when a BLOCK timeout ends. */
const BLOCK_MARGIN_MS = 1_000;
/** A BLOCK that an append wakes long before it ends. */
const LONG_BLOCK_MS = 10_000;
/** Bounds the wait for a state the server reaches at once (a client blocked). */
const SETTLE_TIMEOUT_MS = 5_000;
/** Pause between checks of such a state. */
const POLL_MS = 5;
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

/** Turns a flat [k1, v1, k2, v2, ...] reply into an object. */
function toObject(reply: unknown): Record<string, unknown> {
  const flat = reply as unknown[];
  const out: Record<string, unknown> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

function toMessages(reply: unknown): Message[] {
  return (reply as unknown[]).map((m) => toObject(m) as unknown as Message);
}

/** Messages as "partition:offset=value", for compact comparisons. */
function brief(messages: Message[]): string[] {
  return messages.map((m) => `${m.partition}:${m.offset}=${m.value}`);
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

/** Waits until INFO clients shows exactly n blocked clients. */
async function blockedClients(redis: Redis, n: number): Promise<void> {
  await settle(async () => String(await redis.info('clients')).includes(`\r\nblocked_clients:${n}\r\n`));
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
});
