/**
 * UDP ends inside lab namespaces, as small node processes: a sink that
 * prints each datagram it gets (IPv4 and IPv6 on one port), and a one-shot
 * sender from a fixed source port.
 */
import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../lab/topology.ts';

const SINK = `
const s = require('node:dgram').createSocket({ type: 'udp6', ipv6Only: false });
s.on('message', (m) => process.stdout.write(m.toString() + '\\n'));
s.bind(Number(process.argv[1]), '::', () => process.stdout.write('ready\\n'));
`;

const SEND = `
const [family, sport, dst, dport, ...msgs] = process.argv.slice(1);
const s = require('node:dgram').createSocket(family);
s.bind(Number(sport), () => {
  let left = msgs.length;
  for (const m of msgs) s.send(m, Number(dport), dst, () => { if (--left === 0) s.close(); });
});
`;

export class UdpSink {
  readonly lines: string[] = [];
  private readonly proc: ChildProcess;
  private waiters: (() => void)[] = [];

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** start: a sink on port in ns, once it listens. */
  static async start(lab: Lab, ns: string, port: number): Promise<UdpSink> {
    const sink = new UdpSink(lab.spawnIn(ns, process.execPath, ['-e', SINK, String(port)]));
    await sink.waitFor((l) => l === 'ready', 10_000);
    return sink;
  }

  /** waitFor: resolves once a line matches, rejects after ms. */
  async waitFor(match: (line: string) => boolean, ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(match);
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`udp sink: no matching datagram within ${ms} ms (got ${JSON.stringify(this.lines.slice(-5))})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  stop(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** udpSend: datagrams from ns, source port sport, to dst:dport (family 'udp4' or 'udp6'). */
export function udpSend(lab: Lab, ns: string, family: 'udp4' | 'udp6', sport: number, dst: string, dport: number, msgs: string[]): void {
  lab.exec(ns, process.execPath, ['-e', SEND, family, String(sport), dst, String(dport), ...msgs]);
}
