/**
 * backgroundPing: pings from pod 1 (or the namespace `from`) to pod 2 (or `dst`) while something happens (a
 * restart, an upgrade, a hook move); resolves with what ping counted.
 * Bounded: count × interval plus ping's 1 s wait for the last reply.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from '../../lab/topology.ts';
import type { TwoPods } from '../../lab/two-pods.ts';

export interface PingCount {
  transmitted: number;
  received: number;
}

export function backgroundPing(lab: Lab, topo: TwoPods, count: number, opts: { intervalS?: number; dst?: string; from?: string } = {}): Promise<PingCount> {
  const dst = opts.dst ?? topo.pods[1].ip4;
  const p = lab.spawnIn(opts.from ?? topo.pods[0].ns, 'ping', ['-c', String(count), '-i', String(opts.intervalS ?? 0.01), '-W', '1', dst]);
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise<PingCount>((resolve) =>
    p.once('exit', () => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      resolve({ transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) });
    }),
  );
}

/**
 * pingAcross: `during` (a restart, an upgrade) runs 300 ms into a
 * background ping of `count` packets, which must outlast it (`what` names it
 * in the assertion); resolves with what `during` gave and what ping counted.
 */
export async function pingAcross<T>(lab: Lab, topo: TwoPods, count: number, what: string, during: () => Promise<T>): Promise<{ value: T; ping: PingCount }> {
  const ping = backgroundPing(lab, topo, count);
  let pingDone = false;
  void ping.then(() => (pingDone = true));
  await sleep(300);
  const value = await during();
  assert.equal(pingDone, false, `the ping spans the ${what}`);
  return { value, ping: await ping };
}

/** upgradeLine: the daemon log's line saying what an upgrade did */
export function upgradeLine(log: string): string {
  return log.split('\n').find((l) => l.includes('pinned datapath upgraded')) ?? '(no upgrade logged)';
}
