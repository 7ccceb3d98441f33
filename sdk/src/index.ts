// The public API of the NEXO SDK.
export { Nexo, type ConnectOptions } from './client.js';
export { NexoError } from './errors.js';
export type { Encoding, EncodingOptions } from './codec.js';
export { Store, StoreMap, type SetOptions, type ScanOptions } from './store.js';
export {
  Queue,
  Worker,
  type Job,
  type JobFailure,
  type JobHandler,
  type JobInfo,
  type PushOptions,
  type QueueCounts,
  type QueueInfo,
  type QueueEvent,
  type QueueSettings,
  type RepeatInfo,
  type RepeatOptions,
  type WorkerEvents,
  type WorkerOptions,
} from './queue.js';
export { PubSub, type TopicHandler, type PublishOptions, type Retained, type Unsubscribe, type PubSubEvents } from './pubsub.js';
export {
  Stream,
  Consumer,
  type ConsumeOptions,
  type ConsumerEvents,
  type From,
  type GroupInfo,
  type Message,
  type MessageHandler,
  type PartitionInfo,
  type Position,
  type ReadOptions,
  type StreamInfo,
  type StreamSettings,
} from './stream.js';
