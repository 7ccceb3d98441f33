// PUBSUB end to end: the real binary driven by ioredis 6. On its defaults
// (RESP3 via HELLO 3) ioredis receives NEXO's topic-filter messages (PSUB)
// as `pmessage` events on a connection that still runs any command; with
// protocol: 2 it uses Redis's SUBSCRIBE and PSUBSCRIBE, which share the
// topic namespace with PPUB.
import { once } from 'node:events';
import { NexoError, type TopicHandler } from '@nexo/sdk';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNexo, useRestartableNexo } from './nexo.js';
import { errorOf, nexoErrorOf } from './helpers.js';

/** How long a test waits for messages that must arrive. */
const MESSAGE_TIMEOUT_MS = 5_000;

/** One message as an ioredis event delivered it. */
interface Received {
  pattern: string | undefined;
  topic: string;
  payload: string;
}

/** Collects a client's `message` and `pmessage` events in arrival order. */
class Inbox {
  readonly messages: Received[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(client: Redis) {
    client.on('message', (topic: string, payload: string) => this.add({ pattern: undefined, topic, payload }));
    client.on('pmessage', (pattern: string, topic: string, payload: string) => this.add({ pattern, topic, payload }));
  }

  private add(m: Received): void {
    this.messages.push(m);
    this.waiters = this.waiters.filter((w) => {
      if (this.messages.length < w.count) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `count` messages have arrived in total. */
  async waitFor(count: number): Promise<Received[]> {
    if (this.messages.length < count) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push({ count, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`got ${this.messages.length} messages, want ${count}: ${JSON.stringify(this.messages)}`)),
            MESSAGE_TIMEOUT_MS,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    }
    return this.messages.slice(0, count);
  }
}

/** How long an SDK test waits for messages across a server restart (start-up plus ioredis's reconnect back-off). */
const RESTART_TIMEOUT_MS = 10_000;
/** The TTL of the key whose expiry the keyspace notification test waits for. */
const KEY_TTL_MS = 50;
/** SDK clients publishing at once in the race test. */
const RACE_PUBLISHERS = 4;
/** Messages each of them publishes, one after the other. */
const RACE_MESSAGES_PER_PUBLISHER = 100;
/** Every byte value, for binary-safety checks. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
/** The name the SDK gives its subscriber connection (CLIENT SETNAME). */
const SDK_SUBSCRIBER_NAME = 'nexo-sdk:subscriber';

/** Resolves with the promise, or rejects after MESSAGE_TIMEOUT_MS naming what did not happen. */
async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${MESSAGE_TIMEOUT_MS} ms`)), MESSAGE_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** One message as an SDK handler received it. */
interface SdkReceived<T> {
  payload: T;
  topic: string;
}

/** Collects what an SDK subscription handler receives, in arrival order. */
class SdkInbox<T> {
  readonly messages: SdkReceived<T>[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(private readonly timeoutMs: number = MESSAGE_TIMEOUT_MS) {}

  /** The handler to pass to subscribe(). */
  readonly handler: TopicHandler<T> = (payload, topic) => {
    this.messages.push({ payload, topic });
    this.waiters = this.waiters.filter((w) => {
      if (this.messages.length < w.count) return true;
      w.resolve();
      return false;
    });
  };

  /** Resolves once `count` messages have arrived in total. */
  async waitFor(count: number): Promise<SdkReceived<T>[]> {
    if (this.messages.length < count) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push({ count, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`got ${this.messages.length} messages, want ${count}: ${JSON.stringify(this.messages)}`)),
            this.timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    }
    return this.messages.slice(0, count);
  }
}

/** The first 'error' event of an emitter from now on; stop() removes the listener. */
function firstError(emitter: {
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}): { error: Promise<Error>; stop: () => void } {
  let reported!: (err: Error) => void;
  const error = new Promise<Error>((resolve) => {
    reported = resolve;
  });
  emitter.on('error', reported);
  return { error, stop: () => emitter.off('error', reported) };
}

const nexo = useNexo();

/** The ids of the SDK subscriber connections, from CLIENT LIST. */
async function subscriberIds(): Promise<string[]> {
  const list = (await nexo.redis.client('LIST')) as string;
  return list
    .split('\n')
    .filter((line) => line.split(' ').includes(`name=${SDK_SUBSCRIBER_NAME}`))
    .map((line) => /(?:^| )id=(\d+)/.exec(line)?.[1] ?? '');
}

describe('PUBSUB', () => {
  describe('over RESP3 (ioredis defaults)', () => {
    it('PSUB resolves with the count; retained values, then PPUB and PUBLISH arrive as pmessage events', async () => {
      await nexo.redis.call('PPUB', 'r3/home/kitchen/temp', '20.5', 'RETAIN');
      await nexo.redis.call('PPUB', 'r3/home/hall/temp', '19', 'RETAIN');
      const sub = await nexo.connect();
      const inbox = new Inbox(sub);
      expect(await sub.call('PSUB', 'r3/home/+/temp', 'r3/office/#')).toBe(2);
      expect(await inbox.waitFor(2)).toEqual([
        { pattern: 'r3/home/+/temp', topic: 'r3/home/hall/temp', payload: '19' },
        { pattern: 'r3/home/+/temp', topic: 'r3/home/kitchen/temp', payload: '20.5' },
      ]);
      expect(await nexo.redis.call('PPUB', 'r3/home/hall/temp', '19.5')).toBe(1);
      expect(await nexo.redis.publish('r3/office/desk/lamp', 'on')).toBe(1);
      expect(await nexo.redis.call('PPUB', 'r3/garden/temp', 'x')).toBe(0);
      expect((await inbox.waitFor(4)).slice(2)).toEqual([
        { pattern: 'r3/home/+/temp', topic: 'r3/home/hall/temp', payload: '19.5' },
        { pattern: 'r3/office/#', topic: 'r3/office/desk/lamp', payload: 'on' },
      ]);
      // A RESP3 connection runs any command while subscribed.
      expect(await sub.set('r3:key', 'v')).toBe('OK');
      expect(await sub.get('r3:key')).toBe('v');
      expect(await sub.call('PUNSUB', 'r3/home/+/temp')).toBe(1);
      expect(await sub.call('PUNSUB')).toBe(0);
      expect(await nexo.redis.call('PPUB', 'r3/office/desk/lamp', 'off')).toBe(0);
      expect(await sub.ping()).toBe('PONG');
      expect(inbox.messages).toHaveLength(4);
    });

    it("ioredis's own subscribe and psubscribe share the topic namespace with PSUB and PPUB", async () => {
      const sub = await nexo.connect();
      const inbox = new Inbox(sub);
      await sub.subscribe('r3/a/b');
      await sub.psubscribe('r3/a/*');
      expect(await sub.call('PSUB', 'r3/a/+')).toBe(3);
      expect(await nexo.redis.publish('r3/a/b', 'p1')).toBe(3);
      const got = await inbox.waitFor(3);
      expect(got).toEqual(
        expect.arrayContaining([
          { pattern: undefined, topic: 'r3/a/b', payload: 'p1' },
          { pattern: 'r3/a/*', topic: 'r3/a/b', payload: 'p1' },
          { pattern: 'r3/a/+', topic: 'r3/a/b', payload: 'p1' },
        ]),
      );
      expect(await nexo.redis.call('PUBSUB', 'NUMSUB', 'r3/a/b')).toEqual(['r3/a/b', 1]);
    });

    it('payloads are binary-safe', async () => {
      const sub = await nexo.connect();
      const received = new Promise<Buffer>((resolve) => {
        sub.on('pmessageBuffer', (_pattern: Buffer, _topic: Buffer, payload: Buffer) => resolve(payload));
      });
      await sub.call('PSUB', 'r3/bin');
      const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await nexo.redis.call('PPUB', 'r3/bin', payload);
      expect(Buffer.compare(await received, payload)).toBe(0);
    });

    it('invalid filters and topics are refused with a clear error', async () => {
      const sub = await nexo.connect();
      expect(await errorOf(sub.call('PSUB', 'r3/ok/#', 'r3/a/#/b'))).toBe(
        "ERR invalid topic filter: '#' must be the last level (a/#)",
      );
      expect(await errorOf(sub.call('PSUB', 'r3/a+'))).toBe(
        "ERR invalid topic filter: '+' and '#' must be a whole level (a/+/b, a/#)",
      );
      expect(await errorOf(nexo.redis.call('PPUB', 'r3/a/+', 'x'))).toBe(
        "ERR invalid topic: a topic name cannot contain '+' or '#' (wildcards belong in filters)",
      );
      // The refused PSUB subscribed nothing, not even its valid filter.
      expect(await nexo.redis.call('PPUB', 'r3/ok/x', 'y')).toBe(0);
    });

    it('PRETAINED lists values with their age and PDELRETAINED deletes by filter', async () => {
      for (const id of ['1', '2', '3']) {
        await nexo.redis.call('PPUB', `r3/sensors/${id}/status`, `up-${id}`, 'RETAIN');
      }
      await nexo.redis.call('PPUB', 'r3/sensors/1/temp', '7', 'RETAIN');
      const listed = (await nexo.redis.call('PRETAINED', 'r3/sensors/+/status')) as [string, string, number][];
      expect(listed.map(([topic, value]) => [topic, value])).toEqual([
        ['r3/sensors/1/status', 'up-1'],
        ['r3/sensors/2/status', 'up-2'],
        ['r3/sensors/3/status', 'up-3'],
      ]);
      for (const [, , age] of listed) expect(age).toBeGreaterThanOrEqual(0);
      expect(await nexo.redis.call('PDELRETAINED', 'r3/sensors/+/status')).toBe(3);
      expect(await nexo.redis.call('PRETAINED', 'r3/sensors/#')).toEqual([['r3/sensors/1/temp', '7', expect.any(Number)]]);
    });
  });

  describe('over RESP2 (protocol: 2)', () => {
    it('subscribe and psubscribe receive PUBLISH and PPUB, RETAIN included', async () => {
      const sub = await nexo.connect({ protocol: 2 });
      const inbox = new Inbox(sub);
      await sub.subscribe('r2/dev/1/state');
      await sub.psubscribe('r2/dev/*');
      expect(await nexo.redis.call('PPUB', 'r2/dev/1/state', 'on', 'RETAIN')).toBe(2);
      expect(await nexo.redis.publish('r2/dev/2/state', 'off')).toBe(1);
      const got = await inbox.waitFor(3);
      expect(got).toEqual(
        expect.arrayContaining([
          { pattern: undefined, topic: 'r2/dev/1/state', payload: 'on' },
          { pattern: 'r2/dev/*', topic: 'r2/dev/1/state', payload: 'on' },
          { pattern: 'r2/dev/*', topic: 'r2/dev/2/state', payload: 'off' },
        ]),
      );
      expect(got[2]).toEqual({ pattern: 'r2/dev/*', topic: 'r2/dev/2/state', payload: 'off' });
      // Without arguments ioredis waits for a count of 0, so the channel is named.
      await sub.unsubscribe('r2/dev/1/state');
      await sub.punsubscribe();
      // Out of subscriber mode, the connection runs ordinary commands again.
      expect(await sub.call('PRETAINED', 'r2/dev/+/state')).toEqual([['r2/dev/1/state', 'on', expect.any(Number)]]);
    });
  });

  describe('reconnects', () => {
    it('a client that reconnects and sends PSUB again gets the retained values again', async () => {
      await nexo.redis.call('PPUB', 'rc/lamp/1', 'on', 'RETAIN');
      // autoResubscribe would send the filters back with PSUBSCRIBE (glob
      // semantics): the client sends PSUB itself on every ready.
      const sub = new Redis(nexo.clientOptions({ lazyConnect: true, autoResubscribe: false }));
      const inbox = new Inbox(sub);
      let subscribed: Promise<unknown> = Promise.resolve();
      sub.on('ready', () => {
        subscribed = sub.call('PSUB', 'rc/lamp/+');
      });
      try {
        await sub.connect();
        await subscribed;
        expect(await inbox.waitFor(1)).toEqual([{ pattern: 'rc/lamp/+', topic: 'rc/lamp/1', payload: 'on' }]);
        const id = await sub.client('ID');
        const readyAgain = once(sub, 'ready');
        expect(await nexo.redis.client('KILL', 'ID', String(id))).toBe(1);
        await readyAgain;
        await subscribed;
        expect((await inbox.waitFor(2))[1]).toEqual({ pattern: 'rc/lamp/+', topic: 'rc/lamp/1', payload: 'on' });
        expect(await nexo.redis.call('PPUB', 'rc/lamp/1', 'off', 'RETAIN')).toBe(1);
        expect((await inbox.waitFor(3))[2]).toEqual({ pattern: 'rc/lamp/+', topic: 'rc/lamp/1', payload: 'off' });
      } finally {
        sub.disconnect();
      }
    });
  });

  describe('RESTART', () => {
    const nexo = useRestartableNexo('nexo-pubsub-restart-');
    const start = () => nexo.start();

    it('retained values answered before a SIGKILL are delivered after the restart', async () => {
      let client = await start();
      await client.call('PPUB', 'plant/pump/state', 'running', 'RETAIN');
      await client.call('PPUB', 'plant/valve/state', 'open', 'RETAIN');
      await client.call('PPUB', 'plant/valve/state', 'closed', 'RETAIN');
      await client.call('PPUB', 'plant/fan/state', 'on', 'RETAIN');
      await client.call('PPUB', 'plant/fan/state', '', 'RETAIN');
      await nexo.server.kill('SIGKILL');
      client.disconnect();

      client = await start();
      const inbox = new Inbox(client);
      expect(await client.call('PSUB', 'plant/+/state')).toBe(1);
      expect(await inbox.waitFor(2)).toEqual([
        { pattern: 'plant/+/state', topic: 'plant/pump/state', payload: 'running' },
        { pattern: 'plant/+/state', topic: 'plant/valve/state', payload: 'closed' },
      ]);
      client.disconnect();
    });
  });

  describe('SDK SUBSCRIBE', () => {
    it('SUBSCRIBE with + and # wildcards receives JSON payloads with their topics', async () => {
      const pubsub = nexo.sdk.pubsub;
      const temps = new SdkInbox<{ celsius: number }>();
      const office = new SdkInbox<unknown>();
      await pubsub.subscribe('sdk-sub/home/+/temp', temps.handler);
      await pubsub.subscribe('sdk-sub/office/#', office.handler);
      expect(await pubsub.publish('sdk-sub/home/kitchen/temp', { celsius: 21.5 })).toBe(1);
      expect(await pubsub.publish('sdk-sub/office/desk/lamp', ['on', 1, true, null])).toBe(1);
      expect(await pubsub.publish('sdk-sub/office', 'the root level matches #')).toBe(1);
      expect(await pubsub.publish('sdk-sub/home/kitchen/humidity', 40)).toBe(0);
      expect(await temps.waitFor(1)).toEqual([{ payload: { celsius: 21.5 }, topic: 'sdk-sub/home/kitchen/temp' }]);
      expect(await office.waitFor(2)).toEqual([
        { payload: ['on', 1, true, null], topic: 'sdk-sub/office/desk/lamp' },
        { payload: 'the root level matches #', topic: 'sdk-sub/office' },
      ]);
    });

    it('an SDK client connected with protocol: 2 still receives its subscriptions: its subscriber speaks RESP3', async () => {
      const sdk = await nexo.connectSdk({ protocol: 2 });
      const inbox = new SdkInbox<number>();
      expect(await sdk.pubsub.publish('sdk-resp2/retained', 1, { retain: true })).toBe(0);
      await sdk.pubsub.subscribe('sdk-resp2/#', inbox.handler);
      expect(await sdk.pubsub.publish('sdk-resp2/live', 2)).toBe(1);
      expect(await inbox.waitFor(2)).toEqual([
        { payload: 1, topic: 'sdk-resp2/retained' },
        { payload: 2, topic: 'sdk-resp2/live' },
      ]);
    });

    it('SUBSCRIBE resolves after the retained values of the matching topics were handed to the handler', async () => {
      const pubsub = nexo.sdk.pubsub;
      await pubsub.publish('sdk-ret/lamp/b', { on: false }, { retain: true });
      await pubsub.publish('sdk-ret/lamp/a', { on: true }, { retain: true });
      await pubsub.publish('sdk-ret/fan/a', { on: true }, { retain: true });
      const inbox = new SdkInbox<{ on: boolean }>();
      await pubsub.subscribe('sdk-ret/lamp/+', inbox.handler);
      // No waiting: the retained values are there when subscribe resolves, in topic order.
      expect(inbox.messages).toEqual([
        { payload: { on: true }, topic: 'sdk-ret/lamp/a' },
        { payload: { on: false }, topic: 'sdk-ret/lamp/b' },
      ]);
    });

    it('a message matching two subscribed filters reaches the handler of each', async () => {
      const pubsub = nexo.sdk.pubsub;
      const wide = new SdkInbox<number>();
      const narrow = new SdkInbox<number>();
      await pubsub.subscribe('sdk-two/#', wide.handler);
      await pubsub.subscribe('sdk-two/a', narrow.handler);
      expect(await pubsub.publish('sdk-two/a', 7)).toBe(2);
      expect(await wide.waitFor(1)).toEqual([{ payload: 7, topic: 'sdk-two/a' }]);
      expect(await narrow.waitFor(1)).toEqual([{ payload: 7, topic: 'sdk-two/a' }]);
    });

    it('SUBSCRIBE with two handlers on one filter: both get live messages, only the new one gets the retained values', async () => {
      const pubsub = nexo.sdk.pubsub;
      await pubsub.publish('sdk-dup/state', 'retained', { retain: true });
      const first = new SdkInbox<string>();
      const second = new SdkInbox<string>();
      await pubsub.subscribe('sdk-dup/+', first.handler);
      expect(first.messages).toEqual([{ payload: 'retained', topic: 'sdk-dup/state' }]);
      await pubsub.subscribe('sdk-dup/+', second.handler);
      expect(second.messages).toEqual([{ payload: 'retained', topic: 'sdk-dup/state' }]);
      // One server-side subscription for the filter: one delivery, handed to both handlers.
      expect(await pubsub.publish('sdk-dup/state', 'live')).toBe(1);
      expect(await second.waitFor(2)).toEqual([
        { payload: 'retained', topic: 'sdk-dup/state' },
        { payload: 'live', topic: 'sdk-dup/state' },
      ]);
      // Had the first handler got the retained value again, it would have come before the live message.
      expect(await first.waitFor(2)).toEqual([
        { payload: 'retained', topic: 'sdk-dup/state' },
        { payload: 'live', topic: 'sdk-dup/state' },
      ]);
    });

    it('SUBSCRIBE with encoding raw hands all 256 byte values over as a Buffer', async () => {
      const pubsub = nexo.sdk.pubsub;
      const inbox = new SdkInbox<Buffer>();
      await pubsub.subscribe('sdk-raw/bin', inbox.handler, { encoding: 'raw' });
      expect(await pubsub.publish('sdk-raw/bin', ALL_BYTES, { encoding: 'raw' })).toBe(1);
      expect(await pubsub.publish('sdk-raw/bin', { json: true })).toBe(1);
      const [bytes, json] = await inbox.waitFor(2);
      expect(Buffer.isBuffer(bytes.payload)).toBe(true);
      expect(Buffer.compare(bytes.payload, ALL_BYTES)).toBe(0);
      expect(json.payload.toString('utf8')).toBe('{"json":true}');
    });

    it('a message that is not JSON is not delivered to a JSON handler but reported as an error event', async () => {
      const pubsub = nexo.sdk.pubsub;
      const inbox = new SdkInbox<unknown>();
      const { error, stop } = firstError(pubsub);
      try {
        await pubsub.subscribe('sdk-bad/+', inbox.handler);
        expect(await nexo.redis.publish('sdk-bad/text', 'not json {')).toBe(1);
        const err = await withTimeout(error, 'the error event');
        expect(err).toBeInstanceOf(NexoError);
        expect((err as NexoError).code).toBe('SDK');
        expect(err.message).toMatch(/cannot parse a message on 'sdk-bad\/text' as JSON/);
        expect(await pubsub.publish('sdk-bad/text', 'valid')).toBe(1);
        expect(await inbox.waitFor(1)).toEqual([{ payload: 'valid', topic: 'sdk-bad/text' }]);
      } finally {
        stop();
      }
    });

    it('a HANDLER THAT THROWS is reported as an error event and the other handlers of the message still get it', async () => {
      const pubsub = nexo.sdk.pubsub;
      const inbox = new SdkInbox<unknown>();
      const { error, stop } = firstError(pubsub);
      try {
        const offThrowing = await pubsub.subscribe('sdk-throw/+', () => {
          throw new Error('handler bug');
        });
        const offInbox = await pubsub.subscribe('sdk-throw/+', inbox.handler);
        expect(await pubsub.publish('sdk-throw/a', 1)).toBe(1);
        expect((await withTimeout(error, 'the error event')).message).toBe('handler bug');
        expect(await inbox.waitFor(1)).toEqual([{ payload: 1, topic: 'sdk-throw/a' }]);
        await offThrowing();
        await offInbox();
      } finally {
        stop();
      }
    });

    it('SUBSCRIBE to an invalid filter rejects with a NexoError ERR and subscribes nothing', async () => {
      const pubsub = nexo.sdk.pubsub;
      const inbox = new SdkInbox<unknown>();
      for (const filter of ['sdk-inv/#/b', 'sdk-inv/a+']) {
        const err = await nexoErrorOf(pubsub.subscribe(filter, inbox.handler));
        expect(err.code).toBe('ERR');
        expect(err.command).toBe('PSUB');
        expect(err.message).toMatch(/^ERR invalid topic filter/);
      }
      // Refused again: the SDK did not remember the filter as subscribed.
      expect((await nexoErrorOf(pubsub.subscribe('sdk-inv/#/b', inbox.handler))).code).toBe('ERR');
      // The subscriber connection still works.
      await pubsub.subscribe('sdk-inv/ok', inbox.handler);
      expect(await pubsub.publish('sdk-inv/ok', 1)).toBe(1);
      expect(await inbox.waitFor(1)).toEqual([{ payload: 1, topic: 'sdk-inv/ok' }]);
    });

    it('two SUBSCRIBE calls at once on a new filter: each handler gets the retained value once, then live messages', async () => {
      const pubsub = nexo.sdk.pubsub;
      await pubsub.publish('sdk-twice/a', 'retained', { retain: true });
      const first = new SdkInbox<string>();
      const second = new SdkInbox<string>();
      await Promise.all([pubsub.subscribe('sdk-twice/+', first.handler), pubsub.subscribe('sdk-twice/+', second.handler)]);
      expect(first.messages).toEqual([{ payload: 'retained', topic: 'sdk-twice/a' }]);
      expect(second.messages).toEqual([{ payload: 'retained', topic: 'sdk-twice/a' }]);
      expect(await pubsub.publish('sdk-twice/a', 'live')).toBe(1);
      for (const inbox of [first, second]) {
        expect(await inbox.waitFor(2)).toEqual([
          { payload: 'retained', topic: 'sdk-twice/a' },
          { payload: 'live', topic: 'sdk-twice/a' },
        ]);
      }
    });
  });

  describe('SDK UNSUBSCRIBE', () => {
    it('UNSUBSCRIBE stops delivery, and calling it again does nothing', async () => {
      const pubsub = nexo.sdk.pubsub;
      const inbox = new SdkInbox<number>();
      const off = await pubsub.subscribe('sdk-unsub/a', inbox.handler);
      expect(await pubsub.publish('sdk-unsub/a', 1)).toBe(1);
      await inbox.waitFor(1);
      await off();
      expect(await pubsub.publish('sdk-unsub/a', 2)).toBe(0);
      await expect(off()).resolves.toBeUndefined();
      // A sentinel on another filter of the same connection arrives after anything still in flight.
      const sentinel = new SdkInbox<string>();
      await pubsub.subscribe('sdk-unsub/sentinel', sentinel.handler);
      await pubsub.publish('sdk-unsub/sentinel', 'end');
      await sentinel.waitFor(1);
      expect(inbox.messages).toEqual([{ payload: 1, topic: 'sdk-unsub/a' }]);
    });

    it('UNSUBSCRIBE of one of two handlers of a filter keeps the other receiving', async () => {
      const pubsub = nexo.sdk.pubsub;
      const kept = new SdkInbox<string>();
      const dropped = new SdkInbox<string>();
      await pubsub.subscribe('sdk-unsub2/+', kept.handler);
      const off = await pubsub.subscribe('sdk-unsub2/+', dropped.handler);
      await off();
      await off();
      expect(await pubsub.publish('sdk-unsub2/x', 'after')).toBe(1);
      expect(await kept.waitFor(1)).toEqual([{ payload: 'after', topic: 'sdk-unsub2/x' }]);
      expect(dropped.messages).toEqual([]);
    });
  });

  describe('SDK PUBLISH', () => {
    it('PUBLISH returns how many subscriptions received the message', async () => {
      const other = await nexo.connectSdk();
      const sub = await nexo.connect();
      try {
        await nexo.sdk.pubsub.subscribe('sdk-count/#', () => undefined);
        await other.pubsub.subscribe('sdk-count/+', () => undefined);
        await sub.call('PSUB', 'sdk-count/x');
        expect(await nexo.sdk.pubsub.publish('sdk-count/x', 1)).toBe(3);
        expect(await nexo.sdk.pubsub.publish('sdk-count/y', 1)).toBe(2);
        expect(await nexo.sdk.pubsub.publish('sdk-count/y/z', 1)).toBe(1);
        expect(await nexo.sdk.pubsub.publish('sdk-nobody', 1)).toBe(0);
      } finally {
        await other.close();
        sub.disconnect();
      }
    });

    it('PUBLISH with retain keeps the last value; RETAINED lists it with its age; CLEARRETAINED deletes by filter', async () => {
      const pubsub = nexo.sdk.pubsub;
      await pubsub.publish('sdk-keep/1/status', { up: false }, { retain: true });
      await pubsub.publish('sdk-keep/1/status', { up: true }, { retain: true });
      await pubsub.publish('sdk-keep/2/status', { up: true }, { retain: true });
      await pubsub.publish('sdk-keep/1/temp', 7, { retain: true });
      // A publish without retain leaves the retained value alone.
      await pubsub.publish('sdk-keep/2/status', { up: false });
      const listed = await pubsub.retained<{ up: boolean }>('sdk-keep/+/status');
      expect(listed.map(({ topic, payload }) => ({ topic, payload }))).toEqual([
        { topic: 'sdk-keep/1/status', payload: { up: true } },
        { topic: 'sdk-keep/2/status', payload: { up: true } },
      ]);
      for (const { age } of listed) {
        expect(typeof age).toBe('number');
        expect(age).toBeGreaterThanOrEqual(0);
      }
      const raw = await pubsub.retained('sdk-keep/1/temp', { encoding: 'raw' });
      expect(raw.map(({ topic, payload }) => [topic, payload])).toEqual([['sdk-keep/1/temp', Buffer.from('7')]]);
      expect(await pubsub.clearRetained('sdk-keep/+/status')).toBe(2);
      expect((await pubsub.retained('sdk-keep/#')).map(({ topic, payload }) => [topic, payload])).toEqual([
        ['sdk-keep/1/temp', 7],
      ]);
      expect(await pubsub.clearRetained('sdk-keep/#')).toBe(1);
      expect(await pubsub.retained('sdk-keep/#')).toEqual([]);
      expect(await pubsub.clearRetained('sdk-keep/#')).toBe(0);
    });

    it('PUBLISH of an empty raw payload with retain clears the retained value', async () => {
      const pubsub = nexo.sdk.pubsub;
      await pubsub.publish('sdk-clear/a', 'value', { retain: true });
      await pubsub.publish('sdk-clear/a', '', { retain: true, encoding: 'raw' });
      expect(await pubsub.retained('sdk-clear/#')).toEqual([]);
    });

    it('RETAINED of a value that is NOT JSON rejects with a NexoError SDK naming its topic; raw encoding lists it', async () => {
      const pubsub = nexo.sdk.pubsub;
      await pubsub.publish('sdk-retained-text/a', 'not json {', { retain: true, encoding: 'raw' });
      const err = await nexoErrorOf(pubsub.retained('sdk-retained-text/#'));
      expect(err.code).toBe('SDK');
      expect(err.message).toMatch(/cannot parse the retained value of 'sdk-retained-text\/a' as JSON/);
      const raw = await pubsub.retained('sdk-retained-text/#', { encoding: 'raw' });
      expect(raw.map(({ topic, payload }) => [topic, payload.toString()])).toEqual([['sdk-retained-text/a', 'not json {']]);
    });

    it('PUBLISH on a topic with a wildcard rejects with a NexoError ERR', async () => {
      const err = await nexoErrorOf(nexo.sdk.pubsub.publish('sdk-bad/+', 1));
      expect(err.code).toBe('ERR');
      expect(err.command).toBe('PPUB');
    });

    it('many concurrent PUBLISHERS: every message is delivered once, each publisher in its order', async () => {
      const publishers = await Promise.all(Array.from({ length: RACE_PUBLISHERS }, () => nexo.connectSdk()));
      try {
        const inbox = new SdkInbox<{ publisher: number; seq: number } | 'end'>();
        await nexo.sdk.pubsub.subscribe('sdk-race/+', inbox.handler);
        await Promise.all(
          publishers.map(async (client, publisher) => {
            for (let seq = 0; seq < RACE_MESSAGES_PER_PUBLISHER; seq++) {
              expect(await client.pubsub.publish(`sdk-race/${publisher}`, { publisher, seq })).toBe(1);
            }
          }),
        );
        const total = RACE_PUBLISHERS * RACE_MESSAGES_PER_PUBLISHER;
        // Every message was answered before the sentinel was published, so a duplicate would come before it.
        await nexo.sdk.pubsub.publish('sdk-race/end', 'end');
        const received = await inbox.waitFor(total + 1);
        expect(received[total]).toEqual({ payload: 'end', topic: 'sdk-race/end' });
        expect(inbox.messages).toHaveLength(total + 1);
        for (let publisher = 0; publisher < RACE_PUBLISHERS; publisher++) {
          const own = received.filter((m) => m.topic === `sdk-race/${publisher}`).map((m) => m.payload);
          expect(own).toEqual(Array.from({ length: RACE_MESSAGES_PER_PUBLISHER }, (_, seq) => ({ publisher, seq })));
        }
      } finally {
        await Promise.all(publishers.map((client) => client.close()));
      }
    });
  });

  describe('SDK RECONNECT', () => {
    it('after CLIENT KILL of the SDK subscriber connection the subscriptions come back: retained values again, then live messages', async () => {
      const client = await nexo.connectSdk();
      try {
        await client.pubsub.publish('sdk-rc/lamp/1', 'on', { retain: true });
        const before = await subscriberIds();
        const inbox = new SdkInbox<string>();
        await client.pubsub.subscribe('sdk-rc/lamp/+', inbox.handler);
        expect(inbox.messages).toEqual([{ payload: 'on', topic: 'sdk-rc/lamp/1' }]);
        const added = (await subscriberIds()).filter((id) => !before.includes(id));
        expect(added).toHaveLength(1);
        expect(await nexo.redis.client('KILL', 'ID', added[0])).toBe(1);
        // The resubscription delivers the retained value again: that is the sign it is back.
        expect((await inbox.waitFor(2))[1]).toEqual({ payload: 'on', topic: 'sdk-rc/lamp/1' });
        expect(await nexo.sdk.pubsub.publish('sdk-rc/lamp/1', 'off')).toBe(1);
        expect((await inbox.waitFor(3))[2]).toEqual({ payload: 'off', topic: 'sdk-rc/lamp/1' });
        const after = (await subscriberIds()).filter((id) => !before.includes(id));
        expect(after).toHaveLength(1);
        expect(after[0]).not.toBe(added[0]);
      } finally {
        await client.close();
      }
    });
  });

  describe('KEYSPACE NOTIFICATIONS', () => {
    const notifying = useNexo({ args: ['--notify-keyspace-events', 'Ex'] });

    it('a key that expires is announced on __keyevent@0__:expired, as Redis does', async () => {
      const subscriber = await notifying.connect();
      const expired = once(subscriber, 'message');
      await subscriber.subscribe('__keyevent@0__:expired');
      await notifying.redis.set('ks:session', 'v', 'PX', KEY_TTL_MS);
      const [channel, key] = await expired;
      expect([channel, key]).toEqual(['__keyevent@0__:expired', 'ks:session']);
    });
  });

  describe('SDK RESTART', () => {
    const restartable = useRestartableNexo('nexo-sdk-pubsub-restart-');

    it('after a SIGKILL and a restart on the same port, an SDK subscriber gets retained values and live messages again by itself', async () => {
      let client = await restartable.start();
      try {
        const sdk = await restartable.connectSdk();
        await sdk.pubsub.publish('sdk-restart/pump', { running: true }, { retain: true });
        const inbox = new SdkInbox<{ running: boolean }>(RESTART_TIMEOUT_MS);
        await sdk.pubsub.subscribe('sdk-restart/+', inbox.handler);
        expect(inbox.messages).toEqual([{ payload: { running: true }, topic: 'sdk-restart/pump' }]);
        await restartable.server.kill('SIGKILL');
        client.disconnect();
        client = await restartable.start();
        // The retained value survived the kill; the subscriber's resubscription delivers it again.
        expect((await inbox.waitFor(2))[1]).toEqual({ payload: { running: true }, topic: 'sdk-restart/pump' });
        // The shared connection comes back too: the publish waits for its reconnection.
        expect(await sdk.pubsub.publish('sdk-restart/pump', { running: false })).toBe(1);
        expect((await inbox.waitFor(3))[2]).toEqual({ payload: { running: false }, topic: 'sdk-restart/pump' });
      } finally {
        client.disconnect();
      }
    });
  });
});
