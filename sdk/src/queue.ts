// QUEUE: persistent job queues and the worker that processes them.
import { EventEmitter } from 'node:events';
import { type Codec } from './codec.js';
import type { Arg, Connection, Context } from './connection.js';
import { hasCode, misuse } from './errors.js';
import { reportError, Sleeper } from './loop.js';
import type { Unsubscribe } from './pubsub.js';
import { bool, fields, num, numOrNull, text, textOrNull } from './reply.js';
import { integer, positiveMs } from './store.js';

/** Jobs a worker runs at once unless told otherwise. */
const DEFAULT_CONCURRENCY = 1;
/**
 * How long an idle worker's QPOP waits for a job before asking again. close()
 * ends the wait at once (CLIENT UNBLOCK), so this only bounds how long a wait
 * survives on a connection the worker lost track of.
 */
export const IDLE_BLOCK_MS = 5_000;
/**
 * How long a worker with jobs running waits for more. Its acks queue behind
 * the waiting QPOP on the same connection (the consumer is the connection),
 * so this bounds how late an ack reaches the server when the queue is empty;
 * under load QPOP returns at once and the bound never applies.
 */
export const BUSY_BLOCK_MS = 50;
/** A running job's visibility is extended when this share of it is left. */
const EXTEND_AT_SHARE = 0.5;
/** The server keeps at most this many bytes of a QNACK error message. */
const MAX_ERROR_BYTES = 4096;
/** How long a worker waits after a failed QPOP (server down, reconnecting) before the next. */
export const WORKER_RETRY_MS = 1_000;
/** Dead letters listed unless told otherwise (the server's default). */
const DEFAULT_DEAD_LETTER_COUNT = 100;

/** Options of Queue.push. */
export interface PushOptions {
  /** Milliseconds before the job becomes ready (default: at once). */
  delay?: number;
  /** Higher is taken first (default 0); FIFO within a priority. */
  priority?: number;
  /** While a job with this id waits or runs, pushing it again returns the existing job's id. */
  dedupId?: string;
}

/** Options of Queue.repeat: `every` or `cron`, not both. */
export interface RepeatOptions {
  /** Milliseconds between jobs; they are pushed on the multiples of it (every: 60_000 on each minute). */
  every?: number;
  /** A cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; `@daily`… */
  cron?: string;
  /** The cron expression's IANA time zone, e.g. 'Europe/Paris' (default UTC). */
  tz?: string;
  /** The jobs' priority (default 0). */
  priority?: number;
}

/** A schedule of repeatable jobs, as repeats() lists it. */
export interface RepeatInfo<T> {
  name: string;
  every: number | null;
  cron: string | null;
  /** The cron expression's time zone; null for UTC. */
  tz: string | null;
  priority: number;
  /** The payload each job gets, decoded (undefined when the encoding cannot read it; `raw` holds the bytes). */
  payload: T;
  raw: Buffer;
  /** When it pushes its next job. */
  next: Date | null;
}

/** What happened to a job, as queue.events() tells it (BullMQ's QueueEvents). */
export interface QueueEvent {
  event: 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'removed' | 'progress';
  queue: string;
  id: string;
  /** Deliveries so far. */
  attempt: number;
  /** `failed`: `nack` (the handler threw), `timeout` or `worker-gone`. */
  reason?: string;
  /** `failed`: the handler's error message. */
  error?: string;
  /** `failed`: the job has used its attempts and is now a dead letter. */
  dead?: boolean;
  /** `progress`: what the worker told with job.progress(). */
  progress?: unknown;
  /** `completed`: what the handler returned, when it returned something. */
  result?: unknown;
}

/** The topic prefix of a queue's job events. */
const QUEUE_EVENT_TOPIC = '__queue__:';

/** A job as a worker receives it. */
export interface Job<T> {
  /** Unique across the server, never reused. */
  readonly id: string;
  readonly queue: string;
  readonly payload: T;
  /** 1 on the first delivery, 2 on the first retry, … */
  readonly attempt: number;
  readonly priority: number;
  /** When the job was pushed. */
  readonly enqueuedAt: Date;
  /** When the job becomes visible again unless it is settled or extended (the worker extends it while the handler runs). */
  readonly deadline: Date;
  /**
   * Tells the job's progress (any JSON value), which queue.get() shows and
   * queue.events() handlers receive while the job runs (BullMQ's updateProgress).
   */
  progress(value: unknown): Promise<void>;
}

/** One failure in a job's history. */
export interface JobFailure {
  at: Date;
  attempt: number;
  /** `nack` (the handler threw), `timeout` (visibility passed) or `worker-gone` (the worker's connection closed). */
  reason: string;
  message: string;
}

/** A job as get(), peek() and deadLetters() show it, with its state and failure history. */
export interface JobInfo<T> {
  id: string;
  queue: string;
  /**
   * The payload, decoded. A job pushed by another client in bytes the
   * encoding cannot read (not JSON) stays inspectable: its payload is then
   * undefined and `raw` holds the bytes.
   */
  payload: T;
  /** The payload's bytes as stored. */
  raw: Buffer;
  state: 'ready' | 'delayed' | 'inflight' | 'dead' | 'completed';
  attempt: number;
  priority: number;
  enqueuedAt: Date;
  /** When a delayed job becomes ready, when a dead letter died, or when a completed job completed; null otherwise. */
  due: Date | null;
  dedupId: string | null;
  /** Failed attempts so far. */
  failures: number;
  lastError: string | null;
  lastReason: string | null;
  /** The last failures, oldest first. */
  errors: JobFailure[];
  /** What its worker told with job.progress() while it runs; null otherwise. */
  progress: unknown;
  /** A completed job (the keepCompleted setting): what its handler returned; null otherwise. */
  result: unknown;
}

/** Jobs of a queue by state. */
export interface QueueCounts {
  ready: number;
  delayed: number;
  inflight: number;
  dead: number;
  /** Completed jobs kept (the keepCompleted setting). */
  completed: number;
}

/** A queue's settings; each defaults to the server's `--queue-*` option. */
export interface QueueSettings {
  /** Milliseconds a taken job stays invisible before it fails with reason `timeout`. */
  visibilityTimeout: number;
  /** Deliveries before a failure makes the job a dead letter; 0 = unlimited. */
  maxAttempts: number;
  backoff: 'exponential' | 'fixed';
  /** First retry delay in milliseconds (every retry's when fixed). */
  backoffDelay: number;
  /** Cap of the exponential delay; 0 = none. */
  backoffMax: number;
  /** Random share of a retry delay, 0 to 1. */
  backoffJitter: number;
  /** Dead letters kept; past it the oldest is dropped. */
  deadLetterMax: number;
  /** Whether a closed connection's jobs fail at once (true) or wait out their visibility. */
  releaseOnDisconnect: boolean;
  /** Jobs handed out per `rateWindow`, across every worker (BullMQ's limiter); 0 = no limit. */
  rateLimit: number;
  /** Milliseconds of the rate limit's window. */
  rateWindow: number;
  /** Jobs in flight at once, across every worker (BullMQ's global concurrency); 0 = no limit. */
  maxInFlight: number;
  /** Whether the queue publishes its job events (queue.events() turns it on). */
  events: boolean;
  /**
   * Completed jobs kept, with what their handlers returned, for get() (BullMQ's
   * removeOnComplete: { count }); past it the oldest is dropped; 0 = none.
   */
  keepCompleted: number;
  /** Milliseconds a kept completed job stays after its completion (BullMQ's removeOnComplete: { age }); 0 = no age bound. */
  keepCompletedAge: number;
}

/** QINFO: counts, state, counters since the server started, settings. */
export interface QueueInfo extends QueueCounts {
  name: string;
  paused: boolean;
  /** Workers waiting for a job right now. */
  consumersWaiting: number;
  /** Schedules of repeatable jobs (repeat()). */
  repeats: number;
  pushed: number;
  delivered: number;
  acked: number;
  failed: number;
  deadLettered: number;
  deadDropped: number;
  settings: QueueSettings;
}

/** Options of Queue.process. */
export interface WorkerOptions {
  /** Jobs handled at once (default 1). */
  concurrency?: number;
  /** Visibility timeout of the jobs this worker takes, in ms (default: the queue's). */
  visibility?: number;
  /** Extend a running job's visibility before it ends (default true): a long handler never loses its job. */
  autoExtend?: boolean;
}

/** A job handler: resolve to ack the job, throw to fail it (it is retried with the queue's backoff). */
export type JobHandler<T, R = unknown> = (job: Job<T>) => Promise<R> | R;

/** The queue setting names on the wire, by SDK name. */
const settingNames: Record<keyof QueueSettings, string> = {
  visibilityTimeout: 'visibility-timeout',
  maxAttempts: 'max-attempts',
  backoff: 'backoff',
  backoffDelay: 'backoff-delay',
  backoffMax: 'backoff-max',
  backoffJitter: 'backoff-jitter',
  deadLetterMax: 'dead-letter-max',
  releaseOnDisconnect: 'release-on-disconnect',
  rateLimit: 'rate-limit',
  rateWindow: 'rate-window',
  maxInFlight: 'max-in-flight',
  events: 'events',
  keepCompleted: 'keep-completed',
  keepCompletedAge: 'keep-completed-age',
};

/**
 * A persistent job queue. Created on first use; jobs survive restarts.
 * @example
 * const emails = nexo.queue<{ to: string }>('emails')
 * await emails.push({ to: 'a@example.com' })
 * const worker = emails.process(async (job) => send(job.payload), { concurrency: 16 })
 */
export class Queue<T = unknown, In = T> {
  private readonly conn: Connection;

  /** @internal */
  constructor(
    private readonly ctx: Context,
    /** The queue's name. */
    readonly name: string,
    private readonly codec: Codec<T>,
  ) {
    this.conn = ctx.conn;
  }

  /** Adds a job; returns its id (the existing job's id when `dedupId` matches a waiting or running job). */
  async push(payload: In, options: PushOptions = {}): Promise<string> {
    const [id] = await this.pushWith([payload], options);
    return id;
  }

  /** Adds several jobs at once (all or none); returns their ids in order. */
  async pushMany(payloads: In[], options: Omit<PushOptions, 'dedupId'> = {}): Promise<string[]> {
    if ((options as PushOptions).dedupId !== undefined) throw misuse('pushMany: dedupId takes a single job; use push()');
    if (payloads.length === 0) return [];
    return this.pushWith(payloads, options);
  }

  private async pushWith(payloads: In[], options: PushOptions): Promise<string[]> {
    const args: Arg[] = [this.name];
    if (options.delay !== undefined) args.push('DELAY', nonNegativeMs('delay', options.delay));
    if (options.priority !== undefined) args.push('PRIORITY', integer('priority', options.priority));
    if (options.dedupId !== undefined) args.push('DEDUP', options.dedupId);
    for (const payload of payloads) args.push(this.codec.encode(payload as unknown as T));
    const ids = (await this.conn.call('QPUSH', ...args)) as Buffer[];
    return ids.map(text);
  }

  /**
   * Starts a worker: it takes jobs on a connection of its own, runs the
   * handler for each (up to `concurrency` at once), acks the job when the
   * handler resolves and fails it with the error's message when it throws.
   * While a handler runs, the job's visibility is extended. The worker keeps
   * going across reconnects; `await worker.close()` stops it gracefully.
   */
  process<R = unknown>(handler: JobHandler<T, R>, options: WorkerOptions = {}): Worker<T, R> {
    return new Worker<T, R>(this.ctx, this.name, this.codec, handler, options);
  }

  /** Jobs by state. */
  async counts(): Promise<QueueCounts> {
    const f = fields(await this.conn.call('QLEN', this.name));
    return { ready: num(f.ready), delayed: num(f.delayed), inflight: num(f.inflight), dead: num(f.dead), completed: num(f.completed) };
  }

  /** Counts, paused state, counters and settings. */
  async info(): Promise<QueueInfo> {
    const f = fields(await this.conn.call('QINFO', this.name));
    return {
      name: text(f.name),
      ready: num(f.ready),
      delayed: num(f.delayed),
      inflight: num(f.inflight),
      dead: num(f.dead),
      completed: num(f.completed),
      paused: bool(f.paused),
      consumersWaiting: num(f.consumers_waiting),
      repeats: num(f.repeats),
      pushed: num(f.pushed),
      delivered: num(f.delivered),
      acked: num(f.acked),
      failed: num(f.failed),
      deadLettered: num(f.dead_lettered),
      deadDropped: num(f.dead_dropped),
      settings: toSettings(fields(f.settings)),
    };
  }

  /**
   * The next `count` ready jobs (default 1), in the order workers take them,
   * without taking them; or the first `count` jobs of another state: delayed
   * by due time, inflight by deadline, dead and completed oldest first.
   */
  async peek(count = 1, state: JobInfo<T>['state'] = 'ready'): Promise<JobInfo<T>[]> {
    const reply = (await this.conn.call('QPEEK', this.name, 'COUNT', positiveInt('count', count), 'STATE', state)) as unknown[];
    return reply.map((job) => this.toJobInfo(job));
  }

  /**
   * One job by id, in whatever state it is, with its failure history; null
   * once it is gone (acked, unless kept by the keepCompleted setting;
   * cancelled, purged) or if it never was.
   */
  async get(id: string): Promise<JobInfo<T> | null> {
    const reply = await this.conn.call('QJOB', this.name, id);
    return reply === null ? null : this.toJobInfo(reply);
  }

  /**
   * Removes waiting jobs (ready or delayed) by id, such as a scheduled job no
   * longer wanted. All or none: a job running or dead, or gone, is a
   * NexoError and nothing is removed. Returns how many.
   */
  async cancel(...ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return num(await this.conn.call('QCANCEL', this.name, ...ids));
  }

  /**
   * Pushes a job with `payload` on a schedule, every `every` milliseconds or
   * at the times of a `cron` expression (UTC, or the zone `tz`), until unrepeat(name). Setting
   * a name again replaces its schedule. Schedules live in the server and
   * survive restarts: set them once, at deploy time, from any process.
   * @example await reports.repeat('daily-digest', { kind: 'digest' }, { cron: '0 9 * * mon-fri' })
   */
  async repeat(name: string, payload: In, options: RepeatOptions): Promise<void> {
    const args: Arg[] = ['SET', this.name, name];
    if ((options.every === undefined) === (options.cron === undefined)) throw misuse('repeat: give every or cron, not both');
    if (options.every !== undefined) args.push('EVERY', positiveMs('every', options.every));
    if (options.cron !== undefined) args.push('CRON', options.cron);
    if (options.tz !== undefined) args.push('TZ', options.tz);
    if (options.priority !== undefined) args.push('PRIORITY', integer('priority', options.priority));
    args.push(this.codec.encode(payload as unknown as T));
    await this.conn.call('QREPEAT', ...args);
  }

  /** Removes schedules by name (the jobs they pushed stay); returns how many existed. */
  async unrepeat(...names: string[]): Promise<number> {
    if (names.length === 0) return 0;
    return num(await this.conn.call('QREPEAT', 'DEL', this.name, ...names));
  }

  /** The queue's schedules, by name, with their next fire times. */
  async repeats(): Promise<RepeatInfo<T>[]> {
    const reply = (await this.conn.call('QREPEAT', 'LIST', this.name)) as unknown[];
    return reply.map((r) => {
      const f = fields(r);
      return {
        name: text(f.name),
        every: numOrNull(f.every_ms),
        cron: textOrNull(f.cron),
        tz: textOrNull(f.tz),
        priority: num(f.priority),
        payload: decodeOrUndefined(this.codec, f.payload as Buffer),
        raw: f.payload as Buffer,
        next: dateOrNull(f.next_ms),
      };
    });
  }

  /**
   * Makes delayed jobs ready at once (a scheduled job to run now, a failed
   * one to retry without its backoff). All or none: a job that is not
   * delayed is a NexoError and nothing changes. Returns how many.
   */
  async promote(...ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return num(await this.conn.call('QPROMOTE', this.name, ...ids));
  }

  /**
   * Calls `handler` with the queue's job events, from any worker or process,
   * as they happen, until the returned function is called. It turns the
   * queue's `events` setting on (the queue then publishes them, to every
   * subscriber). Events are volatile: those of a moment without a subscriber
   * are not kept.
   * @example const off = await emails.events((e) => console.log(e.event, e.id)); … await off();
   */
  async events(handler: (event: QueueEvent) => void): Promise<Unsubscribe> {
    if (/[+#]/.test(this.name)) throw misuse(`events: the queue name '${this.name}' has '+' or '#', which a topic filter reads as wildcards`);
    const off = await this.ctx.pubsub.subscribe<QueueEvent>(QUEUE_EVENT_TOPIC + this.name, (e) =>
      handler(parseEvent(e)),
    );
    try {
      await this.conn.call('QCONFIG', 'SET', this.name, 'events', 'yes');
    } catch (err) {
      await off();
      throw err;
    }
    return off;
  }

  /** Dead letters (jobs that failed their last attempt), oldest first, with their failure history. */
  async deadLetters(count = DEFAULT_DEAD_LETTER_COUNT): Promise<JobInfo<T>[]> {
    const reply = (await this.conn.call('QDLQ', 'LIST', this.name, 'COUNT', positiveInt('count', count))) as unknown[];
    return reply.map((job) => this.toJobInfo(job));
  }

  /**
   * Moves dead letters back to work, ready at once with their attempts reset:
   * the ids given, or all of them; to this queue or to `to`. Returns how many moved.
   */
  async requeue(options: { ids?: string[]; to?: string } = {}): Promise<number> {
    const args: Arg[] = ['REQUEUE', this.name];
    if (options.to !== undefined) args.push('TO', options.to);
    args.push(...(options.ids ?? []));
    return num(await this.conn.call('QDLQ', ...args));
  }

  /** Removes dead letters: the ids given, or all of them. Returns how many. */
  async purgeDeadLetters(ids: string[] = []): Promise<number> {
    return num(await this.conn.call('QDLQ', 'PURGE', this.name, ...ids));
  }

  /** Removes every ready and delayed job (running jobs and dead letters stay). Returns how many. */
  async purge(): Promise<number> {
    return num(await this.conn.call('QPURGE', this.name));
  }

  /** Stops handing out jobs (pushes and acks go on) until resume(). */
  async pause(): Promise<void> {
    await this.conn.call('QPAUSE', this.name);
  }

  /** Hands out jobs again after pause(). */
  async resume(): Promise<void> {
    await this.conn.call('QRESUME', this.name);
  }

  /** Deletes the queue with all its jobs, dead letters and settings. Returns whether it existed. */
  async delete(): Promise<boolean> {
    return num(await this.conn.call('QDEL', this.name)) === 1;
  }

  /** The queue's effective settings. */
  async settings(): Promise<QueueSettings> {
    return toSettings(fields(await this.conn.call('QCONFIG', 'GET', this.name)));
  }

  /**
   * Overrides some of the queue's settings (all or none apply); `null`
   * restores the server's default for that setting.
   * @example await queue.configure({ maxAttempts: 3, backoff: 'fixed', backoffDelay: 500 })
   */
  async configure(settings: { [K in keyof QueueSettings]?: QueueSettings[K] | null }): Promise<void> {
    const args: Arg[] = ['SET', this.name];
    for (const [name, value] of Object.entries(settings)) {
      const wire = settingNames[name as keyof QueueSettings];
      if (wire === undefined) throw misuse(`configure: unknown queue setting '${name}'; known: ${Object.keys(settingNames).join(', ')}`);
      if (value === undefined) continue;
      args.push(wire, settingValue(value));
    }
    if (args.length === 2) return;
    await this.conn.call('QCONFIG', ...args);
  }

  private toJobInfo(reply: unknown): JobInfo<T> {
    const f = fields(reply);
    return {
      id: text(f.id),
      queue: text(f.queue),
      payload: decodeOrUndefined(this.codec, f.payload as Buffer),
      raw: f.payload as Buffer,
      state: text(f.state) as JobInfo<T>['state'],
      attempt: num(f.attempt),
      priority: num(f.priority),
      enqueuedAt: new Date(num(f.enqueued_ms)),
      due: dateOrNull(f.due_ms),
      dedupId: textOrNull(f.dedup),
      failures: num(f.failures),
      lastError: textOrNull(f.last_error),
      lastReason: textOrNull(f.last_reason),
      errors: ((f.errors as unknown[] | null) ?? []).map((e) => {
        const ef = fields(e);
        return { at: new Date(num(ef.at_ms)), attempt: num(ef.attempt), reason: text(ef.reason), message: text(ef.message) };
      }),
      progress: parseTold(textOrNull(f.progress)),
      result: parseTold(textOrNull(f.result)),
    };
  }
}

/** Events of a Worker. */
export interface WorkerEvents<T, R> {
  /** The handler resolved and the job is acked. */
  completed: [job: Job<T>, result: R];
  /** The handler threw; the job is failed (retried later, or dead on its last attempt). */
  failed: [job: Job<T>, error: Error];
  /** Something went wrong around the handler: a lost ack, a dropped connection. The worker goes on. */
  error: [error: Error];
}

/** A job whose handler runs: its visibility timer. */
interface Running {
  timer: NodeJS.Timeout | undefined;
}

/** An ack waiting to be sent with the others of its turn of the event loop. */
interface PendingAck {
  id: string;
  /** What the handler returned, as QACK RESULT sends it; undefined for nothing. */
  result: string | Buffer | undefined;
  settled: (err?: unknown) => void;
}

/**
 * Takes jobs from a queue and runs a handler for each. Created by
 * Queue.process; stop it with close().
 */
export class Worker<T = unknown, R = unknown> extends EventEmitter<WorkerEvents<T, R>> {
  private readonly conn: Connection;
  private readonly shared: Connection;
  private readonly concurrency: number;
  private readonly visibility: number | undefined;
  private readonly autoExtend: boolean;
  /** Jobs whose handler runs; their number is the slots taken. */
  private readonly running = new Map<string, Running>();
  /** Every job from its start to its ack or nack, which close() waits for. */
  private readonly pending = new Set<Promise<void>>();
  private acks: PendingAck[] = [];
  /** The worker connection's CLIENT ID, to end its QPOP wait from the shared connection; reset on reconnect. */
  private connId: string | undefined;
  private popping = false;
  private closing = false;
  /** The loop's wait for a free slot or a retry; close() and finished jobs end it. */
  private readonly sleeper = new Sleeper();
  private readonly loop: Promise<void>;
  private closed: Promise<void> | undefined;

  /** @internal */
  constructor(
    private readonly ctx: Context,
    /** The queue this worker takes jobs from. */
    readonly queue: string,
    private readonly codec: Codec<T>,
    private readonly handler: JobHandler<T, R>,
    options: WorkerOptions,
  ) {
    super();
    this.concurrency = positiveInt('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY);
    this.visibility = options.visibility === undefined ? undefined : positiveMs('visibility', options.visibility);
    this.autoExtend = options.autoExtend ?? true;
    this.shared = ctx.conn;
    this.conn = ctx.connector.dedicated(`worker:${queue}`);
    this.conn.redis.on('close', () => {
      this.connId = undefined;
    });
    // ioredis reports connection errors here while it reconnects; the worker reports them as 'error'.
    this.conn.redis.on('error', (err: Error) => this.report(err));
    this.loop = this.run();
    ctx.runners.add(this);
  }

  /** Jobs whose handler is running now. */
  get active(): number {
    return this.running.size;
  }

  /**
   * Stops taking jobs, waits for the running handlers to finish and settle
   * their jobs, then closes the worker's connection. A job the worker was
   * handed while closing is processed, never dropped.
   */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.sleeper.wake();
    // Should the server be out of reach, the take and the acks are dropped
    // with the connection, and the server puts the jobs this worker held
    // back in the queue (worker gone) when it sees the connection gone.
    const lost = this.conn.abandonOnLoss();
    if (this.popping && this.connId !== undefined) {
      // CLIENT UNBLOCK ends a blocked take at once; so does a lost connection.
      await Promise.race([this.shared.call('CLIENT', 'UNBLOCK', this.connId).catch((err: unknown) => this.report(err)), lost]);
    }
    await this.loop;
    await Promise.all(this.pending);
    await this.conn.close();
    this.ctx.runners.delete(this);
  }

  private async run(): Promise<void> {
    while (!this.closing) {
      if (this.running.size >= this.concurrency) {
        await this.sleeper.sleep();
        // Handlers that finish in the same turn free their slots together:
        // one QPOP for all of them, sent with their acks.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      let replies: unknown[];
      try {
        replies = await this.pop(this.concurrency - this.running.size);
      } catch (err) {
        this.report(err);
        if (!this.closing) await this.sleeper.sleep(WORKER_RETRY_MS);
        continue;
      }
      for (const reply of replies) this.start(reply);
    }
  }

  /** One QPOP for up to `count` jobs, preceded by CLIENT ID when the connection's id is unknown. */
  private async pop(count: number): Promise<unknown[]> {
    if (this.connId === undefined) {
      this.connId = text(await this.conn.call('CLIENT', 'ID'));
      // close() came while the id was on its way: it could not unblock a QPOP sent now.
      if (this.closing) return [];
    }
    const args: Arg[] = [this.queue, 'COUNT', count, 'BLOCK', this.running.size > 0 ? BUSY_BLOCK_MS : IDLE_BLOCK_MS];
    if (this.visibility !== undefined) args.push('VISIBILITY', this.visibility);
    this.popping = true;
    try {
      return ((await this.conn.call('QPOP', ...args)) as unknown[] | null) ?? [];
    } finally {
      this.popping = false;
    }
  }

  private start(reply: unknown): void {
    const f = fields(reply);
    const id = text(f.id);
    const entry: Running = { timer: undefined };
    this.running.set(id, entry);
    let job: Job<T>;
    let work: Promise<void>;
    try {
      job = {
        id,
        queue: text(f.queue),
        payload: this.codec.decode(f.payload as Buffer),
        attempt: num(f.attempt),
        priority: num(f.priority),
        enqueuedAt: new Date(num(f.enqueued_ms)),
        deadline: new Date(num(f.deadline_ms)),
        progress: async (value: unknown) => {
          await this.conn.call('QPROGRESS', this.queue, id, JSON.stringify(value));
        },
      };
      if (this.autoExtend) this.scheduleExtend(id, entry, job.deadline.getTime());
      work = this.handle(job);
    } catch (err) {
      // A payload the codec cannot read fails like a throwing handler: it is retried, then dead-lettered.
      this.finish(id);
      work = this.fail(id, asError(err)).then(() => undefined);
    }
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Runs the handler, frees its slot, then acks or nacks the job. */
  private async handle(job: Job<T>): Promise<void> {
    let result: R;
    try {
      result = await this.handler(job);
    } catch (err) {
      const error = asError(err);
      this.finish(job.id);
      if (await this.fail(job.id, error)) this.tell(() => this.emit('failed', job, error));
      return;
    }
    this.finish(job.id);
    try {
      await this.ack(job.id, result);
    } catch (err) {
      this.report(err);
      return;
    }
    this.tell(() => this.emit('completed', job, result));
  }

  /**
   * Emits a job's event: a listener that throws is reported as an error,
   * as a subscriber's throwing handler is, instead of escaping as an
   * unhandled rejection that ends the process.
   */
  private tell(emit: () => void): void {
    try {
      emit();
    } catch (err) {
      this.report(err);
    }
  }

  /**
   * Queues an ack with what the handler returned; the acks of one turn of
   * the event loop leave together.
   */
  private ack(id: string, result: unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.acks.length === 0) setImmediate(() => void this.flushAcks());
      this.acks.push({ id, result: encodeResult(result), settled: (err) => (err === undefined ? resolve() : reject(err)) });
    });
  }

  /**
   * Sends the queued acks: those without a result as one QACK, each with a
   * result as a QACK of its own (a QACK carries one result). The server
   * acks all of a QACK's ids or none, so when it refuses a batch (one job
   * timed out meanwhile) each id is acked on its own and each handler
   * learns its own outcome.
   */
  private async flushAcks(): Promise<void> {
    const batch = this.acks;
    this.acks = [];
    const plain = batch.filter((a) => a.result === undefined);
    await Promise.all([this.ackTogether(plain), ...batch.filter((a) => a.result !== undefined).map((a) => this.ackOne(a))]);
  }

  private async ackTogether(batch: PendingAck[]): Promise<void> {
    if (batch.length === 0) return;
    if (batch.length === 1) return this.ackOne(batch[0]);
    try {
      await this.conn.call('QACK', this.queue, ...batch.map((a) => a.id));
      for (const a of batch) a.settled();
      return;
    } catch {
      await Promise.all(batch.map((a) => this.ackOne(a)));
    }
  }

  private ackOne(a: PendingAck): Promise<void> {
    const args: Arg[] = [this.queue, a.id];
    if (a.result !== undefined) args.push('RESULT', a.result);
    return this.conn.call('QACK', ...args).then(
      () => a.settled(),
      (err: unknown) => a.settled(err),
    );
  }

  /** Nacks a job with the error's message; reports and returns false when the nack fails. */
  private async fail(id: string, error: Error): Promise<boolean> {
    const message = Buffer.from(error.message || error.name).subarray(0, MAX_ERROR_BYTES);
    try {
      await this.conn.call('QNACK', this.queue, id, 'ERROR', message);
      return true;
    } catch (err) {
      this.report(err);
      return false;
    }
  }

  private finish(id: string): void {
    this.stopExtend(id);
    this.running.delete(id);
    this.sleeper.wake();
  }

  /** Extends the job's visibility when EXTEND_AT_SHARE of what is left remains, again and again. */
  private scheduleExtend(id: string, entry: Running, deadline: number): void {
    const left = deadline - Date.now();
    entry.timer = setTimeout(
      () => {
        this.conn
          .call('QTOUCH', this.queue, id)
          .then((next) => {
            if (this.running.get(id) === entry && entry.timer !== undefined) this.scheduleExtend(id, entry, num(next));
          })
          .catch((err) => {
            // NOTHELD: the job was released (timeout, dropped connection); its handler's ack reports it too.
            if (!hasCode(err, 'NOTHELD')) this.report(err);
          });
      },
      Math.max(0, left * EXTEND_AT_SHARE),
    );
  }

  private stopExtend(id: string): void {
    const entry = this.running.get(id);
    if (entry?.timer !== undefined) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  private report(err: unknown): void {
    reportError(this, err);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function decodeOrUndefined<T>(codec: Codec<T>, bytes: Buffer): T {
  try {
    return codec.decode(bytes);
  } catch {
    return undefined as T;
  }
}

/** A job event as published, with its progress or result parsed. */
function parseEvent(e: QueueEvent): QueueEvent {
  switch (e.event) {
    case 'progress':
      return { ...e, progress: parseTold(e.progress as string) };
    case 'completed':
      return e.result === undefined ? e : { ...e, result: parseTold(e.result as string) };
    default:
      return e;
  }
}

/** A handler's return value as QACK RESULT sends it: a Buffer as it is, anything else as JSON; undefined for nothing. */
function encodeResult(result: unknown): string | Buffer | undefined {
  if (result === undefined) return undefined;
  if (Buffer.isBuffer(result)) return result;
  return JSON.stringify(result);
}

/**
 * What a worker told (a progress from job.progress(), a handler's result),
 * as the server keeps it, parsed: JSON, or text that is not JSON as it is.
 */
function parseTold(value: string | null): unknown {
  if (value === null) return null;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function dateOrNull(value: unknown): Date | null {
  const ms = numOrNull(value);
  return ms === null ? null : new Date(ms);
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw misuse(`${name} must be a positive whole number, got ${value}`);
  return value;
}

function nonNegativeMs(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw misuse(`${name} must be a whole number of milliseconds >= 0, got ${value}`);
  return value;
}

function settingValue(value: unknown): string {
  switch (value) {
    case null:
      return 'default';
    case true:
      return 'yes';
    case false:
      return 'no';
    default:
      return String(value);
  }
}

function toSettings(f: Record<string, unknown>): QueueSettings {
  return {
    visibilityTimeout: num(f['visibility-timeout']),
    maxAttempts: num(f['max-attempts']),
    backoff: text(f.backoff) as QueueSettings['backoff'],
    backoffDelay: num(f['backoff-delay']),
    backoffMax: num(f['backoff-max']),
    backoffJitter: Number(text(f['backoff-jitter'])),
    deadLetterMax: num(f['dead-letter-max']),
    releaseOnDisconnect: text(f['release-on-disconnect']) === 'yes',
    rateLimit: num(f['rate-limit']),
    rateWindow: num(f['rate-window']),
    maxInFlight: num(f['max-in-flight']),
    events: text(f.events) === 'yes',
    keepCompleted: num(f['keep-completed']),
    keepCompletedAge: num(f['keep-completed-age']),
  };
}
