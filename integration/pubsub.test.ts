// PUBSUB end to end: the real binary driven by ioredis 6. On its defaults
// (RESP3 via HELLO 3) ioredis receives NEXO's topic-filter messages (PSUB)
// as `pmessage` events on a connection that still runs any command; with
// protocol: 2 it uses Redis's SUBSCRIBE and PSUBSCRIBE, which share the
// topic namespace with PPUB.
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNexo, useRestartableNexo } from './nexo.js';

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

/** The message of the error a promise rejects with. */
async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the command to fail, but it succeeded');
}

const nexo = useNexo();

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
});
