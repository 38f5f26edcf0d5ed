/** Small shared helpers of the bench: statistics, timing, progress lines. */
import { performance } from 'node:perf_hooks';

/** median: of a non-empty list (the lower middle for an even count, a figure that was really measured). */
export function median(xs: number[]): number {
  if (!xs.length) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

/** timed: how long fn took, in seconds. */
export async function timed(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** progress: one line on stderr, so that stdout stays the table. */
export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export const mpps = (pps: number) => (pps / 1e6).toFixed(2);
