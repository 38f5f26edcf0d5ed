/**
 * Lab: network namespaces and veths with a unique prefix, torn down by
 * cleanup() (and by an exit hook if the caller forgets).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function sh(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      input: opts.input,
      timeout: opts.timeoutMs ?? 30_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    if (opts.allowFail) return `${e.stdout ?? ''}${e.stderr ?? ''}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

export interface Pod {
  ns: string;
  /** pod-side interface name (inside ns) */
  ifname: string;
  /** host-side veth name (inside the host ns) */
  hostIf: string;
  mac: string;
  hostMac: string;
  ip4: string;
  ip6: string;
}

/**
 * PodOffloads: 'xdp' = GRO on, TX checksum offload off in the pod (needed
 * by an XDP datapath); 'default' = the kernel's defaults, no ethtool call.
 */
export type PodOffloads = 'xdp' | 'default';

export interface PodOptions {
  /** default 'xdp' */
  offloads?: PodOffloads;
}

const live = new Set<Lab>();
process.once('exit', () => {
  for (const lab of live) lab.cleanup();
});

export class Lab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];

  constructor(tag = 'vr') {
    this.prefix = `${tag}${process.pid % 100000}${randomBytes(2).toString('hex')}`;
    live.add(this);
  }

  /** ns: creates a namespace <prefix>-<name> with lo up; returns its name. */
  ns(name: string): string {
    const full = `${this.prefix}-${name}`;
    sh('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    this.ip(full, ['link', 'set', 'lo', 'up']);
    return full;
  }

  ip(ns: string, args: string[]): string {
    return sh('ip', ['-n', ns, ...args]);
  }

  /** exec: runs a command inside a namespace (network namespace only). */
  exec(ns: string, cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): string {
    return sh('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], opts);
  }

  sysctl(ns: string, key: string, value: string): void {
    this.exec(ns, 'sysctl', ['-qw', `${key}=${value}`]);
  }

  mac(ns: string, ifname: string): string {
    const j = JSON.parse(this.ip(ns, ['-j', 'link', 'show', ifname])) as { address: string }[];
    return j[0]!.address;
  }

  /**
   * pod: a pod namespace whose eth0 is a veth to hostIf in hostNs, both ends
   * with the given MTU. Offloads 'xdp' (the default): GRO on and TX checksum
   * offload off, what a CNI does for an XDP datapath (a frame redirected into
   * a veth needs GRO or XDP on the receiving end, and partial checksums do
   * not survive XDP redirect). 'default': no ethtool call, the kernel's
   * defaults, what a TC datapath (bpf_redirect_peer) keeps.
   */
  pod(name: string, hostNs: string, hostIf: string, ip4: string, gw4: string, ip6: string, gw6: string, mtu = 1500, opts: PodOptions = {}): Pod {
    const ns = this.ns(name);
    sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', hostIf, 'netns', hostNs, 'mtu', String(mtu)]);
    for (const [n, dev] of [[ns, 'eth0'], [hostNs, hostIf]] as const) {
      const got = this.mtu(n, dev);
      if (got !== mtu) throw new Error(`${dev} in ${n}: MTU ${got}, wanted ${mtu}`);
    }
    this.ip(ns, ['addr', 'add', ip4, 'dev', 'eth0']);
    this.ip(ns, ['-6', 'addr', 'add', ip6, 'dev', 'eth0', 'nodad']);
    this.ip(ns, ['link', 'set', 'eth0', 'up']);
    this.ip(hostNs, ['link', 'set', hostIf, 'up']);
    this.ip(ns, ['route', 'add', 'default', 'via', gw4, 'dev', 'eth0', 'onlink']);
    this.ip(ns, ['-6', 'route', 'add', 'default', 'via', gw6, 'dev', 'eth0', 'onlink']);
    if ((opts.offloads ?? 'xdp') === 'xdp') this.exec(ns, 'ethtool', ['-K', 'eth0', 'gro', 'on', 'tx', 'off']);
    return {
      ns,
      ifname: 'eth0',
      hostIf,
      mac: this.mac(ns, 'eth0'),
      hostMac: this.mac(hostNs, hostIf),
      ip4: ip4.split('/')[0]!,
      ip6: ip6.split('/')[0]!,
    };
  }

  mtu(ns: string, ifname: string): number {
    const j = JSON.parse(this.ip(ns, ['-j', 'link', 'show', ifname])) as { mtu: number }[];
    return j[0]!.mtu;
  }

  /** spawnIn: a long-running process inside a namespace, killed by cleanup(). */
  spawnIn(ns: string, cmd: string, args: string[], opts: { stdio?: 'inherit' | 'pipe' | 'ignore' } = {}): ChildProcess {
    const p = spawn('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], { stdio: opts.stdio ?? 'pipe' });
    this.procs.push(p);
    return p;
  }

  ping(ns: string, dst: string, count = 3, opts: { allowFail?: boolean } = {}): { ok: boolean; received: number; output: string } {
    const out = this.exec(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '1', dst], { allowFail: true, timeoutMs: 20_000 });
    const m = /(\d+) received/.exec(out);
    const received = m ? Number(m[1]) : 0;
    if (!received && !opts.allowFail) throw new Error(`ping ${dst} from ${ns} failed:\n${out}`);
    return { ok: received > 0, received, output: out };
  }

  cleanup(): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    this.procs.length = 0;
    for (const ns of this.namespaces.splice(0).reverse()) sh('ip', ['netns', 'del', ns], { allowFail: true });
    live.delete(this);
  }
}
