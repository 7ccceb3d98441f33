// STORE: the in-memory cache, typed JSON values by default.
import { codecFor, decodeNamed, type Codec } from './codec.js';
import type { Arg, Connection } from './connection.js';
import { misuse } from './errors.js';
import { num, text } from './reply.js';

/** Keys SCAN returns per round trip unless scan() is told otherwise. */
const DEFAULT_SCAN_COUNT = 100;
/** TTL's answer for a key without a TTL. */
const TTL_NONE = -1;
/** TTL's answer for a key that does not exist. */
const TTL_NO_KEY = -2;

/** Options of Store.set. */
export interface SetOptions {
  /** Time to live in milliseconds; without it the key keeps no TTL (unless keepTtl). */
  ttl?: number;
  /** Set only when the key does not exist yet (Redis NX). */
  ifNotExists?: boolean;
  /** Set only when the key already exists (Redis XX). */
  ifExists?: boolean;
  /** Keep the key's current TTL (Redis KEEPTTL). */
  keepTtl?: boolean;
}

/** Options of Store.scan. */
export interface ScanOptions {
  /** Only keys matching this glob pattern (`user:*`). */
  match?: string;
  /** Keys the server looks at per round trip (a hint; default 100). */
  count?: number;
}

/**
 * The key-value cache. Values are JSON by default: `set('user:1', { name })`
 * then `get<User>('user:1')`. `store.raw` reads and writes Buffers.
 *
 * Numbers are stored as their decimal text, so `incr` works on a value
 * written with `set(key, 5)` and `get` reads a counter back as a number.
 */
export class Store<V = unknown, In = V> {
  /** getOrSet computations in progress, by key: concurrent calls share one. */
  private readonly computing = new Map<string, Promise<unknown>>();

  /** @internal */
  constructor(
    private readonly conn: Connection,
    private readonly codec: Codec<V>,
  ) {}

  /** The same store with Buffer values: `set` takes Buffers or strings, `get` returns Buffers. */
  get raw(): Store<Buffer, Buffer | string> {
    return new Store<Buffer, Buffer | string>(this.conn, codecFor<Buffer>('raw'));
  }

  /** The value of a key, or null when it does not exist (or has expired). */
  async get<T extends V = V>(key: string): Promise<T | null> {
    const reply = await this.conn.call('GET', key);
    return reply === null ? null : decode<T>(this.codec, reply as Buffer, `key '${key}'`);
  }

  /**
   * Sets a key. Returns false when `ifNotExists`/`ifExists` prevented it, true otherwise.
   * @example await store.set('session:42', { user: 7 }, { ttl: 60_000 })
   */
  async set(key: string, value: In, options: SetOptions = {}): Promise<boolean> {
    const args: Arg[] = [key, this.codec.encode(value as unknown as V)];
    if (options.ifNotExists && options.ifExists) throw misuse('set: ifNotExists and ifExists exclude each other');
    if (options.ttl !== undefined && options.keepTtl) throw misuse('set: ttl and keepTtl exclude each other');
    if (options.ttl !== undefined) args.push('PX', positiveMs('ttl', options.ttl));
    if (options.keepTtl) args.push('KEEPTTL');
    if (options.ifNotExists) args.push('NX');
    if (options.ifExists) args.push('XX');
    return (await this.conn.call('SET', ...args)) !== null;
  }

  /**
   * The value of a key; when it has none, the value `compute` returns,
   * stored first with `options` (a cache-aside read). Concurrent calls for
   * the same key in this process share one computation; a computation that
   * throws stores nothing and rejects each of them.
   * @example const user = await store.getOrSet(`user:${id}`, () => db.users.find(id), { ttl: 60_000 })
   */
  async getOrSet<T extends V = V>(key: string, compute: () => In | Promise<In>, options: SetOptions = {}): Promise<T> {
    const cached = await this.get<T>(key);
    if (cached !== null) return cached;
    let pending = this.computing.get(key) as Promise<T> | undefined;
    if (pending === undefined) {
      pending = (async () => {
        const value = await compute();
        await this.set(key, value, options);
        return value as unknown as T;
      })();
      this.computing.set(key, pending);
      void pending.then(
        () => this.computing.delete(key),
        () => this.computing.delete(key),
      );
    }
    return pending;
  }

  /** Values of several keys, null for each missing one, in the order asked. */
  async getMany<T extends V = V>(keys: string[]): Promise<(T | null)[]> {
    if (keys.length === 0) return [];
    const reply = (await this.conn.call('MGET', ...keys)) as (Buffer | null)[];
    return reply.map((value, i) => (value === null ? null : decode<T>(this.codec, value, `key '${keys[i]}'`)));
  }

  /** Sets several keys at once (atomically); no TTL. */
  async setMany(entries: Record<string, In>): Promise<void> {
    const args: Arg[] = [];
    for (const [key, value] of Object.entries(entries)) args.push(key, this.codec.encode(value as unknown as V));
    if (args.length === 0) return;
    await this.conn.call('MSET', ...args);
  }

  /** Deletes keys; returns how many existed. */
  async delete(...keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return num(await this.conn.call('DEL', ...keys));
  }

  /** Whether the key exists. */
  async exists(key: string): Promise<boolean> {
    return num(await this.conn.call('EXISTS', key)) === 1;
  }

  /** Sets a key's time to live in milliseconds; false when the key does not exist. */
  async expire(key: string, ttl: number): Promise<boolean> {
    return num(await this.conn.call('PEXPIRE', key, positiveMs('ttl', ttl))) === 1;
  }

  /** Removes a key's time to live; false when it had none or does not exist. */
  async persist(key: string): Promise<boolean> {
    return num(await this.conn.call('PERSIST', key)) === 1;
  }

  /** Milliseconds the key has left: Infinity without a TTL, null when the key does not exist. */
  async ttl(key: string): Promise<number | null> {
    const ms = num(await this.conn.call('PTTL', key));
    switch (ms) {
      case TTL_NO_KEY:
        return null;
      case TTL_NONE:
        return Infinity;
      default:
        return ms;
    }
  }

  /** Adds `by` (default 1, an integer) to a counter, creating it at 0; returns the new value. */
  async incr(key: string, by = 1): Promise<number> {
    return num(await this.conn.call('INCRBY', key, integer('by', by)));
  }

  /** Subtracts `by` (default 1) from a counter; returns the new value. */
  async decr(key: string, by = 1): Promise<number> {
    return num(await this.conn.call('DECRBY', key, integer('by', by)));
  }

  /** Adds a decimal amount to a number; returns the new value. */
  async incrFloat(key: string, by: number): Promise<number> {
    return Number(text(await this.conn.call('INCRBYFLOAT', key, by)));
  }

  /**
   * Every key (matching `match`), without blocking the server: an async
   * iterator over SCAN. Keys present for the whole iteration are returned;
   * a key may come twice when the keyspace changes meanwhile.
   * @example for await (const key of store.scan({ match: 'user:*' })) …
   */
  async *scan(options: ScanOptions = {}): AsyncIterableIterator<string> {
    const args: Arg[] = ['COUNT', integer('count', options.count ?? DEFAULT_SCAN_COUNT)];
    if (options.match !== undefined) args.unshift('MATCH', options.match);
    let cursor = '0';
    do {
      const [next, keys] = (await this.conn.call('SCAN', cursor, ...args)) as [Buffer, Buffer[]];
      cursor = text(next);
      for (const key of keys) yield text(key);
    } while (cursor !== '0');
  }

  /**
   * A hash stored under `key`, with typed fields whose values are encoded
   * like the store's.
   * @example const user = store.map<{ name: string; visits: number }>('user:1')
   */
  map<F extends object = Record<string, V>>(key: string): StoreMap<F> {
    return new StoreMap<F>(this.conn, key, this.codec as Codec<unknown>);
  }
}

/** A hash (Redis HSET/HGET…) with typed fields. */
export class StoreMap<F extends object> {
  /** @internal */
  constructor(
    private readonly conn: Connection,
    /** The key the map is stored under. */
    readonly key: string,
    private readonly codec: Codec<unknown>,
  ) {}

  /** One field's value, or null when the field (or the map) does not exist. */
  async get<K extends keyof F & string>(field: K): Promise<F[K] | null> {
    const reply = await this.conn.call('HGET', this.key, field);
    return reply === null ? null : decode<F[K]>(this.codec, reply as Buffer, this.where(field));
  }

  /** Sets fields, creating the map; returns how many fields are new. */
  async set(values: Partial<F>): Promise<number> {
    const args: Arg[] = [];
    for (const [field, value] of Object.entries(values)) {
      if (value !== undefined) args.push(field, this.codec.encode(value));
    }
    if (args.length === 0) return 0;
    return num(await this.conn.call('HSET', this.key, ...args));
  }

  /** Every field and value; an empty object when the map does not exist. */
  async getAll(): Promise<Partial<F>> {
    const flat = (await this.conn.call('HGETALL', this.key)) as Buffer[];
    const out: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = text(flat[i]);
      out[field] = decode(this.codec, flat[i + 1], this.where(field));
    }
    return out as Partial<F>;
  }

  /** Deletes fields; returns how many existed. Deleting the last field deletes the map. */
  async delete(...fieldNames: (keyof F & string)[]): Promise<number> {
    if (fieldNames.length === 0) return 0;
    return num(await this.conn.call('HDEL', this.key, ...fieldNames));
  }

  /** Whether the field exists. */
  async has(field: keyof F & string): Promise<boolean> {
    return num(await this.conn.call('HEXISTS', this.key, field)) === 1;
  }

  /** Adds an integer to a numeric field (created at 0); returns the new value. */
  async incr(field: keyof F & string, by = 1): Promise<number> {
    return num(await this.conn.call('HINCRBY', this.key, field, integer('by', by)));
  }

  /** The number of fields. */
  async size(): Promise<number> {
    return num(await this.conn.call('HLEN', this.key));
  }

  /** The field names. */
  async fields(): Promise<(keyof F & string)[]> {
    const reply = (await this.conn.call('HKEYS', this.key)) as Buffer[];
    return reply.map((field) => text(field) as keyof F & string);
  }

  /** Names a field for error messages. */
  private where(field: string): string {
    return `field '${field}' of '${this.key}'`;
  }
}

/**
 * Decodes a stored value. A value some other client wrote that is not JSON
 * fails with a NexoError that names the key and points to store.raw.
 */
function decode<T>(codec: Codec<unknown>, bytes: Buffer, where: string): T {
  return decodeNamed(codec, bytes, `the value of ${where}`, 'store JSON, or read it with store.raw') as T;
}

/** Checks a duration in milliseconds: a positive integer. */
export function positiveMs(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw misuse(`${name} must be a positive whole number of milliseconds, got ${value}`);
  return value;
}

/** Checks a whole number. */
export function integer(name: string, value: number): number {
  if (!Number.isSafeInteger(value)) throw misuse(`${name} must be a whole number, got ${value}`);
  return value;
}
