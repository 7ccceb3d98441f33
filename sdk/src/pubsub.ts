// PUBSUB: MQTT-style topics with retained values, over one subscriber
// connection the SDK opens on the first subscribe.
import { EventEmitter } from 'node:events';
import { codecFor, decodeNamed, type EncodingOptions } from './codec.js';
import type { Arg, Connection, Connector } from './connection.js';
import { reportError } from './loop.js';
import { num, text } from './reply.js';

/** Receives a message: the payload, decoded, and the topic it was published on. */
export type TopicHandler<T> = (payload: T, topic: string) => void;

/** Removes a subscription; resolves once the server has dropped it (when it was the filter's last handler). */
export type Unsubscribe = () => Promise<void>;

/** Options of PubSub.publish. */
export interface PublishOptions {
  /** Also keep the payload as the topic's retained value, delivered to every new subscriber (an empty raw payload clears it; clearRetained() clears it in any encoding). */
  retain?: boolean;
}

/** A topic's retained value. */
export interface Retained<T> {
  topic: string;
  payload: T;
  /** Milliseconds since it was published. */
  age: number;
}

/** Events of PubSub. */
export interface PubSubEvents {
  /** A message a handler could not receive (its payload is not JSON: subscribe with `{ encoding: 'raw' }` for Buffers), or an error a handler threw. */
  error: [error: Error];
}

/** A handler as the subscriber connection calls it: the raw payload and the topic. */
type RawHandler = (payload: Buffer, topic: string) => void;

/** The handlers of one topic filter. */
interface Subscription {
  handlers: Set<RawHandler>;
  /** Settles once the server confirmed the filter and its retained values reached the first handler. */
  subscribed: Promise<void>;
}

/**
 * Publish/subscribe on hierarchical topics (`home/kitchen/temp`) with MQTT
 * wildcards in filters: `+` one level, `#` the rest.
 *
 * Subscriptions share one connection the SDK opens on the first
 * subscribe and restores after a reconnect, retained values included.
 * @example
 * const off = await nexo.pubsub.subscribe<number>('home/+/temp', (t, topic) => console.log(topic, t))
 * await nexo.pubsub.publish('home/kitchen/temp', 21.5, { retain: true })
 */
export class PubSub extends EventEmitter<PubSubEvents> {
  private subscriber: Connection | undefined;
  private readonly filters = new Map<string, Subscription>();

  /** @internal */
  constructor(
    private readonly conn: Connection,
    private readonly connector: Connector,
  ) {
    super();
  }

  /**
   * Subscribes a handler to a topic filter. Resolves once the subscription
   * is in effect and the retained values of the matching topics have been
   * handed to the handler; returns the function that unsubscribes it.
   * Payloads are parsed as JSON unless `{ encoding: 'raw' }` asks for Buffers;
   * a message that is not JSON is not delivered but reported as an `error`
   * event, as is an error the handler throws.
   * A message matching several subscribed filters reaches each of them.
   */
  async subscribe<T = unknown>(filter: string, handler: TopicHandler<T>, options: EncodingOptions = {}): Promise<Unsubscribe> {
    const codec = codecFor<T>(options.encoding);
    const deliver: RawHandler = (payload, topic) => {
      let value: T;
      try {
        value = decodeNamed(codec, payload, `a message on '${topic}'`, "publish JSON or subscribe with { encoding: 'raw' }");
      } catch (err) {
        reportError(this, err);
        return;
      }
      // A handler that throws must not stop the other handlers of the message, nor escape into ioredis.
      try {
        handler(value, topic);
      } catch (err) {
        reportError(this, err);
      }
    };
    const subscriber = await this.connectSubscriber();
    let existing = this.filters.get(filter);
    // A subscribe of the same filter still in progress hands its retained values to its own handler only.
    while (existing) {
      await existing.subscribed;
      const current = this.filters.get(filter);
      if (current === existing) break;
      existing = current;
    }
    let receive: RawHandler = deliver;
    if (existing) {
      // Subscribing the filter again would send its retained values to every handler; only the new one gets
      // them, from PRETAINED. Live messages arriving meanwhile wait until the retained values are handed over.
      let waiting: [Buffer, string][] | undefined = [];
      receive = (payload, topic) => {
        if (waiting) waiting.push([payload, topic]);
        else deliver(payload, topic);
      };
      existing.handlers.add(receive);
      try {
        for (const r of await this.retainedRaw(filter)) deliver(r.payload, r.topic);
      } catch (err) {
        await this.removeHandler(subscriber, filter, receive);
        throw err;
      }
      for (const [payload, topic] of waiting) deliver(payload, topic);
      waiting = undefined;
    } else {
      // The retained values follow the confirmation; a PING's reply comes after all of them.
      const subscribed = subscriber.call('PSUB', filter).then(() => subscriber.call('PING')).then(() => undefined);
      this.filters.set(filter, { handlers: new Set([deliver]), subscribed });
      try {
        await subscribed;
      } catch (err) {
        this.filters.delete(filter);
        throw err;
      }
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      await this.removeHandler(subscriber, filter, receive);
    };
  }

  /** Publishes a payload on a topic; returns how many subscriptions received it. */
  async publish<T = unknown>(topic: string, payload: T, options: PublishOptions & EncodingOptions = {}): Promise<number> {
    const args: Arg[] = [topic, codecFor<T>(options.encoding).encode(payload)];
    if (options.retain) args.push('RETAIN');
    return num(await this.conn.call('PPUB', ...args));
  }

  /** The retained values of the topics matching a filter, sorted by topic. */
  async retained<T = unknown>(filter: string, options: EncodingOptions = {}): Promise<Retained<T>[]> {
    const codec = codecFor<T>(options.encoding);
    return (await this.retainedRaw(filter)).map((r) => ({
      ...r,
      payload: decodeNamed(codec, r.payload, `the retained value of '${r.topic}'`, "publish JSON or list it with { encoding: 'raw' }"),
    }));
  }

  /** Deletes the retained values of the topics matching a filter; returns how many. */
  async clearRetained(filter: string): Promise<number> {
    return num(await this.conn.call('PDELRETAINED', filter));
  }

  /** @internal closes the subscriber connection */
  async close(): Promise<void> {
    this.filters.clear();
    await this.subscriber?.close();
  }

  /** Removes a handler of a filter and, when it was the last one, the server's subscription. */
  private async removeHandler(subscriber: Connection, filter: string, handler: RawHandler): Promise<void> {
    const sub = this.filters.get(filter);
    if (!sub || !sub.handlers.delete(handler) || sub.handlers.size > 0) return;
    this.filters.delete(filter);
    await subscriber.call('PUNSUB', filter);
  }

  private async retainedRaw(filter: string): Promise<Retained<Buffer>[]> {
    const reply = (await this.conn.call('PRETAINED', filter)) as [Buffer, Buffer, number][];
    return reply.map(([topic, payload, age]) => ({ topic: text(topic), payload, age: num(age) }));
  }

  private async connectSubscriber(): Promise<Connection> {
    if (!this.subscriber) {
      // RESP3 lets PSUB run on a connection that keeps answering commands,
      // and ioredis delivers PSUB's messages only under it: the subscriber
      // speaks RESP3 whatever the shared connection's protocol. ioredis
      // would resubscribe PSUB filters with PSUBSCRIBE (glob semantics), so
      // the SDK resubscribes itself.
      const subscriber = this.connector.dedicated('subscriber', { autoResubscribe: false, protocol: 3 });
      subscriber.redis.on('pmessageBuffer', (filter: Buffer, topic: Buffer, payload: Buffer) => {
        const sub = this.filters.get(text(filter));
        if (!sub) return;
        const name = text(topic);
        for (const handler of sub.handlers) handler(payload, name);
      });
      let first = true;
      subscriber.redis.on('ready', () => {
        if (first) {
          first = false;
          return;
        }
        const filters = [...this.filters.keys()];
        if (filters.length > 0) subscriber.call('PSUB', ...filters).catch(() => undefined);
      });
      // Connection errors while reconnecting are ioredis's to retry; without a listener it would print them.
      subscriber.redis.on('error', () => undefined);
      this.subscriber = subscriber;
    }
    await this.subscriber.ready();
    return this.subscriber;
  }
}
