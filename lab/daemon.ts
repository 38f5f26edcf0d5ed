/**
 * LabDaemon: a vrouter-ebpfd process inside a lab namespace, with its own
 * instance name, bpffs directory and socket, and a client connected to it.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { VrouterClient } from '../src/client/client.ts';
import { DAEMON_NODE_FLAGS } from '../src/config.ts';
import type { Lab } from './topology.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BPFFS_LAB_ROOT = '/sys/fs/bpf/vrouter-ebpf-lab';

export interface DaemonOptions {
  instance: string;
  ns: string;
  extraArgs?: string[];
  /** where the daemon's JSON log goes (appended); default: discarded */
  logFile?: string;
}

export class LabDaemon {
  readonly opts: DaemonOptions;
  readonly socketPath: string;
  readonly lab: Lab;
  proc: ChildProcess | undefined;
  client: VrouterClient | undefined;
  private output = '';

  constructor(lab: Lab, opts: DaemonOptions) {
    this.lab = lab;
    this.opts = opts;
    const dir = join('/tmp', 'vrouter-ebpf-lab', opts.instance);
    mkdirSync(dir, { recursive: true });
    this.socketPath = join(dir, 'api.sock');
  }

  get args(): string[] {
    return [
      '--instance', this.opts.instance,
      '--bpffs-root', BPFFS_LAB_ROOT,
      '--socket', this.socketPath,
      ...(this.opts.extraArgs ?? []),
    ];
  }

  /** start: spawns the daemon and waits until its API answers. */
  async start(timeoutMs = 15_000): Promise<VrouterClient> {
    const node = process.execPath;
    const p = this.lab.spawnIn(this.opts.ns, node, [...DAEMON_NODE_FLAGS, join(ROOT, 'src/main.ts'), ...this.args]);
    this.proc = p;
    this.output = '';
    p.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    let exitCode: number | null | undefined;
    p.once('exit', (code) => (exitCode = code));
    this.client?.close();
    const client = new VrouterClient(`unix:${this.socketPath}`);
    // short waits: grpc-js keeps a pending waitForReady's timer alive even
    // after close(), which would hold the caller's process open
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exitCode !== undefined) {
        client.close();
        throw new Error(`daemon exited with ${exitCode} before it was ready:\n${this.output}`);
      }
      try {
        await client.waitReady(200);
        break;
      } catch (err) {
        if (Date.now() > deadline) {
          client.close();
          throw new Error(`daemon not ready after ${timeoutMs} ms: ${(err as Error).message}\n${this.output}`);
        }
      }
    }
    this.client = client;
    return client;
  }

  /** log: what the daemon printed so far (JSON lines). */
  get log(): string {
    return this.output;
  }

  /** stop: signals the daemon and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.client?.close();
    this.client = undefined;
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const done = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    const code = await done;
    clearTimeout(t);
    return code;
  }

  /** destroy: stops the daemon and removes its pinned datapath (detaching it). */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(join(BPFFS_LAB_ROOT, this.opts.instance), { recursive: true, force: true });
    rmSync(join('/tmp', 'vrouter-ebpf-lab', this.opts.instance), { recursive: true, force: true });
  }
}

/**
 * startDaemons: one daemon per namespace (a simulated host each), instance
 * `<lab prefix>-<namespace suffix>`; if one fails to start, those already
 * started are destroyed before the error is thrown.
 */
export async function startDaemons(lab: Lab, namespaces: string[], extraArgs: string[] = []): Promise<LabDaemon[]> {
  const daemons: LabDaemon[] = [];
  try {
    for (const ns of namespaces) {
      const d = new LabDaemon(lab, { instance: `${lab.prefix}-${ns.slice(lab.prefix.length + 1)}`, ns, extraArgs });
      daemons.push(d);
      await d.start();
    }
    return daemons;
  } catch (err) {
    for (const d of daemons) await d.destroy();
    throw err;
  }
}
