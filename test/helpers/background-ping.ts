/**
 * backgroundPing: pings from pod 1 to pod 2 while something happens (a
 * restart, an upgrade, a hook move); resolves with what ping counted.
 * Bounded: count × interval plus ping's 1 s wait for the last reply.
 */
import type { Lab } from '../../lab/topology.ts';
import type { TwoPods } from '../../lab/two-pods.ts';

export interface PingCount {
  transmitted: number;
  received: number;
}

export function backgroundPing(lab: Lab, topo: TwoPods, count: number, opts: { intervalS?: number; dst?: string } = {}): Promise<PingCount> {
  const dst = opts.dst ?? topo.pods[1].ip4;
  const p = lab.spawnIn(topo.pods[0].ns, 'ping', ['-c', String(count), '-i', String(opts.intervalS ?? 0.01), '-W', '1', dst]);
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise<PingCount>((resolve) =>
    p.once('exit', () => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      resolve({ transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) });
    }),
  );
}
