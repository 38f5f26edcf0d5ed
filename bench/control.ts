/**
 * npm run bench:control: control-plane scale of vrouter-ebpfd, measured on
 * the real daemon (a LabDaemon in a throwaway namespace, --max-routes above
 * the table) through src/client, against baselines of the same run:
 *
 *  1. route programming rate: AddRoutes in batches of 1000 and of 100k,
 *     against `ip -batch` into a netns FIB and the raw kernel limit (a
 *     bpf_map_update_batch loop on the same maps: /32s into the vr_host4
 *     hash, the other prefixes into the vr_rt4 trie);
 *  2. daemon memory (VmRSS) idle, at 100k and 1M routes, and back at 0
 *     after each add/delete cycle of 1M routes;
 *  3. restart to ready at 100k and 1M routes (SIGTERM, start, first
 *     Health/Check answered);
 *  4. ListRoutes of 1M routes: time to the first message, routes/s;
 *  5. Health/Check and GetRoute latency from a separate process every 2 ms
 *     while 1M routes are written (10 x 100k, then 1 x 1M);
 *  6. the streaming-API slot (control-streaming.ts): routes handed over one
 *     at a time by the caller.
 *
 * Options are environment variables (node bench/control.ts --help). Prints
 * tables on stdout (progress on stderr), writes
 * bench/results/control-latest.json and a timestamped copy. Everything it
 * creates (namespaces <prefix>-{ctl,fib}, the daemon and its pins, the raw
 * map's bpffs directory) is removed at the end, also on failure, Ctrl-C or
 * when the time budget runs out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { credentials, Client, Metadata } from '@grpc/grpc-js';
import { Lab, sh } from '../lab/topology.ts';
import { BPFFS_LAB_ROOT, LabDaemon } from '../lab/daemon.ts';
import { VrouterClient } from '../src/client/client.ts';
import { InterfaceType } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';
import type { AddRoutesRequest, DeleteRoutesRequest } from '../src/gen/vrouter/ebpf/v1/route_pb.js';
import { benchBpffsDir, removeBenchBpffs } from './packet-rate.ts';
import { ipBatch, prefixes } from './route-rate.ts';
import { measureRaw, type RawResult } from './control-raw.ts';
import { addRequests, deleteRequests, memOf, percentile, routeSet, sleep, VRFS, NHS, type Mem, type RouteInit } from './control-routes.ts';
import { measureOneAtATime, STREAMING_SENDERS, type StreamingResult } from './control-streaming.ts';
import type { KindSamples, ProbeSamples } from './control-probe.ts';
import { table } from './report.ts';
import { cliOptions, intOptions, intUsage, type IntSpec } from './options.ts';
import { EVENT_LOOP_SAMPLE_MS } from '../src/metrics/registry.ts';
import { progress } from './util.ts';

const PROBE = fileURLToPath(new URL('control-probe.ts', import.meta.url));
/** the daemon's /metrics, inside the bench namespace (its own loopback) */
const METRICS = '127.0.0.1:9478';
const RESULTS = fileURLToPath(new URL('results/', import.meta.url));

// ------------------------------------------------------------------ options
const INTS = {
  routes: { env: 'CONTROL_ROUTES', def: 1_000_000, min: 10_000, max: 2_000_000, desc: 'routes of the big table (1M)' },
  step: { env: 'CONTROL_STEP', def: 100_000, min: 1000, max: 1_000_000, desc: 'the smaller table (100k): memory and restart are measured there too' },
  bigBatch: { env: 'CONTROL_BIG_BATCH', def: 100_000, min: 1000, max: 2_000_000, desc: 'routes per AddRoutes call in the big-batch case' },
  deleteBatch: { env: 'CONTROL_DELETE_BATCH', def: 100_000, min: 1000, max: 2_000_000, desc: 'keys per DeleteRoutes call' },
  ipRoutes: { env: 'IP_ROUTES', def: 1_000_000, min: 1000, max: 2_000_000, desc: 'routes of the ip -batch baseline (the ratios\' base; also run with CONTROL_STEP routes)' },
  probeMs: { env: 'PROBE_MS', def: 2, min: 1, max: 100, desc: 'ms between two probes of each kind (Health/Check, GetRoute)' },
  listMaxS: { env: 'LIST_MAX_S', def: 120, min: 5, max: 600, desc: 'ListRoutes is cut off after this many seconds (reported as truncated)' },
  listChunk: { env: 'LIST_CHUNK', def: 1000, min: 0, max: 10000, desc: 'routes per ListRoutes message (the chunk_size asked for; 0 = one route per message)' },
  streamMaxS: { env: 'STREAM_MAX_S', def: 30, min: 1, max: 300, desc: 'seconds per streaming-slot case at most' },
  singleCall: { env: 'SINGLE_CALL', def: 1, min: 0, max: 1, desc: '1: also write the whole table in one AddRoutes call (a 4th cycle, probed)' },
  budgetS: { env: 'CONTROL_BUDGET_S', def: 900, min: 60, max: 3600, desc: 'time budget of the whole run; stops and cleans up beyond it' },
} as const satisfies Record<string, IntSpec>;
type Opts = { [K in keyof typeof INTS]: number } & { cpuProfDir?: string };

function usage(): string {
  return [
    'npm run bench:control: control-plane scale of vrouter-ebpfd (route programming rate vs ip -batch',
    'and the raw kernel maps, memory, restart, ListRoutes, latency under a big write), in throwaway namespaces.',
    'Results: tables on stdout, JSON in bench/results/control-latest.json (+ a timestamped copy).',
    '',
    'usage: [VAR=value ...] npm run bench:control      (node bench/control.ts --help: this text)',
    '',
    ...intUsage(INTS, 20),
    `  ${'CONTROL_CPU_PROF'.padEnd(20)} a directory: the daemon runs with --cpu-prof (10 ms interval) and writes its profiles there`,
  ].join('\n');
}

function parseOpts(env = process.env): Opts {
  const o = intOptions(INTS, env);
  if (o.step >= o.routes) throw new Error('CONTROL_STEP must be below CONTROL_ROUTES');
  return { ...o, cpuProfDir: env.CONTROL_CPU_PROF || undefined };
}

// ------------------------------------------------------------------ results
interface Rate {
  name: string;
  routes: number;
  seconds: number;
  perSecond: number;
  vsIpBatch?: number;
  vsKernel?: number;
  note?: string;
}
interface MemPoint extends Mem {
  when: string;
  routes: number;
  /** V8 heap used / total and external memory (MiB), from the daemon's own /metrics */
  heapUsedMiB?: number;
  heapTotalMiB?: number;
  externalMiB?: number;
}
interface Restart {
  routes: number;
  /** SIGTERM to exit */
  stopSeconds: number;
  /** spawn to the first Health/Check answered SERVING */
  readySeconds: number;
  /** spawn to the first GetSystemInfo answered */
  systemInfoSeconds: number;
}
interface ListResult {
  routes: number;
  expected: number;
  firstMessageMs: number;
  seconds: number;
  perSecond: number;
  truncated: boolean;
}
interface LatencyStats {
  samples: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
}
interface Responsiveness {
  write: string;
  writeSeconds: number;
  intervalMs: number;
  idle: { health: LatencyStats; getRoute: LatencyStats };
  during: { health: LatencyStats; getRoute: LatencyStats };
  skipped: { health: number; getRoute: number };
  errors: string[];
  /** the daemon's own event-loop delay during the write (its /metrics, beyond the gauges' sampling interval), ms */
  daemonLoop: { p99: number; max: number } | undefined;
}
interface ControlResult {
  startedAt: string;
  wallSeconds: number;
  commit: string;
  host: { kernel: string; cpus: number; node: string };
  options: Record<string, unknown>;
  raw: RawResult[];
  rates: Rate[];
  memory: MemPoint[];
  coldStart?: Restart;
  restarts: Restart[];
  list?: ListResult;
  responsiveness: Responsiveness[];
  streaming: StreamingResult[];
}

// ------------------------------------------------------------------ helpers
/** daemonPid: the node process of the daemon (nsenter execs it, so it is the spawned pid; checked) */
function daemonPid(d: LabDaemon): number {
  const pid = d.proc?.pid;
  if (!pid) throw new Error('daemon not running');
  const isNode = (p: number) => basename(readlinkSync(`/proc/${p}/exe`)).startsWith('node');
  if (isNode(pid)) return pid;
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  const node = kids.find(isNode);
  if (!node) throw new Error(`daemon pid ${pid} is ${readlinkSync(`/proc/${pid}/exe`)} and has no node child`);
  return node;
}

/**
 * callOnce: one unary call with raw bytes on a fresh channel of its own (a
 * local subchannel pool: no connection backoff left by earlier attempts);
 * resolves to the response, or undefined on any error.
 */
function callOnce(address: string, path: string, timeoutMs: number): Promise<Buffer | undefined> {
  const c = new Client(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  return new Promise<Buffer | undefined>((resolve) =>
    c.makeUnaryRequest<Buffer, Buffer>(path, (b) => b, (b) => b, Buffer.alloc(0), new Metadata(), { deadline: Date.now() + timeoutMs },
      (err, res) => resolve(err ? undefined : res)),
  ).finally(() => c.close());
}

/** healthOnce: Health/Check (service "") answered SERVING (field 1 = 1) */
async function healthOnce(address: string, timeoutMs: number): Promise<boolean> {
  const res = await callOnce(address, '/grpc.health.v1.Health/Check', timeoutMs);
  return !!res && res[0] === 0x08 && res[1] === 1;
}

function stats(xs: number[]): LatencyStats {
  const ok = xs.filter((x) => x >= 0).sort((a, b) => a - b);
  const r = (x: number) => +x.toFixed(2);
  return { samples: ok.length, failed: xs.length - ok.length, p50: r(percentile(ok, 50)), p99: r(percentile(ok, 99)), max: r(ok.at(-1) ?? 0) };
}

function window(s: KindSamples, from: number, to: number): number[] {
  const out: number[] = [];
  s.sent.forEach((t, i) => {
    if (t >= from && t <= to) out.push(s.ms[i]!);
  });
  return out;
}

/** gitCommit: the last commit of the daemon's own code (src, bpf, proto), "+dirty" if they have local changes, and the bench's HEAD */
function gitCommit(): string {
  const git = (...a: string[]) => sh('git', ['-C', fileURLToPath(new URL('..', import.meta.url)), ...a], { allowFail: true }).trim();
  const daemon = git('log', '-1', '--format=%h', '--', 'src', 'bpf', 'proto');
  const dirty = git('status', '--porcelain', '--', 'src', 'bpf', 'proto');
  return `daemon ${daemon}${dirty ? '+dirty' : ''} (HEAD ${git('rev-parse', '--short', 'HEAD')})`;
}

// ------------------------------------------------------------------ the bench
class ControlBench {
  readonly lab: Lab;
  readonly o: Opts;
  readonly r: ControlResult;
  daemon: LabDaemon | undefined;
  api: VrouterClient | undefined;
  private ns = '';
  private readonly sentinel: RouteInit = { vrf: VRFS[0], prefix: '192.168.255.1/32', nextHopId: NHS[0], proxyArp: false };
  private tableSize = 0;
  /** the probe process while it runs (killed by the clean-up if the run is stopped) */
  probe: ChildProcess | undefined;

  constructor(lab: Lab, o: Opts, r: ControlResult) {
    this.lab = lab;
    this.o = o;
    this.r = r;
  }

  get address(): string {
    return `unix:${this.daemon!.socketPath}`;
  }

  /** mem: the daemon's memory 0.5 s after the last write (it gives back bulk garbage 0.3 s after writes go quiet; the peak column keeps the high-water mark) */
  private async mem(when: string): Promise<void> {
    await sleep(500);
    const m = memOf(daemonPid(this.daemon!));
    const heap = this.heap();
    progress(`memory ${when}: VmRSS ${m.rssMiB.toFixed(0)} MiB (peak ${m.hwmMiB.toFixed(0)}), heap used ${heap.heapUsedMiB?.toFixed(0)} of ${heap.heapTotalMiB?.toFixed(0)} MiB`);
    this.r.memory.push({ when, routes: this.tableSize, ...m, ...heap });
  }

  /** heap: the V8 heap figures of the daemon's process metrics (prom-client defaults), scraped inside its namespace */
  private heap(): Pick<MemPoint, 'heapUsedMiB' | 'heapTotalMiB' | 'externalMiB'> {
    const text = this.lab.exec(this.ns, 'curl', ['-sf', '--max-time', '10', `http://${METRICS}/metrics`], { allowFail: true, timeoutMs: 15_000 });
    const mib = (name: string) => {
      const m = new RegExp(`^vrouter_ebpfd_${name} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) / 2 ** 20 : undefined;
    };
    return { heapUsedMiB: mib('nodejs_heap_size_used_bytes'), heapTotalMiB: mib('nodejs_heap_size_total_bytes'), externalMiB: mib('nodejs_external_memory_bytes') };
  }

  /** loopLag: the daemon's event-loop delay since the last scrape (p99, max), less the gauges' sampling interval */
  private loopLag(): { p99: number; max: number } | undefined {
    const text = this.lab.exec(this.ns, 'curl', ['-sf', '--max-time', '10', `http://${METRICS}/metrics`], { allowFail: true, timeoutMs: 15_000 });
    const ms = (name: string) => {
      const m = new RegExp(`^vrouter_ebpfd_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text);
      return m ? Math.max(0, +(Number(m[1]) * 1000 - EVENT_LOOP_SAMPLE_MS).toFixed(2)) : undefined;
    };
    const p99 = ms('p99');
    const max = ms('max');
    return p99 === undefined || max === undefined ? undefined : { p99, max };
  }

  private rate(name: string, routes: number, seconds: number, note?: string): Rate {
    progress(`${name}: ${routes} routes in ${seconds.toFixed(2)} s (${Math.round(routes / seconds)}/s)`);
    const x: Rate = { name, routes, seconds, perSecond: routes / seconds, note };
    this.r.rates.push(x);
    return x;
  }

  /** start: spawns the daemon; times spawn -> Health SERVING and -> GetSystemInfo */
  private async start(): Promise<Restart> {
    const d = this.daemon!;
    const profOpt = this.o.cpuProfDir ? `--cpu-prof --cpu-prof-dir=${this.o.cpuProfDir} --cpu-prof-interval=10000` : undefined;
    const saved = process.env.NODE_OPTIONS;
    if (profOpt) process.env.NODE_OPTIONS = `${saved ?? ''} ${profOpt}`.trim();
    const t0 = performance.now();
    const started = d.start(180_000); // spawns synchronously
    if (profOpt) process.env.NODE_OPTIONS = saved ?? '';
    if (saved === undefined && profOpt) delete process.env.NODE_OPTIONS;
    let readySeconds = NaN;
    let systemInfoSeconds = NaN;
    const address = this.address;
    // our own polling, every 5 ms: LabDaemon.start's own wait has a coarser grain
    const poll = (async () => {
      const deadline = t0 + 180_000;
      while (performance.now() < deadline) {
        if (Number.isNaN(readySeconds) && (await healthOnce(address, 200))) readySeconds = (performance.now() - t0) / 1000;
        if (!Number.isNaN(readySeconds) && (await callOnce(address, '/vrouter.ebpf.v1.SystemService/GetSystemInfo', 5000))) {
          systemInfoSeconds = (performance.now() - t0) / 1000;
          return;
        }
        await sleep(5);
      }
    })();
    await Promise.all([started, poll]);
    if (Number.isNaN(systemInfoSeconds)) throw new Error('daemon never answered Health/Check and GetSystemInfo');
    this.api?.close();
    this.api = new VrouterClient(address, 600_000);
    await this.api.system.getSystemInfo({});
    return { routes: this.tableSize, stopSeconds: 0, readySeconds, systemInfoSeconds };
  }

  async restart(): Promise<void> {
    const t0 = performance.now();
    this.api?.close();
    this.api = undefined;
    const code = await this.daemon!.stop('SIGTERM');
    const stopSeconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`daemon exited with ${code} on SIGTERM`);
    const x = { ...(await this.start()), stopSeconds };
    progress(`restart at ${this.tableSize} routes: stop ${x.stopSeconds.toFixed(2)} s, Health ${x.readySeconds.toFixed(2)} s, GetSystemInfo ${x.systemInfoSeconds.toFixed(2)} s`);
    this.r.restarts.push(x);
  }

  /** addAll: the requests in order, `inFlight` calls outstanding at most (1: each waits for the previous answer) */
  async addAll(reqs: AddRoutesRequest[], inFlight = 1): Promise<number> {
    const t0 = performance.now();
    let added = 0;
    let next = 0;
    const lane = async () => {
      while (next < reqs.length) {
        const r = await this.api!.routes.addRoutes(reqs[next++]!); // (added += await ... would read `added` before the await)
        added += r.added;
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, reqs.length) }, lane));
    const want = reqs.reduce((n, q) => n + q.routes.length, 0);
    if (added !== want) throw new Error(`AddRoutes: ${added} of ${want} added`);
    this.tableSize += added;
    return (performance.now() - t0) / 1000;
  }

  async deleteAll(reqs: DeleteRoutesRequest[], inFlight = 1): Promise<number> {
    const t0 = performance.now();
    let deleted = 0;
    let next = 0;
    const lane = async () => {
      while (next < reqs.length) {
        const r = await this.api!.routes.deleteRoutes(reqs[next++]!);
        deleted += r.deleted;
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, reqs.length) }, lane));
    const want = reqs.reduce((n, q) => n + q.keys.length, 0);
    if (deleted !== want) throw new Error(`DeleteRoutes: ${deleted} of ${want} deleted`);
    this.tableSize -= deleted;
    return (performance.now() - t0) / 1000;
  }

  async setup(): Promise<void> {
    this.ns = this.lab.ns('ctl');
    // one veth end is the vif the ENCAP next hops send to; it is never given traffic
    this.lab.ip(this.ns, ['link', 'add', 'ctl0', 'type', 'veth', 'peer', 'name', 'ctl1']);
    for (const dev of ['ctl0', 'ctl1']) this.lab.ip(this.ns, ['link', 'set', dev, 'up']);
    this.daemon = new LabDaemon(this.lab, {
      instance: this.lab.prefix,
      ns: this.ns,
      extraArgs: ['--max-routes', String(this.o.routes + 65_536), '--metrics', METRICS, '--log-level', 'warn'],
    });
    const cold = await this.start();
    progress(`cold start (load, verify, pin): Health ${cold.readySeconds.toFixed(2)} s`);
    this.r.coldStart = cold;
    const api = this.api!;
    await api.interfaces.addInterface({ interface: { index: 1, type: InterfaceType.VIRTUAL, name: 'ctl0', vrf: VRFS[0] } });
    for (const id of NHS)
      await api.nextHops.addNextHop({ nextHop: { id, vrf: VRFS[0], kind: { case: 'encap', value: { interfaceIndex: 1, dstMac: `02:cc:00:00:00:${id}` } } } });
    await api.routes.addRoute({ route: this.sentinel });
    this.tableSize = 1;
  }

  /** responsiveness: the probe process runs through `write`; samples split into idle (before) and during */
  async probed(name: string, write: () => Promise<number>): Promise<number> {
    const p = spawn(process.execPath, [
      PROBE, '--socket', this.daemon!.socketPath, '--vrf', String(this.sentinel.vrf), '--prefix', this.sentinel.prefix,
      '--interval-ms', String(this.o.probeMs), '--max-seconds', '300',
    ], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.probe = p;
    try {
      const lines = createInterface({ input: p.stdout! })[Symbol.asyncIterator]();
      const first = await Promise.race([lines.next(), sleep(30_000).then(() => ({ value: 'timeout' }))]);
      if (first.value !== 'ready') throw new Error(`probe not ready: ${String(first.value)}`);
      const idleFrom = Date.now();
      await sleep(1000);
      this.loopLag(); // a scrape resets the daemon's lag histogram: what the next one reads is the write's
      const from = Date.now();
      const seconds = await write();
      const to = Date.now();
      const daemonLoop = this.loopLag();
      await sleep(300);
      p.stdin!.write('stop\n');
      const last = await Promise.race([lines.next(), sleep(30_000).then(() => ({ value: undefined }))]);
      if (typeof last.value !== 'string') throw new Error('probe gave no samples');
      const s = JSON.parse(last.value) as ProbeSamples;
      const x: Responsiveness = {
        write: name,
        writeSeconds: seconds,
        intervalMs: s.intervalMs,
        idle: { health: stats(window(s.health, idleFrom, from)), getRoute: stats(window(s.getRoute, idleFrom, from)) },
        during: { health: stats(window(s.health, from, to)), getRoute: stats(window(s.getRoute, from, to)) },
        skipped: { health: s.health.skipped, getRoute: s.getRoute.skipped },
        errors: [...s.health.errors, ...s.getRoute.errors],
        daemonLoop,
      };
      progress(`latency during ${name}: Health p50 ${x.during.health.p50} p99 ${x.during.health.p99} max ${x.during.health.max} ms; ` +
        `GetRoute p50 ${x.during.getRoute.p50} p99 ${x.during.getRoute.p99} max ${x.during.getRoute.max} ms`);
      this.r.responsiveness.push(x);
      return seconds;
    } finally {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  }

  async list(): Promise<void> {
    const t0 = performance.now();
    let firstMessageMs = NaN;
    let n = 0;
    let truncated = false;
    // chunked messages (the API's way for large tables); LIST_CHUNK=0 asks for one route per message
    const stream = this.api!.routes.listRoutes({ chunkSize: this.o.listChunk }) as AsyncIterable<unknown> & { cancel?: () => void };
    const limit = t0 + this.o.listMaxS * 1000;
    try {
      for await (const m of stream) {
        if (Number.isNaN(firstMessageMs)) firstMessageMs = performance.now() - t0;
        // chunked replies carry `routes`, unchunked ones `route`
        const x = m as { route?: unknown; routes?: unknown[] };
        n += x.routes?.length ? x.routes.length : x.route ? 1 : 0;
        if (performance.now() > limit) {
          truncated = true;
          break; // ends the call (cancel)
        }
      }
    } catch (err) {
      if (!truncated) throw err;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (!truncated && n !== this.tableSize) throw new Error(`ListRoutes: ${n} routes listed, ${this.tableSize} in the table`);
    this.r.list = { routes: n, expected: this.tableSize, firstMessageMs, seconds, perSecond: n / seconds, truncated };
    progress(`ListRoutes: ${n} routes, first after ${firstMessageMs.toFixed(0)} ms, ${seconds.toFixed(2)} s${truncated ? ' (cut off)' : ''}`);
  }

  async run(): Promise<void> {
    const o = this.o;
    const N = o.routes;
    progress(`building ${N} routes and their requests (not timed)`);
    const routes = routeSet(N);
    const add1k = addRequests(routes, 1000);
    const addBig = addRequests(routes, o.bigBatch);
    const delReqs = deleteRequests(routes, o.deleteBatch);
    const stepCalls = Math.ceil(o.step / 1000);

    // baselines: the raw maps (each route where the daemon puts it), then the kernel FIB
    progress('raw kernel limit: bpf_map_update_batch on vr_host4 (the /32s) and vr_rt4 (the /24s)');
    this.r.raw = measureRaw(join(benchBpffsDir(this.lab), 'raw'), routes, [1000, o.bigBatch]);
    progress(`ip -batch baselines: ${o.step} and ${o.ipRoutes} routes, each into a fresh namespace`);
    const ipStep = await ipBatch(this.lab, prefixes(80, o.step), 'fib1');
    this.rate(`ip -batch (kernel FIB), 0 -> ${o.step}`, ipStep.routes, ipStep.seconds);
    const ip = await ipBatch(this.lab, prefixes(80, o.ipRoutes), 'fib2');
    this.rate(`ip -batch (kernel FIB), 0 -> ${o.ipRoutes}`, ip.routes, ip.seconds);
    for (const x of this.r.raw.filter((x) => x.name.startsWith('bpf_map_update')))
      this.rate(`raw maps ${x.name}`, x.routes, x.seconds);

    await this.setup();
    await sleep(1000);
    await this.mem('idle (vif, 2 next hops, 1 route)');

    // warm-up (JIT of both sides), not measured
    const warm = routeSet(20_000, 1);
    await this.addAll(addRequests(warm, 1000));
    await this.deleteAll(deleteRequests(warm, 1000));

    // 0 -> step in batches of 1000; memory and restart there; then on to N
    const tStep = await this.addAll(add1k.slice(0, stepCalls));
    this.rate(`AddRoutes, batches of 1000, 0 -> ${o.step}`, o.step, tStep);
    await this.mem(`${o.step} routes`);
    await this.restart();
    await this.mem(`${o.step} routes, after restart`);
    const tRest = await this.addAll(add1k.slice(stepCalls));
    this.rate(`AddRoutes, batches of 1000, ${o.step} -> ${N}`, N - o.step, tRest);
    this.rate(`AddRoutes, batches of 1000, 0 -> ${N}`, N, tStep + tRest);
    await this.mem(`${N} routes`);

    await this.list();
    await this.mem(`${N} routes, after ListRoutes`);
    await this.restart();
    await this.mem(`${N} routes, after restart`);

    // cycles: delete all, add all again, ... (SINGLE_CALL's cycle is the last)
    let cycle = 1;
    const cycleEnd = async (inFlight = 1) => {
      const t = await this.deleteAll(delReqs, inFlight);
      this.rate(`DeleteRoutes, batches of ${o.deleteBatch}${inFlight > 1 ? `, ${inFlight} in flight` : ''}, ${N} -> 0 (cycle ${cycle})`, N, t);
      await this.mem(`0 routes, after cycle ${cycle} (add + delete ${N})`);
      cycle++;
    };
    await cycleEnd();
    this.rate(`AddRoutes, batches of ${o.bigBatch}, 0 -> ${N}`, N, await this.addAll(addBig));
    await cycleEnd();
    // an agent that keeps two calls outstanding: its encoding of the next overlaps the daemon's work
    this.rate(`AddRoutes, batches of ${o.bigBatch}, 2 in flight, 0 -> ${N}`, N, await this.addAll(addBig, 2));
    await cycleEnd(2);
    this.rate(`AddRoutes, batches of ${o.bigBatch}, 0 -> ${N}, probed`, N,
      await this.probed(`AddRoutes ${Math.ceil(N / o.bigBatch)} x ${o.bigBatch}`, () => this.addAll(addBig)), 'the probe process runs beside it');
    await cycleEnd();
    if (o.singleCall) {
      const one = addRequests(routes, N);
      this.rate(`AddRoutes, 1 call of ${N}, probed`, N, await this.probed(`AddRoutes 1 x ${N}`, () => this.addAll(one)), 'the probe process runs beside it');
      await cycleEnd();
    }

    // the streaming slot, on an empty table
    const streamRoutes = routeSet(Math.max(...STREAMING_SENDERS.map((s) => s.routes)), 1);
    for (const slot of STREAMING_SENDERS) {
      const sender = await slot.make(this.address);
      if (!sender) {
        progress(`${slot.name}: not available yet (control-streaming.ts)`);
        this.r.streaming.push({ name: slot.name, available: false, routes: 0, seconds: 0, perSecond: 0, truncated: false });
        continue;
      }
      try {
        const x = await measureOneAtATime(slot, sender, streamRoutes, o.streamMaxS);
        this.r.streaming.push(x);
        this.tableSize += x.routes;
        await this.deleteAll(deleteRequests(streamRoutes.slice(0, x.routes), o.deleteBatch));
      } finally {
        await sender.close();
      }
    }

    const ipRate = ip.perSecond;
    const kernel = Math.max(...this.r.raw.filter((x) => x.name.startsWith('bpf_map_update')).map((x) => x.perSecond));
    for (const x of this.r.rates) {
      x.vsIpBatch = x.perSecond / ipRate;
      x.vsKernel = x.perSecond / kernel;
    }
    for (const x of this.r.streaming) Object.assign(x, { vsIpBatch: x.perSecond / ipRate, vsKernel: x.perSecond / kernel });
  }
}

// ------------------------------------------------------------------ report
function format(r: ControlResult): string {
  const out: string[] = [];
  const ratio = (x: number | undefined) => (x === undefined ? '-' : x >= 0.1 ? `${x.toFixed(2)}x` : `${x.toFixed(3)}x`);
  const o = r.options;
  out.push(`Control plane at scale: vrouter-ebpfd ${r.commit}, ${r.host.kernel}, ${r.host.cpus} CPUs, node ${r.host.node}, ${r.startedAt}`);
  out.push('', `Route programming: IPv4 routes (/32s, 1 in 64 a /24, 2 VRFs, 2 next hops); ratios to ip -batch of ${o.ipRoutes} routes and to the raw maps (/32s in vr_host4, /24s in vr_rt4; best of its batch sizes)`);
  out.push(table(
    ['method', 'routes', 'seconds', 'routes/s', 'vs ip -batch', 'vs raw kernel'],
    r.rates.map((x) => [x.name, String(x.routes), x.seconds.toFixed(3), Math.round(x.perSecond).toString(), ratio(x.vsIpBatch), ratio(x.vsKernel)]),
  ));
  out.push('', 'Routes handed over one at a time by the caller (streaming-API slot, bench/control-streaming.ts; goal >= 100k/s)');
  out.push(table(
    ['method', 'routes', 'seconds', 'routes/s', 'vs ip -batch', 'vs raw kernel'],
    r.streaming.map((x) => {
      const y = x as StreamingResult & { vsIpBatch?: number; vsKernel?: number };
      return x.available
        ? [`${x.name}${x.truncated ? ' (time limit)' : ''}`, String(x.routes), x.seconds.toFixed(3), Math.round(x.perSecond).toString(), ratio(y.vsIpBatch), ratio(y.vsKernel)]
        : [x.name, '-', '-', 'not available', '-', '-'];
    }),
  ));
  out.push('', 'Daemon memory (/proc/<pid>/status; peak = VmHWM of that process, reset by a restart)');
  const idle = r.memory[0]?.rssMiB ?? 0;
  out.push(table(
    ['when', 'routes', 'VmRSS MiB', 'peak MiB', 'B/route over idle', 'V8 heap used/total MiB'],
    r.memory.map((m) => [
      m.when, String(m.routes), m.rssMiB.toFixed(0), m.hwmMiB.toFixed(0),
      m.routes >= 50_000 ? (((m.rssMiB - idle) * 2 ** 20) / m.routes).toFixed(0) : '-',
      m.heapUsedMiB === undefined ? '-' : `${m.heapUsedMiB.toFixed(0)} / ${m.heapTotalMiB?.toFixed(0)}`,
    ]),
  ));
  out.push('', 'Restart to ready (SIGTERM; spawn -> first Health/Check SERVING; -> first GetSystemInfo)');
  out.push(table(
    ['routes', 'stop s', 'ready s', 'GetSystemInfo s'],
    [...(r.coldStart ? [{ ...r.coldStart, routes: -1 }] : []), ...r.restarts].map((x) => [
      x.routes < 0 ? 'cold start (load + verify)' : String(x.routes), x.routes < 0 ? '-' : x.stopSeconds.toFixed(2), x.readySeconds.toFixed(2), x.systemInfoSeconds.toFixed(2),
    ]),
  ));
  if (r.list) {
    const l = r.list;
    out.push('', `ListRoutes of the whole table: ${l.routes} of ${l.expected} routes${l.truncated ? ` (cut off after ${o.listMaxS} s)` : ''}; ` +
      `first message after ${l.firstMessageMs.toFixed(0)} ms; ${l.seconds.toFixed(2)} s; ${Math.round(l.perSecond)} routes/s`);
  }
  if (r.responsiveness.length) {
    out.push('', `Latency from a separate process, one call of each kind every ${o.probeMs} ms, idle (1 s before) vs during the write (ms)`);
    const rows: string[][] = [];
    for (const x of r.responsiveness)
      for (const [k, label] of [['health', 'Health/Check'], ['getRoute', 'GetRoute']] as const) {
        const i = x.idle[k];
        const d = x.during[k];
        rows.push([`${x.write} (${x.writeSeconds.toFixed(1)} s)`, label, `${i.p50} / ${i.p99} / ${i.max}`, String(d.samples), String(d.p50), String(d.p99), String(d.max), String(d.failed + x.skipped[k])]);
      }
    out.push(table(['during', 'call', 'idle p50/p99/max', 'calls', 'p50', 'p99', 'max', 'failed+skipped'], rows));
    out.push('', 'The daemon\'s own event-loop delay during the same writes (its /metrics: nodejs_eventloop_lag, beyond the 5 ms sampling; ms)');
    out.push(table(['during', 'p99', 'max'], r.responsiveness.map((x) => [x.write, String(x.daemonLoop?.p99 ?? '-'), String(x.daemonLoop?.max ?? '-')])));
  }
  out.push('', `wall time ${r.wallSeconds.toFixed(1)} s`);
  return out.join('\n');
}

function writeResults(r: ControlResult): string {
  mkdirSync(RESULTS, { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  const stamped = join(RESULTS, `control-${r.startedAt.replaceAll(':', '-')}.json`);
  writeFileSync(join(RESULTS, 'control-latest.json'), json);
  writeFileSync(stamped, json);
  return stamped;
}

// ------------------------------------------------------------------ main
const opts: Opts = cliOptions(usage, () => parseOpts());
if (opts.cpuProfDir) mkdirSync(opts.cpuProfDir, { recursive: true });

const startedAt = new Date();
const result: ControlResult = {
  startedAt: startedAt.toISOString(),
  wallSeconds: 0,
  commit: gitCommit(),
  host: { kernel: release(), cpus: cpus().length, node: process.version },
  options: { ...opts },
  raw: [],
  rates: [],
  memory: [],
  restarts: [],
  responsiveness: [],
  streaming: [],
};
const lab = new Lab('vrctl');
const b = new ControlBench(lab, opts, result);
let stopTimer: NodeJS.Timeout | undefined;
const stopped = new Promise<never>((_, reject) => {
  const stop = (why: string) => reject(new Error(`stopped: ${why}`));
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  stopTimer = setTimeout(() => stop(`time budget of ${opts.budgetS} s exceeded`), opts.budgetS * 1000);
});
stopped.catch(() => {});
let failed = false;
try {
  progress(`lab ${lab.prefix}`);
  await Promise.race([b.run(), stopped]);
} catch (err) {
  failed = true;
  console.error(`bench:control failed: ${(err as Error).stack ?? (err as Error).message}`);
  if (b.daemon?.log) console.error(`daemon log (tail):\n${b.daemon.log.split('\n').slice(-20).join('\n')}`);
}
clearTimeout(stopTimer);

const errors: string[] = [];
for (const [what, step] of [
  ['probe', () => b.probe?.exitCode === null && b.probe.signalCode === null && b.probe.kill('SIGKILL')],
  ['client', () => b.api?.close()],
  // SIGTERM first: a profiled daemon writes its profile on a clean exit
  ['daemon stop', () => b.daemon?.stop('SIGTERM')],
  ['daemon', () => b.daemon?.destroy()],
  ['namespaces', () => lab.cleanup()],
  ['bench bpffs', () => removeBenchBpffs(lab)],
] as [string, () => unknown][]) {
  try {
    await step();
  } catch (err) {
    errors.push(`${what}: ${(err as Error).message}`);
  }
}
const ns = sh('ip', ['netns', 'list']).split('\n').filter((l) => l.startsWith(`${lab.prefix}-`));
if (ns.length) errors.push(`namespaces left: ${ns.join(', ')}`);
const p = b.daemon?.proc;
if (p && p.exitCode === null && p.signalCode === null) errors.push(`daemon pid ${p.pid} left`);
for (const dir of [join(BPFFS_LAB_ROOT, lab.prefix), benchBpffsDir(lab)]) if (existsSync(dir)) errors.push(`bpffs ${dir} left`);
if (errors.length) {
  failed = true;
  console.error(`clean-up incomplete: ${errors.join('; ')}`);
} else progress(`clean-up checked: no namespace, daemon or bpffs directory of ${lab.prefix} left`);
if (!failed) {
  result.wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
  console.log(`\n${format(result)}`);
  console.log(`results: bench/results/control-latest.json, ${writeResults(result)}`);
}
process.exit(failed ? 1 : 0);
