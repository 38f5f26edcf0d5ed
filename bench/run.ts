/**
 * npm run bench: TCP pod to pod through a bare veth pair, Linux forwarding
 * and our datapath on both hooks (tcp-rate.ts); then our datapath's packet
 * rate on both hooks against Linux forwarding on the same topology in the
 * same run; then route programming through the gRPC API against
 * `ip -batch`; then the program's own cost per packet, that of an
 * established flow against the plain route path (flow-cost.ts); flow misses
 * delivered to an agent and flow setups per second (miss-rate.ts); a route
 * lookup as the table grows, before and after the host-route hashes
 * (route-cost.ts); last, pod to remote pod across two simulated hosts, our
 * overlay against Linux vxlan devices (overlay-rate.ts).
 * Everything lives in throwaway namespaces, lab daemon instances and a
 * bench bpffs directory (bench/rigs.ts), all removed at the end, also on
 * failure, Ctrl-C or the time budget running out.
 */
import { join } from 'node:path';
import { cpus, release } from 'node:os';
import type { Lab } from '../lab/topology.ts';
import { sh } from '../lab/topology.ts';
import { buildTwoPods, programTwoPods } from '../lab/two-pods.ts';
import { AttachHook } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { cliOptions, parseOptions, usage, type BenchOptions } from './options.ts';
import { PacketBench, benchBpffsDir, summarize, summarizeTcSink, type PathResult, type Sink } from './packet-rate.ts';
import { enableLinuxForwarding, setGro } from './linux-forwarding.ts';
import { attachBareXdpRedirect } from './xdp-bare.ts';
import { measureRoutes } from './route-rate.ts';
import { measureTcp } from './tcp-rate.ts';
import { measureOverlay, overlayBudgetSeconds } from './overlay-rate.ts';
import { datapathView, requireHook } from './datapath-view.ts';
import { Rigs } from './rigs.ts';
import { formatReport, writeResults, type BenchResult } from './report.ts';
import { FRAME_LEN } from './frame.ts';
import { progress } from './util.ts';
import type { ProgramCost } from './program-cost.ts';
import type { FlowCost } from './flow-cost.ts';
import type { RouteCost } from './route-cost.ts';
import { MissBench } from './miss-rate.ts';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PROGRAM_COST = fileURLToPath(new URL('program-cost.ts', import.meta.url));
const FLOW_COST = fileURLToPath(new URL('flow-cost.ts', import.meta.url));
const ROUTE_COST = fileURLToPath(new URL('route-cost.ts', import.meta.url));

const opts: BenchOptions = cliOptions(usage, () => parseOptions());

/** a run that produced nothing has measured a broken setup, not a rate */
function requireDelivery(r: PathResult, hint: string): void {
  const empty = r.runs.findIndex((run) => run.delivered <= 0);
  if (empty >= 0) throw new Error(`${r.path}: run ${empty + 1} delivered no packet to ${r.sink} (offered ${r.runs[empty]!.offered}); ${hint}`);
}

/**
 * measureTcHook: the packet rate of the TC hook, on a two-pods topology of
 * its own (pods with default offloads, as a TC CNI leaves them), every row
 * counted by a TC sink. The generator XDP-transmits out of pod1's eth0, so
 * its frames reach veth-p1 as xdp_frames, which a veth takes only with NAPI
 * on (GRO or an XDP program): GRO on veth-p1 makes them skbs there, as
 * baseline.sh's tc_redirect did; then tcx ingress runs vr_tc_vif.
 */
async function measureTcHook(rigs: Rigs): Promise<{ floor: PathResult; linux: PathResult; tc: PathResult; view: Record<string, unknown> }> {
  const lab = rigs.lab('vrbtc');
  progress(`lab ${lab.prefix}: the TC hook's topology`);
  const t = buildTwoPods(lab, 1500, { offloads: 'default' });
  const [pod1, pod2] = t.pods;
  const packets = new PacketBench(lab, t, opts);
  setGro(lab, t.host, pod1.hostIf, 'on');
  const atHost: Sink = { ns: t.host, dev: pod1.hostIf, kind: 'tc' };
  packets.attachSink(atHost);
  const floor = await packets.measure('floor', atHost);
  packets.detachSink(atHost);
  requireDelivery(floor, 'the generator or the TC sink does not work');
  const atPod2: Sink = { ns: pod2.ns, dev: 'eth0', kind: 'tc' };
  packets.attachSink(atPod2);
  const fwd = enableLinuxForwarding(lab, t);
  const linux = await packets.measure('linux', atPod2);
  fwd.undo();
  requireDelivery(linux, 'Linux forwarding setup is broken (GRO on the host veth? neighbour?)');
  const daemon = await rigs.startDaemon(lab, t.host);
  await programTwoPods(daemon.client!, t, AttachHook.TC);
  await requireHook(daemon.client!, AttachHook.TC);
  const tc = await packets.measure('vrouter-tc', atPod2);
  const view = await datapathView(daemon.client!);
  requireDelivery(tc, `the datapath says: ${JSON.stringify(view)}`);
  await rigs.release(lab);
  return { floor, linux, tc, view };
}

async function bench(rigs: Rigs, result: BenchResult): Promise<void> {
  // first, while no daemon runs: its CPU figures are of the whole machine
  if (opts.phases.has('tcp')) result.tcp = await measureTcp(rigs, opts);
  if (opts.phases.has('packets') || opts.phases.has('routes') || opts.phases.has('program')) await onTwoPods(rigs, result);
  if (opts.phases.has('flows')) result.flows = measureFlows(rigs, opts);
  if (opts.phases.has('misses')) result.misses = await new MissBench(rigs, opts).run();
  if (opts.phases.has('lookup')) result.lookup = measureLookup(rigs, opts);
  if (opts.phases.has('overlay')) result.overlay = await measureOverlay(rigs, opts);
}

/** onTwoPods: the phases that share one two-pods topology and its daemon */
async function onTwoPods(rigs: Rigs, result: BenchResult): Promise<void> {
  const lab = rigs.lab('vrbench');
  progress(`lab ${lab.prefix}: building the two-pods topology`);
  const t = buildTwoPods(lab);
  const packets = opts.phases.has('packets') ? new PacketBench(lab, t, opts) : undefined;
  const [pod1, pod2] = t.pods;
  const atPod2: Sink = { ns: pod2.ns, dev: 'eth0' };
  const tcAtPod2: Sink = { ...atPod2, kind: 'tc' };
  let before: { floor: PathResult; linux: PathResult; linuxTc: PathResult; bareXdp: PathResult; bareTc: PathResult } | undefined;
  if (packets) {
    // the floor's sink takes pod1's host veth, where our XDP goes later: detached before the daemon starts
    const atHost: Sink = { ns: t.host, dev: pod1.hostIf };
    packets.attachSink(atHost);
    const floor = await packets.measure('floor', atHost);
    packets.detachSink(atHost);
    requireDelivery(floor, 'the generator or the sink does not work');
    packets.attachSink(atPod2);
    const fwd = enableLinuxForwarding(lab, t);
    const linux = await packets.measure('linux', atPod2);
    packets.detachSink(atPod2);
    requireDelivery(linux, 'Linux forwarding setup is broken (GRO on the host veth? neighbour?)');
    packets.attachSink(tcAtPod2);
    const linuxTc = await packets.measure('linux', tcAtPod2);
    packets.detachSink(tcAtPod2);
    fwd.undo();
    requireDelivery(linuxTc, 'Linux forwarding to the TC sink is broken');
    // the limit: a bare XDP redirect on pod1's host veth, to the same two sinks
    const bare = attachBareXdpRedirect(lab, t);
    packets.attachSink(atPod2);
    const bareXdp = await packets.measure('xdp-redirect', atPod2);
    packets.detachSink(atPod2);
    requireDelivery(bareXdp, 'the bare XDP redirect delivers nothing (GRO or XDP on pod2\'s eth0?)');
    packets.attachSink(tcAtPod2);
    const bareTc = await packets.measure('xdp-redirect', tcAtPod2);
    packets.detachSink(tcAtPod2);
    bare.detach();
    requireDelivery(bareTc, 'the bare XDP redirect to the TC sink delivers nothing');
    before = { floor, linux, linuxTc, bareXdp, bareTc };
  }
  const daemon = await rigs.startDaemon(lab, t.host);
  const client = daemon.client!;
  await programTwoPods(client, t, AttachHook.XDP);
  if (packets && before) {
    await requireHook(client, AttachHook.XDP);
    packets.attachSink(atPod2);
    const xdp = await packets.measure('vrouter-xdp', atPod2);
    packets.detachSink(atPod2);
    let view = await datapathView(client);
    requireDelivery(xdp, `the datapath says: ${JSON.stringify(view)}`);
    packets.attachSink(tcAtPod2);
    const xdpTc = await packets.measure('vrouter-xdp', tcAtPod2);
    packets.detachSink(tcAtPod2);
    view = await datapathView(client);
    requireDelivery(xdpTc, `the datapath says: ${JSON.stringify(view)}`);
    result.packets = summarize(FRAME_LEN, before.floor, before.linux, xdp, view, before.bareXdp);
    const tcHook = await measureTcHook(rigs);
    result.packets.tcSink = summarizeTcSink({ floor: tcHook.floor, linux: before.linuxTc, xdp: xdpTc, tc: tcHook.tc, bare: before.bareTc }, tcHook.view);
  }
  if (opts.phases.has('routes')) result.routes = await measureRoutes(client, lab, opts);
  if (opts.phases.has('program')) result.program = measureProgram(lab, opts);
  // the flows phase wants a quiet machine: no daemon of ours left beside it
  await rigs.release(lab);
}

/** measureProgram: program-cost.ts in a network namespace of its own. */
function measureProgram(lab: Lab, o: BenchOptions): ProgramCost {
  progress('program cost: BPF_PROG_TEST_RUN of the XDP program alone');
  const out = sh('unshare', ['--net', process.execPath, PROGRAM_COST, '--bpffs-dir', join(benchBpffsDir(lab), 'program'), '--routes', String(o.routes)], {
    timeoutMs: 300_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as ProgramCost;
}

/**
 * measureFlows: flow-cost.ts in a network namespace of its own, under the
 * bench bpffs directory of a lab that has no namespace (so that the
 * clean-up and its check cover the pins). Its progress goes to our stderr.
 */
function measureFlows(rigs: Rigs, o: BenchOptions): FlowCost {
  const lab = rigs.lab('vrflows');
  progress(`flow cost: BPF_PROG_TEST_RUN of both entries, plain route path vs an established flow, ${o.flows.join(' / ')} flows`);
  const args = [process.execPath, FLOW_COST, '--bpffs-dir', join(benchBpffsDir(lab), 'flows'), '--flows', o.flows.join(','), '--samples', String(o.flowSamples)];
  const out = execFileSync('unshare', ['--net', ...args], { encoding: 'utf8', timeout: 240_000, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop()!) as FlowCost;
}

/** measureLookup: route-cost.ts in a network namespace of its own (as measureFlows). */
function measureLookup(rigs: Rigs, o: BenchOptions): RouteCost {
  const lab = rigs.lab('vrlookup');
  progress(`route lookup: BPF_PROG_TEST_RUN of the v3 and this build, ${o.lookupRoutes.join(' / ')} routes (/32s, then /24s)`);
  const args = [process.execPath, ROUTE_COST, '--bpffs-dir', join(benchBpffsDir(lab), 'lookup'), '--routes', o.lookupRoutes.join(','), '--samples', String(o.lookupSamples)];
  const out = execFileSync('unshare', ['--net', ...args], { encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop()!) as RouteCost;
}

/** the time budget: every step is bounded, this bounds their sum */
function budgetSeconds(o: BenchOptions): number {
  // packet rows: floor, linux, xdp-redirect, vrouter-xdp, each with both sinks, and vrouter-tc
  const packets = o.phases.has('packets') ? 9 * o.runs * (o.dur + 20) : 0;
  // per topology: build, daemon, ping, clean-up; per run: iperf3 and its slack
  const tcp = o.phases.has('tcp') ? o.tcpMtus.length * o.tcpPaths.length * o.tcpRuns * (30 + o.tcpStreams.length * (o.tcpDur + 25)) : 0;
  const flows = o.phases.has('flows') ? 240 : 0;
  // per step: daemon start and programming, the generator, the warm-up, the drain (at most 5 s each for the agent and the sink), the daemon's removal
  const misses = o.phases.has('misses') ? o.missHooks.length * o.missModes.length * o.missRates.length * (o.missDur + 40) : 0;
  return packets + tcp + flows + misses + 600;
  const overlay = o.phases.has('overlay') ? overlayBudgetSeconds(o) : 0;
  const lookup = o.phases.has('lookup') ? 300 : 0;
  return packets + tcp + flows + lookup + overlay + 600;
}

const startedAt = new Date();
const result: BenchResult = {
  startedAt: startedAt.toISOString(),
  wallSeconds: 0,
  host: { kernel: release(), cpus: cpus().length, node: process.version },
  options: { ...opts, phases: [...opts.phases] },
};
const rigs = new Rigs();
let stopTimer: NodeJS.Timeout | undefined;
const stopped = new Promise<never>((_, reject) => {
  const stop = (why: string) => reject(new Error(`stopped: ${why}`));
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  stopTimer = setTimeout(() => stop(`time budget of ${budgetSeconds(opts)} s exceeded`), budgetSeconds(opts) * 1000);
});
// a stop during the clean-up, after the race is over, must not crash the clean-up
stopped.catch(() => {});
let failed = false;
try {
  await Promise.race([bench(rigs, result), stopped]);
} catch (err) {
  failed = true;
  console.error(`bench failed: ${(err as Error).message}`);
  const log = rigs.lastDaemon?.log;
  if (log) console.error(`daemon log (tail):\n${log.split('\n').slice(-20).join('\n')}`);
}
clearTimeout(stopTimer);
const left = [...(await rigs.cleanUp()), ...rigs.leftovers()];
if (left.length) {
  failed = true;
  console.error(`clean-up incomplete: ${left.join('; ')}`);
} else progress(`clean-up checked: no namespace, daemon or bpffs directory of this run left`);
if (!failed) {
  result.wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
  console.log(`\n${formatReport(result)}`);
  console.log(`results: bench/results/latest.json, ${writeResults(result)}`);
}
// a call abandoned by the stop promise may still hold handles
process.exit(failed ? 1 : 0);
