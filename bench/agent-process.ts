/**
 * AgentProcess: the miss-agent.ts process of one step of the misses phase,
 * driven over its stdin and stdout (see there), and collectExit, a child's
 * output and exit code with a kill timer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BenchOptions } from './options.ts';
import type { AgentResult } from './miss-agent.ts';

const AGENT = fileURLToPath(new URL('miss-agent.ts', import.meta.url));
/** the drain: nothing new for QUIET_MS ends it, MAX_DRAIN_MS bounds it */
export const QUIET_MS = 1000;
export const MAX_DRAIN_MS = 5_000;

/** collectExit: a child's output and exit code; killed after timeoutMs */
export async function collectExit(p: ChildProcess, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  p.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const kill = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.once('exit', (c) => resolve(c))));
  clearTimeout(kill);
  return { code, stdout, stderr };
}

export class AgentProcess {
  private readonly p: ChildProcess;
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  private stderr = '';

  private constructor(p: ChildProcess) {
    this.p = p;
    createInterface({ input: p.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.waiter?.();
    });
    p.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    p.once('exit', () => this.waiter?.());
  }

  static async start(socket: string, mode: 'watch' | 'setup', o: BenchOptions): Promise<AgentProcess> {
    const p = spawn(process.execPath, [
      AGENT, '--socket', socket, '--mode', mode,
      '--window', String(o.missWindow), '--max-batch', String(o.missMaxBatch), '--flush-us', String(o.missFlushUs),
      '--inflight', String(o.missInflight), '--max-seconds', String(o.missDur + 120),
    ], { stdio: ['pipe', 'pipe', 'pipe'] });
    const a = new AgentProcess(p);
    await a.line(20_000, 'ready');
    return a;
  }

  /** line: the next line of output, parsed (it must come within ms) */
  private async line(ms: number, what: string): Promise<unknown> {
    const until = Date.now() + ms;
    while (!this.lines.length) {
      if (this.p.exitCode !== null || this.p.signalCode !== null) throw new Error(`miss-agent exited (${this.p.exitCode ?? this.p.signalCode}) before ${what}:\n${this.stderr}`);
      if (Date.now() > until) throw new Error(`miss-agent: no ${what} after ${ms} ms:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiter = () => (clearTimeout(t), resolve());
      });
    }
    return JSON.parse(this.lines.shift()!);
  }

  /** drain: until `expected` misses came (see miss-agent.ts); maxMs 0: what it has now */
  async drain(expected: number, maxMs = MAX_DRAIN_MS): Promise<AgentResult> {
    this.p.stdin!.write(`drain ${expected} ${QUIET_MS} ${maxMs}\n`);
    return (await this.line(MAX_DRAIN_MS + 10_000, 'result')) as AgentResult;
  }

  /** reset: the agent forgets what came so far (resetDone waits for its answer) */
  reset(): void {
    this.p.stdin!.write('reset\n');
  }

  async resetDone(): Promise<void> {
    await this.line(10_000, 'reset');
  }

  kill(): void {
    if (this.p.exitCode !== null || this.p.signalCode !== null) return;
    this.p.stdin!.write('exit\n');
    const t = setTimeout(() => this.p.kill('SIGKILL'), 2000).unref();
    this.p.once('exit', () => clearTimeout(t));
  }
}
