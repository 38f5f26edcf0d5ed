/**
 * miss-agent: the flow-miss benchmark's agent, a node process of its own (so
 * that the bench's own work does not share its event loop, and the daemon,
 * the agent and the generator are three processes as in real life). It
 * watches WatchFlowMisses with a large window and grants every batch back
 * as it arrives; each miss's latency is its receipt (process.hrtime, taken
 * once per message, after grpc-js decoded it) minus its timestamp_ns (the
 * packet's arrival in the datapath: both CLOCK_MONOTONIC). With
 * --mode setup it also answers every batch with one SetFlows (FORWARD, the
 * reverse half derived), at most --inflight calls pending: misses that come
 * while that many are pending go into the next call.
 *
 *   node bench/miss-agent.ts --socket PATH [--mode watch|setup] [--window N] [--max-batch N] [--flush-us N]
 *
 * Prints {"ready":true} once the watch is in place (the daemon's empty first
 * message). Then, on stdin:
 *   drain EXPECTED QUIET_MS MAX_MS   waits until EXPECTED misses came since the
 *        last reset (and, in setup mode, every SetFlows answered), or nothing
 *        came for QUIET_MS, or MAX_MS passed; prints one JSON line (AgentResult)
 *   reset                            forgets what came so far (after a warm-up);
 *        prints {"reset":true}
 *   exit
 * --max-seconds bounds the whole process; so does its stdin closing.
 */
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { create } from '@bufbuild/protobuf';
import { VrouterClient } from '../src/client/client.ts';
import { FlowAction, WatchFlowMissesRequestSchema, type FlowKey, type WatchFlowMissesResponse } from '../src/gen/vrouter/ebpf/v1/flow_pb.js';

export interface Percentiles {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface AgentResult {
  mode: 'watch' | 'setup';
  /** misses received, messages that carried them, the largest */
  received: number;
  messages: number;
  largestBatch: number;
  /** the sum of the stream's `lost` (misses the daemon dropped for this watcher) */
  lost: number;
  /** receipt - timestamp_ns, µs */
  latencyUs: Percentiles | undefined;
  /** CLOCK_MONOTONIC ns (decimal strings): the earliest timestamp_ns seen, first and last receipt */
  firstArrivalNs: string;
  firstReceiptNs: string;
  lastReceiptNs: string;
  /** this process's CPU time from ready to the result, s */
  cpuSeconds: number;
  /** per TIMELINE_MS of receipt time from the first receipt: misses received and their largest latency (ms) */
  timeline: { received: number[]; maxMs: number[] };
  /** how the drain ended */
  drained: 'expected' | 'quiet' | 'timeout';
  /** setup mode: SetFlows calls, flows they set, failed calls (first errors), call latency ms, last answer */
  setFlows?: {
    calls: number;
    flows: number;
    failed: number;
    errors: string[];
    callMs: Percentiles | undefined;
    lastAnswerNs: string;
  };
}

const { values: a } = parseArgs({
  options: {
    socket: { type: 'string' },
    mode: { type: 'string', default: 'watch' },
    window: { type: 'string', default: '262144' },
    'max-batch': { type: 'string', default: '1024' },
    'flush-us': { type: 'string', default: '200' },
    inflight: { type: 'string', default: '4' },
    'max-seconds': { type: 'string', default: '120' },
  },
});
if (!a.socket) throw new Error('miss-agent: --socket is required');
if (a.mode !== 'watch' && a.mode !== 'setup') throw new Error('miss-agent: --mode watch|setup');
const mode = a.mode;
const inflightMax = Math.max(1, Number(a.inflight));
const TIMELINE_MS = 100;
/** SetFlows takes 1..100000 flows */
const SET_FLOWS_MAX = 100_000;

/** Samples: a growing Float64Array (a step may bring a million samples) */
class Samples {
  private buf = new Float64Array(1 << 16);
  n = 0;
  push(x: number): void {
    if (this.n === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = x;
  }
  percentiles(): Percentiles | undefined {
    if (!this.n) return undefined;
    const s = this.buf.slice(0, this.n).sort();
    const at = (q: number) => s[Math.min(this.n - 1, Math.ceil(q * this.n) - 1)]!;
    let sum = 0;
    for (const x of s) sum += x;
    return { mean: sum / this.n, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: s[this.n - 1]! };
  }
}

const client = new VrouterClient(`unix:${a.socket}`, 60_000);
const call = client.flows.watchFlowMisses();
let latUs = new Samples();
let callMs = new Samples();
let received = 0;
let messages = 0;
let largestBatch = 0;
let lost = 0;
let firstArrival: bigint | undefined;
let firstReceipt = 0n;
let lastReceipt = 0n;
let lastAnswer = 0n;
let ready = false;
let cpu0: NodeJS.CpuUsage | undefined;
const pending: FlowKey[] = [];
let inflight = 0;
let calls = 0;
let flowsSet = 0;
let failed = 0;
let errors: string[] = [];
let onProgress: (() => void) | undefined;
let timeline: AgentResult['timeline'] = { received: [], maxMs: [] };

/** reset: what came so far is forgotten (SetFlows in flight still count when they end) */
function reset(): void {
  latUs = new Samples();
  callMs = new Samples();
  received = messages = largestBatch = lost = calls = flowsSet = failed = 0;
  firstArrival = undefined;
  firstReceipt = lastReceipt = lastAnswer = 0n;
  errors = [];
  timeline = { received: [], maxMs: [] };
  cpu0 = process.cpuUsage();
}

const hardStop = setTimeout(() => {
  console.error(`miss-agent: --max-seconds ${a['max-seconds']} passed`);
  process.exit(3);
}, Number(a['max-seconds']) * 1000);
hardStop.unref();

function pump(): void {
  while (inflight < inflightMax && pending.length) {
    const keys = pending.splice(0, SET_FLOWS_MAX);
    inflight++;
    calls++;
    const t0 = process.hrtime.bigint();
    client.flows
      .setFlows({ flows: keys.map((key) => ({ key, action: FlowAction.FORWARD })) })
      .then(
        (r) => (flowsSet += r.applied),
        (err: unknown) => {
          failed++;
          if (errors.length < 3) errors.push((err as Error).message);
        },
      )
      .finally(() => {
        lastAnswer = process.hrtime.bigint();
        callMs.push(Number(lastAnswer - t0) / 1e6);
        inflight--;
        pump();
        onProgress?.();
      });
  }
}

call.on('data', (r: WatchFlowMissesResponse) => {
  const now = process.hrtime.bigint();
  if (!ready) {
    ready = true;
    cpu0 = process.cpuUsage();
    process.stdout.write('{"ready":true}\n');
  }
  lost += Number(r.lost);
  const n = r.misses.length;
  if (!n) return;
  // credits back at once: the window never limits the stream
  call.write(create(WatchFlowMissesRequestSchema, { msg: { case: 'grant', value: n } }));
  if (!firstReceipt) firstReceipt = now;
  lastReceipt = now;
  messages++;
  received += n;
  if (n > largestBatch) largestBatch = n;
  const slot = Math.floor(Number(now - firstReceipt) / 1e6 / TIMELINE_MS);
  while (timeline.received.length <= slot) timeline.received.push(0), timeline.maxMs.push(0);
  timeline.received[slot]! += n;
  for (const m of r.misses) {
    const us = Number(now - m.timestampNs) / 1000;
    latUs.push(us);
    if (us / 1000 > timeline.maxMs[slot]!) timeline.maxMs[slot] = Math.round(us) / 1000;
    if (firstArrival === undefined || m.timestampNs < firstArrival) firstArrival = m.timestampNs;
    if (mode === 'setup') pending.push(m.key!);
  }
  if (mode === 'setup') pump();
  onProgress?.();
});
call.on('error', (err: Error & { code?: number }) => {
  // CANCELLED (1) is our own end
  if (err.code !== 1) {
    console.error(`miss-agent: the watch failed: ${err.message}`);
    process.exit(2);
  }
});
call.write(
  create(WatchFlowMissesRequestSchema, {
    msg: { case: 'start', value: { window: Number(a.window), maxBatch: Number(a['max-batch']), flushUs: Number(a['flush-us']) } },
  }),
);

/** drain: until `expected` misses came (and every SetFlows answered), or quiet, or the time is up */
function drain(expected: number, quietMs: number, maxMs: number): Promise<AgentResult['drained']> {
  const until = Date.now() + maxMs;
  let last = Date.now();
  return new Promise((resolve) => {
    const done = () => received >= expected && (mode === 'watch' || (inflight === 0 && pending.length === 0));
    const check = () => {
      if (done()) return finish('expected');
      if (Date.now() - last >= quietMs && inflight === 0) return finish('quiet');
      if (Date.now() >= until) return finish('timeout');
    };
    const timer = setInterval(check, 10);
    const finish = (how: AgentResult['drained']) => {
      clearInterval(timer);
      onProgress = undefined;
      resolve(how);
    };
    onProgress = () => {
      last = Date.now();
      if (done()) finish('expected');
    };
    check();
  });
}

// the bench went away (its pipe closed): so does the agent
process.stdin.once('end', () => process.exit(0));
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, ...args] = line.trim().split(/\s+/);
  if (cmd === 'exit') {
    call.cancel();
    client.close();
    process.exit(0);
  }
  if (cmd === 'reset') {
    reset();
    process.stdout.write('{"reset":true}\n');
    return;
  }
  if (cmd !== 'drain') return;
  const [expected, quietMs, maxMs] = args.map(Number);
  void drain(expected!, quietMs!, maxMs!).then((drained) => {
    const cpu = process.cpuUsage(cpu0);
    const out: AgentResult = {
      mode,
      received,
      messages,
      largestBatch,
      lost,
      latencyUs: latUs.percentiles(),
      firstArrivalNs: String(firstArrival ?? 0n),
      firstReceiptNs: String(firstReceipt),
      lastReceiptNs: String(lastReceipt),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      timeline,
      drained,
      ...(mode === 'setup'
        ? { setFlows: { calls, flows: flowsSet, failed, errors, callMs: callMs.percentiles(), lastAnswerNs: String(lastAnswer) } }
        : {}),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  });
});
