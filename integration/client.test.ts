// CLIENT end to end: the SDK's entry point against the real binary —
// connecting (URL, NEXO_URL, password), sending raw commands, and closing
// everything a client started. The brokers' handles have their own files.
import { Nexo, NexoError } from '@nexo/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { useNexo, useRestartableNexo } from './nexo.js';
import { deferred, SDK_IDLE_BLOCK_MS, settle } from './helpers.js';

/** The password of the server with authentication. */
const PASSWORD = 's3cret';
/** The environment variable Nexo.connect reads when it gets no URL. */
const URL_ENV = 'NEXO_URL';

/** The rejection of a promise that must fail. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

const nexo = useNexo();

describe('CLIENT', () => {
  describe('CONNECT', () => {
    const savedUrl = process.env[URL_ENV];
    afterEach(() => {
      if (savedUrl === undefined) delete process.env[URL_ENV];
      else process.env[URL_ENV] = savedUrl;
    });

    it('Nexo.connect(url) resolves with a ready client', async () => {
      const client = await Nexo.connect(nexo.server.url);
      try {
        expect(nexo.sdk.redis.status).toBe('ready');
        expect(client.redis.status).toBe('ready');
        await client.store.set('client:url', 1);
        expect(await nexo.sdk.store.get('client:url')).toBe(1);
      } finally {
        await client.close();
      }
      expect(client.redis.status).toBe('end');
    });

    it('Nexo.connect() without a URL reads NEXO_URL', async () => {
      process.env[URL_ENV] = nexo.server.url;
      const client = await Nexo.connect();
      try {
        expect((await client.command('PING') as Buffer).toString()).toBe('PONG');
      } finally {
        await client.close();
      }
    });

    it("ioredis's replyMapping 'resp3' does not change what the SDK returns: it reads the 'legacy' shapes", async () => {
      const sdk = await nexo.connectSdk({ replyMapping: 'resp3' });
      const queue = sdk.queue<string>('client:reply-mapping');
      await queue.push('job');
      expect(await queue.counts()).toMatchObject({ ready: 1, delayed: 0, inflight: 0, dead: 0 });
    });

    it('a URL that is not redis:// is refused with what to write instead', async () => {
      await expect(Nexo.connect('http://127.0.0.1:6379')).rejects.toThrow(/redis:\/\//);
    });

    it('a server nobody listens on rejects connect() at once, saying what to check', async () => {
      const err = (await rejectionOf(Nexo.connect(useless()))) as Error & { code?: string };
      expect(err.code).toBe('ECONNREFUSED');
      expect(err.message).toBe('cannot reach NEXO at 127.0.0.1:1 (ECONNREFUSED): is the server running (nexo, or make run), and is the URL right?');
    });
  });

  describe('PASSWORD', () => {
    const secured = useNexo({ password: PASSWORD });

    it('a password in the URL authenticates', async () => {
      const url = secured.server.url.replace('redis://', `redis://:${PASSWORD}@`);
      const client = await Nexo.connect(url);
      try {
        expect(await client.store.incr('client:auth')).toBe(1);
      } finally {
        await client.close();
      }
    });

    it('without the password connect() rejects with NexoError NOAUTH that says where the password goes', async () => {
      const err = (await rejectionOf(Nexo.connect(secured.server.url, { retryStrategy: () => null }))) as NexoError;
      expect(err).toBeInstanceOf(NexoError);
      expect(err.code).toBe('NOAUTH');
      expect(err.message).toContain('redis://:PASSWORD@host:port');
    });

    it('a wrong password rejects connect() with NexoError WRONGPASS', async () => {
      const url = secured.server.url.replace('redis://', 'redis://:wrong@');
      const err = (await rejectionOf(Nexo.connect(url, { retryStrategy: () => null }))) as NexoError;
      expect(err).toBeInstanceOf(NexoError);
      expect(err.code).toBe('WRONGPASS');
    });
  });

  describe('COMMAND', () => {
    it('command() sends what the SDK does not wrap and returns bulk strings as Buffers', async () => {
      await nexo.sdk.command('SET', 'client:raw', 'v');
      expect(await nexo.sdk.command('GET', 'client:raw')).toEqual(Buffer.from('v'));
      expect(await nexo.sdk.command('STRLEN', 'client:raw')).toBe(1);
    });

    it('a server error from command() is a NexoError with the code and command', async () => {
      const err = (await rejectionOf(nexo.sdk.command('NOSUCHCOMMAND'))) as NexoError;
      expect(err).toBeInstanceOf(NexoError);
      expect([err.code, err.command]).toEqual(['ERR', 'NOSUCHCOMMAND']);
      expect(err.message).toContain("unknown command 'NOSUCHCOMMAND'");
    });
  });

  describe('CLOSE', () => {
    it('close() stops the workers and consumers the client started and closes every connection', async () => {
      const client = await nexo.connectSdk();
      const queue = client.queue('client:close');
      client.queue('client:close').process(async () => undefined);
      client.stream('client:close').consume({ group: 'g', member: 'm' }, async () => undefined);
      await client.pubsub.subscribe('client/close', () => undefined);
      await settle(async () => (await queue.info()).consumersWaiting === 1);
      await settle(async () => (await nexo.sdk.stream('client:close').groupInfo('g').catch(() => undefined))?.members.length === 1);

      const begin = Date.now();
      await client.close();
      expect(Date.now() - begin).toBeLessThan(SDK_IDLE_BLOCK_MS);
      expect((await nexo.sdk.queue('client:close').info()).consumersWaiting).toBe(0);
      expect((await nexo.sdk.stream('client:close').groupInfo('g')).members).toEqual([]);
      const names = String(await nexo.redis.client('LIST'))
        .split('\n')
        .map((line) => / name=(\S*)/.exec(line)?.[1])
        .filter((name) => name?.startsWith('nexo-sdk:'));
      expect(names).toEqual([]);
      expect(await nexo.sdk.pubsub.publish('client/close', 1)).toBe(0);
    });

    it('close() twice is harmless', async () => {
      const client = await nexo.connectSdk();
      await client.close();
      await client.close();
    });
  });

  describe('CLOSE WHILE THE SERVER IS DOWN', () => {
    const restartable = useRestartableNexo('nexo-client-close-down-');

    it('close() of a worker with a job running and of an idle consumer returns without waiting for the server to come back', async () => {
      const probe = await restartable.start();
      const client = await restartable.connectSdk();
      const queue = client.queue<string>('client:down');
      const running = deferred();
      const release = deferred();
      client.queue<string>('client:down').process(async () => {
        running.resolve();
        await release.promise;
      });
      client.stream('client:down').consume({ group: 'g', member: 'm' }, async () => undefined);
      await queue.push('job');
      await running.promise;
      await settle(async () => String(await probe.info('clients')).includes('\r\nblocked_clients:1\r\n'));
      probe.disconnect();
      await restartable.server.kill('SIGKILL');
      release.resolve();
      const begin = Date.now();
      await client.close();
      expect(Date.now() - begin).toBeLessThan(SDK_IDLE_BLOCK_MS);
    });

    it('close() fails the commands still waiting on the shared connection instead of leaving them pending', async () => {
      const probe = await restartable.start();
      probe.disconnect();
      const client = await restartable.connectSdk();
      client.redis.on('error', () => undefined);
      await restartable.server.kill('SIGKILL');
      await settle(async () => client.redis.status === 'reconnecting');
      const waiting = rejectionOf(client.store.get('client:down'));
      await client.close();
      expect(String(await waiting)).toMatch(/Connection is closed/);
    });
  });
});

/** A redis:// URL of a port nothing listens on (port 1 is reserved, tcpmux, and never served here). */
function useless(): string {
  return 'redis://127.0.0.1:1';
}
