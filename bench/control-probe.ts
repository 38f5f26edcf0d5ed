/**
 * control-probe: the daemon's responsiveness seen from a process of its own
 * (so that the writer's event loop does not skew it). Every INTERVAL ms it
 * sends one grpc.health.v1.Health/Check and one RouteService/GetRoute,
 * without waiting for earlier answers (at most MAX_PENDING of each kind
 * outstanding; a tick that would exceed it is counted as skipped), and
 * records each call's send time (epoch ms) and latency.
 *
 *   node bench/control-probe.ts --socket PATH --vrf N --prefix P [--interval-ms 2] [--max-seconds 120]
 *
 * Prints "ready" once both calls have answered, then runs until a line
 * "stop" on stdin (or --max-seconds), waits for the calls in flight (at most
 * 10 s), and prints one JSON line (ProbeSamples).
 */
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { credentials, Client, Metadata } from '@grpc/grpc-js';
import { VrouterClient } from '../src/client/client.ts';

export interface KindSamples {
  /** send times, epoch ms */
  sent: number[];
  /** latency ms, same index; -1: the call failed */
  ms: number[];
  skipped: number;
  errors: string[];
}

export interface ProbeSamples {
  intervalMs: number;
  health: KindSamples;
  getRoute: KindSamples;
}

const MAX_PENDING = 5000;

const { values: a } = parseArgs({
  options: {
    socket: { type: 'string' },
    vrf: { type: 'string' },
    prefix: { type: 'string' },
    'interval-ms': { type: 'string', default: '2' },
    'max-seconds': { type: 'string', default: '120' },
  },
});
if (!a.socket || !a.vrf || !a.prefix) throw new Error('--socket, --vrf and --prefix are required');
const intervalMs = Math.max(1, Number(a['interval-ms']));
const maxSeconds = Math.min(600, Number(a['max-seconds']));
const address = `unix:${a.socket}`;
const vrf = Number(a.vrf);
const prefix = a.prefix;

// Health/Check with raw bytes: an empty HealthCheckRequest (service ""), a
// response whose field 1 is the status (1 = SERVING)
const health = new Client(address, credentials.createInsecure());
const checkHealth = () =>
  new Promise<void>((resolve, reject) =>
    health.makeUnaryRequest<Buffer, Buffer>(
      '/grpc.health.v1.Health/Check',
      (b) => b,
      (b) => b,
      Buffer.alloc(0),
      new Metadata(),
      { deadline: Date.now() + 60_000 },
      (err, res) => (err ? reject(err) : res && res[0] === 0x08 && res[1] === 1 ? resolve() : reject(new Error(`not SERVING: ${res?.toString('hex')}`))),
    ),
  );
const client = new VrouterClient(address, 60_000);
const getRoute = async () => {
  const r = await client.routes.getRoute({ vrf, prefix });
  if (r.route?.prefix !== prefix) throw new Error(`GetRoute answered ${JSON.stringify(r.route?.prefix)}`);
};

const now = () => performance.timeOrigin + performance.now();
const kinds: [KindSamples, () => Promise<void>][] = [];
const out: ProbeSamples = {
  intervalMs,
  health: { sent: [], ms: [], skipped: 0, errors: [] },
  getRoute: { sent: [], ms: [], skipped: 0, errors: [] },
};
kinds.push([out.health, checkHealth], [out.getRoute, getRoute]);
const pending = new Set<Promise<void>>();
const inFlight = new Map<KindSamples, number>();

function fire(s: KindSamples, call: () => Promise<void>): void {
  if ((inFlight.get(s) ?? 0) >= MAX_PENDING) {
    s.skipped++;
    return;
  }
  const i = s.sent.length;
  const t0 = now();
  s.sent.push(t0);
  s.ms.push(-1);
  inFlight.set(s, (inFlight.get(s) ?? 0) + 1);
  const p: Promise<void> = call().then(
    () => {
      s.ms[i] = now() - t0;
    },
    (err: unknown) => {
      if (s.errors.length < 10) s.errors.push((err as Error).message);
    },
  ).finally(() => {
    inFlight.set(s, inFlight.get(s)! - 1);
    pending.delete(p);
  });
  pending.add(p);
}

await checkHealth();
await getRoute();
process.stdout.write('ready\n');

let stop!: () => void;
const stopped = new Promise<void>((r) => (stop = r));
// "stop", or the bench going away (stdin closed), ends the run
createInterface({ input: process.stdin }).on('line', (l) => l.trim() === 'stop' && stop()).on('close', () => stop());
const limit = setTimeout(stop, maxSeconds * 1000);
// a drift-free schedule: tick k is due at start + k * interval; a late timer fires every tick that is due
const start = now();
let k = 0;
const timer = setInterval(() => {
  const due = Math.floor((now() - start) / intervalMs);
  for (; k <= due; k++) for (const [s, call] of kinds) fire(s, call);
}, intervalMs);
await stopped;
clearInterval(timer);
clearTimeout(limit);
await Promise.race([Promise.allSettled([...pending]), new Promise((r) => setTimeout(r, 10_000))]);
health.close();
client.close();
// rounded to µs; exit only once the (long) line is flushed into the pipe
const round = (k: KindSamples) => ({ ...k, sent: k.sent.map((t) => +t.toFixed(3)), ms: k.ms.map((t) => +t.toFixed(3)) });
process.stdout.write(`${JSON.stringify({ ...out, health: round(out.health), getRoute: round(out.getRoute) })}\n`, () => process.exit(0));
