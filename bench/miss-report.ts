/**
 * The misses phase's figures (miss-rate.ts measures them): what one step
 * derives from its raw counts, and the tables, each figure beside its goal
 * (there is no Linux baseline for a flow miss).
 */
import type { MissHook, MissMode } from './options.ts';
import type { FlowgenResult } from './flowgen.ts';
import type { AgentResult } from './miss-agent.ts';
import type { SinkStats } from './miss-sink.ts';
import { table } from './report.ts';

/** the issue's goals */
export const MISS_GOALS = { eventsPerSecond: 200_000, p99Ms: 1, setupsPerSecond: 100_000 } as const;

export interface MissStepInput {
  hook: MissHook;
  mode: MissMode;
  /** new flows/s asked of the generator; 0: as fast as it goes */
  rate: number;
  gen: FlowgenResult;
  /** /proc/loadavg's 1-minute figure when the step began (other work on the machine shows here) */
  loadAvg: number;
  /** the datapath's counters after the step (the daemon's /metrics; a fresh daemon per step, so from zero) */
  datapath: {
    /** HOLD entries made and reported into vr_miss_rb (vrouter_flow_misses_total) */
    misses: number;
    held: number;
    /** packets that met a FORWARD flow: the re-injected held packets */
    hits: number;
    flowEntries: number;
    /** non-zero drops by reason (flow_hold_ring_full: the ring was full; flow_hold_queue_full: the daemon's hold queue) */
    drops: Record<string, number>;
  };
  daemon: {
    /** CPU time of all its threads from before the generator to the end of the drain */
    cpuSeconds: number;
    /** how long it stayed busy after the generator stopped */
    busySecondsAfterGen: number;
    /** ring records its own reader lost (fell behind), from its log */
    readerLost: number;
    rssMiB: number;
  };
  agent: AgentResult | undefined;
  sink: SinkStats | undefined;
}

export interface MissStep extends MissStepInput {
  offeredPps: number;
  /** misses whose record went into vr_miss_rb (made, less those that found it full) */
  inRing: number;
  /** ring records the daemon took in per second, from the first arrival until it was idle again (its pace when behind) */
  hubPerSecond: number;
  /** offered frames the datapath made no miss of (dropped before it, or under a drop reason) */
  notMissed: number;
  /** watch / setup: misses the agent received per second, first packet's arrival to last receipt */
  eventsPerSecond: number | undefined;
  /** misses made that the agent never got (the stream's `lost` included) */
  undelivered: number | undefined;
  /** setup: held packets delivered to pod2 per second, first packet's arrival to last delivery */
  setupsPerSecond: number | undefined;
  daemonCpuUsPerMiss: number;
  /** the row's goal: undefined where the offered rate is below it (the row cannot tell) */
  goalMet: boolean | undefined;
  summary: string;
}

export interface MissResults {
  seconds: number;
  maxFrames: number;
  agent: { window: number; maxBatch: number; flushUs: number; inflight: number };
  generatorCpu: number | undefined;
  steps: MissStep[];
}

const spanSeconds = (fromNs: string, toNs: string) => Number(BigInt(toNs) - BigInt(fromNs)) / 1e9;
const k = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : `${(x / 1000).toFixed(1)}k`);
const ms = (us: number | undefined) => (us === undefined ? '-' : (us / 1000).toFixed(us < 10_000 ? 3 : 1));
const rateName = (r: number) => (r ? `${r / 1000}k` : 'max');

export function summarizeStep(s: MissStepInput): MissStep {
  const offeredPps = s.gen.offered / s.gen.seconds;
  // a miss that found the ring full is still a miss (its HOLD entry was made); one that found the table full is not
  const notMissed = s.gen.offered - s.datapath.misses - (s.datapath.drops.flow_table_full ?? 0);
  const a = s.agent;
  const eventsPerSecond = a && a.received ? a.received / spanSeconds(a.firstArrivalNs, a.lastReceiptNs) : undefined;
  const undelivered = a ? s.datapath.misses - a.received : undefined;
  const setupsPerSecond = s.sink && a && s.sink.count ? s.sink.count / spanSeconds(a.firstArrivalNs, s.sink.lastNs) : undefined;
  let goalMet: boolean | undefined;
  if (s.mode === 'watch' && offeredPps >= MISS_GOALS.eventsPerSecond)
    goalMet = (eventsPerSecond ?? 0) >= MISS_GOALS.eventsPerSecond && (a?.latencyUs?.p99 ?? Infinity) < MISS_GOALS.p99Ms * 1000 && undelivered === 0;
  if (s.mode === 'setup' && offeredPps >= MISS_GOALS.setupsPerSecond)
    goalMet = (setupsPerSecond ?? 0) >= MISS_GOALS.setupsPerSecond && (s.sink?.count ?? 0) >= s.datapath.misses && s.datapath.misses > 0;
  const inRing = s.datapath.misses - (s.datapath.drops.flow_hold_ring_full ?? 0);
  const hubPerSecond = inRing / (s.gen.seconds + s.daemon.busySecondsAfterGen);
  const daemonCpuUsPerMiss = inRing ? (s.daemon.cpuSeconds * 1e6) / inRing : NaN;
  const head = `${s.hook} ${s.mode} ${rateName(s.rate)}: offered ${k(offeredPps)}/s (${s.gen.offered}), misses ${s.datapath.misses}`;
  const tail = `daemon ${daemonCpuUsPerMiss.toFixed(2)} CPU-µs/miss`;
  let summary: string;
  if (s.mode === 'ring')
    summary = `${head}, ring full ${s.datapath.drops.flow_hold_ring_full ?? 0}, reader lost ${s.daemon.readerLost}, taken in ${k(hubPerSecond)}/s, ${tail}`;
  else if (s.mode === 'watch')
    summary = `${head}, received ${a?.received} (${k(eventsPerSecond)}/s), lost ${a?.lost}, p50/p99 ${ms(a?.latencyUs?.p50)}/${ms(a?.latencyUs?.p99)} ms, ${tail}`;
  else summary = `${head}, delivered ${s.sink?.count} (${k(setupsPerSecond)}/s), p50/p99 ${ms(s.sink?.latencyUs?.p50)}/${ms(s.sink?.latencyUs?.p99)} ms, ${tail}`;
  return { ...s, offeredPps, inRing, hubPerSecond, notMissed, eventsPerSecond, undelivered, setupsPerSecond, daemonCpuUsPerMiss, goalMet, summary };
}

const yes = (g: boolean | undefined) => (g === undefined ? '-' : g ? 'met' : 'no');
const pct = (n: number, of: number) => (of ? `${((100 * n) / of).toFixed(1)}%` : '-');

export function formatMisses(r: MissResults): string[] {
  const out: string[] = [];
  const rows = (mode: MissMode) => r.steps.filter((s) => s.mode === mode);
  const a = r.agent;
  out.push(
    `Flow misses: every frame a new UDP flow (60 B) from pod1 into a policy vif, ${r.seconds} s per step (at most ${r.maxFrames} flows), a fresh daemon per step, generator on CPU ${r.generatorCpu ?? 'any'}`,
  );
  const ring = rows('ring');
  if (ring.length) {
    out.push('The daemon alone, no watcher: ring reader + hold queue (ring full: the datapath found vr_miss_rb full; reader lost: the daemon\'s reader fell behind)');
    out.push(table(
      ['hook', 'asked/s', 'offered/s', 'misses', 'not missed', 'ring full', 'reader lost', 'taken in/s', 'busy after gen s', 'daemon CPU-µs/miss', '1 CPU / that', 'RSS MiB'],
      ring.map((s) => [
        s.hook, rateName(s.rate), k(s.offeredPps), String(s.datapath.misses), String(s.notMissed), String(s.datapath.drops.flow_hold_ring_full ?? 0),
        String(s.daemon.readerLost), k(s.hubPerSecond), s.daemon.busySecondsAfterGen.toFixed(2), s.daemonCpuUsPerMiss.toFixed(2), `${k(1e6 / s.daemonCpuUsPerMiss)}/s`,
        s.daemon.rssMiB.toFixed(0),
      ]),
    ));
  }
  const watch = rows('watch');
  if (watch.length) {
    out.push(
      `Misses delivered to an agent over WatchFlowMisses (own process; window ${a.window}, max_batch ${a.maxBatch}, flush_us ${a.flushUs}); latency = receipt - FlowMiss.timestamp_ns; goal >= ${MISS_GOALS.eventsPerSecond / 1000}k events/s with p99 < ${MISS_GOALS.p99Ms} ms`,
    );
    out.push(table(
      ['hook', 'asked/s', 'offered/s', 'misses', 'received', 'events/s', 'stream lost', 'undelivered', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'msgs', 'daemon CPU-µs/miss', 'agent CPU-µs/miss', 'drain', 'goal'],
      watch.map((s) => {
        const ag = s.agent!;
        return [
          s.hook, rateName(s.rate), k(s.offeredPps), String(s.datapath.misses), String(ag.received), k(s.eventsPerSecond), String(ag.lost), String(s.undelivered),
          ms(ag.latencyUs?.p50), ms(ag.latencyUs?.p99), ms(ag.latencyUs?.p999), ms(ag.latencyUs?.max), String(ag.messages),
          s.daemonCpuUsPerMiss.toFixed(2), ag.received ? ((ag.cpuSeconds * 1e6) / ag.received).toFixed(2) : '-', ag.drained, yes(s.goalMet),
        ];
      }),
    ));
  }
  const setup = rows('setup');
  if (setup.length) {
    out.push(
      `Flow setups: the agent answers every batch with one SetFlows (FORWARD, <= ${a.inflight} in flight); delivered = flows whose held packet reached pod2 (sink at its eth0; dups: a flow's packet arriving again); latency = delivery - the frame's making; goal >= ${MISS_GOALS.setupsPerSecond / 1000}k setups/s`,
    );
    out.push(table(
      ['hook', 'asked/s', 'offered/s', 'misses', 'received', 'SetFlows', 'flows set', 'delivered', 'dups', 'delivered %', 'setups/s', 'p50 ms', 'p99 ms', 'max ms', 're-injected', 'daemon CPU-µs/setup', 'drain', 'goal'],
      setup.map((s) => {
        const ag = s.agent!;
        const sf = ag.setFlows!;
        const lat = s.sink?.latencyUs;
        return [
          s.hook, rateName(s.rate), k(s.offeredPps), String(s.datapath.misses), String(ag.received), `${sf.calls}${sf.failed ? ` (${sf.failed} failed)` : ''}`, String(sf.flows),
          String(s.sink?.count ?? 0), String(s.sink?.dups ?? 0), pct(s.sink?.count ?? 0, s.datapath.misses), k(s.setupsPerSecond), ms(lat?.p50), ms(lat?.p99), ms(lat?.max),
          String(s.datapath.hits), s.daemonCpuUsPerMiss.toFixed(2), ag.drained, yes(s.goalMet),
        ];
      }),
    ));
  }
  const loads = r.steps.map((s) => s.loadAvg);
  out.push(`load average (1 min) at the steps' start: ${Math.min(...loads).toFixed(2)} to ${Math.max(...loads).toFixed(2)} (other work on this machine competes for its CPUs and for the kernel's XDP dispatcher)`);
  const drops = [...new Set(r.steps.flatMap((s) => Object.keys(s.datapath.drops)))];
  if (drops.length)
    out.push(
      `drops (steps with any, all of them together): ${drops
        .map((d) => {
          const with_ = r.steps.filter((s) => s.datapath.drops[d]);
          return `${d} in ${with_.length} of ${r.steps.length} (${with_.reduce((n, s) => n + s.datapath.drops[d]!, 0)})`;
        })
        .join(', ')}; flow_hold_queue_full: the daemon's hold queue at its bound (65536 frames), the misses still reported`,
    );
  out.push(
    '(not missed: offered frames the datapath made no miss of, e.g. dropped on the veth before it; undelivered: misses made that had not reached the agent',
    ' when the drain ended (expected: all came; quiet: nothing for 1 s; timeout: 5 s after the generator; the counts are taken after the sink settled, up to 5 s more);',
    ' taken in/s: ring records / (generator time + the time the daemon stayed busy after it); re-injected: held packets that met their flow when',
    ' re-injected (vrouter_flow_hits_total); CPU-µs per miss: all the daemon\'s threads over the whole step, per miss that reached the ring)',
    '',
  );
  return out;
}
