// STREAM: Kafka-style partitioned logs, replay and consumer groups.
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { decodeNamed, type Codec } from './codec.js';
import type { Arg, Connection, Context } from './connection.js';
import { hasCode, misuse } from './errors.js';
import { reportError, Sleeper } from './loop.js';
import { fields, num, text, textOrNull } from './reply.js';
import { integer } from './store.js';

/** Messages per XFETCH/XCONSUME round trip unless told otherwise (the server's default). */
const DEFAULT_BATCH_SIZE = 100;
/**
 * How long a consumer's XCONSUME waits for messages before asking again; it
 * is also its heartbeat, so it stays below any sensible session timeout.
 * close() ends the wait at once (XLEAVE).
 */
export const CONSUME_BLOCK_MS = 5_000;
/** How long a follow read waits per XFETCH before asking again. */
const FOLLOW_BLOCK_MS = 5_000;
/** How long a consumer waits before retrying after its handler threw or a command failed. */
export const CONSUMER_RETRY_MS = 1_000;
/**
 * How often a consumer commits its progress while it handles a batch: an
 * XCOMMIT is also the member's heartbeat, so a batch whose handlers take
 * longer than the server's session timeout (--stream-session-timeout, 30 s
 * by default) does not lose the member its partitions, and a crash loses
 * at most this much progress.
 */
export const CONSUMER_HEARTBEAT_MS = 1_000;
/** Random bytes in a generated member id. */
const MEMBER_ID_RANDOM_BYTES = 4;

/** Where to start reading: the first retained message, the end (only new messages), an offset, or a time. */
export type From = 'earliest' | 'latest' | number | Date;

/** A message as read from a stream. */
export interface Message<T> {
  partition: number;
  offset: number;
  /** When it was appended. */
  time: Date;
  /** The key it was appended with, or null. */
  key: string | null;
  payload: T;
}

/** Where an appended message landed. */
export interface Position {
  partition: number;
  offset: number;
}

/** A stream's settings (XCREATE / XALTER); 0 means no limit. */
export interface StreamSettings {
  /** Partitions, 1 to 256; can only grow. */
  partitions?: number;
  /** Retention by age in milliseconds. */
  maxAge?: number;
  /** Retention by bytes per partition. */
  maxBytes?: number;
  /** Retention by message count per partition. */
  maxMessages?: number;
}

/** Options of Stream.read. */
export interface ReadOptions {
  /** The partition to read; without it every partition is read in turn (0, 1, …). */
  partition?: number;
  /** Where to start (default 'earliest'). */
  from?: From;
  /** Stop after this many messages (default: at the end of the log). */
  count?: number;
  /** Messages per round trip (default 100). */
  batchSize?: number;
  /** Keep waiting for new messages at the end instead of stopping (needs `partition`); break out of the loop to stop. */
  follow?: boolean;
}

/** Options of Stream.consume. */
export interface ConsumeOptions {
  /** The consumer group; created on first use at `from`. */
  group: string;
  /** This member's id, stable across restarts to keep its partitions (default: host, pid and random). */
  member?: string;
  /** Where a new group starts (default 'earliest'); ignored when the group exists. */
  from?: From;
  /** Messages per round trip (default 100). */
  batchSize?: number;
}

/** What one partition of a stream holds. */
export interface PartitionInfo {
  partition: number;
  /** The earliest retained offset. */
  first: number;
  /** The offset the next message gets. */
  next: number;
  messages: number;
  bytes: number;
}

/** XSTREAMINFO. */
export interface StreamInfo {
  name: string;
  partitions: number;
  maxAge: number;
  maxBytes: number;
  maxMessages: number;
  groups: string[];
  partitionInfo: PartitionInfo[];
}

/** XGROUPINFO. */
export interface GroupInfo {
  name: string;
  members: { member: string; partitions: number[]; lastSeen: Date; blocked: boolean }[];
  partitions: { partition: number; owner: string | null; committed: number; lag: number }[];
}

/** A group consumer's message handler: resolve to commit, throw to have the message delivered again. */
export type MessageHandler<T> = (message: Message<T>) => Promise<void> | void;

/**
 * An append-only, partitioned, persistent log.
 * @example
 * const events = nexo.stream<OrderEvent>('orders')
 * await events.append({ type: 'created', id: 7 }, { key: 'order-7' })
 * for await (const m of events.read({ from: 'earliest' })) console.log(m.offset, m.payload)
 * const consumer = events.consume({ group: 'billing' }, async (m) => bill(m.payload))
 */
export class Stream<T = unknown, In = T> {
  private readonly conn: Connection;

  /** @internal */
  constructor(
    private readonly ctx: Context,
    /** The stream's name. */
    readonly name: string,
    private readonly codec: Codec<T>,
  ) {
    this.conn = ctx.conn;
  }

  /** Appends a message (creating the stream with the server's defaults); messages with the same key go to the same partition, in order. */
  async append(payload: In, options: { key?: string } = {}): Promise<Position> {
    const [position] = await this.appendMany([payload], options);
    return position;
  }

  /** Appends several messages to one partition at once (all or none); returns their positions in order. */
  async appendMany(payloads: In[], options: { key?: string } = {}): Promise<Position[]> {
    if (payloads.length === 0) return [];
    const args: Arg[] = [this.name];
    if (options.key !== undefined) args.push('KEY', options.key);
    for (const payload of payloads) args.push(this.codec.encode(payload as unknown as T));
    const reply = (await this.conn.call('XAPPEND', ...args)) as [number, number][];
    return reply.map(([partition, offset]) => ({ partition: num(partition), offset: num(offset) }));
  }

  /**
   * Reads messages in order, as an async iterator: replay from `from` to the
   * end of one partition (or of every partition in turn), or with `follow`
   * tail a partition for new messages.
   * @example for await (const m of stream.read({ partition: 0, from: 0 })) …
   */
  async *read(options: ReadOptions = {}): AsyncIterableIterator<Message<T>> {
    const batchSize = positive('batchSize', options.batchSize ?? DEFAULT_BATCH_SIZE);
    let left = options.count === undefined ? Infinity : positive('count', options.count);
    if (options.follow && options.partition === undefined) throw misuse('read: follow needs a partition; use consume() to follow every partition');
    if (options.follow) {
      yield* this.follow(integer('partition', options.partition as number), options.from ?? 'earliest', batchSize, left);
      return;
    }
    const partitions = options.partition === undefined ? range(await this.partitionCount()) : [integer('partition', options.partition)];
    for (const partition of partitions) {
      let from: Arg[] = fromArgs(options.from ?? 'earliest');
      while (left > 0) {
        const args: Arg[] = [this.name, 'PARTITION', partition, 'FROM', ...from, 'COUNT', Math.min(batchSize, left)];
        const batch = ((await this.conn.call('XFETCH', ...args)) as unknown[]).map((m) => this.toMessage(m));
        if (batch.length === 0) break;
        for (const message of batch) {
          yield message;
          left--;
          if (left === 0) return;
        }
        from = [batch[batch.length - 1].offset + 1];
      }
    }
  }

  /**
   * Tails one partition on a connection of its own, so that its blocking
   * XFETCH does not hold up the commands of the shared connection; the
   * connection closes when the loop ends or breaks. 'latest' is resolved to
   * the partition's next offset first: re-sending LATEST after an empty wait
   * would skip what was appended between two XFETCHes.
   */
  private async *follow(partition: number, start: From, batchSize: number, count: number): AsyncIterableIterator<Message<T>> {
    let left = count;
    let from: Arg[] = start === 'latest' ? await this.nextOffsetArgs(partition) : fromArgs(start);
    const conn = this.ctx.connector.dedicated(`follow:${this.name}:${partition}`);
    try {
      while (left > 0) {
        const args: Arg[] = [this.name, 'PARTITION', partition, 'FROM', ...from, 'COUNT', Math.min(batchSize, left), 'BLOCK', FOLLOW_BLOCK_MS];
        const batch = ((await conn.call('XFETCH', ...args)) as unknown[]).map((m) => this.toMessage(m));
        for (const message of batch) {
          yield message;
          left--;
          if (left === 0) return;
        }
        if (batch.length > 0) from = [batch[batch.length - 1].offset + 1];
      }
    } finally {
      await conn.close();
    }
  }

  /** FROM at the partition's next offset, or LATEST when the server reports no such partition (XFETCH then reports the error). */
  private async nextOffsetArgs(partition: number): Promise<Arg[]> {
    const info = (await this.info()).partitionInfo.find((p) => p.partition === partition);
    return info ? [info.next] : ['LATEST'];
  }

  /**
   * Starts a group consumer on a connection of its own: the server assigns
   * it some of the stream's partitions (rebalancing as members come and go),
   * the handler runs for each message in order, and the group's offset is
   * committed after the handler resolves (at least once: a message whose
   * handler threw, or that was not committed before a crash or a rebalance,
   * is delivered again). `await consumer.close()` stops it gracefully.
   */
  consume(options: ConsumeOptions, handler: MessageHandler<T>): Consumer<T> {
    return new Consumer<T>(this.ctx, this.name, this.codec, options, handler);
  }

  /** Creates the stream with its settings; fails with BUSYSTREAM when it exists. */
  async create(settings: StreamSettings = {}): Promise<void> {
    await this.conn.call('XCREATE', this.name, ...settingArgs(settings));
  }

  /** Changes the stream's settings (partitions can only grow; retention applies at once). */
  async alter(settings: StreamSettings): Promise<void> {
    await this.conn.call('XALTER', this.name, ...settingArgs(settings));
  }

  /** Partitions, retention, groups and per-partition offsets. */
  async info(): Promise<StreamInfo> {
    const f = fields(await this.conn.call('XSTREAMINFO', this.name));
    return {
      name: text(f.name),
      partitions: num(f.partitions),
      maxAge: num(f.maxage_ms),
      maxBytes: num(f.maxbytes),
      maxMessages: num(f.maxmsgs),
      groups: (f.groups as Buffer[]).map(text),
      partitionInfo: (f.partition_info as unknown[]).map((p) => {
        const pf = fields(p);
        return { partition: num(pf.partition), first: num(pf.first), next: num(pf.next), messages: num(pf.messages), bytes: num(pf.bytes) };
      }),
    };
  }

  /** A group's members, assignment, committed offsets and lag. */
  async groupInfo(group: string): Promise<GroupInfo> {
    const f = fields(await this.conn.call('XGROUPINFO', this.name, group));
    return {
      name: text(f.name),
      members: (f.members as unknown[]).map((m) => {
        const mf = fields(m);
        return {
          member: text(mf.member),
          partitions: (mf.partitions as number[]).map(num),
          lastSeen: new Date(num(mf.last_seen_ms)),
          blocked: num(mf.blocked) === 1,
        };
      }),
      partitions: (f.partitions as unknown[]).map((p) => {
        const pf = fields(p);
        return { partition: num(pf.partition), owner: textOrNull(pf.owner), committed: num(pf.committed), lag: num(pf.lag) };
      }),
    };
  }

  /** Creates a consumer group whose members start at `from` (default 'earliest'). */
  async createGroup(group: string, from: From = 'earliest'): Promise<void> {
    await this.conn.call('XGROUPCREATE', this.name, group, 'FROM', ...fromArgs(from));
  }

  /** Moves a group's committed offset in one partition, or in all; its members read again from there. */
  async seek(group: string, from: From, partition?: number): Promise<void> {
    const args: Arg[] = [this.name, group];
    if (partition !== undefined) args.push('PARTITION', integer('partition', partition));
    await this.conn.call('XSEEK', ...args, 'FROM', ...fromArgs(from));
  }

  /** Deletes a consumer group and its committed offsets. */
  async deleteGroup(group: string): Promise<void> {
    await this.conn.call('XGROUPDEL', this.name, group);
  }

  private async partitionCount(): Promise<number> {
    try {
      return (await this.info()).partitions;
    } catch (err) {
      if (hasCode(err, 'NOSTREAM')) return 0;
      throw err;
    }
  }

  private toMessage(reply: unknown): Message<T> {
    return toMessage(reply, this.codec);
  }
}

/** Events of a Consumer. */
export interface ConsumerEvents {
  /** A handler threw (the message is delivered again after CONSUMER_RETRY_MS) or a command failed. The consumer goes on. */
  error: [error: Error];
}

/** A member of a consumer group. Created by Stream.consume; stop it with close(). */
export class Consumer<T = unknown> extends EventEmitter<ConsumerEvents> {
  /** This member's id in the group. */
  readonly member: string;
  /** The group this consumer belongs to. */
  readonly group: string;
  private readonly conn: Connection;
  private readonly shared: Connection;
  private readonly batchSize: number;
  private readonly from: From;
  private closing = false;
  /** True while an XCONSUME is in flight (blocked, or its reply on the way). */
  private consuming = false;
  /** Counts the consumer connection's closes: an XCONSUME that spans one may have lost its reply. */
  private drops = 0;
  /** The pause after a failure; close() ends it. */
  private readonly sleeper = new Sleeper();
  private readonly loop: Promise<void>;
  private closed: Promise<void> | undefined;

  /** @internal */
  constructor(
    private readonly ctx: Context,
    /** The stream consumed. */
    readonly stream: string,
    private readonly codec: Codec<T>,
    options: ConsumeOptions,
    private readonly handler: MessageHandler<T>,
  ) {
    super();
    if (!options.group) throw misuse('consume: a group is required, e.g. { group: "billing" }');
    this.group = options.group;
    this.member = options.member ?? `${hostname()}-${process.pid}-${randomBytes(MEMBER_ID_RANDOM_BYTES).toString('hex')}`;
    this.batchSize = positive('batchSize', options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.from = options.from ?? 'earliest';
    this.shared = ctx.conn;
    this.conn = ctx.connector.dedicated(`consumer:${stream}:${this.group}`);
    this.conn.redis.on('error', (err: Error) => this.report(err));
    this.conn.redis.on('close', () => this.drops++);
    this.loop = this.run();
    ctx.runners.add(this);
  }

  /**
   * Stops consuming: waits for the running handler and its commit, leaves the
   * group (its partitions go to the other members at once) and closes the
   * connection. Messages fetched but not handled are delivered again to the
   * partition's next owner.
   */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.sleeper.wake();
    // Should the server be out of reach, the read and the commits are
    // dropped with the connection, and the member leaves the group once its
    // session times out.
    const lost = this.conn.abandonOnLoss();
    if (this.consuming) {
      // A blocked XCONSUME is ended at once by XLEAVE; so is it by a lost connection.
      await Promise.race([this.leave(), lost]);
      await this.loop;
    } else {
      // A running handler is awaited first, with its commit: a member that
      // left may not commit.
      await this.loop;
      await Promise.race([this.leave(), lost]);
    }
    await this.conn.close();
    this.ctx.runners.delete(this);
  }

  private async leave(): Promise<void> {
    try {
      await this.shared.call('XLEAVE', this.stream, 'GROUP', this.group, 'MEMBER', this.member);
    } catch (err) {
      if (!hasCode(err, 'NOSTREAM') && !hasCode(err, 'NOGROUP')) this.report(err);
    }
  }

  private async run(): Promise<void> {
    let ready = false;
    // The member's delivery positions are rewound to the committed offsets
    // at start and after an XCONSUME whose reply may have been lost (see rewind).
    let rewind = true;
    while (!this.closing) {
      try {
        if (!ready) {
          await this.ensureGroup();
          ready = true;
        }
        if (rewind) {
          await this.rewind();
          rewind = false;
        }
        // close() waits for this loop before it leaves the group: no XCONSUME may start after it began.
        if (this.closing) break;
        const drops = this.drops;
        this.consuming = true;
        let reply: unknown[];
        try {
          reply = (await this.conn.call(
            'XCONSUME', this.stream, 'GROUP', this.group, 'MEMBER', this.member, 'COUNT', this.batchSize, 'BLOCK', CONSUME_BLOCK_MS,
          )) as unknown[];
        } finally {
          this.consuming = false;
        }
        if (this.closing) break;
        if (drops !== this.drops) {
          // ioredis sent the XCONSUME again after a reconnection: the first
          // one may have taken messages whose reply was lost with the
          // connection. This batch is dropped and read again after the rewind.
          rewind = true;
          continue;
        }
        if (!(await this.handleBatch(reply.map(rawMessage)))) await this.sleeper.sleep(CONSUMER_RETRY_MS);
      } catch (err) {
        // NOGROUP: the group was deleted under the consumer; it is created again.
        if (hasCode(err, 'NOGROUP') || hasCode(err, 'NOSTREAM')) ready = false;
        rewind = true;
        this.report(err);
        if (!this.closing) await this.sleeper.sleep(CONSUMER_RETRY_MS);
      }
    }
  }

  /**
   * Moves this member's delivery position in each partition it owns back to
   * the group's committed offset. The server advances a member's position
   * when it hands out messages, and a member outlives its connections (and,
   * with a fixed member id, its process): messages handed to a connection
   * that dropped before their reply arrived would otherwise be skipped.
   */
  private async rewind(): Promise<void> {
    const f = fields(await this.conn.call('XGROUPINFO', this.stream, this.group));
    for (const p of f.partitions as unknown[]) {
      const pf = fields(p);
      if (textOrNull(pf.owner) !== this.member) continue;
      await this.conn.call('XSEEK', this.stream, this.group, 'PARTITION', num(pf.partition), 'FROM', num(pf.committed));
    }
  }

  /** Creates the stream and the group when they do not exist. */
  private async ensureGroup(): Promise<void> {
    try {
      await this.conn.call('XGROUPCREATE', this.stream, this.group, 'FROM', ...fromArgs(this.from));
      return;
    } catch (err) {
      if (hasCode(err, 'BUSYGROUP')) return;
      if (!hasCode(err, 'NOSTREAM')) throw err;
    }
    try {
      await this.conn.call('XCREATE', this.stream);
    } catch (err) {
      if (!hasCode(err, 'BUSYSTREAM')) throw err;
    }
    try {
      await this.conn.call('XGROUPCREATE', this.stream, this.group, 'FROM', ...fromArgs(this.from));
    } catch (err) {
      if (!hasCode(err, 'BUSYGROUP')) throw err;
    }
  }

  /**
   * Runs the handler for each message, in order per partition, and commits
   * each partition's progress after the batch, and every
   * CONSUMER_HEARTBEAT_MS while it runs. A throwing handler stops its
   * partition: the progress before it is committed and the partition is sought
   * back to the failed message, so it is delivered again. A message the codec
   * cannot decode is reported and passed over, as the pub/sub subscriber
   * passes one over: delivered again it would fail again, and hold up its
   * partition for good. Returns false when a handler threw.
   */
  private async handleBatch(messages: RawMessage[]): Promise<boolean> {
    // The offset each partition's commit moves to: the batch's first until a
    // handler resolves, so that a heartbeat before then commits no progress.
    const next = new Map<number, number>();
    for (const m of messages) if (!next.has(m.partition)) next.set(m.partition, m.offset);
    const failed = new Map<number, number>();
    let beating: Promise<void> | undefined;
    const heartbeat = setInterval(() => {
      beating ??= this.commitAll(next).finally(() => (beating = undefined));
    }, CONSUMER_HEARTBEAT_MS);
    try {
      for (const raw of messages) {
        if (this.closing) break;
        if (failed.has(raw.partition)) continue;
        let message: Message<T>;
        try {
          message = decodeMessage(raw, this.codec);
        } catch (err) {
          this.report(err);
          next.set(raw.partition, raw.offset + 1);
          continue;
        }
        try {
          await this.handler(message);
          next.set(raw.partition, raw.offset + 1);
        } catch (err) {
          failed.set(raw.partition, raw.offset);
          this.report(err);
        }
      }
    } finally {
      clearInterval(heartbeat);
      await beating;
    }
    for (const [partition, offset] of next) await this.commit(partition, offset);
    for (const [partition, offset] of failed) {
      await this.conn.call('XSEEK', this.stream, this.group, 'PARTITION', partition, 'FROM', offset);
    }
    return failed.size === 0;
  }

  /** The heartbeat: commits each partition's progress, reporting a failure (the batch goes on). */
  private async commitAll(next: Map<number, number>): Promise<void> {
    for (const [partition, offset] of next) {
      try {
        await this.commit(partition, offset);
      } catch (err) {
        this.report(err);
      }
    }
  }

  private async commit(partition: number, offset: number): Promise<void> {
    try {
      await this.conn.call('XCOMMIT', this.stream, 'GROUP', this.group, 'MEMBER', this.member, 'PARTITION', partition, 'OFFSET', offset);
    } catch (err) {
      // NOTASSIGNED: a rebalance moved the partition away; its new owner reads it from the last commit.
      if (!hasCode(err, 'NOTASSIGNED')) throw err;
    }
  }

  private report(err: unknown): void {
    reportError(this, err);
  }
}

/** A message as the server sent it, its payload not decoded yet. */
type RawMessage = Omit<Message<Buffer>, 'payload'> & { value: Buffer };

function rawMessage(reply: unknown): RawMessage {
  const f = fields(reply);
  return {
    partition: num(f.partition),
    offset: num(f.offset),
    time: new Date(num(f.time_ms)),
    key: textOrNull(f.key),
    value: f.value as Buffer,
  };
}

/** raw with its payload decoded; a payload the codec refuses is an SDK error naming the message. */
function decodeMessage<T>(raw: RawMessage, codec: Codec<T>): Message<T> {
  const where = `the message at partition ${raw.partition} offset ${raw.offset}`;
  const payload = decodeNamed(codec, raw.value, where, "read it with { encoding: 'raw' }");
  return { partition: raw.partition, offset: raw.offset, time: raw.time, key: raw.key, payload };
}

function toMessage<T>(reply: unknown, codec: Codec<T>): Message<T> {
  return decodeMessage(rawMessage(reply), codec);
}

/** The FROM arguments of a position. */
function fromArgs(from: From): Arg[] {
  switch (true) {
    case from === 'earliest':
      return ['EARLIEST'];
    case from === 'latest':
      return ['LATEST'];
    case from instanceof Date:
      return ['TIME', from.getTime()];
    case typeof from === 'number' && Number.isSafeInteger(from) && from >= 0:
      return [from as number];
    default:
      throw misuse(`from must be 'earliest', 'latest', an offset >= 0 or a Date, got ${String(from)}`);
  }
}

function settingArgs(settings: StreamSettings): Arg[] {
  const args: Arg[] = [];
  if (settings.partitions !== undefined) args.push('PARTITIONS', integer('partitions', settings.partitions));
  if (settings.maxAge !== undefined) args.push('MAXAGE', integer('maxAge', settings.maxAge));
  if (settings.maxBytes !== undefined) args.push('MAXBYTES', integer('maxBytes', settings.maxBytes));
  if (settings.maxMessages !== undefined) args.push('MAXMSGS', integer('maxMessages', settings.maxMessages));
  return args;
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw misuse(`${name} must be a positive whole number, got ${value}`);
  return value;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
