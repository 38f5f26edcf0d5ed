/**
 * pktgen: the benchmark's traffic generator, one process per run. It must
 * run inside the sending pod's network namespace (nsenter --net=...), since
 * BPF_PROG_TEST_RUN resolves ingress_ifindex in the caller's namespace;
 * with live frames, the program's XDP_TX sends each frame out of that
 * interface, i.e. into the host end of the pod's veth.
 *
 *   node bench/pktgen.ts --bpffs-dir DIR --dst-mac MAC --src-ip A --dst-ip B --seconds S
 *
 * Prints one JSON line: {"offered": frames, "seconds": loop time, "ifindex": n}.
 * DIR (a fresh bpffs directory) is removed before exit.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { loadAndPin } from '../src/bpf/object.ts';
import { BpfMap } from '../src/bpf/map.ts';
import { BpfProgram, BPF_F_TEST_XDP_LIVE_FRAMES } from '../src/bpf/program.ts';
import { netdev } from '../src/bpf/netdev.ts';
import { HDR_LEN, parseMac, udp4Frame } from './frame.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/tools/pktgen.o', import.meta.url));

export interface PktgenResult {
  offered: number;
  seconds: number;
  ifindex: number;
}

const { values: a } = parseArgs({
  options: {
    'bpffs-dir': { type: 'string' },
    ifname: { type: 'string', default: 'eth0' },
    'dst-mac': { type: 'string' },
    'src-ip': { type: 'string' },
    'dst-ip': { type: 'string' },
    seconds: { type: 'string', default: '4' },
    repeat: { type: 'string', default: String(1 << 18) },
    batch: { type: 'string', default: '64' },
  },
});
for (const k of ['bpffs-dir', 'dst-mac', 'src-ip', 'dst-ip'] as const) if (!a[k]) throw new Error(`pktgen: --${k} is required`);
const dir = a['bpffs-dir']!;
const dev = netdev(a.ifname);
if (!dev) throw new Error(`pktgen: no ${a.ifname} in this network namespace`);

try {
  loadAndPin({
    objectPath: OBJECT,
    maxEntries: {},
    maps: ['pktgen_hdr'],
    programs: ['vr_pktgen'],
    mapDir: join(dir, 'maps'),
    progDir: join(dir, 'progs'),
  });
  const frame = udp4Frame({ dstMac: parseMac(a['dst-mac']!), srcMac: dev.mac, srcIp: a['src-ip']!, dstIp: a['dst-ip']! });
  const hdr = BpfMap.open(join(dir, 'maps', 'pktgen_hdr'));
  hdr.update(Buffer.alloc(4), frame.subarray(0, HDR_LEN));
  hdr.close();
  const prog = BpfProgram.open(join(dir, 'progs', 'vr_pktgen'), 'vr_pktgen');
  const run = { data: frame, ingressIfindex: dev.ifindex, repeat: Number(a.repeat), flags: BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: Number(a.batch) };
  const limitNs = BigInt(Math.round(Number(a.seconds) * 1e9));
  let offered = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0n;
  // each call is one bounded burst (repeat frames); the window ends after the burst that crosses it
  while (elapsed < limitNs) {
    prog.testRun(run);
    offered += run.repeat;
    elapsed = process.hrtime.bigint() - t0;
  }
  prog.close();
  const out: PktgenResult = { offered, seconds: Number(elapsed) / 1e9, ifindex: dev.ifindex };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
