/**
 * flowgen: the flow-miss benchmark's generator, one process per step: every
 * frame a new UDP flow (bpf/tools/pktgen_flows.c, vr_flowgen), offered at a
 * paced rate. Like pktgen.ts it must run inside the sending pod's network
 * namespace: BPF_PROG_TEST_RUN resolves ingress_ifindex there, and the live
 * frames' XDP_TX sends them out of that interface into the host's veth.
 *
 *   node bench/flowgen.ts --bpffs-dir DIR --dst-mac MAC --src-ip A --dst-ip B --rate R --seconds S --max-frames N
 *
 * --rate 0: as fast as it goes (calls of --burst frames back to back).
 * Otherwise every --tick-us the frames due so far (rate x elapsed) go in
 * one call of at most --burst frames, and the process sleeps in between:
 * the offered rate is the asked one as long as one call keeps up.
 * Stops after S seconds or N frames, whichever comes first. --first F
 * starts the flow counter at F (a run after a warm-up makes other flows).
 *
 * Prints one JSON line (FlowgenResult). DIR (a fresh bpffs directory) is
 * removed before exit.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { loadAndPin } from '../src/bpf/object.ts';
import { BpfMap } from '../src/bpf/map.ts';
import { BpfProgram, BPF_F_TEST_XDP_LIVE_FRAMES } from '../src/bpf/program.ts';
import { netdev } from '../src/bpf/netdev.ts';
import { BpfLink } from '../src/bpf/link.ts';
import { parseMac, udp4Frame } from './frame.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/tools/pktgen_flows.o', import.meta.url));
/** what vr_flowgen copies from the template: Ethernet + IPv4 + UDP (FG_HDR_LEN) */
export const FLOWGEN_HDR_LEN = 42;

export interface FlowgenResult {
  /** frames sent (each a new flow) */
  offered: number;
  /** the generator's loop time */
  seconds: number;
  /** BPF_PROG_TEST_RUN calls made */
  calls: number;
  /** CLOCK_MONOTONIC (process.hrtime.bigint) at the loop's start and end, ns, as decimal strings */
  startNs: string;
  endNs: string;
  /** the pacing's sleeps: how many, their mean and longest (ms): a loop that oversleeps offers bursts */
  sleeps: number;
  sleepMeanMs: number;
  sleepMaxMs: number;
  /** runs vr_flowgen counted (its counter less --first: must equal offered) */
  counter: number;
  ifindex: number;
}

const { values: a } = parseArgs({
  options: {
    'bpffs-dir': { type: 'string' },
    ifname: { type: 'string', default: 'eth0' },
    'dst-mac': { type: 'string' },
    'src-ip': { type: 'string' },
    'dst-ip': { type: 'string' },
    rate: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '3' },
    'max-frames': { type: 'string', default: '1000000' },
    burst: { type: 'string', default: '4096' },
    'tick-us': { type: 'string', default: '250' },
    batch: { type: 'string', default: '64' },
    'hold-dev': { type: 'string' },
    first: { type: 'string', default: '0' },
  },
});
for (const k of ['bpffs-dir', 'dst-mac', 'src-ip', 'dst-ip'] as const) if (!a[k]) throw new Error(`flowgen: --${k} is required`);
const dir = a['bpffs-dir']!;
const dev = netdev(a.ifname);
if (!dev) throw new Error(`flowgen: no ${a.ifname} in this network namespace`);
const rate = Number(a.rate);
const maxFrames = Number(a['max-frames']);
const burst = Number(a.burst);
const tickMs = Number(a['tick-us']) / 1000;
if (!(rate >= 0) || !(maxFrames >= 1) || !(burst >= 1) || !(tickMs > 0)) throw new Error('flowgen: bad --rate, --max-frames, --burst or --tick-us');

/** sleepMs: a sub-millisecond sleep that does not spin (Atomics.wait on a private word) */
const word = new Int32Array(new SharedArrayBuffer(4));
const sleepMs = (ms: number) => Atomics.wait(word, 0, 0, ms);

try {
  loadAndPin({
    objectPath: OBJECT,
    maxEntries: {},
    maps: ['fg_hdr', 'fg_ctr'],
    programs: ['vr_flowgen'],
    mapDir: join(dir, 'maps'),
    progDir: join(dir, 'progs'),
  });
  const frame = udp4Frame({ dstMac: parseMac(a['dst-mac']!), srcMac: dev.mac, srcIp: a['src-ip']!, dstIp: a['dst-ip']! });
  const hdr = BpfMap.open(join(dir, 'maps', 'fg_hdr'));
  hdr.update(Buffer.alloc(4), frame.subarray(0, FLOWGEN_HDR_LEN));
  hdr.close();
  const first = BigInt(a.first);
  const ctrMap = BpfMap.open(join(dir, 'maps', 'fg_ctr'));
  const first8 = Buffer.alloc(8);
  first8.writeBigUInt64LE(first);
  ctrMap.update(Buffer.alloc(4), first8);
  const prog = BpfProgram.open(join(dir, 'progs', 'vr_flowgen'), 'vr_flowgen');
  // A test run of more than one frame puts the program into the kernel's XDP dispatcher and takes it out
  // again, each a synchronize_rcu (~25 ms here, the CPU idle meanwhile): a paced generator would send one
  // burst per grace period. Attached (generic mode) to a device that never carries a packet, the program
  // stays in the dispatcher and a run changes nothing there.
  let hold: BpfLink | undefined;
  if (a['hold-dev']) {
    const d = netdev(a['hold-dev']);
    if (!d) throw new Error(`flowgen: no ${a['hold-dev']} in this network namespace`);
    hold = BpfLink.attachXdp(prog.fd, d.ifindex, 'generic', join(dir, 'hold-link'));
  }
  const run = { data: frame, ingressIfindex: dev.ifindex, repeat: 1, flags: BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: Number(a.batch) };
  const limitNs = BigInt(Math.round(Number(a.seconds) * 1e9));
  let offered = 0;
  let calls = 0;
  let sleeps = 0;
  let sleptMs = 0;
  let sleepMaxMs = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0n;
  // a call has a fixed cost (the live-frame setup): paced, one call per tick with what is due by then
  const minDue = rate > 0 ? Math.max(1, Math.floor((rate * tickMs) / 1000)) : 1;
  while (elapsed < limitNs && offered < maxFrames) {
    // frames due by now (all of them at once when unpaced), at most one burst per call
    const due = rate > 0 ? Math.min(maxFrames, Math.floor((rate * Number(elapsed)) / 1e9)) - offered : maxFrames - offered;
    if (due >= minDue) {
      run.repeat = Math.min(due, burst);
      prog.testRun(run);
      offered += run.repeat;
      calls++;
    } else {
      const s0 = process.hrtime.bigint();
      sleepMs(tickMs);
      const slept = Number(process.hrtime.bigint() - s0) / 1e6;
      sleeps++;
      sleptMs += slept;
      if (slept > sleepMaxMs) sleepMaxMs = slept;
    }
    elapsed = process.hrtime.bigint() - t0;
  }
  const t1 = t0 + elapsed;
  hold?.detach();
  prog.close();
  const counter = Number(ctrMap.lookup(Buffer.alloc(4))!.readBigUInt64LE(0) - first);
  ctrMap.close();
  const out: FlowgenResult = { offered, seconds: Number(elapsed) / 1e9, calls, sleeps, sleepMeanMs: sleeps ? sleptMs / sleeps : 0, sleepMaxMs, startNs: String(t0), endNs: String(t1), counter, ifindex: dev.ifindex };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
