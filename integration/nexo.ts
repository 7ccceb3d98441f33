// The shared client helper of the suite.
//
// Rules: each test file (or a describe block that needs a differently
// configured server) calls useNexo() once. It starts its own server in
// beforeAll and connects ONE shared ioredis client on ioredis's defaults
// (RESP3 via HELLO 3); afterAll closes every client and stops the server.
// A test opens a second client with connect() only when it needs two
// (or a client with other options, e.g. protocol: 2).
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startServer, type NexoServer, type StartOptions } from './server.js';

export interface NexoSuite {
  /** The server of this scope; set from beforeAll on. */
  readonly server: NexoServer;
  /** The one shared client, on ioredis's default options. */
  readonly redis: Redis;
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
  const clients: Redis[] = [];

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

  beforeAll(async () => {
    server = await startServer(opts);
    shared = await connect();
  });

  afterAll(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    shared = undefined;
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
    connect,
    clientOptions,
  };
}
