// Helpers that turn ioredis's replies into plain values. ioredis 6 returns
// RESP3 maps as flat arrays [k1, v1, k2, v2, …] under both protocols, and
// callBuffer returns bulk strings as Buffers.

/** A map reply as an object of its raw values. */
export function fields(reply: unknown): Record<string, unknown> {
  const flat = reply as unknown[];
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** A bulk string (Buffer or string) as text; null stays null. */
export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/** A bulk string or null as text or null. */
export function textOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : text(value);
}

/** An integer reply (a number, or a bulk string of digits) as a number. */
export function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(text(value));
}

/** An integer reply that may be null. */
export function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

/** A RESP3 boolean, or its RESP2 integer, as a boolean. */
export function bool(value: unknown): boolean {
  return value === true || value === 1 || value === '1';
}

/** A bulk string as a Buffer. */
export function bytes(value: unknown): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(String(value));
}
