// STORE end to end: the real binary driven by ioredis 6, once on its defaults
// (RESP3 via HELLO 3) and once with protocol: 2. Every expectation is what
// Redis 7 answers.
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { NexoError } from '@nexo/sdk';
import { beforeAll, describe, expect, it } from 'vitest';
import { useNexo } from './nexo.js';
import { errorOf, nexoErrorOf, toObject } from './helpers.js';

/** A TTL long enough that it cannot run out while a test runs. */
const LONG_TTL_SECONDS = 100;
/** TTL rounds to whole seconds, so right after EXPIRE it reads LONG_TTL_SECONDS or one less. */
const TTL_ROUNDING_SECONDS = 1;
/** PTTL read right after EXPIRE is at most this far below the full TTL. */
const PTTL_SLACK_MS = 1_000;
/** A key that should expire while the test waits. */
const SHORT_TTL_MS = 100;
/** Waiting SHORT_TTL_MS plus this margin guarantees the key is past its deadline. */
const EXPIRY_MARGIN_MS = 50;
/** Enough entries that a server pages SCAN/HSCAN over several calls. */
const SCAN_ENTRIES = 250;
/** The COUNT hint passed to SCAN/HSCAN, well below SCAN_ENTRIES. */
const SCAN_COUNT = 20;
/** Every byte value, for binary-safety checks. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const INT64_MAX = '9223372036854775807';

const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const NOT_AN_INTEGER = 'ERR value is not an integer or out of range';

/** A TTL the SDK tests give in milliseconds, long enough that it cannot run out while a test runs. */
const LONG_TTL_MS = LONG_TTL_SECONDS * 1_000;
/** Increments each of two SDK clients sends at once in the race test. */
const RACE_INCREMENTS = 500;
/** Keys outside the SCAN match, so that the match has something to leave out. */
const SCAN_OTHER_ENTRIES = 30;

/** Parses INFO text into { section: { field: value } } with lower-case section names. */
function parseInfo(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  for (const line of text.split('\r\n')) {
    if (line.startsWith('# ')) {
      current = {};
      sections[line.slice(2).trim().toLowerCase()] = current;
    } else if (line !== '' && current) {
      const colon = line.indexOf(':');
      if (colon > 0) current[line.slice(0, colon)] = line.slice(colon + 1);
    }
  }
  return sections;
}

/**
 * The message of the first error a lazy client emits while connecting; ioredis
 * rejects connect() itself with a generic "Connection is closed.".
 */
async function connectError(client: Redis): Promise<string> {
  const firstError = once(client, 'error');
  client.connect().catch(() => {});
  const [err] = await firstError;
  return (err as Error).message;
}

const nexo = useNexo();

const PROTOCOLS: { title: string; proto: 2 | 3; prefix: string; options?: RedisOptions }[] = [
  { title: 'RESP3 (ioredis defaults)', proto: 3, prefix: 'resp3' },
  { title: 'RESP2 (protocol: 2)', proto: 2, prefix: 'resp2', options: { protocol: 2 } },
];

describe('STORE', () => {
  for (const { title, proto, prefix, options } of PROTOCOLS) {
    describe(`over ${title}`, () => {
      let redis: Redis;
      beforeAll(async () => {
        redis = options ? await nexo.connect(options) : nexo.redis;
      });
      /** A key unique to this protocol block and test. */
      const key = (name: string): string => `${prefix}:${name}`;

      describe('CONNECTION', () => {
        it(`HELLO ${proto} reports the negotiated protocol ${proto}`, async () => {
          const hello = toObject(await redis.call('HELLO', String(proto)));
          expect(Number(hello.proto)).toBe(proto);
        });

        it('PING answers PONG', async () => {
          expect(await redis.ping()).toBe('PONG');
        });
      });

      describe('STRINGS', () => {
        it('SET then GET returns the value', async () => {
          expect(await redis.set(key('str:set'), 'hello')).toBe('OK');
          expect(await redis.get(key('str:set'))).toBe('hello');
        });

        it('GET of a missing key returns null', async () => {
          expect(await redis.get(key('str:missing'))).toBeNull();
        });

        it('SET reads back a number-like value byte for byte', async () => {
          await redis.set(key('str:float'), '1.50');
          expect(await redis.get(key('str:float'))).toBe('1.50');
        });

        it('SET NX leaves an existing key alone and SET XX does not create a missing one', async () => {
          await redis.set(key('str:nx'), 'first');
          expect(await redis.set(key('str:nx'), 'second', 'NX')).toBeNull();
          expect(await redis.get(key('str:nx'))).toBe('first');
          expect(await redis.set(key('str:xx'), 'value', 'XX')).toBeNull();
          expect(await redis.exists(key('str:xx'))).toBe(0);
        });

        it('SET with EX then TTL reports the remaining seconds', async () => {
          await redis.set(key('str:ex'), 'v', 'EX', LONG_TTL_SECONDS);
          const ttl = await redis.ttl(key('str:ex'));
          expect(ttl).toBeGreaterThanOrEqual(LONG_TTL_SECONDS - TTL_ROUNDING_SECONDS);
          expect(ttl).toBeLessThanOrEqual(LONG_TTL_SECONDS);
        });

        it('INCR creates a missing key at 1; INCRBY, DECR and DECRBY count from there', async () => {
          expect(await redis.incr(key('str:incr'))).toBe(1);
          expect(await redis.incrby(key('str:incr'), 41)).toBe(42);
          expect(await redis.decr(key('str:incr'))).toBe(41);
          expect(await redis.decrby(key('str:incr'), 50)).toBe(-9);
          expect(await redis.get(key('str:incr'))).toBe('-9');
        });

        it('INCR of a non-integer value fails and leaves the value unchanged', async () => {
          await redis.set(key('str:incr-text'), 'abc');
          expect(await errorOf(redis.incr(key('str:incr-text')))).toBe(NOT_AN_INTEGER);
          expect(await redis.get(key('str:incr-text'))).toBe('abc');
        });

        it('INCR past the largest 64-bit integer fails with an overflow error', async () => {
          await redis.set(key('str:incr-max'), INT64_MAX);
          expect(await errorOf(redis.incr(key('str:incr-max')))).toBe('ERR increment or decrement would overflow');
          expect(await redis.get(key('str:incr-max'))).toBe(INT64_MAX);
        });

        it('INCRBYFLOAT adds and returns the sum as a string', async () => {
          await redis.set(key('str:float-incr'), '10.50');
          expect(await redis.incrbyfloat(key('str:float-incr'), 0.1)).toBe('10.6');
          expect(await redis.incrbyfloat(key('str:float-incr'), -5)).toBe('5.6');
          await redis.set(key('str:float-exp'), '5.0e3');
          expect(await redis.incrbyfloat(key('str:float-exp'), '2.0e2')).toBe('5200');
          expect(await redis.get(key('str:float-exp'))).toBe('5200');
        });

        it('APPEND creates a missing key and returns the new length', async () => {
          expect(await redis.append(key('str:append'), 'Hello')).toBe(5);
          expect(await redis.append(key('str:append'), ' World')).toBe(11);
          expect(await redis.get(key('str:append'))).toBe('Hello World');
        });

        it('GETRANGE takes inclusive offsets, negative ones counted from the end', async () => {
          await redis.set(key('str:range'), 'This is a string');
          expect(await redis.getrange(key('str:range'), 0, 3)).toBe('This');
          expect(await redis.getrange(key('str:range'), -3, -1)).toBe('ing');
          expect(await redis.getrange(key('str:range'), 0, -1)).toBe('This is a string');
          expect(await redis.getrange(key('str:range'), 10, 100)).toBe('string');
          expect(await redis.getrange(key('str:range-missing'), 0, -1)).toBe('');
        });

        it('SETRANGE overwrites part of a value and zero-pads a missing key', async () => {
          await redis.set(key('str:setrange'), 'Hello World');
          expect(await redis.setrange(key('str:setrange'), 6, 'Redis')).toBe(11);
          expect(await redis.get(key('str:setrange'))).toBe('Hello Redis');
          expect(await redis.setrange(key('str:setrange-pad'), 5, 'x')).toBe(6);
          expect(await redis.getBuffer(key('str:setrange-pad'))).toEqual(Buffer.from([0, 0, 0, 0, 0, 0x78]));
        });

        it('MSET then MGET returns the values in order with null for missing keys', async () => {
          expect(await redis.mset(key('str:m1'), 'one', key('str:m2'), 'two')).toBe('OK');
          expect(await redis.mget(key('str:m1'), key('str:m-missing'), key('str:m2'))).toEqual(['one', null, 'two']);
        });

        it('GETEX with EX sets a TTL and GETEX PERSIST removes it', async () => {
          await redis.set(key('str:getex'), 'v');
          expect(await redis.getex(key('str:getex'), 'EX', LONG_TTL_SECONDS)).toBe('v');
          expect(await redis.ttl(key('str:getex'))).toBeGreaterThanOrEqual(LONG_TTL_SECONDS - TTL_ROUNDING_SECONDS);
          expect(await redis.getex(key('str:getex'), 'PERSIST')).toBe('v');
          expect(await redis.ttl(key('str:getex'))).toBe(-1);
          expect(await redis.getex(key('str:getex-missing'))).toBeNull();
        });

        it('GETDEL returns the value and deletes the key; null for a missing key', async () => {
          await redis.set(key('str:getdel'), 'v');
          expect(await redis.getdel(key('str:getdel'))).toBe('v');
          expect(await redis.exists(key('str:getdel'))).toBe(0);
          expect(await redis.getdel(key('str:getdel'))).toBeNull();
        });
      });

      describe('BITMAPS', () => {
        it('SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP work through ioredis', async () => {
          expect(await redis.setbit(key('bits'), 7, 1)).toBe(0);
          expect(await redis.setbit(key('bits'), 9, 1)).toBe(0);
          expect(await redis.getbit(key('bits'), 9)).toBe(1);
          expect(await redis.bitcount(key('bits'))).toBe(2);
          expect(await redis.bitpos(key('bits'), 1)).toBe(7);
          expect(await redis.bitop('OR', key('bits:or'), key('bits'), key('bits:missing'))).toBe(2);
          expect(await redis.getBuffer(key('bits:or'))).toEqual(Buffer.from([0x01, 0x40]));
          expect(await errorOf(redis.setbit(key('bits'), -1, 1))).toBe('ERR bit offset is not an integer or out of range');
        });
      });

      describe('HASHES', () => {
        it('HSET creates fields and returns how many were new', async () => {
          expect(await redis.hset(key('hash:set'), 'a', '1', 'b', '2')).toBe(2);
          expect(await redis.hset(key('hash:set'), 'b', '20', 'c', '3')).toBe(1);
          expect(await redis.hget(key('hash:set'), 'b')).toBe('20');
        });

        it('HGET returns null for a missing field and a missing key', async () => {
          await redis.hset(key('hash:get'), 'a', '1');
          expect(await redis.hget(key('hash:get'), 'nope')).toBeNull();
          expect(await redis.hget(key('hash:get-missing'), 'a')).toBeNull();
        });

        it('HGETALL returns an object of all fields; {} for a missing key', async () => {
          await redis.hset(key('hash:all'), { name: 'nexo', kind: 'broker', port: '6379' });
          expect(await redis.hgetall(key('hash:all'))).toEqual({ name: 'nexo', kind: 'broker', port: '6379' });
          expect(await redis.hgetall(key('hash:all-missing'))).toEqual({});
        });

        it('HINCRBY creates a missing field and adds to it', async () => {
          expect(await redis.hincrby(key('hash:incr'), 'n', 5)).toBe(5);
          expect(await redis.hincrby(key('hash:incr'), 'n', -7)).toBe(-2);
          expect(await redis.hget(key('hash:incr'), 'n')).toBe('-2');
        });

        it('HINCRBY of a non-integer field fails and leaves it unchanged', async () => {
          await redis.hset(key('hash:incr-text'), 'f', 'abc');
          expect(await errorOf(redis.hincrby(key('hash:incr-text'), 'f', 1))).toBe('ERR hash value is not an integer');
          expect(await redis.hget(key('hash:incr-text'), 'f')).toBe('abc');
        });

        it('HSCAN from cursor 0 until it returns 0 visits every field', async () => {
          const expected: Record<string, string> = {};
          for (let i = 0; i < SCAN_ENTRIES; i++) expected[`field:${i}`] = `value:${i}`;
          await redis.hset(key('hash:scan'), expected);
          const seen: Record<string, string> = {};
          let cursor = '0';
          do {
            const [next, flat] = await redis.hscan(key('hash:scan'), cursor, 'COUNT', SCAN_COUNT);
            for (let i = 0; i < flat.length; i += 2) seen[flat[i]] = flat[i + 1];
            cursor = next;
          } while (cursor !== '0');
          expect(seen).toEqual(expected);
        });
      });

      describe('TTL', () => {
        it('EXPIRE then TTL and PTTL report the remaining time', async () => {
          await redis.set(key('ttl:expire'), 'v');
          expect(await redis.expire(key('ttl:expire'), LONG_TTL_SECONDS)).toBe(1);
          const ttl = await redis.ttl(key('ttl:expire'));
          expect(ttl).toBeGreaterThanOrEqual(LONG_TTL_SECONDS - TTL_ROUNDING_SECONDS);
          expect(ttl).toBeLessThanOrEqual(LONG_TTL_SECONDS);
          const pttl = await redis.pttl(key('ttl:expire'));
          expect(pttl).toBeGreaterThan(LONG_TTL_SECONDS * 1000 - PTTL_SLACK_MS);
          expect(pttl).toBeLessThanOrEqual(LONG_TTL_SECONDS * 1000);
        });

        it('TTL is -1 for a key without expiry and -2 for a missing key', async () => {
          await redis.set(key('ttl:none'), 'v');
          expect(await redis.ttl(key('ttl:none'))).toBe(-1);
          expect(await redis.pttl(key('ttl:none'))).toBe(-1);
          expect(await redis.ttl(key('ttl:missing'))).toBe(-2);
          expect(await redis.pttl(key('ttl:missing'))).toBe(-2);
        });

        it('EXPIRE of a missing key returns 0', async () => {
          expect(await redis.expire(key('ttl:expire-missing'), LONG_TTL_SECONDS)).toBe(0);
        });

        it('PERSIST removes an expiry and returns 0 when there is none', async () => {
          await redis.set(key('ttl:persist'), 'v', 'EX', LONG_TTL_SECONDS);
          expect(await redis.persist(key('ttl:persist'))).toBe(1);
          expect(await redis.ttl(key('ttl:persist'))).toBe(-1);
          expect(await redis.persist(key('ttl:persist'))).toBe(0);
        });

        it('SET without KEEPTTL clears the expiry of an existing key', async () => {
          await redis.set(key('ttl:overwrite'), 'v', 'EX', LONG_TTL_SECONDS);
          await redis.set(key('ttl:overwrite'), 'w');
          expect(await redis.ttl(key('ttl:overwrite'))).toBe(-1);
        });

        it('PEXPIRE makes the key disappear once its time has passed', async () => {
          await redis.set(key('ttl:pexpire'), 'v');
          expect(await redis.pexpire(key('ttl:pexpire'), SHORT_TTL_MS)).toBe(1);
          await sleep(SHORT_TTL_MS + EXPIRY_MARGIN_MS);
          expect(await redis.get(key('ttl:pexpire'))).toBeNull();
          expect(await redis.exists(key('ttl:pexpire'))).toBe(0);
          expect(await redis.ttl(key('ttl:pexpire'))).toBe(-2);
        });

        it('EXPIRE with a negative time deletes the key', async () => {
          await redis.set(key('ttl:negative'), 'v');
          expect(await redis.expire(key('ttl:negative'), -1)).toBe(1);
          expect(await redis.exists(key('ttl:negative'))).toBe(0);
        });
      });

      describe('KEYSPACE', () => {
        it('DEL removes several keys and returns how many existed', async () => {
          await redis.set(key('ks:del1'), '1');
          await redis.hset(key('ks:del2'), 'f', 'v');
          expect(await redis.del(key('ks:del1'), key('ks:del2'), key('ks:del-missing'))).toBe(2);
          expect(await redis.exists(key('ks:del1'), key('ks:del2'))).toBe(0);
        });

        it('MEMORY USAGE grows with the value and is null for a missing key', async () => {
          await redis.set(key('ks:mem-small'), 'v');
          await redis.set(key('ks:mem-large'), 'x'.repeat(1000));
          const small = Number(await redis.call('MEMORY', 'USAGE', key('ks:mem-small')));
          const large = Number(await redis.call('MEMORY', 'USAGE', key('ks:mem-large'), 'SAMPLES', '0'));
          expect(large - small).toBe(999);
          expect(await redis.call('MEMORY', 'USAGE', key('ks:mem-missing'))).toBeNull();
        });

        it('EXISTS counts every named key that exists, repeats included', async () => {
          await redis.set(key('ks:exists'), 'v');
          expect(await redis.exists(key('ks:exists'))).toBe(1);
          expect(await redis.exists(key('ks:exists'), key('ks:exists'), key('ks:exists-missing'))).toBe(2);
        });

        it('TYPE reports string, hash and none', async () => {
          await redis.set(key('ks:type-str'), 'v');
          await redis.hset(key('ks:type-hash'), 'f', 'v');
          expect(await redis.type(key('ks:type-str'))).toBe('string');
          expect(await redis.type(key('ks:type-hash'))).toBe('hash');
          expect(await redis.type(key('ks:type-missing'))).toBe('none');
        });

        it('RENAME moves the value and its TTL to the new name', async () => {
          await redis.set(key('ks:rename-from'), 'v', 'EX', LONG_TTL_SECONDS);
          expect(await redis.rename(key('ks:rename-from'), key('ks:rename-to'))).toBe('OK');
          expect(await redis.exists(key('ks:rename-from'))).toBe(0);
          expect(await redis.get(key('ks:rename-to'))).toBe('v');
          expect(await redis.ttl(key('ks:rename-to'))).toBeGreaterThanOrEqual(LONG_TTL_SECONDS - TTL_ROUNDING_SECONDS);
        });

        it('RENAME overwrites an existing destination', async () => {
          await redis.set(key('ks:rename-src'), 'new');
          await redis.hset(key('ks:rename-dst'), 'f', 'old');
          await redis.rename(key('ks:rename-src'), key('ks:rename-dst'));
          expect(await redis.type(key('ks:rename-dst'))).toBe('string');
          expect(await redis.get(key('ks:rename-dst'))).toBe('new');
        });

        it('RENAME of a missing key fails with ERR no such key', async () => {
          expect(await errorOf(redis.rename(key('ks:rename-missing'), key('ks:rename-any')))).toBe('ERR no such key');
        });

        it('SCAN through scanStream with MATCH collects every matching key', async () => {
          const expected = Array.from({ length: SCAN_ENTRIES }, (_, i) => key(`ks:scan:${i}`));
          await redis.mset(Object.fromEntries(expected.map((k) => [k, 'v'])));
          const seen = new Set<string>();
          const stream = redis.scanStream({ match: key('ks:scan:*'), count: SCAN_COUNT });
          stream.on('data', (keys: string[]) => {
            for (const k of keys) seen.add(k);
          });
          await once(stream, 'end');
          expect([...seen].sort()).toEqual([...expected].sort());
        });
      });

      describe('INFO', () => {
        it('INFO has a server section with redis_version and a keyspace section', async () => {
          await redis.set(key('info:k'), 'v');
          const info = parseInfo(String(await redis.info()));
          expect(info.server?.redis_version).toMatch(/^\d+\.\d+\.\d+/);
          expect(info.keyspace).toBeDefined();
          expect(info.keyspace.db0).toMatch(/^keys=\d+,expires=\d+/);
        });

        it('INFO with a section name returns only that section', async () => {
          const info = parseInfo(String(await redis.info('server')));
          expect(Object.keys(info)).toEqual(['server']);
          expect(info.server.redis_version).toBeDefined();
        });

        it("MONITOR streams other clients' commands to ioredis's monitor()", async () => {
          const monitor = await redis.monitor();
          try {
            const seen = new Promise<string[]>((resolve) => {
              monitor.on('monitor', (_time: string, args: string[]) => {
                if (args[1] === key('mon:k')) resolve(args);
              });
            });
            await redis.set(key('mon:k'), 'v');
            expect(await seen).toEqual(['set', key('mon:k'), 'v']);
          } finally {
            monitor.disconnect();
          }
        });

        it('SLOWLOG RESET, LEN and GET answer as Redis does, entries as arrays of six', async () => {
          expect(await redis.call('SLOWLOG', 'RESET')).toBe('OK');
          expect(typeof (await redis.call('SLOWLOG', 'LEN'))).toBe('number');
          const entries = (await redis.call('SLOWLOG', 'GET', '-1')) as unknown[][];
          expect(Array.isArray(entries)).toBe(true);
          for (const entry of entries) {
            expect(entry).toHaveLength(6);
          }
          await expect(redis.call('SLOWLOG', 'GET', '-2')).rejects.toThrow('ERR count should be greater than or equal to -1');
        });

        it('INFO server reports one event loop per thread but one, at least one', async () => {
          const { server } = parseInfo(String(await redis.info('server')));
          const threads = Number(server.threads);
          expect(threads).toBeGreaterThanOrEqual(1);
          expect(Number(server.event_loops)).toBe(Math.max(1, threads - 1));
        });
      });

      describe('ERRORS', () => {
        it('an unknown command fails with the exact Redis message', async () => {
          expect(await errorOf(redis.call('nosuch'))).toBe("ERR unknown command 'nosuch', with args beginning with: ");
          expect(await errorOf(redis.call('nosuch', 'a', 'b'))).toBe(
            "ERR unknown command 'nosuch', with args beginning with: 'a' 'b' ",
          );
        });

        it('a wrong number of arguments fails with the exact Redis message', async () => {
          expect(await errorOf(redis.call('get'))).toBe("ERR wrong number of arguments for 'get' command");
          expect(await errorOf(redis.call('get', 'a', 'b'))).toBe("ERR wrong number of arguments for 'get' command");
        });

        it('WRONGTYPE is returned by a string command on a hash and a hash command on a string', async () => {
          await redis.hset(key('err:hash'), 'f', 'v');
          await redis.set(key('err:str'), 'v');
          expect(await errorOf(redis.get(key('err:hash')))).toBe(WRONGTYPE);
          expect(await errorOf(redis.incr(key('err:hash')))).toBe(WRONGTYPE);
          expect(await errorOf(redis.hget(key('err:str'), 'f'))).toBe(WRONGTYPE);
          expect(await errorOf(redis.hset(key('err:str'), 'f', 'v'))).toBe(WRONGTYPE);
          expect(await redis.get(key('err:str'))).toBe('v');
        });

        it('an error reply leaves the connection usable', async () => {
          await errorOf(redis.call('nosuch'));
          expect(await redis.ping()).toBe('PONG');
        });
      });

      describe('TRANSACTIONS', () => {
        it('multi().exec() runs the commands together and returns each [error, reply]', async () => {
          await redis.set(key('tx:n'), '1');
          const results = await redis
            .multi()
            .incr(key('tx:n'))
            .get(key('tx:n'))
            .hset(key('tx:h'), 'f', 'v')
            .exec();
          expect(results).toEqual([
            [null, 2],
            [null, '2'],
            [null, 1],
          ]);
        });

        it('a command that fails inside EXEC reports its error and the others still run', async () => {
          await redis.set(key('tx:text'), 'text');
          const results = await redis.multi().incr(key('tx:text')).set(key('tx:after'), 'v').exec();
          expect((results?.[0][0] as Error).message).toBe(NOT_AN_INTEGER);
          expect(results?.[1]).toEqual([null, 'OK']);
          expect(await redis.get(key('tx:after'))).toBe('v');
        });

        it('a command refused while queued makes EXEC fail with EXECABORT and run nothing', async () => {
          const tx = redis.multi().set(key('tx:never'), 'v').call('nosuch');
          expect(await errorOf(tx.exec())).toBe('EXECABORT Transaction discarded because of previous errors.');
          expect(await redis.get(key('tx:never'))).toBeNull();
        });

        it('WATCH makes exec() resolve to null when another client changed the key', async () => {
          const watcher = await nexo.connect(options);
          await watcher.watch(key('tx:watched'));
          await redis.set(key('tx:watched'), 'theirs');
          expect(await watcher.multi().set(key('tx:watched'), 'mine').exec()).toBeNull();
          expect(await redis.get(key('tx:watched'))).toBe('theirs');
          await watcher.watch(key('tx:watched'));
          expect(await watcher.multi().set(key('tx:watched'), 'mine').exec()).toEqual([[null, 'OK']]);
        });
      });

      describe('SCRIPTS', () => {
        it('eval runs a Lua script with KEYS and ARGV and converts its result', async () => {
          const result = await redis.eval(
            "redis.call('set', KEYS[1], ARGV[1]); return {redis.call('get', KEYS[1]), redis.call('incr', KEYS[2]), true}",
            2,
            key('lua:k'),
            key('lua:n'),
            'v',
          );
          expect(result).toEqual(['v', 1, 1]);
        });

        it('defineCommand runs by EVALSHA and loads the script on NOSCRIPT', async () => {
          const client = await nexo.connect(options);
          await client.script('FLUSH');
          // A rate limiter as rate-limit-redis writes it: count, and start the window with the first hit.
          client.defineCommand('hit', {
            numberOfKeys: 1,
            lua: "local n = redis.call('incr', KEYS[1]) if n == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end return {n, redis.call('pttl', KEYS[1])}",
          });
          const hit = (k: string): Promise<[number, number]> =>
            (client as unknown as { hit(k: string, ms: number): Promise<[number, number]> }).hit(k, LONG_TTL_MS);
          const [first, ttl] = await hit(key('lua:rate'));
          expect(first).toBe(1);
          expect(ttl).toBeGreaterThan(LONG_TTL_MS - PTTL_SLACK_MS);
          expect((await hit(key('lua:rate')))[0]).toBe(2);
        });

        it('a lock is released only by its owner (the Redlock unlock script)', async () => {
          const unlock = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
          await redis.set(key('lua:lock'), 'owner-a', 'PX', LONG_TTL_MS, 'NX');
          expect(await redis.eval(unlock, 1, key('lua:lock'), 'owner-b')).toBe(0);
          expect(await redis.eval(unlock, 1, key('lua:lock'), 'owner-a')).toBe(1);
          expect(await redis.exists(key('lua:lock'))).toBe(0);
        });

        it('an error raised by redis.call fails the eval with the command\'s error', async () => {
          await redis.set(key('lua:text'), 'text');
          expect(await errorOf(redis.eval("return redis.call('incr', KEYS[1])", 1, key('lua:text')))).toMatch(
            new RegExp(`^${NOT_AN_INTEGER} script: [0-9a-f]{40}`),
          );
          expect(await errorOf(redis.evalsha('0'.repeat(40), 0))).toBe('NOSCRIPT No matching script. Please use EVAL.');
        });
      });

      describe('BINARY', () => {
        it('a value with all 256 byte values round-trips through SET and GET', async () => {
          await redis.set(key('bin:value'), ALL_BYTES);
          expect(await redis.getBuffer(key('bin:value'))).toEqual(ALL_BYTES);
          expect(await redis.strlen(key('bin:value'))).toBe(ALL_BYTES.length);
        });

        it('a key, a hash field and a hash value with all 256 byte values round-trip', async () => {
          const binKey = Buffer.concat([Buffer.from(key('bin:')), ALL_BYTES]);
          await redis.hset(binKey, ALL_BYTES, ALL_BYTES);
          expect(await redis.hgetBuffer(binKey, ALL_BYTES)).toEqual(ALL_BYTES);
          expect(await redis.type(binKey)).toBe('hash');
        });

        it('an empty value round-trips as an empty string, not null', async () => {
          await redis.set(key('bin:empty'), '');
          expect(await redis.get(key('bin:empty'))).toBe('');
          expect(await redis.exists(key('bin:empty'))).toBe(1);
        });
      });
    });
  }

  describe('AUTH', () => {
    const PASSWORD = 's3cret pass';
    const WRONG_PASSWORD = 'wrong';
    const secured = useNexo({ password: PASSWORD });
    /** A client that sends no credentials, connects on demand and never retries. */
    const ANONYMOUS: RedisOptions = { password: undefined, lazyConnect: true, retryStrategy: () => null };
    /**
     * Over RESP2 ioredis sends no HELLO, and without the INFO ready check the
     * connection is usable before authenticating.
     */
    const ANONYMOUS_RESP2: RedisOptions = { ...ANONYMOUS, protocol: 2, enableReadyCheck: false };

    it('AUTH through HELLO 3 with the password lets ioredis on its defaults work', async () => {
      expect(await secured.redis.set('auth:ok', 'v')).toBe('OK');
      expect(await secured.redis.get('auth:ok')).toBe('v');
    });

    it('AUTH missing: commands fail with NOAUTH', async () => {
      const client = new Redis(secured.clientOptions(ANONYMOUS_RESP2));
      try {
        await client.connect();
        expect(await errorOf(client.get('auth:noauth'))).toMatch(/^NOAUTH /);
      } finally {
        client.disconnect();
      }
    });

    it('AUTH missing: HELLO 3 without credentials is refused with NOAUTH', async () => {
      const client = new Redis(secured.clientOptions(ANONYMOUS));
      try {
        expect(await connectError(client)).toMatch(/^NOAUTH /);
      } finally {
        client.disconnect();
      }
    });

    it('AUTH with a wrong password fails with WRONGPASS, then AUTH with the right one works', async () => {
      await secured.redis.set('auth:retry', 'v');
      const client = new Redis(secured.clientOptions(ANONYMOUS_RESP2));
      try {
        await client.connect();
        expect(await errorOf(client.auth(WRONG_PASSWORD))).toMatch(/^WRONGPASS /);
        expect(await errorOf(client.get('auth:retry'))).toMatch(/^NOAUTH /);
        expect(await client.auth(PASSWORD)).toBe('OK');
        expect(await client.get('auth:retry')).toBe('v');
      } finally {
        client.disconnect();
      }
    });

    it('AUTH with a wrong password in the ioredis options fails to connect with WRONGPASS', async () => {
      const client = new Redis(secured.clientOptions({ ...ANONYMOUS, password: WRONG_PASSWORD }));
      try {
        expect(await connectError(client)).toMatch(/^WRONGPASS /);
      } finally {
        client.disconnect();
      }
    });
  });

  describe('SDK GET/SET', () => {
    it('SET then GET returns every JSON type with its type', async () => {
      const store = nexo.sdk.store;
      const values: Record<string, unknown> = {
        string: 'hello',
        number: 42.5,
        negative: -7,
        boolean: false,
        array: [1, 'two', { three: 3 }],
        object: { name: 'Ada', tags: ['x'], nested: { ok: true, none: null } },
        empty: '',
      };
      for (const [name, value] of Object.entries(values)) {
        expect(await store.set(`sdk-json:${name}`, value)).toBe(true);
      }
      for (const [name, value] of Object.entries(values)) {
        expect(await store.get(`sdk-json:${name}`)).toStrictEqual(value);
      }
      // The value is stored as its JSON text, readable by any Redis client.
      expect(await nexo.redis.get('sdk-json:object')).toBe(JSON.stringify(values.object));
    });

    it('GET of a missing key returns null', async () => {
      expect(await nexo.sdk.store.get('sdk-json:missing')).toBeNull();
    });

    it('GET of a JSON null returns null, and EXISTS tells it from a missing key', async () => {
      const store = nexo.sdk.store;
      expect(await store.set('sdk-json:null', null)).toBe(true);
      expect(await store.get('sdk-json:null')).toBeNull();
      expect(await store.exists('sdk-json:null')).toBe(true);
      expect(await store.exists('sdk-json:null-missing')).toBe(false);
    });

    it('GET of a value that is not JSON fails with a NexoError SDK naming the key; store.raw reads it', async () => {
      const store = nexo.sdk.store;
      await nexo.redis.set('sdk-json:text', 'plain text');
      const err = await nexoErrorOf(store.get('sdk-json:text'));
      expect(err.code).toBe('SDK');
      expect(err.message).toMatch(/^cannot parse the value of key 'sdk-json:text' as JSON .*read it with store\.raw$/);
      expect((await nexoErrorOf(store.getMany(['sdk-json:missing', 'sdk-json:text']))).message).toMatch(/key 'sdk-json:text'/);
      expect((await store.raw.get('sdk-json:text'))?.toString('utf8')).toBe('plain text');
    });
  });

  describe('SDK GETORSET', () => {
    it('GETORSET returns the stored value, or computes, stores (with its ttl) and returns it once for concurrent callers', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk:gos:hit', { n: 1 });
      expect(await store.getOrSet('sdk:gos:hit', () => ({ n: 2 }))).toEqual({ n: 1 });
      let computed = 0;
      const compute = async (): Promise<{ n: number }> => {
        computed += 1;
        return { n: 3 };
      };
      const [a, b] = await Promise.all([
        store.getOrSet('sdk:gos:miss', compute, { ttl: LONG_TTL_MS }),
        store.getOrSet('sdk:gos:miss', compute, { ttl: LONG_TTL_MS }),
      ]);
      expect([a, b, computed]).toEqual([{ n: 3 }, { n: 3 }, 1]);
      expect(await store.get('sdk:gos:miss')).toEqual({ n: 3 });
      expect(await store.ttl('sdk:gos:miss')).toBeGreaterThan(0);
      await expect(store.getOrSet('sdk:gos:fail', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
      expect(await store.exists('sdk:gos:fail')).toBe(false);
    });
  });

  describe('SDK SET OPTIONS', () => {
    it('SET with ttl gives the key a TTL in milliseconds', async () => {
      const store = nexo.sdk.store;
      expect(await store.set('sdk-setopt:ttl', 'v', { ttl: LONG_TTL_MS })).toBe(true);
      const left = await store.ttl('sdk-setopt:ttl');
      expect(left).toBeLessThanOrEqual(LONG_TTL_MS);
      expect(left).toBeGreaterThan(LONG_TTL_MS - PTTL_SLACK_MS);
    });

    it('SET with ttl: the key is gone once its time has passed', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-setopt:short', 'v', { ttl: SHORT_TTL_MS });
      await sleep(SHORT_TTL_MS + EXPIRY_MARGIN_MS);
      expect(await store.get('sdk-setopt:short')).toBeNull();
      expect(await store.exists('sdk-setopt:short')).toBe(false);
    });

    it('SET ifNotExists writes a missing key and returns false, changing nothing, for an existing one', async () => {
      const store = nexo.sdk.store;
      expect(await store.set('sdk-setopt:nx', 'first', { ifNotExists: true })).toBe(true);
      expect(await store.set('sdk-setopt:nx', 'second', { ifNotExists: true })).toBe(false);
      expect(await store.get('sdk-setopt:nx')).toBe('first');
    });

    it('SET ifExists overwrites an existing key and returns false, creating nothing, for a missing one', async () => {
      const store = nexo.sdk.store;
      expect(await store.set('sdk-setopt:xx', 'v', { ifExists: true })).toBe(false);
      expect(await store.exists('sdk-setopt:xx')).toBe(false);
      await store.set('sdk-setopt:xx', 'first');
      expect(await store.set('sdk-setopt:xx', 'second', { ifExists: true })).toBe(true);
      expect(await store.get('sdk-setopt:xx')).toBe('second');
    });

    it('SET keepTtl keeps the TTL; SET without it clears the TTL', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-setopt:keep', 1, { ttl: LONG_TTL_MS });
      expect(await store.set('sdk-setopt:keep', 2, { keepTtl: true })).toBe(true);
      expect(await store.get('sdk-setopt:keep')).toBe(2);
      expect(await store.ttl('sdk-setopt:keep')).toBeGreaterThan(LONG_TTL_MS - PTTL_SLACK_MS);
      await store.set('sdk-setopt:keep', 3);
      expect(await store.ttl('sdk-setopt:keep')).toBe(Infinity);
    });

    it('SET ttl together with keepTtl, or ifNotExists with ifExists, is refused as SDK misuse and changes nothing', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-setopt:misuse', 'kept');
      const both = await nexoErrorOf(store.set('sdk-setopt:misuse', 'x', { ifNotExists: true, ifExists: true }));
      expect(both.code).toBe('SDK');
      expect(both.command).toBeUndefined();
      expect(both.message).toMatch(/ifNotExists and ifExists/);
      const ttlKeep = await nexoErrorOf(store.set('sdk-setopt:misuse', 'x', { ttl: LONG_TTL_MS, keepTtl: true }));
      expect(ttlKeep.code).toBe('SDK');
      expect(ttlKeep.message).toMatch(/ttl and keepTtl/);
      expect(await store.get('sdk-setopt:misuse')).toBe('kept');
    });

    it('SET ttl that is not a positive whole number of milliseconds is refused as SDK misuse', async () => {
      const store = nexo.sdk.store;
      for (const ttl of [0, -1, 1.5, Number.NaN, Infinity]) {
        const err = await nexoErrorOf(store.set('sdk-setopt:badttl', 'x', { ttl }));
        expect(err.code).toBe('SDK');
        expect(err.message).toMatch(/ttl must be a positive whole number of milliseconds/);
      }
      expect(await store.exists('sdk-setopt:badttl')).toBe(false);
    });
  });

  describe('SDK GETMANY/SETMANY', () => {
    it('SETMANY then GETMANY returns the values in the order asked, null for missing keys', async () => {
      const store = nexo.sdk.store;
      await store.setMany({ 'sdk-many:a': { n: 1 }, 'sdk-many:b': 'two', 'sdk-many:c': 3 });
      expect(await store.getMany(['sdk-many:c', 'sdk-many:missing', 'sdk-many:a', 'sdk-many:b'])).toStrictEqual([
        3,
        null,
        { n: 1 },
        'two',
      ]);
    });

    it('SETMANY of nothing and GETMANY of no keys send nothing and succeed', async () => {
      const store = nexo.sdk.store;
      await expect(store.setMany({})).resolves.toBeUndefined();
      expect(await store.getMany([])).toEqual([]);
    });
  });

  describe('SDK KEYS', () => {
    it('DELETE removes several keys and returns how many existed; EXISTS follows', async () => {
      const store = nexo.sdk.store;
      await store.setMany({ 'sdk-keys:a': 1, 'sdk-keys:b': 2 });
      expect(await store.exists('sdk-keys:a')).toBe(true);
      expect(await store.delete('sdk-keys:a', 'sdk-keys:b', 'sdk-keys:missing')).toBe(2);
      expect(await store.exists('sdk-keys:a')).toBe(false);
      expect(await store.exists('sdk-keys:b')).toBe(false);
    });

    it('DELETE of no keys returns 0', async () => {
      expect(await nexo.sdk.store.delete()).toBe(0);
    });
  });

  describe('SDK TTL', () => {
    it('EXPIRE sets a TTL that TTL reads back in milliseconds; PERSIST removes it', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-ttl:key', 'v');
      expect(await store.ttl('sdk-ttl:key')).toBe(Infinity);
      expect(await store.expire('sdk-ttl:key', LONG_TTL_MS)).toBe(true);
      const left = await store.ttl('sdk-ttl:key');
      expect(left).toBeLessThanOrEqual(LONG_TTL_MS);
      expect(left).toBeGreaterThan(LONG_TTL_MS - PTTL_SLACK_MS);
      expect(await store.persist('sdk-ttl:key')).toBe(true);
      expect(await store.ttl('sdk-ttl:key')).toBe(Infinity);
      expect(await store.persist('sdk-ttl:key')).toBe(false);
    });

    it('TTL is null, and EXPIRE and PERSIST are false, for a missing key', async () => {
      const store = nexo.sdk.store;
      expect(await store.ttl('sdk-ttl:missing')).toBeNull();
      expect(await store.expire('sdk-ttl:missing', LONG_TTL_MS)).toBe(false);
      expect(await store.persist('sdk-ttl:missing')).toBe(false);
      expect(await store.exists('sdk-ttl:missing')).toBe(false);
    });

    it('EXPIRE makes the key disappear once its time has passed', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-ttl:short', 'v');
      expect(await store.expire('sdk-ttl:short', SHORT_TTL_MS)).toBe(true);
      await sleep(SHORT_TTL_MS + EXPIRY_MARGIN_MS);
      expect(await store.ttl('sdk-ttl:short')).toBeNull();
    });

    it('EXPIRE with a ttl that is not a positive whole number is refused as SDK misuse and keeps the key', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-ttl:misuse', 'v');
      for (const ttl of [0, -1, 2.5]) {
        expect((await nexoErrorOf(store.expire('sdk-ttl:misuse', ttl))).code).toBe('SDK');
      }
      expect(await store.get('sdk-ttl:misuse')).toBe('v');
      expect(await store.ttl('sdk-ttl:misuse')).toBe(Infinity);
    });
  });

  describe('SDK COUNTERS', () => {
    it('INCR creates a counter at 0 and adds; DECR subtracts; GET reads the counter back as a number', async () => {
      const store = nexo.sdk.store;
      expect(await store.incr('sdk-counter:a')).toBe(1);
      expect(await store.incr('sdk-counter:a', 10)).toBe(11);
      expect(await store.decr('sdk-counter:a')).toBe(10);
      expect(await store.decr('sdk-counter:a', 15)).toBe(-5);
      const value = await store.get('sdk-counter:a');
      expect(value).toBe(-5);
      expect(typeof value).toBe('number');
    });

    it('INCRFLOAT adds a decimal amount; GET reads it back as a number', async () => {
      const store = nexo.sdk.store;
      expect(await store.incrFloat('sdk-counter:f', 1.5)).toBe(1.5);
      expect(await store.incrFloat('sdk-counter:f', -0.25)).toBe(1.25);
      expect(await store.get('sdk-counter:f')).toBe(1.25);
    });

    it('INCR works on a number written with SET', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-counter:set', 5);
      expect(await store.incr('sdk-counter:set')).toBe(6);
      expect(await store.get('sdk-counter:set')).toBe(6);
    });

    it('INCR and DECR by an amount that is not a whole number are refused as SDK misuse', async () => {
      const store = nexo.sdk.store;
      expect((await nexoErrorOf(store.incr('sdk-counter:misuse', 1.5))).code).toBe('SDK');
      expect((await nexoErrorOf(store.decr('sdk-counter:misuse', Number.NaN))).code).toBe('SDK');
      expect(await store.exists('sdk-counter:misuse')).toBe(false);
    });

    it('INCR of a value that is not an integer fails with ERR and leaves the value unchanged', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-counter:text', 'abc');
      const err = await nexoErrorOf(store.incr('sdk-counter:text'));
      expect(err.code).toBe('ERR');
      expect(err.command).toBe('INCRBY');
      expect(err.message).toBe(NOT_AN_INTEGER);
      expect(await store.get('sdk-counter:text')).toBe('abc');
    });

    it('INCR from two SDK clients at once loses no increment', async () => {
      const other = await nexo.connectSdk();
      try {
        const clients = [nexo.sdk, other];
        await Promise.all(
          clients.flatMap((client) => Array.from({ length: RACE_INCREMENTS }, () => client.store.incr('sdk-counter:race'))),
        );
        expect(await nexo.sdk.store.get('sdk-counter:race')).toBe(clients.length * RACE_INCREMENTS);
      } finally {
        await other.close();
      }
    });
  });

  describe('SDK RAW', () => {
    it('RAW round-trips all 256 byte values as a Buffer', async () => {
      const raw = nexo.sdk.store.raw;
      expect(await raw.set('sdk-raw:bytes', ALL_BYTES)).toBe(true);
      const value = await raw.get('sdk-raw:bytes');
      expect(Buffer.isBuffer(value)).toBe(true);
      expect(Buffer.compare(value as Buffer, ALL_BYTES)).toBe(0);
    });

    it('RAW takes strings, returns Buffers from getMany, and reads a JSON value as its text', async () => {
      const store = nexo.sdk.store;
      await store.raw.set('sdk-raw:text', 'plain text');
      await store.set('sdk-raw:json', { a: 1 });
      const values = await store.raw.getMany(['sdk-raw:text', 'sdk-raw:json', 'sdk-raw:missing']);
      expect(values.map((v) => (v === null ? null : v.toString('utf8')))).toEqual(['plain text', '{"a":1}', null]);
      expect(values.slice(0, 2).every((v) => Buffer.isBuffer(v))).toBe(true);
    });

    it('RAW stores an empty value as an empty Buffer, not null', async () => {
      const raw = nexo.sdk.store.raw;
      await raw.set('sdk-raw:empty', Buffer.alloc(0));
      expect(await raw.get('sdk-raw:empty')).toEqual(Buffer.alloc(0));
    });
  });

  describe('SDK MAP', () => {
    interface User {
      name: string;
      visits: number;
      tags: string[];
    }

    it('MAP set, get, getAll, has, size and fields read back typed fields', async () => {
      const user = nexo.sdk.store.map<User>('sdk-map:user');
      expect(user.key).toBe('sdk-map:user');
      expect(await user.set({ name: 'Ada', visits: 1, tags: ['admin'] })).toBe(3);
      expect(await user.set({ name: 'Ada L.' })).toBe(0);
      expect(await user.get('name')).toBe('Ada L.');
      expect(await user.get('visits')).toBe(1);
      expect(await user.get('tags')).toEqual(['admin']);
      expect(await user.getAll()).toStrictEqual({ name: 'Ada L.', visits: 1, tags: ['admin'] });
      expect(await user.has('name')).toBe(true);
      expect(await user.size()).toBe(3);
      expect((await user.fields()).sort()).toEqual(['name', 'tags', 'visits']);
    });

    it('MAP incr adds to a numeric field, creating it at 0, and get reads it as a number', async () => {
      const user = nexo.sdk.store.map<User>('sdk-map:incr');
      await user.set({ visits: 5 });
      expect(await user.incr('visits')).toBe(6);
      expect(await user.incr('visits', -10)).toBe(-4);
      expect(await user.get('visits')).toBe(-4);
      const fresh = nexo.sdk.store.map<{ hits: number }>('sdk-map:incr-fresh');
      expect(await fresh.incr('hits', 3)).toBe(3);
    });

    it('MAP delete removes fields; deleting the last field deletes the map', async () => {
      const store = nexo.sdk.store;
      const user = store.map<User>('sdk-map:delete');
      await user.set({ name: 'Ada', visits: 1 });
      expect(await user.delete('name', 'tags')).toBe(1);
      expect(await user.has('name')).toBe(false);
      expect(await user.delete()).toBe(0);
      expect(await user.delete('visits')).toBe(1);
      expect(await store.exists('sdk-map:delete')).toBe(false);
    });

    it('MAP of a missing key: get null, getAll {}, size 0, no fields; set of nothing creates nothing', async () => {
      const store = nexo.sdk.store;
      const missing = store.map<User>('sdk-map:missing');
      expect(await missing.get('name')).toBeNull();
      expect(await missing.getAll()).toEqual({});
      expect(await missing.size()).toBe(0);
      expect(await missing.fields()).toEqual([]);
      expect(await missing.has('name')).toBe(false);
      expect(await missing.set({ name: undefined })).toBe(0);
      expect(await store.exists('sdk-map:missing')).toBe(false);
    });

    it('MAP get and getAll of a field that is not JSON fail with a NexoError SDK naming the field', async () => {
      await nexo.redis.hset('sdk-map:text', 'note', 'plain text');
      const map = nexo.sdk.store.map<{ note: string }>('sdk-map:text');
      for (const read of [map.get('note'), map.getAll()]) {
        const err = await nexoErrorOf(read);
        expect(err.code).toBe('SDK');
        expect(err.message).toMatch(/^cannot parse the value of field 'note' of 'sdk-map:text' as JSON/);
      }
    });

    it('MAP of the raw store round-trips all 256 byte values as Buffers', async () => {
      const bytes = nexo.sdk.store.raw.map<{ blob: Buffer }>('sdk-map:raw');
      await bytes.set({ blob: ALL_BYTES });
      expect(Buffer.compare((await bytes.get('blob')) as Buffer, ALL_BYTES)).toBe(0);
      expect(Buffer.compare((await bytes.getAll()).blob as Buffer, ALL_BYTES)).toBe(0);
    });
  });

  describe('SDK SCAN', () => {
    it('SCAN with match and a small count returns every matching key exactly once', async () => {
      const store = nexo.sdk.store;
      const expected = Array.from({ length: SCAN_ENTRIES }, (_, i) => `sdk-scan:in:${i}`);
      await store.setMany(Object.fromEntries(expected.map((key, i) => [key, i])));
      await store.setMany(Object.fromEntries(Array.from({ length: SCAN_OTHER_ENTRIES }, (_, i) => [`sdk-scan:out:${i}`, i])));
      const seen: string[] = [];
      for await (const key of store.scan({ match: 'sdk-scan:in:*', count: SCAN_COUNT })) seen.push(key);
      expect(seen).toHaveLength(SCAN_ENTRIES);
      expect(seen.sort()).toEqual(expected.sort());
    });

    it('SCAN without options visits every key', async () => {
      const store = nexo.sdk.store;
      await store.setMany({ 'sdk-scan:all:a': 1, 'sdk-scan:all:b': 2 });
      const seen: string[] = [];
      for await (const key of store.scan()) seen.push(key);
      expect(seen).toContain('sdk-scan:all:a');
      expect(seen).toContain('sdk-scan:all:b');
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('SCAN stops cleanly when the loop breaks early', async () => {
      const store = nexo.sdk.store;
      await store.setMany({ 'sdk-scan:brk:a': 1, 'sdk-scan:brk:b': 2 });
      let first: string | undefined;
      for await (const key of store.scan({ match: 'sdk-scan:brk:*', count: SCAN_COUNT })) {
        first = key;
        break;
      }
      expect(first).toMatch(/^sdk-scan:brk:/);
    });

    it('SCAN with a count that is not a whole number is refused as SDK misuse', async () => {
      const err = await nexoErrorOf(nexo.sdk.store.scan({ count: 1.5 }).next());
      expect(err.code).toBe('SDK');
    });
  });

  describe('SDK ERRORS', () => {
    it('a server error is a NexoError with its code, the command, and a hint: WRONGTYPE', async () => {
      const store = nexo.sdk.store;
      await store.map('sdk-err:hash').set({ field: 1 });
      const err = await nexoErrorOf(store.get('sdk-err:hash'));
      expect(err.name).toBe('NexoError');
      expect(err.code).toBe('WRONGTYPE');
      expect(err.command).toBe('GET');
      expect(err.message).toBe(`${WRONGTYPE} (the key holds another type: use another key, or delete it first)`);
      await store.set('sdk-err:string', 'v');
      const hashErr = await nexoErrorOf(store.map('sdk-err:string').get('field'));
      expect(hashErr.code).toBe('WRONGTYPE');
      expect(hashErr.command).toBe('HGET');
    });

    it('an error leaves the SDK client usable', async () => {
      const store = nexo.sdk.store;
      await store.map('sdk-err:usable').set({ field: 1 });
      await nexoErrorOf(store.incr('sdk-err:usable'));
      expect(await store.set('sdk-err:after', 'ok')).toBe(true);
      expect(await store.get('sdk-err:after')).toBe('ok');
    });
  });

  describe('SDK RECONNECT', () => {
    it('after CLIENT KILL of the shared SDK connection the next STORE call succeeds on a new connection', async () => {
      const store = nexo.sdk.store;
      await store.set('sdk-reconnect:key', 'before');
      const id = Number(await nexo.sdk.command('CLIENT', 'ID'));
      expect(await nexo.redis.client('KILL', 'ID', String(id))).toBe(1);
      expect(await store.set('sdk-reconnect:key', 'after')).toBe(true);
      expect(await store.get('sdk-reconnect:key')).toBe('after');
      expect(Number(await nexo.sdk.command('CLIENT', 'ID'))).not.toBe(id);
    });
  });
});
