/**
 * Journal: the executor of plans. A change that spans maps is a series of
 * steps, each run with its inverse recorded; `rollback` runs the inverses
 * in reverse. One journal serves one call or one whole transaction, so a
 * transaction's undo covers every object kind it touched. It also keeps
 * what the steps changed, by object key (`changed`), for the manager's
 * change log once the write commits; a rollback forgets them.
 */
import type { Change } from './change-log.ts';

export interface Step {
  /** what the step does, for logs */
  what: string;
  undo: () => void;
}

export class Journal {
  private readonly steps: Step[] = [];
  /** the objects written so far (see ChangeLog) */
  readonly changes: Change[] = [];

  /** changed: an object this journal's steps added, updated or deleted. */
  changed(c: Change): void {
    this.changes.push(c);
  }

  /** run: does `fn`; if it returns, its inverse is kept for rollback. */
  run<T>(what: string, fn: () => T, undo: (result: T) => void): T {
    const result = fn();
    this.steps.push({ what, undo: () => undo(result) });
    return result;
  }

  /** record: an inverse for work already done. */
  record(what: string, undo: () => void): void {
    this.steps.push({ what, undo });
  }

  get size(): number {
    return this.steps.length;
  }

  /**
   * rollback: runs every inverse, newest first. An inverse that fails does
   * not stop the others; the failures are returned for the caller to log.
   */
  rollback(): { what: string; err: unknown }[] {
    const failed: { what: string; err: unknown }[] = [];
    this.changes.length = 0;
    while (this.steps.length) {
      const s = this.steps.pop()!;
      try {
        s.undo();
      } catch (err) {
        failed.push({ what: s.what, err });
      }
    }
    return failed;
  }
}
