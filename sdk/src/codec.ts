// Payload encoding: JSON by default, raw Buffers on request.
import { misuse } from './errors.js';

/** A value as the SDK sends it: bytes or text. */
export type Wire = Buffer | string;

/**
 * How payloads and values are encoded: `json` (the default) stores
 * `JSON.stringify(value)` and parses it back; `raw` stores Buffers and
 * strings as they are and returns Buffers.
 */
export type Encoding = 'json' | 'raw';

/** Options shared by every broker handle that carries payloads. */
export interface EncodingOptions {
  /** `json` (default) or `raw` (Buffers in and out, strings accepted in). */
  encoding?: Encoding;
}

/** Encodes and decodes one kind of payload. */
export interface Codec<T> {
  encode(value: T): Wire;
  decode(bytes: Buffer): T;
}

const jsonCodec: Codec<unknown> = {
  encode(value: unknown): Wire {
    const text = JSON.stringify(value);
    if (text === undefined) throw misuse(`cannot encode ${typeof value} as JSON; pass a JSON value or use { encoding: 'raw' }`);
    return text;
  },
  decode(bytes: Buffer): unknown {
    return JSON.parse(bytes.toString('utf8'));
  },
};

const rawCodec: Codec<Buffer> = {
  encode(value: Buffer | string): Wire {
    if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
      throw misuse(`raw encoding takes a Buffer or a string, got ${typeof value}`);
    }
    return value;
  },
  decode(bytes: Buffer): Buffer {
    return bytes;
  },
} as Codec<Buffer>;

/** The codec of an encoding. */
export function codecFor<T>(encoding: Encoding = 'json'): Codec<T> {
  switch (encoding) {
    case 'json':
      return jsonCodec as Codec<T>;
    case 'raw':
      return rawCodec as unknown as Codec<T>;
    default:
      throw misuse(`unknown encoding '${String(encoding)}': use 'json' or 'raw'`);
  }
}

/**
 * Decodes bytes with codec. A payload the codec refuses (not JSON) fails with
 * an SDK error that names what it is and says what to do instead.
 */
export function decodeNamed<T>(codec: Codec<T>, bytes: Buffer, what: string, remedy: string): T {
  try {
    return codec.decode(bytes);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw misuse(`cannot parse ${what} as JSON (${reason}); ${remedy}`);
  }
}
