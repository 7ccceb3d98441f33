// The entry point: one Nexo per server, one handle per broker.
import type { RedisOptions } from 'ioredis';
import { codecFor, type EncodingOptions } from './codec.js';
import { Connector, DEFAULT_URL, URL_ENV, type Connection, type Context } from './connection.js';
import { PubSub } from './pubsub.js';
import { Queue } from './queue.js';
import { Store } from './store.js';
import { Stream } from './stream.js';

/**
 * Options of Nexo.connect: any ioredis option (they win over the URL).
 * `replyMapping` is always 'legacy', the shapes the SDK reads, and the
 * pub/sub subscriber always speaks RESP3, which PSUB needs.
 */
export type ConnectOptions = RedisOptions;

/**
 * A connection to a NEXO server and the handles of its four brokers.
 * @example
 * const nexo = await Nexo.connect('redis://localhost:6379')
 * await nexo.store.set('greeting', { hello: 'world' }, { ttl: 60_000 })
 * await nexo.queue('emails').push({ to: 'a@example.com' })
 * await nexo.close()
 */
export class Nexo {
  /** The key-value cache (JSON values; `nexo.store.raw` for Buffers). */
  readonly store: Store;
  /** Topics, wildcard subscriptions and retained values. */
  readonly pubsub: PubSub;

  private readonly ctx: Context;

  private constructor(conn: Connection, connector: Connector) {
    this.pubsub = new PubSub(conn, connector);
    this.ctx = { conn, connector, pubsub: this.pubsub, runners: new Set() };
    this.store = new Store(conn, codecFor('json'));
  }

  /**
   * Connects to a server and resolves once it answers. The URL defaults to
   * the NEXO_URL environment variable, then redis://127.0.0.1:6379; a password
   * goes in the URL (redis://:secret@host:6379).
   */
  static async connect(url?: string, options: ConnectOptions = {}): Promise<Nexo> {
    const connector = new Connector(url ?? process.env[URL_ENV] ?? DEFAULT_URL, options);
    const conn = connector.shared();
    const nexo = new Nexo(conn, connector);
    try {
      await conn.ready();
    } catch (err) {
      conn.redis.disconnect();
      throw err;
    }
    return nexo;
  }

  /**
   * A job queue (created on first use). Payloads are JSON of type T, or
   * Buffers with `{ encoding: 'raw' }`.
   */
  queue<T = unknown>(name: string, options?: { encoding?: 'json' }): Queue<T>;
  /** A job queue whose payloads are Buffers (strings accepted when pushing). */
  queue(name: string, options: { encoding: 'raw' }): Queue<Buffer, Buffer | string>;
  queue<T>(name: string, options: EncodingOptions = {}): Queue<T> {
    return new Queue<T>(this.ctx, name, codecFor<T>(options.encoding));
  }

  /**
   * A stream (created on first append or consume). Payloads are JSON of
   * type T, or Buffers with `{ encoding: 'raw' }`.
   */
  stream<T = unknown>(name: string, options?: { encoding?: 'json' }): Stream<T>;
  /** A stream whose payloads are Buffers (strings accepted when appending). */
  stream(name: string, options: { encoding: 'raw' }): Stream<Buffer, Buffer | string>;
  stream<T>(name: string, options: EncodingOptions = {}): Stream<T> {
    return new Stream<T>(this.ctx, name, codecFor<T>(options.encoding));
  }

  /** Sends any command, for what the SDK does not wrap; bulk strings come back as Buffers. */
  command(name: string, ...args: (string | Buffer | number)[]): Promise<unknown> {
    return this.ctx.conn.call(name, ...args);
  }

  /** The underlying ioredis client of the shared connection, for events and options. */
  get redis(): Connection['redis'] {
    return this.ctx.conn.redis;
  }

  /**
   * Closes gracefully: stops every worker and consumer started from this
   * client (waiting for their running handlers), the subscriber connection,
   * then the shared connection.
   */
  async close(): Promise<void> {
    await Promise.all([...this.ctx.runners].map((runner) => runner.close()));
    await this.pubsub.close();
    await this.ctx.conn.close();
  }
}
