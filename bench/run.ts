/**
 * npm run bench: our XDP path against Linux forwarding on the same
 * topology in the same run, then route programming through the gRPC API
 * against `ip -batch`. Everything lives in throwaway namespaces, a lab
 * daemon instance and a bench bpffs directory, all removed at the end,
 * also on failure, Ctrl-C or the time budget running out.
 */
import { existsSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { Lab, sh } from '../lab/topology.ts';
import { BPFFS_LAB_ROOT, LabDaemon } from '../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../lab/two-pods.ts';
import { cliOptions, parseOptions, usage, type BenchOptions } from './options.ts';
import { PacketBench, benchBpffsDir, removeBenchBpffs, summarize, type PathResult, type Sink } from './packet-rate.ts';
import { enableLinuxForwarding } from './linux-forwarding.ts';
import { measureRoutes } from './route-rate.ts';
import { xdpView } from './xdp-view.ts';
import { formatReport, writeResults, type BenchResult } from './report.ts';
import { FRAME_LEN } from './frame.ts';
import { progress } from './util.ts';
import type { ProgramCost } from './program-cost.ts';
import { fileURLToPath } from 'node:url';

const PROGRAM_COST = fileURLToPath(new URL('program-cost.ts', import.meta.url));

const opts: BenchOptions = cliOptions(usage, () => parseOptions());

/** a run that produced nothing has measured a broken setup, not a rate */
function requireDelivery(r: PathResult, hint: string): void {
  const empty = r.runs.findIndex((run) => run.delivered <= 0);
  if (empty >= 0) throw new Error(`${r.path}: run ${empty + 1} delivered no packet to ${r.sink} (offered ${r.runs[empty]!.offered}); ${hint}`);
}

async function bench(lab: Lab, t: TwoPods, startDaemon: () => Promise<LabDaemon>, result: BenchResult): Promise<void> {
  const packets = opts.phases.has('packets') ? new PacketBench(lab, t, opts) : undefined;
  const [pod1, pod2] = t.pods;
  const atPod2: Sink = { ns: pod2.ns, dev: 'eth0' };
  let before: { floor: PathResult; linux: PathResult } | undefined;
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
    fwd.undo();
    requireDelivery(linux, 'Linux forwarding setup is broken (GRO on the host veth? neighbour?)');
    before = { floor, linux };
  }
  const daemon = await startDaemon();
  const client = daemon.client!;
  await programTwoPods(client, t);
  if (packets && before) {
    const xdp = await packets.measure('vrouter-xdp', atPod2);
    const view = await xdpView(client);
    requireDelivery(xdp, `the datapath says: ${JSON.stringify(view)}`);
    result.packets = summarize(FRAME_LEN, before.floor, before.linux, xdp, view);
  }
  if (opts.phases.has('routes')) result.routes = await measureRoutes(client, lab, opts);
  if (opts.phases.has('program')) result.program = measureProgram(lab, opts);
}

/** measureProgram: program-cost.ts in a network namespace of its own. */
function measureProgram(lab: Lab, o: BenchOptions): ProgramCost {
  progress('program cost: BPF_PROG_TEST_RUN of the XDP program alone');
  const out = sh('unshare', ['--net', process.execPath, PROGRAM_COST, '--bpffs-dir', join(benchBpffsDir(lab), 'program'), '--routes', String(o.routes)], {
    timeoutMs: 300_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as ProgramCost;
}

/** leftovers: what of this run is still there after the clean-up (should be nothing). */
function leftovers(lab: Lab, daemon: LabDaemon | undefined): string[] {
  const left: string[] = [];
  const ns = sh('ip', ['netns', 'list']).split('\n').filter((l) => l.startsWith(`${lab.prefix}-`));
  if (ns.length) left.push(`namespaces: ${ns.join(', ')}`);
  const p = daemon?.proc;
  if (p && p.exitCode === null && p.signalCode === null) left.push(`daemon pid ${p.pid}`);
  for (const dir of [join(BPFFS_LAB_ROOT, lab.prefix), benchBpffsDir(lab)])
    if (existsSync(dir)) left.push(`bpffs ${dir}`);
  return left;
}

/** cleanUp: every step runs even if an earlier one fails; returns the failures. */
async function cleanUp(lab: Lab, daemon: LabDaemon | undefined): Promise<string[]> {
  const errors: string[] = [];
  const steps: [string, () => unknown][] = [
    ['daemon', () => daemon?.destroy()],
    ['namespaces', () => lab.cleanup()],
    ['bench bpffs', () => removeBenchBpffs(lab)],
  ];
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  }
  return errors;
}

/** the time budget: every step is bounded, this bounds their sum */
function budgetSeconds(o: BenchOptions): number {
  return 3 * o.runs * (o.dur + 20) + 600;
}

const startedAt = new Date();
const result: BenchResult = {
  startedAt: startedAt.toISOString(),
  wallSeconds: 0,
  host: { kernel: release(), cpus: cpus().length, node: process.version },
  options: { ...opts, phases: [...opts.phases] },
};
const lab = new Lab('vrbench');
let daemon: LabDaemon | undefined;
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
  progress(`lab ${lab.prefix}: building the two-pods topology`);
  const t = buildTwoPods(lab);
  const startDaemon = async () => {
    daemon = new LabDaemon(lab, { instance: lab.prefix, ns: t.host });
    await daemon.start();
    return daemon;
  };
  await Promise.race([bench(lab, t, startDaemon, result), stopped]);
} catch (err) {
  failed = true;
  console.error(`bench failed: ${(err as Error).message}`);
  if (daemon?.log) console.error(`daemon log (tail):\n${daemon.log.split('\n').slice(-20).join('\n')}`);
}
clearTimeout(stopTimer);
const left = [...(await cleanUp(lab, daemon)), ...leftovers(lab, daemon)];
if (left.length) {
  failed = true;
  console.error(`clean-up incomplete: ${left.join('; ')}`);
} else progress(`clean-up checked: no namespace, daemon or bpffs directory of ${lab.prefix} left`);
if (!failed) {
  result.wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
  console.log(`\n${formatReport(result)}`);
  console.log(`results: bench/results/latest.json, ${writeResults(result)}`);
}
// a call abandoned by the stop promise may still hold handles
process.exit(failed ? 1 : 0);
