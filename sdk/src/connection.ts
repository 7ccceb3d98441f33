// The one place the SDK touches ioredis: every command goes through a
// Connection, and every dedicated connection (queue workers, stream
// consumers, the pub/sub subscriber) is opened by a Connector.
import { Redis, type RedisOptions } from 'ioredis';
import { toNexoError } from './errors.js';
import type { PubSub } from './pubsub.js';

/** An argument of a command. */
export type Arg = string | Buffer | number;

/** The URL used when Nexo.connect gets none and NEXO_URL is not set. */
export const DEFAULT_URL = 'redis://127.0.0.1:6379';
/** The environment variable Nexo.connect reads when it gets no URL. */
export const URL_ENV = 'NEXO_URL';
/** Prefix of the names dedicated connections give themselves (CLIENT SETNAME). */
const CONNECTION_NAME_PREFIX = 'nexo-sdk';

/** ioredis's default wait before each reconnection attempt. */
function defaultRetryDelay(attempt: number): number {
  return Math.min(attempt * RETRY_STEP_MS, MAX_RETRY_DELAY_MS);
}
/** Steps and bound of defaultRetryDelay, ioredis's own. */
const RETRY_STEP_MS = 50;
const MAX_RETRY_DELAY_MS = 2_000;

/** One ioredis connection with NEXO's error mapping. */
export class Connection {
  /** Set by abandonOnLoss: the connection does not reconnect once lost. */
  abandoned = false;

  constructor(readonly redis: Redis) {}

  /** Sends a command; bulk strings come back as Buffers, errors as NexoError. */
  call(command: string, ...args: Arg[]): Promise<unknown> {
    // Every SDK call goes through here: one rejection handler, no extra async frame.
    return this.redis.callBuffer(command, ...args).catch((err: unknown) => {
      throw toNexoError(err, command);
    });
  }

  /** Sends a command and returns its bulk-string reply as text. */
  async text(command: string, ...args: Arg[]): Promise<string> {
    const reply = await this.call(command, ...args);
    return Buffer.isBuffer(reply) ? reply.toString('utf8') : String(reply);
  }

  /**
   * Connects if needed and waits until the connection is ready (connected
   * and authenticated); rejects with the first error on the way (refused
   * connection, NOAUTH, WRONGPASS), ioredis going on retrying behind it.
   */
  async ready(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: unknown): void => {
        this.redis.off('ready', onReady);
        this.redis.off('error', onError);
        this.redis.off('end', onEnd);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onReady = (): void => settle();
      const onError = (err: Error): void => settle(connectError(err, this.redis.options));
      const onEnd = (): void => settle(new Error('the connection closed before it was ready'));
      this.redis.on('ready', onReady);
      this.redis.on('error', onError);
      this.redis.on('end', onEnd);
      // connect() rejects with a generic message; the 'error' event carries the cause.
      if (this.redis.status === 'wait') this.redis.connect().catch(() => undefined);
    });
  }

  /**
   * Makes the connection stop reconnecting, and resolves once it has ended:
   * at once when it never connected, when its next reconnection attempt
   * fails while the server is out of reach, or when it is lost later. The
   * commands waiting for a reconnection then fail instead of waiting until
   * the server is back, which a client that closes must not do. A
   * connection that reconnects in time goes on serving until it is closed.
   */
  abandonOnLoss(): Promise<void> {
    this.abandoned = true;
    return new Promise<void>((resolve) => {
      switch (this.redis.status) {
        case 'end':
          resolve();
          return;
        case 'wait':
          this.redis.disconnect();
          resolve();
          return;
        default:
          this.redis.once('end', () => resolve());
      }
    });
  }

  /**
   * Closes gracefully (QUIT) and resolves once the socket is closed. A
   * connection that is not connected stops reconnecting and ends once its
   * next attempt fails, failing the commands that wait for it (see
   * abandonOnLoss); one whose attempt succeeds meanwhile is closed as a
   * connected one.
   */
  async close(): Promise<void> {
    if (this.redis.status === 'end') return;
    if (this.redis.status !== 'ready') {
      let onReady!: () => void;
      const reconnected = new Promise<boolean>((resolve) => {
        onReady = () => resolve(true);
        this.redis.once('ready', onReady);
      });
      const back = await Promise.race([this.abandonOnLoss().then(() => false), reconnected]);
      this.redis.off('ready', onReady);
      if (!back) return;
    }
    const ended = new Promise<void>((resolve) => this.redis.once('end', () => resolve()));
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
    await ended;
  }
}

/** Socket errors that mean nothing answers at the address. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT']);

/** The error a failed connect rejects with: the server's (NOAUTH…) as a NexoError, an unreachable server with what to check. */
function connectError(err: Error, options: RedisOptions): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined || !UNREACHABLE_CODES.has(code)) return toNexoError(err);
  const where = `${options.host ?? 'localhost'}:${options.port ?? ''}`;
  const hint = `cannot reach NEXO at ${where} (${code}): is the server running (nexo, or make run), and is the URL right?`;
  return Object.assign(new Error(hint, { cause: err }), { code });
}

/** Opens connections to one server with one set of options. */
export class Connector {
  private readonly options: RedisOptions;

  constructor(url: string, options: RedisOptions) {
    // ioredis parses the URL; explicit options win over it, except the reply
    // shapes: the SDK reads RESP3 maps as the flat arrays of ioredis's
    // 'legacy' mapping (reply.ts).
    this.options = { ...parseUrl(url), ...options, replyMapping: 'legacy' };
  }

  /** The shared connection: ioredis defaults, commands fail after ioredis's retries while the server is down. */
  shared(): Connection {
    return this.open({ ...this.options, lazyConnect: true });
  }

  /**
   * A connection of its own for a long-lived consumer (worker, group
   * consumer, subscriber): named `nexo-sdk:<role>` in CLIENT LIST, it
   * reconnects forever and its commands wait for the reconnection instead of
   * failing.
   */
  dedicated(role: string, extra: RedisOptions = {}): Connection {
    return this.open({
      ...this.options,
      connectionName: `${CONNECTION_NAME_PREFIX}:${role}`,
      maxRetriesPerRequest: null,
      lazyConnect: true,
      ...extra,
    });
  }

  /** A connection with options whose reconnections end once it is abandoned (Connection.abandonOnLoss). */
  private open(options: RedisOptions): Connection {
    const retry = options.retryStrategy ?? defaultRetryDelay;
    const connection: Connection = new Connection(
      // null ends the connection instead of reconnecting.
      new Redis({ ...options, retryStrategy: (attempt) => (connection.abandoned ? null : retry(attempt)) }),
    );
    return connection;
  }
}

/** The options ioredis derives from a redis:// URL. */
function parseUrl(url: string): RedisOptions {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`NEXO URLs start with redis:// (or rediss://), got '${url}'`);
  }
  const options: RedisOptions = { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || undefined };
  if (parsed.port) options.port = Number(parsed.port);
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

/** A worker or consumer that Nexo.close() stops. */
export interface Runner {
  close(): Promise<void>;
}

/** What every broker handle shares: the shared connection, the connector for dedicated ones, and the running workers. */
export interface Context {
  readonly conn: Connection;
  readonly connector: Connector;
  readonly pubsub: PubSub;
  readonly runners: Set<Runner>;
}
