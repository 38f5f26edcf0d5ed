/**
 * listenUdp: a UDP socket bound in a lab namespace (a node child there);
 * resolves once it is bound, with `got`: the first datagram it reads
 * (text and sender). The child exits after that datagram, or after 15 s.
 */
import type { Lab } from '../../lab/topology.ts';

export interface Datagram {
  text: string;
  from: string;
}

export async function listenUdp(lab: Lab, ns: string, ip: string, port: number): Promise<{ got: Promise<Datagram> }> {
  const script = `const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => { process.stdout.write(JSON.stringify({ text: m.toString(), from: r.address + ':' + r.port }) + '\\n'); process.exit(0); });
s.bind(${port}, '${ip}', () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(3), 15000);`;
  const proc = lab.spawnIn(ns, process.execPath, ['-e', script]);
  let out = '';
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const got = new Promise<Datagram>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) onReady();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Datagram);
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => reject(new Error(`UDP listener in ${ns} exited ${code} without a datagram: ${out}`)));
  });
  await Promise.race([ready, got.then(() => undefined)]);
  return { got };
}

/** within: p, or a rejection naming `what` after ms. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))),
  ]);
}
