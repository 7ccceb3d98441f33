// The shared client helper of the suite.
//
// Rules: each test file (or a describe block that needs a differently
// configured server) calls useNexo() once. It starts its own server in
// beforeAll and connects ONE shared ioredis client on ioredis's defaults
// (RESP3 via HELLO 3) and ONE shared SDK client (@nexo/sdk); afterAll closes
// every client and stops the server. A test opens a second client with
// connect() or connectSdk() only when it needs two (or a client with other
// options, e.g. protocol: 2).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Nexo } from '@nexo/sdk';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startServer, type NexoServer, type StartOptions } from './server.js';

export interface NexoSuite {
  /** The server of this scope; set from beforeAll on. */
  readonly server: NexoServer;
  /** The one shared client, on ioredis's default options. */
  readonly redis: Redis;
  /** The one shared SDK client. */
  readonly sdk: Nexo;
  /** Opens a further SDK client to the same server; it is closed in afterAll. */
  connectSdk(options?: RedisOptions): Promise<Nexo>;
  /**
   * Opens a further client to the same server and waits until it is ready.
   * It authenticates with the server's password unless options say otherwise,
   * and it is closed in afterAll.
   */
  connect(options?: RedisOptions): Promise<Redis>;
  /** Options that reach this scope's server, for clients a test manages itself. */
  clientOptions(options?: RedisOptions): RedisOptions;
}

/** Registers beforeAll/afterAll in the current scope and returns accessors. */
export function useNexo(opts: StartOptions = {}): NexoSuite {
  let server: NexoServer | undefined;
  let shared: Redis | undefined;
  let sharedSdk: Nexo | undefined;
  const clients: Redis[] = [];
  const sdkClients: Nexo[] = [];

  const clientOptions = (options: RedisOptions = {}): RedisOptions => {
    if (!server) throw new Error('useNexo: the server is not started yet (use it inside a test or hook)');
    return { host: server.host, port: server.port, password: opts.password, ...options };
  };

  const connect = async (options: RedisOptions = {}): Promise<Redis> => {
    const client = new Redis(clientOptions({ ...options, lazyConnect: true }));
    clients.push(client);
    await client.connect();
    return client;
  };

  const connectSdk = async (options: RedisOptions = {}): Promise<Nexo> => {
    if (!server) throw new Error('useNexo: the server is not started yet (use it inside a test or hook)');
    const client = await Nexo.connect(server.url, { password: opts.password, ...options });
    sdkClients.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startServer(opts);
    shared = await connect();
    sharedSdk = await connectSdk();
  });

  afterAll(async () => {
    await Promise.all(sdkClients.splice(0).map((client) => client.close()));
    for (const client of clients.splice(0)) client.disconnect();
    shared = undefined;
    sharedSdk = undefined;
    const stopping = server;
    server = undefined;
    await stopping?.stop();
  });

  return {
    get server(): NexoServer {
      if (!server) throw new Error('useNexo: the server is not started yet (use it inside a test or hook)');
      return server;
    },
    get redis(): Redis {
      if (!shared) throw new Error('useNexo: the shared client is not connected yet (use it inside a test or hook)');
      return shared;
    },
    get sdk(): Nexo {
      if (!sharedSdk) throw new Error('useNexo: the shared SDK client is not connected yet (use it inside a test or hook)');
      return sharedSdk;
    },
    connect,
    connectSdk,
    clientOptions,
  };
}

export interface RestartableNexo {
  /** The server start() last started. */
  readonly server: NexoServer;
  /**
   * (Re)starts the server on the scope's data directory, on the port of the
   * first start, after stopping one still running; returns a client that does
   * not reconnect.
   */
  start(): Promise<Redis>;
  /** An SDK client of the server start() started, which reconnects across restarts on the same port; closed in afterAll. */
  connectSdk(): Promise<Nexo>;
}

/**
 * For tests that stop or kill the server under a client and start it again on
 * the same data: registers a data directory for the current scope, and
 * afterAll stops the last server and removes the directory.
 */
export function useRestartableNexo(prefix: string): RestartableNexo {
  let dataDir: string | undefined;
  let server: NexoServer | undefined;
  const sdkClients: Nexo[] = [];
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await Promise.all(sdkClients.splice(0).map((client) => client.close()));
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });
  return {
    get server(): NexoServer {
      if (!server) throw new Error('useRestartableNexo: start() has not run yet');
      return server;
    },
    async start(): Promise<Redis> {
      // A server an earlier test left running stops first (a no-op when it was killed or stopped).
      await server?.kill('SIGTERM');
      // Later flags win: a restart takes the port of the first server, so clients reconnect to it.
      server = await startServer({ dataDir, args: server ? ['--port', String(server.port)] : [] });
      // No reconnection: the test stops or kills the server under the client.
      const client = new Redis({ host: server.host, port: server.port, lazyConnect: true, retryStrategy: () => null });
      await client.connect();
      return client;
    },
    async connectSdk(): Promise<Nexo> {
      if (!server) throw new Error('useRestartableNexo: start() has not run yet');
      const client = await Nexo.connect(server.url);
      sdkClients.push(client);
      return client;
    },
  };
}
