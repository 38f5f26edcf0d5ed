/** The bench's output: a table for people, JSON for machines (bench/results/). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PacketResults } from './packet-rate.ts';
import type { RateResult } from './route-rate.ts';
import type { ProgramCost } from './program-cost.ts';
import { mpps } from './util.ts';

const RESULTS = fileURLToPath(new URL('results/', import.meta.url));

export interface BenchResult {
  startedAt: string;
  wallSeconds: number;
  host: { kernel: string; cpus: number; node: string };
  options: Record<string, unknown>;
  packets?: PacketResults;
  routes?: RateResult[];
  program?: ProgramCost;
}

export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function formatReport(r: BenchResult): string {
  const out: string[] = [];
  const o = r.options;
  if (r.packets) {
    const p = r.packets;
    out.push(`Packet rate: ${p.frameBytes} B IPv4/UDP, pod1 -> host ns -> pod2, median of ${o.runs} x ${o.dur} s, generator on CPU ${o.cpu ?? 'any'}`);
    const fwd = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(0));
    out.push(table(
      ['path', 'Mpps delivered', 'Mpps offered', 'ns/pkt', 'forwarding ns/pkt', 'runs (Mpps delivered)'],
      ([[p.floor, undefined], [p.linux, p.forwardingNs.linux], [p.xdp, p.forwardingNs.xdp]] as const).map(([x, f]) => [
        x.path,
        mpps(x.medianPps),
        mpps(x.medianOfferedPps),
        (1e9 / x.medianPps).toFixed(0),
        fwd(f),
        x.runs.map((run) => mpps(run.deliveredPps)).join(' '),
      ]),
    ));
    out.push(`ratio ${p.xdp.path} / ${p.linux.path}: ${p.ratio.toFixed(2)}x packets/s; forwarding cost linux / xdp: ${p.forwardingNs.ratio.toFixed(2)}x`);
    out.push(`(${p.floor.path}: generator + XDP_DROP sink on pod1's host veth, nothing forwarded; forwarding ns/pkt = ns/pkt - its ns/pkt)`, '');
  }
  if (r.routes) {
    out.push('Route programming: IPv4 /32 routes, gRPC over the unix socket vs ip -batch into a fresh netns');
    out.push(table(
      ['method', 'routes', 'seconds', 'routes/s', 'vs ip -batch'],
      r.routes.map((x) => [x.name, String(x.routes), x.seconds.toFixed(3), Math.round(x.perSecond).toString(), `${(x.vsBaseline ?? 0).toFixed(2)}x`]),
    ));
    out.push('');
  }
  if (r.program) {
    const p = r.program;
    out.push(`XDP program alone: BPF_PROG_TEST_RUN, ${p.repeat} runs on one 60 B IPv4 frame, median of ${p.samples}`);
    out.push(table(
      ['program', 'ns/run', 'above empty'],
      [
        ['empty (XDP_DROP sink)', String(p.baselineNs), '-'],
        ['vr_xdp_vif, IPv4 forward, 1 route', String(p.forwardNs), String(p.forwardNs - p.baselineNs)],
        [`vr_xdp_vif, IPv4 forward, ${p.routes} routes`, String(p.forwardManyRoutesNs), String(p.forwardManyRoutesNs - p.baselineNs)],
      ],
    ));
    out.push('');
  }
  out.push(`wall time ${r.wallSeconds.toFixed(1)} s`);
  return out.join('\n');
}

/** writeResults: latest.json and a timestamped copy; returns the copy's path. */
export function writeResults(r: BenchResult): string {
  mkdirSync(RESULTS, { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  const stamped = join(RESULTS, `${r.startedAt.replaceAll(':', '-')}.json`);
  writeFileSync(join(RESULTS, 'latest.json'), json);
  writeFileSync(stamped, json);
  return stamped;
}
