/**
 * The underlay as an independent dissector sees it: tcpdump captures on an
 * interface of a lab namespace (the router's side of a host's fabric veth),
 * then Debian's tshark reads the file and reports, per frame, the protocol
 * chain and the fields the overlay tests assert (outer and inner addresses
 * in order, MPLS label, VNI, UDP ports, payload). UDP 6635 is decoded as
 * MPLS (RFC 7510), which tshark does not do by itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { sh, type Lab } from '../../lab/topology.ts';
import { MPLS_UDP_PORT } from '../../lab/tunnel-api.ts';

export interface Dissected {
  /** e.g. ['eth', 'ethertype', 'ip', 'udp', 'mpls', 'ip', 'icmp', 'data'] */
  protocols: string[];
  /** every IPv4 header's addresses, outer first */
  ipSrc: string[];
  ipDst: string[];
  ipv6Src: string[];
  ipv6Dst: string[];
  /** every Ethernet header's destination, outer first */
  ethDst: string[];
  mplsLabels: number[];
  vni: number[];
  udpDstPorts: number[];
  /** the innermost payload as hex (UDP data), if any */
  data: string;
}

const FIELDS = ['frame.protocols', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'eth.dst', 'mpls.label', 'vxlan.vni', 'udp.dstport', 'data.data'] as const;

/** dissect: every frame of a capture file as tshark decodes it. */
export function dissect(file: string): Dissected[] {
  const out = sh('tshark', [
    '-r', file, '-d', `udp.port==${MPLS_UDP_PORT},mpls`, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'separator=/t',
    ...FIELDS.flatMap((f) => ['-e', f]),
  ]);
  const list = (s: string | undefined) => (s ? s.split(',') : []);
  return out.split('\n').filter((l) => l.trim()).map((line) => {
    const c = line.split('\t');
    return {
      protocols: list(c[0]).join(':').split(':').filter(Boolean),
      ipSrc: list(c[1]), ipDst: list(c[2]), ipv6Src: list(c[3]), ipv6Dst: list(c[4]), ethDst: list(c[5]),
      mplsLabels: list(c[6]).map(Number), vni: list(c[7]).map(Number), udpDstPorts: list(c[8]).map(Number),
      data: list(c[9]).at(-1) ?? '',
    };
  });
}

/**
 * UnderlayCapture: tcpdump on dev in ns (a pcap filter, at most count
 * frames, at most timeoutMs), ready once tcpdump says it listens.
 */
export class UnderlayCapture {
  private readonly dir: string;
  private readonly proc: ChildProcess;
  private readonly exited: Promise<void>;
  private readonly killTimer: NodeJS.Timeout;

  private constructor(lab: Lab, ns: string, dev: string, filter: string, count: number, timeoutMs: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'vr-underlay-'));
    // -Z root: tcpdump would otherwise drop to its own user, who cannot write the private directory
    this.proc = lab.spawnIn(ns, 'tcpdump', ['-i', dev, '-Z', 'root', '--immediate-mode', '-U', '-n', '-c', String(count), '-w', this.file, filter]);
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    this.killTimer = setTimeout(() => this.proc.kill('SIGTERM'), timeoutMs);
  }

  get file(): string {
    return join(this.dir, 'underlay.pcap');
  }

  static async start(lab: Lab, ns: string, dev: string, filter: string, opts: { count?: number; timeoutMs?: number } = {}): Promise<UnderlayCapture> {
    const c = new UnderlayCapture(lab, ns, dev, filter, opts.count ?? 20, opts.timeoutMs ?? 20_000);
    let err = '';
    await new Promise<void>((resolve, reject) => {
      c.proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) resolve();
      });
      void c.exited.then(() => reject(new Error(`tcpdump on ${dev} in ${ns} exited: ${err}`)));
    });
    return c;
  }

  /** stop: ends the capture (if count was not reached) and returns what tshark reads in it; removes the file. */
  async stop(): Promise<Dissected[]> {
    // immediate mode and -U: each packet is in the file as it comes; a short wait lets the last ones in
    await new Promise((r) => setTimeout(r, 200));
    this.proc.kill('SIGTERM');
    await this.exited;
    clearTimeout(this.killTimer);
    try {
      return dissect(this.file);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
