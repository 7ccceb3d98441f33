// What a worker's and a consumer's background loops share.

/** A wait that wake() ends early, so that close() never waits out a loop's pause. */
export class Sleeper {
  private wakeUp: (() => void) | undefined;

  /** Waits ms milliseconds, or until wake() without ms. */
  sleep(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wakeUp === done) self.wakeUp = undefined;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Ends the current sleep, if any. */
  wake(): void {
    this.wakeUp?.();
  }
}

/** An EventEmitter with an 'error' event. */
interface ErrorEmitter {
  listenerCount(event: 'error'): number;
  emit(event: 'error', error: Error): boolean;
}

/**
 * Emits err as an 'error' event when someone listens. An EventEmitter throws
 * an unheard 'error'; a background loop must not crash the process for a
 * lost ack or a dropped connection, which it survives.
 */
export function reportError(emitter: ErrorEmitter, err: unknown): void {
  if (emitter.listenerCount('error') > 0) emitter.emit('error', err instanceof Error ? err : new Error(String(err)));
}
