/**
 * TestDatapath: a real datapath (the compiled object, loaded and pinned in
 * a throwaway bpffs directory) with a manager on top, for packet tests
 * through BPF_PROG_TEST_RUN. Test runs without a context come in on the
 * loopback device (ifindex 1 of the test's namespace), so tests add a vif
 * for "lo" and exercise forwarding to fake ifindexes via the maps.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { openDatapath, type PinnedDatapath, type TableSizes } from '../../src/maps/pinned-datapath.ts';
import { DatapathManager } from '../../src/manager/datapath-manager.ts';
import { kernelOf } from '../../src/maps/kernel.ts';
import { RouteProbe } from '../../src/maps/tables/route-probe.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const OBJECT = join(ROOT, 'bpf/build/vr_xdp.o');
export const TEST_BPFFS = '/sys/fs/bpf/vrouter-ebpf-test';

export const XDP_ABORTED = 0;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_TX = 3;
export const XDP_REDIRECT = 4;

export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;

/** the TC verdict that stands for an XDP one (the datapath returns the same decision on both hooks) */
export function tcVerdictOf(xdp: number): number {
  const v = ({ [XDP_PASS]: TC_ACT_OK, [XDP_DROP]: TC_ACT_SHOT, [XDP_REDIRECT]: TC_ACT_REDIRECT } as Record<number, number>)[xdp];
  if (v === undefined) throw new Error(`no TC verdict for XDP verdict ${xdp}`);
  return v;
}

/**
 * tcTestRunnable: whether BPF_PROG_TEST_RUN takes the frame for a TC
 * program. This kernel (6.18) refuses (EINVAL) an skb whose ethertype is
 * IPv4 or IPv6 but whose frame is shorter than an Ethernet + IPv4 (34) /
 * IPv6 (54) header, and any skb larger than a page less its head- and
 * tailroom (a multi-buffer frame is an XDP thing): such cases run only
 * through XDP.
 */
export function tcTestRunnable(frame: Buffer): boolean {
  if (frame.length < 14 || frame.length > 3072) return false;
  const proto = frame.readUInt16BE(12);
  if (proto === 0x0800) return frame.length >= 14 + 20;
  if (proto === 0x86dd) return frame.length >= 14 + 40;
  return true;
}

/** HOOKS: the two entries of one datapath, for tests that run each case through both */
export const HOOKS = [
  { name: 'XDP', prog: (dp: PinnedDatapath) => dp.xdp, verdict: (xdp: number) => xdp, runnable: (_: Buffer) => true },
  { name: 'TC', prog: (dp: PinnedDatapath) => dp.tc, verdict: tcVerdictOf, runnable: tcTestRunnable },
] as const;

/** removeStale: pins left by test processes that died before disposing */
function removeStale(): void {
  if (!existsSync(TEST_BPFFS)) return;
  for (const dir of readdirSync(TEST_BPFFS)) {
    const pid = Number(/^t(\d+)-/.exec(dir)?.[1]);
    if (pid && pid !== process.pid && !existsSync(`/proc/${pid}`)) rmSync(join(TEST_BPFFS, dir), { recursive: true, force: true });
  }
}

let n = 0;
export function openTestDatapath(sizes: TableSizes = { maxInterfaces: 64, maxNextHops: 256, maxRoutes: 1024 }): {
  dp: PinnedDatapath;
  mgr: DatapathManager;
  instance: string;
  dispose: () => void;
} {
  removeStale();
  const instance = `t${process.pid}-${n++}`;
  const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes });
  const probe = RouteProbe.open(OBJECT, dp.maps);
  const mgr = new DatapathManager(kernelOf(dp, probe), { maxVrfs: 4096 }, pino({ level: 'silent' }));
  void mgr.load(); // queued first: writes wait for it
  return {
    dp,
    mgr,
    instance,
    dispose: () => {
      probe?.close();
      dp.close();
      rmSync(join(TEST_BPFFS, instance), { recursive: true, force: true });
    },
  };
}
