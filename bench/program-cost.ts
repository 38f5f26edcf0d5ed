/**
 * program-cost: what the XDP program itself costs per packet, without veths
 * or a generator: BPF_PROG_TEST_RUN with `repeat` runs the program on one
 * frame many times in the kernel and reports the mean time per run. The
 * baseline, in the same process, is the bench's XDP_DROP sink (a program
 * that does nothing), so the difference is our parsing, lookups, counters
 * and rewrite. Runs in a network namespace of its own (started with
 * `unshare --net` by run.ts): its veths and pins touch nothing else.
 *
 *   unshare --net node bench/program-cost.ts --bpffs-dir DIR --routes N
 *
 * Prints one JSON line (ProgramCost). DIR is removed before exit.
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadAndPin } from '../src/bpf/object.ts';
import { BpfProgram } from '../src/bpf/program.ts';
import { ifindexOf } from '../src/bpf/netdev.ts';
import { openDatapath } from '../src/maps/pinned-datapath.ts';
import { DatapathManager } from '../src/manager/datapath-manager.ts';
import { vifSpec } from '../src/manager/model.ts';
import { udp4Frame } from './frame.ts';
import { kernelOf } from '../src/maps/kernel.ts';
import { parseMac, parsePrefix } from '../src/manager/net-addr.ts';
import { median } from './util.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/vr_xdp.o', import.meta.url));
const SINK = fileURLToPath(new URL('../bpf/build/tools/sink.o', import.meta.url));
/** runs per sample; one call repeats the frame REPEAT times in the kernel */
const RUNS = 254 * 100;
/**
 * The kernel reruns the program on the same buffer without restoring it,
 * so a forwarded frame's TTL runs down: a TTL-255 frame forwards 254 runs
 * (before 2026-11-28 this bench repeated a TTL-64 frame 10^6 times, and
 * timed mostly the TTL-exceeded drop).
 */
const REPEAT = 254;
const SAMPLES = 7;
const XDP_REDIRECT = 4;

export interface ProgramCost {
  repeat: number;
  samples: number;
  /** median ns per run of each case */
  baselineNs: number;
  forwardNs: number;
  forwardManyRoutesNs: number;
  routes: number;
}

const { values: a } = parseArgs({ options: { 'bpffs-dir': { type: 'string' }, routes: { type: 'string', default: '100000' } } });
const dir = a['bpffs-dir'];
if (!dir) throw new Error('--bpffs-dir is required');
const routes = Number(a.routes);

/** nsPerRun: the median over SAMPLES of the mean ns per run; `want`: the verdict every call must end with */
function nsPerRun(prog: BpfProgram, frame: Buffer, ifindex: number, want?: number): number {
  const samples: number[] = [];
  const calls = Math.ceil(RUNS / REPEAT);
  for (let i = 0; i < SAMPLES; i++) {
    let ns = 0;
    for (let c = 0; c < calls; c++) {
      const r = prog.testRun({ data: frame, ingressIfindex: ifindex, repeat: REPEAT });
      if (want !== undefined && r.retval !== want) throw new Error(`${prog.name}: verdict ${r.retval}, want ${want}`);
      ns += r.durationNs;
    }
    samples.push(ns / calls);
  }
  return median(samples);
}

try {
  for (const [x, y] of [['p1', 'q1'], ['p2', 'q2']]) execFileSync('ip', ['link', 'add', x!, 'type', 'veth', 'peer', 'name', y!]);
  const dp = openDatapath({ bpffsRoot: dir, instance: 'dp', objectPath: OBJECT, sizes: { maxInterfaces: 64, maxNextHops: 1024, maxRoutes: routes + 16 } });
  const mgr = new DatapathManager(kernelOf(dp), { maxVrfs: 4096 }, pino({ level: 'silent' }));
  await mgr.load();
  const vif = (index: number, name: string) =>
    mgr.addInterface(vifSpec({ index, type: 'virtual', name, vrf: 1, mac: parseMac(`02:00:00:00:0${index}:01`, 'mac'), hookPolicy: 'xdp' }));
  await vif(1, 'p1');
  await vif(2, 'p2');
  await mgr.addNextHop({ id: 12, vrf: 1, kind: 'encap', encap: { vifIndex: 2, dmac: parseMac('02:aa:00:00:00:02', 'mac'), smac: undefined } });
  const route = (prefix: string) => {
    const p = parsePrefix(prefix, 'prefix');
    return { vrf: 1, addr: p.addr, plen: p.plen, nhId: 12, proxyArp: false };
  };
  await mgr.addRoutes([route('10.10.2.2/32')]);
  const frame = udp4Frame({ dstMac: parseMac('02:00:00:00:01:01', 'mac'), srcMac: parseMac('02:aa:00:00:00:01', 'mac'), srcIp: '10.10.1.2', dstIp: '10.10.2.2', ttl: 255 });
  const p1 = ifindexOf('p1');

  loadAndPin({ objectPath: SINK, maxEntries: {}, maps: [], programs: ['vr_sink'], mapDir: join(dir, 'sink'), progDir: join(dir, 'sink') });
  const sink = BpfProgram.open(join(dir, 'sink', 'vr_sink'), 'vr_sink');
  const baselineNs = nsPerRun(sink, frame, p1);
  const forwardNs = nsPerRun(dp.xdp, frame, p1, XDP_REDIRECT);
  // the same lookup with a full table around it (other /32s, one /24 per 256)
  const specs = Array.from({ length: routes }, (_, i) => route(`10.${100 + ((i >> 16) & 127)}.${(i >> 8) & 255}.${i & 255}/32`));
  for (let i = 0; i < specs.length; i += 10_000) await mgr.addRoutes(specs.slice(i, i + 10_000));
  const forwardManyRoutesNs = nsPerRun(dp.xdp, frame, p1, XDP_REDIRECT);
  const out: ProgramCost = { repeat: RUNS, samples: SAMPLES, baselineNs, forwardNs, forwardManyRoutesNs, routes };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
