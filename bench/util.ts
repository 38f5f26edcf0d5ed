/** Small shared helpers of the bench: statistics, timing, progress lines. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** /proc/stat counts in USER_HZ ticks */
let ticksPerSecond: number | undefined;

/**
 * cpuBusySeconds: busy time of all CPUs of the machine since boot
 * (/proc/stat "cpu" line: user, nice, system, irq, softirq, steal; guest
 * time is inside user), in seconds. Softirq is where veth and forwarding
 * work lands, so it must be in.
 */
export function cpuBusySeconds(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  if (f[0] !== 'cpu') throw new Error(`/proc/stat: unexpected first line ${f.join(' ')}`);
  const [user, nice, system, , , irq, softirq, steal] = f.slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / ticksPerSecond;
}

/** table: columns padded to their widest cell, the first left-aligned, the others right-aligned. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}
