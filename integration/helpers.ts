// Small helpers the test files share: reading replies, awaiting states and
// errors, and cutting connections.
import { NexoError } from '@nexo/sdk';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';

/** Bounds the wait for a state the server reaches at once (a closed connection's jobs released, a member joined). */
export const SETTLE_TIMEOUT_MS = 5_000;
/** Pause between checks of such a state. */
export const POLL_MS = 5;
/** The SDK's IDLE_BLOCK_MS: how long an idle worker's QPOP waits unless close() unblocks it. */
export const SDK_IDLE_BLOCK_MS = 5_000;

/** Turns a flat [k1, v1, k2, v2, ...] reply (or a RESP3 map) into an object. */
export function toObject(reply: unknown): Record<string, unknown> {
  if (!Array.isArray(reply)) return reply as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
  return out;
}

/** The message of the error a promise rejects with. */
export async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the command to fail, but it succeeded');
}

/** The error a promise rejects with, checked to be a NexoError. */
export async function nexoErrorOf(promise: Promise<unknown>): Promise<NexoError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(NexoError);
    return err as NexoError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Waits until check() is true; the server reaches the state at once, the bound only guards a hang. */
export async function settle(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`state not reached within ${SETTLE_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** A promise settled from outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Closes a connection of the server by its CLIENT SETNAME name, as a network cut would. */
export async function killByName(redis: Redis, name: string): Promise<void> {
  const list = String(await redis.client('LIST'));
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  if (!line) throw new Error(`no connection named ${name} in CLIENT LIST:\n${list}`);
  const id = /^id=(\d+)/.exec(line)![1];
  expect(await redis.client('KILL', 'ID', id)).toBe(1);
}
