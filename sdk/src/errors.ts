/**
 * An error the NEXO server answered, or a misuse the SDK refuses before
 * sending anything.
 *
 * `code` is the first word of the server's error (`ERR`, `WRONGTYPE`,
 * `NOTHELD`, `NOSTREAM`, `NOGROUP`, `NOTASSIGNED`, `NOAUTH`, `OVERLOAD`,
 * `READONLY`, …), or `SDK` for a misuse caught by the SDK. The message is the
 * server's, followed by what to do about it when the SDK knows.
 *
 * @example
 * try { await queue.push(hugePayload) }
 * catch (err) { if (err instanceof NexoError && err.code === 'ERR') … }
 */
export class NexoError extends Error {
  /** The error code: the first word of the server's reply, or `SDK`. */
  readonly code: string;
  /** The command that failed, e.g. `QACK`; undefined for SDK misuse. */
  readonly command: string | undefined;

  constructor(code: string, message: string, command?: string) {
    super(message);
    this.name = 'NexoError';
    this.code = code;
    this.command = command;
  }
}

/** The code of errors the SDK raises itself, before sending a command. */
export const SDK_ERROR_CODE = 'SDK';

/** What to do about a server error, by code, appended to its message. */
const hints: Record<string, string> = {
  NOAUTH: 'the server has a password: put it in the URL, redis://:PASSWORD@host:port',
  WRONGPASS: 'check the password in the URL (redis://:PASSWORD@host:port)',
  WRONGTYPE: 'the key holds another type: use another key, or delete it first',
  NOTHELD:
    'the job was already settled, its visibility timeout passed, or the worker connection dropped; ' +
    'it is delivered again, so make the handler idempotent or raise `visibility`',
  NOSTREAM: 'append to the stream or create it with stream.create() first',
  NOGROUP: 'the consumer group was deleted; consume() creates it again',
  NOTASSIGNED: 'the partition moved to another member of the group in a rebalance; its messages are delivered there',
  OVERLOAD: 'the server has too many writes waiting for the disk; retry shortly',
  READONLY: 'the server could not write its log (disk full or failing); fix the disk and restart the server',
};

/** Turns an ioredis reply error into a NexoError; other errors pass through unchanged. */
export function toNexoError(err: unknown, command?: string): unknown {
  if (!(err instanceof Error) || err instanceof NexoError || err.name !== 'ReplyError') return err;
  const space = err.message.indexOf(' ');
  const code = space > 0 ? err.message.slice(0, space) : err.message;
  const hint = hints[code];
  const message = hint ? `${err.message} (${hint})` : err.message;
  return new NexoError(code, message, command);
}

/** A NexoError for a misuse of the SDK. */
export function misuse(message: string): NexoError {
  return new NexoError(SDK_ERROR_CODE, message);
}

/** Whether err is a server error with that code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof NexoError && err.code === code;
}
