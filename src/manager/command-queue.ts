/**
 * CommandQueue: every write to the datapath runs here, one at a time, in
 * arrival order. Reads do not queue: they read the maps. Long writes yield
 * between chunks (`breathe`) so that health, Get and List calls are answered
 * meanwhile.
 */
export class CommandQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** run: `fn` after every earlier command has finished. */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    this.waiting++;
    const p = this.tail.then(fn).finally(() => this.waiting--);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** depth: commands queued or running. */
  get depth(): number {
    return this.waiting;
  }
}

/** breathe: lets the event loop run I/O before the next chunk of a long write. */
export const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** CHUNK: routes validated or written between two breaths (a few ms here). */
export const CHUNK = 4096;
