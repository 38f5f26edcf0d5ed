/**
 * CpuSampler: a process's CPU time (all its threads) every SAMPLE_MS, with
 * CLOCK_MONOTONIC stamps: how much a daemon worked over a step, and when it
 * went idle again.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** the process is idle below this share of one CPU */
const IDLE_SHARE = 0.1;
const SAMPLE_MS = 20;

/** cpuNs: CPU time of every thread of a process, ns (schedstat: ns precision, unlike /proc/<pid>/stat's ticks) */
function cpuNs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns;
}

/** CpuSampler: a process's CPU time every SAMPLE_MS, with CLOCK_MONOTONIC stamps */
export class CpuSampler {
  readonly samples: { t: bigint; cpu: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly pid: number;

  constructor(pid: number) {
    this.pid = pid;
    this.take();
    this.timer = setInterval(() => this.take(), SAMPLE_MS);
  }

  private take(): void {
    this.samples.push({ t: process.hrtime.bigint(), cpu: cpuNs(this.pid) });
  }

  /** idleSince: the process has used less than IDLE_SHARE of a CPU since t (and t is at least windowMs back) */
  idleFor(windowMs: number): boolean {
    const last = this.samples.at(-1)!;
    const from = this.samples.findLast((s) => Number(last.t - s.t) / 1e6 >= windowMs);
    return from !== undefined && (last.cpu - from.cpu) / Number(last.t - from.t) < IDLE_SHARE;
  }

  /** busyUntil: the end of the last sample interval in which the process used at least IDLE_SHARE of a CPU */
  busyUntil(): bigint {
    for (let i = this.samples.length - 1; i > 0; i--) {
      const [a, b] = [this.samples[i - 1]!, this.samples[i]!];
      if ((b.cpu - a.cpu) / Number(b.t - a.t) >= IDLE_SHARE) return b.t;
    }
    return this.samples[0]!.t;
  }

  stop(): { cpuSeconds: number; samples: number } {
    clearInterval(this.timer);
    this.take();
    return { cpuSeconds: (this.samples.at(-1)!.cpu - this.samples[0]!.cpu) / 1e9, samples: this.samples.length };
  }
}

/** rssMiB: VmRSS of a process */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
