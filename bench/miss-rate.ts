/**
 * Phase `misses`: flow misses per second delivered to an agent over
 * WatchFlowMisses (with their latency from the packet's arrival), and flow
 * setups per second (miss -> SetFlows -> the held packet delivered to pod2).
 *
 *   pod1 eth0 ── veth-p1 (vif 1, policy on) ┐ host ns, daemon ┌ veth-p2 (vif 2) ── eth0 pod2
 *    flowgen.ts: every frame a new flow      └─────────────────┘     miss-sink.ts: counts held packets delivered
 *                             miss-agent.ts (own process): WatchFlowMisses [+ SetFlows]
 *
 * For each hook, mode and offered rate, one step: a fresh daemon (empty
 * flow table, nothing held or aging from the step before; holds never
 * expire within a step), the agent (modes watch and setup) connected, an
 * unmeasured warm-up (WARM_FRAMES flows at WARM_RATE, until all is quiet),
 * the generator offering new flows at the rate for MISS_DUR s, then a drain:
 * until every miss the datapath made reached the agent (and, in setup mode,
 * its held packet reached the sink), or nothing moved for a while. The
 * daemon's CPU time is sampled throughout from /proc (all its threads).
 * Mode `ring` has no watcher: the daemon's ring reader and hold queue alone.
 */
import { join } from 'node:path';
import { readFileSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../lab/topology.ts';
import type { LabDaemon } from '../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../lab/two-pods.ts';
import { AttachHook } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';
import type { BenchOptions, MissHook, MissMode } from './options.ts';
import type { Rigs } from './rigs.ts';
import type { FlowgenResult } from './flowgen.ts';
import { AgentProcess, collectExit, QUIET_MS, MAX_DRAIN_MS } from './agent-process.ts';
import { CpuSampler, rssMiB } from './cpu-sampler.ts';
import { MissSink } from './miss-sink.ts';
import { benchBpffsDir } from './packet-rate.ts';
import { setGro } from './linux-forwarding.ts';
import { requireHook } from './datapath-view.ts';
import { progress, sleep } from './util.ts';
import { summarizeStep, type MissResults, type MissStep, type MissStepInput } from './miss-report.ts';

const FLOWGEN = fileURLToPath(new URL('flowgen.ts', import.meta.url));
const SINK = fileURLToPath(new URL('miss-sink.ts', import.meta.url));
const METRICS = '127.0.0.1:9478';
/** in pod1's netns, down, never carrying a packet: flowgen attaches its program there (generic XDP) */
const HOLD_DEV = 'fghold0';
/** each step's warm-up: this many flows at this rate, before the measured run */
const WARM_FRAMES = 5000;
const WARM_RATE = 10_000;

/** metric: one sample of the daemon's /metrics text (summed over its label sets when no labels are given) */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (labels ? rest.startsWith(`{${labels}}`) : rest.startsWith(' ') || rest.startsWith('{')) sum += Number(rest.split(' ').at(-1));
  }
  return sum;
}

/** Counters: the datapath's flow counters and drops, as the daemon's /metrics has them */
type Counters = MissStepInput['datapath'];

function counters(text: string): Counters {
  return {
    misses: metric(text, 'vrouter_flow_misses_total'),
    held: metric(text, 'vrouter_flow_held_packets_total'),
    hits: metric(text, 'vrouter_flow_hits_total'),
    flowEntries: metric(text, 'vrouter_map_entries', 'map="vr_flows"'),
    drops: Object.fromEntries(DROPS.map((d) => [d, metric(text, 'vrouter_drops_total', `reason="${d}"`)])),
  };
}

/** minus: what a step added (flowEntries: as it is now); drops that did not move are left out */
function minus(now: Counters, base: Counters): Counters {
  const drops = Object.fromEntries(Object.entries(now.drops).map(([d, n]) => [d, n - (base.drops[d] ?? 0)]).filter(([, n]) => n));
  return { misses: now.misses - base.misses, held: now.held - base.held, hits: now.hits - base.hits, flowEntries: now.flowEntries, drops };
}

const DROPS = ['flow_table_full', 'flow_hold_ring_full', 'flow_hold_queue_full', 'flow_hold_limit', 'flow_hold_expired', 'flow_hold_too_big', 'no_route', 'interface_tx_down'];

/** readerLost: ring records the daemon's own hub reader lost (its warnings) */
function readerLost(log: string): number {
  let n = 0;
  for (const line of log.split('\n'))
    if (line.includes('miss ring records lost')) n += Number((/"lost":(\d+)/.exec(line) ?? [])[1] ?? 0);
  return n;
}

export class MissBench {
  private readonly rigs: Rigs;
  private readonly o: BenchOptions;
  private gens = 0;

  constructor(rigs: Rigs, o: BenchOptions) {
    this.rigs = rigs;
    this.o = o;
  }

  async run(): Promise<MissResults> {
    const steps: MissStep[] = [];
    for (const hook of this.o.missHooks) steps.push(...(await this.onHook(hook)));
    const o = this.o;
    return {
      seconds: o.missDur,
      maxFrames: o.missMaxFrames,
      agent: { window: o.missWindow, maxBatch: o.missMaxBatch, flushUs: o.missFlushUs, inflight: o.missInflight },
      generatorCpu: o.cpu,
      steps,
    };
  }

  /** onHook: one topology (pods' offloads as that hook's CNI leaves them), every mode and rate on it */
  private async onHook(hook: MissHook): Promise<MissStep[]> {
    const lab = this.rigs.lab('vrmiss');
    progress(`misses, ${hook} vifs: lab ${lab.prefix}`);
    const t = buildTwoPods(lab, 1500, { offloads: hook === 'tc' ? 'default' : 'xdp' });
    // the generator's XDP_TX frames reach a veth with no XDP program only with GRO on (run.ts measureTcHook)
    if (hook === 'tc') setGro(lab, t.host, t.pods[0].hostIf, 'on');
    // a device that never carries a packet, for flowgen to keep its program in the XDP dispatcher (see there)
    lab.ip(t.pods[0].ns, ['link', 'add', HOLD_DEV, 'type', 'veth', 'peer', 'name', `${HOLD_DEV}p`]);
    const sinkDir = join(benchBpffsDir(lab), 'sink');
    lab.exec(t.pods[1].ns, process.execPath, [SINK, '--bpffs-dir', sinkDir], { timeoutMs: 60_000 });
    const sink = new MissSink(sinkDir);
    const steps: MissStep[] = [];
    try {
      for (const mode of this.o.missModes)
        for (const rate of this.o.missRates) {
          const step = await this.step(lab, t, hook, mode, rate, sink);
          steps.push(step);
          progress(`  ${step.summary}`);
        }
    } finally {
      sink.close();
    }
    await this.rigs.release(lab);
    return steps;
  }

  private daemonArgs(): string[] {
    return [
      // every miss is a HOLD entry, every setup a pair: room for a whole step
      '--max-flows', String(2 * this.o.missMaxFrames + 65_536),
      // nothing held expires and no flow ages within a step (the daemon goes after it); the hold
      // queue keeps its default bound (65536 frames): held frames beyond it are dropped, their misses still reported
      '--hold-timeout', '60000',
      ...['tcp', 'udp', 'icmp', 'other'].flatMap((p) => [`--flow-idle-${p}`, '600']),
      '--metrics', METRICS,
      '--log-level', 'warn',
    ];
  }

  private async startDaemon(lab: Lab, t: TwoPods, hook: MissHook): Promise<LabDaemon> {
    // perf needs the JIT's symbols (/tmp/perf-<pid>.map); a --cpu-prof's signals would make the verifier fail with EAGAIN
    const saved = process.env.NODE_OPTIONS;
    if (this.o.missPerf) process.env.NODE_OPTIONS = `${saved ?? ''} --perf-basic-prof-only-functions`.trim();
    let daemon: LabDaemon;
    try {
      daemon = await this.rigs.startDaemon(lab, t.host, this.daemonArgs());
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    }
    const want = hook === 'tc' ? AttachHook.TC : AttachHook.XDP;
    await programTwoPods(daemon.client!, t, want);
    for (const index of [1, 2]) await daemon.client!.interfaces.updateInterface({ index, policyEnabled: true });
    await requireHook(daemon.client!, want);
    return daemon;
  }

  /** perf: `perf record -g` of the daemon for the step (MISS_PERF); stop() ends it */
  private perf(pid: number, name: string): { stop: () => Promise<void> } | undefined {
    const dir = this.o.missPerf;
    if (!dir) return undefined;
    mkdirSync(dir, { recursive: true });
    const p = spawn('perf', ['record', '-q', '-F', '997', '-g', '-p', String(pid), '-o', join(dir, `${name}.perf.data`)], { stdio: 'ignore' });
    return {
      stop: async () => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        p.kill('SIGINT');
        await collectExit(p, 30_000);
      },
    };
  }

  private metrics(lab: Lab, t: TwoPods): string {
    return lab.exec(t.host, 'curl', ['-sf', '--max-time', '10', `http://${METRICS}/metrics`], { timeoutMs: 15_000 });
  }

  private async step(lab: Lab, t: TwoPods, hook: MissHook, mode: MissMode, rate: number, sink: MissSink): Promise<MissStep> {
    const daemon = await this.startDaemon(lab, t, hook);
    let agent: AgentProcess | undefined;
    let perf: { stop: () => Promise<void> } | undefined;
    try {
      const pid = daemon.proc!.pid!;
      sink.reset(0);
      if (mode !== 'ring') agent = await AgentProcess.start(daemon.socketPath, mode, this.o);
      // warm-up: the daemon's and the agent's code paths compiled, their first allocations made (unmeasured)
      const warm = await this.generate(lab, t, WARM_RATE, { frames: WARM_FRAMES, seconds: WARM_FRAMES / WARM_RATE + 1, first: 0 });
      const warmed = counters(this.metrics(lab, t));
      if (agent) await agent.drain(warmed.misses);
      await this.settle(new CpuSampler(pid), sink, mode === 'setup' ? warmed.misses : undefined, true);
      agent?.reset();
      await agent?.resetDone();
      // held packets of the warm-up's flows still on their way count as early, not delivered
      sink.reset(warm.offered);
      const base = counters(this.metrics(lab, t));
      const loadAvg = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
      perf = this.perf(pid, `${hook}-${mode}-${rate || 'max'}`);
      const cpu = new CpuSampler(pid);
      const gen = await this.generate(lab, t, rate, { frames: this.o.missMaxFrames, seconds: this.o.missDur, first: warm.offered });
      const made = counters(this.metrics(lab, t)).misses - base.misses;
      const drained = await agent?.drain(made);
      // re-injection may still run after the last SetFlows answered; the sink and the daemon's CPU say when it is done
      await this.settle(cpu, sink, mode === 'setup' ? made : undefined, false);
      // what the agent has now (it went on taking misses and setting flows while the sink settled), with how its drain ended
      const agentResult = drained && { ...(await agent!.drain(0, 0)), drained: drained.drained };
      const busyUntil = cpu.busyUntil();
      const { cpuSeconds } = cpu.stop();
      return summarizeStep({
        hook,
        mode,
        rate,
        gen,
        loadAvg,
        datapath: minus(counters(this.metrics(lab, t)), base),
        daemon: {
          cpuSeconds,
          busySecondsAfterGen: Math.max(0, Number(busyUntil - BigInt(gen.endNs)) / 1e9),
          readerLost: readerLost(daemon.log),
          rssMiB: rssMiB(pid),
        },
        agent: agentResult,
        sink: mode === 'setup' ? sink.read() : undefined,
      });
    } finally {
      agent?.kill();
      await perf?.stop();
      await this.rigs.stopDaemon(lab);
    }
  }

  /**
   * settle: until the daemon's CPU is idle and (when `delivered` is given)
   * the sink has that many frames or has not moved for QUIET_MS; at most
   * MAX_DRAIN_MS. `stop`: the sampler is only for this wait.
   */
  private async settle(cpu: CpuSampler, sink: MissSink, delivered: number | undefined, stop: boolean): Promise<void> {
    const until = Date.now() + MAX_DRAIN_MS;
    let last = sink.read().count;
    let still = Date.now();
    while (Date.now() < until) {
      await sleep(50);
      const now = sink.read().count;
      if (now !== last) [last, still] = [now, Date.now()];
      if (cpu.idleFor(200) && (delivered === undefined || now >= delivered || Date.now() - still >= QUIET_MS)) break;
    }
    if (stop) cpu.stop();
  }

  /** generate: one flowgen run in pod1, pinned like the packets phase's generator, bounded by a kill timer */
  private async generate(lab: Lab, t: TwoPods, rate: number, run: { frames: number; seconds: number; first: number }): Promise<FlowgenResult> {
    const [pod1, pod2] = t.pods;
    const o = this.o;
    const node = [
      process.execPath, FLOWGEN,
      '--bpffs-dir', join(benchBpffsDir(lab), `gen${this.gens++}`),
      '--dst-mac', pod1.hostMac,
      '--src-ip', pod1.ip4,
      '--dst-ip', pod2.ip4,
      '--rate', String(rate),
      '--seconds', String(run.seconds),
      '--max-frames', String(run.frames),
      '--first', String(run.first),
      '--hold-dev', HOLD_DEV,
    ];
    const cmd = o.cpu === undefined ? node : ['taskset', '-c', String(o.cpu), ...node];
    const p = lab.spawnIn(pod1.ns, cmd[0]!, cmd.slice(1));
    const out = await collectExit(p, (run.seconds + 60) * 1000);
    if (out.code !== 0) throw new Error(`flowgen exited with ${out.code ?? 'a signal'}:\n${out.stderr}${out.stdout}`);
    const g = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as FlowgenResult;
    if (g.counter !== g.offered) throw new Error(`flowgen: its counter says ${g.counter} frames, its loop ${g.offered}`);
    return g;
  }
}
