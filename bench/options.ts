/**
 * Bench options: environment variables (so that `npm run bench` needs no
 * `--`), or the same as flags after `--`; each bounded, so that a typo
 * cannot start an hour-long run.
 */

export type Phase = 'tcp' | 'packets' | 'routes' | 'program' | 'flows' | 'misses' | 'lookup' | 'overlay';
const PHASES: readonly Phase[] = ['tcp', 'packets', 'routes', 'program', 'flows', 'misses', 'lookup', 'overlay'];

/** the TCP phase's paths, in the order they are measured (tcp-rate.ts) */
export type TcpPath = 'veth-pair' | 'linux' | 'tc-bare' | 'vrouter-tc' | 'vrouter-xdp';
export const TCP_PATHS: readonly TcpPath[] = ['veth-pair', 'linux', 'tc-bare', 'vrouter-tc', 'vrouter-xdp'];

/** the misses phase's hooks and what the agent does (miss-rate.ts) */
export type MissHook = 'tc' | 'xdp';
export const MISS_HOOKS: readonly MissHook[] = ['tc', 'xdp'];
/** ring: no watcher (the daemon's ring reader and hold queue alone); watch: WatchFlowMisses; setup: + SetFlows, held packets delivered */
export type MissMode = 'ring' | 'watch' | 'setup';
export const MISS_MODES: readonly MissMode[] = ['ring', 'watch', 'setup'];

/** IntSpec: an integer option read from the environment (shared by the benches) */
export interface IntSpec {
  env: string;
  def: number;
  min: number;
  max: number;
  desc: string;
}

/** intOptions: every spec's value from env (default when unset), range-checked */
export function intOptions<T extends Record<string, IntSpec>>(specs: T, env: NodeJS.ProcessEnv = process.env): { [K in keyof T]: number } {
  return Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, int(s, env[s.env])])) as { [K in keyof T]: number };
}

/** intUsage: one help line per spec */
export function intUsage(specs: Record<string, IntSpec>, width: number): string[] {
  return Object.values(specs).map((s) => `  ${s.env.padEnd(width)} ${s.desc} (default ${s.def}, ${s.min}..${s.max})`);
}

// max-routes per family is 262144 by default; every route phase deletes its
// routes before the next, so one phase at a time must fit beside the pod routes
const INTS = {
  runs: { env: 'RUNS', def: 3, min: 1, max: 20, desc: 'packet-rate runs per path; the median is reported' },
  dur: { env: 'DUR', def: 4, min: 1, max: 60, desc: 'seconds of traffic per run' },
  repeat: { env: 'REPEAT', def: 1 << 18, min: 1024, max: 1 << 22, desc: 'frames per BPF_PROG_TEST_RUN call of the generator' },
  genBatch: { env: 'GEN_BATCH', def: 64, min: 1, max: 256, desc: 'live-frame batch size of the generator' },
  routesSeq: { env: 'ROUTES_SEQ', def: 5000, min: 100, max: 100_000, desc: 'routes added by sequential AddRoute' },
  routesConc: { env: 'ROUTES_CONC', def: 20_000, min: 100, max: 250_000, desc: 'routes added by concurrent AddRoute' },
  inflight: { env: 'INFLIGHT', def: 64, min: 2, max: 1024, desc: 'AddRoute calls in flight in the concurrent case' },
  routes: { env: 'ROUTES', def: 100_000, min: 1000, max: 250_000, desc: 'routes added by AddRoutes batches and by ip -batch' },
  routeBatch: { env: 'ROUTE_BATCH', def: 1000, min: 1, max: 10_000, desc: 'routes per AddRoutes call' },
  tcpDur: { env: 'TCP_DUR', def: 3, min: 1, max: 60, desc: 'seconds per iperf3 run (iperf3 -t) of the tcp phase' },
  tcpRuns: { env: 'TCP_RUNS', def: 3, min: 1, max: 10, desc: 'iperf3 runs per tcp row, each on a fresh topology, paths in turn; the median is reported' },
  overlayFabricMtu: { env: 'OVERLAY_FABRIC_MTU', def: 1600, min: 1280, max: 9000, desc: 'MTU of the fabric veths of the overlay phase (pods at 1500: the default leaves room for VXLAN)' },
  flowSamples: { env: 'FLOW_SAMPLES', def: 7, min: 1, max: 31, desc: 'samples per path, hook and table size of the flows phase; the median is reported' },
  lookupSamples: { env: 'LOOKUP_SAMPLES', def: 7, min: 1, max: 31, desc: 'samples per build, table and size of the lookup phase; the median is reported' },
  missDur: { env: 'MISS_DUR', def: 3, min: 1, max: 30, desc: 'seconds of new flows per step of the misses phase' },
  missMaxFrames: { env: 'MISS_MAX_FRAMES', def: 1_500_000, min: 10_000, max: 4_000_000, desc: 'new flows per step at most (sizes the daemon\'s --max-flows)' },
  missWindow: { env: 'MISS_WINDOW', def: 262_144, min: 1, max: 1 << 20, desc: 'WatchFlowMisses window of the agent' },
  missMaxBatch: { env: 'MISS_MAX_BATCH', def: 1024, min: 1, max: 4096, desc: 'WatchFlowMisses max_batch of the agent' },
  missFlushUs: { env: 'MISS_FLUSH_US', def: 200, min: 0, max: 1_000_000, desc: 'WatchFlowMisses flush_us of the agent' },
  missInflight: { env: 'MISS_INFLIGHT', def: 4, min: 1, max: 64, desc: 'SetFlows calls the agent has pending at most (setup mode)' },
} as const satisfies Record<string, IntSpec>;

/** ListSpec: a comma-separated list of integers, each bounded */
interface ListSpec {
  env: string;
  def: readonly number[];
  min: number;
  max: number;
  desc: string;
}

const LISTS = {
  tcpMtus: { env: 'TCP_MTUS', def: [1500, 9000], min: 1280, max: 9000, desc: 'MTUs of the tcp phase (every veth end of the topology)' },
  tcpStreams: { env: 'TCP_STREAMS', def: [1, 4], min: 1, max: 16, desc: 'parallel TCP streams per iperf3 run (iperf3 -P)' },
  flows: { env: 'FLOWS', def: [1000, 100_000, 1_000_000], min: 1, max: 2_000_000, desc: 'entries in vr_flows at each size of the flows phase' },
  lookupRoutes: { env: 'LOOKUP_ROUTES', def: [1000, 100_000, 1_000_000], min: 1, max: 4_000_000, desc: 'routes in the table at each size of the lookup phase (/32s, then /24s)' },
  missRates: { env: 'MISS_RATES', def: [50_000, 100_000, 200_000, 400_000, 0], min: 0, max: 10_000_000, desc: 'new flows/s offered, one step each, in the misses phase (0: as fast as the generator goes)' },
} as const satisfies Record<string, ListSpec>;

export type BenchOptions = { [K in keyof typeof INTS]: number } & { [K in keyof typeof LISTS]: number[] } & {
  /** CPU the generator is pinned to; undefined = not pinned */
  cpu: number | undefined;
  phases: Set<Phase>;
  tcpPaths: TcpPath[];
  missHooks: MissHook[];
  missModes: MissMode[];
  /** a directory: each step of the misses phase records its daemon with `perf record -g` there */
  missPerf: string | undefined;
};

export function usage(): string {
  const ints = intUsage(INTS, 15);
  const lists = Object.values(LISTS).map((s) => `  ${s.env.padEnd(15)} ${s.desc} (default ${s.def.join(',')}, each ${s.min}..${s.max})`);
  return [
    'npm run bench: TCP throughput pod to pod (iperf3) through a bare veth pair, Linux',
    'forwarding and our datapath on the TC and on the XDP hook; packet rate of the',
    'datapath on both hooks vs Linux forwarding; route programming rate of the gRPC API',
    'vs `ip -batch`; the XDP program\'s own cost per packet vs an empty program; and the',
    'cost of an established flow vs the plain route path with FLOWS entries in the flow',
    'table; flow misses delivered to an agent over WatchFlowMisses and flow setups',
    '(miss -> SetFlows -> held packet delivered) per second; a route lookup\'s cost with',
    'LOOKUP_ROUTES routes, before (layout v3: tries only) and after the host-route hashes; pod to',
    'remote pod across two simulated hosts through our VXLAN and MPLSoUDP vs Linux vxlan devices',
    '(packet rate and TCP), in throwaway namespaces.',
    'Results: a table on stdout, JSON in bench/results/latest.json (+ a timestamped copy).',
    '',
    'usage: [VAR=value ...] npm run bench [-- --var value ...]   (--phases tcp = PHASES=tcp; --help: this text)',
    '',
    ...ints,
    ...lists,
    `  ${'TCP_PATHS'.padEnd(15)} comma-separated subset of ${TCP_PATHS.join(',')} (default all)`,
    `  ${'MISS_HOOKS'.padEnd(15)} hooks of the misses phase: subset of ${MISS_HOOKS.join(',')} (default all)`,
    `  ${'MISS_MODES'.padEnd(15)} agent modes of the misses phase: subset of ${MISS_MODES.join(',')} (default all)`,
    `  ${'MISS_PERF'.padEnd(15)} a directory: each step of the misses phase records its daemon with perf record -g there (JIT symbols in /tmp/perf-<pid>.map)`,
    `  ${'CPU'.padEnd(15)} CPU the generator (and so the whole inline path) runs on; "none" = unpinned (default 0)`,
    `  ${'PHASES'.padEnd(15)} comma-separated subset of ${PHASES.join(',')} (default all)`,
  ].join('\n');
}

function int(spec: IntSpec, raw: string | undefined): number {
  if (raw === undefined || raw === '') return spec.def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < spec.min || n > spec.max)
    throw new Error(`${spec.env}=${raw}: want an integer in ${spec.min}..${spec.max}`);
  return n;
}

/** names: a comma-separated subset of known (default: all of them), in the order given */
function names<T extends string>(env: string, known: readonly T[], raw: string | undefined): T[] {
  const out: T[] = [];
  for (const p of (raw ?? known.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(known as readonly string[]).includes(p)) throw new Error(`${env}: unknown ${JSON.stringify(p)} (${known.join(', ')})`);
    if (!out.includes(p as T)) out.push(p as T);
  }
  if (!out.length) throw new Error(`${env}: empty`);
  return out;
}

function intList(spec: ListSpec, raw: string | undefined): number[] {
  if (raw === undefined || raw.trim() === '') return [...spec.def];
  const out = [...new Set(raw.split(',').map((s) => int({ ...spec, def: 0 }, s.trim())))];
  if (!out.length) throw new Error(`${spec.env}: empty`);
  return out;
}

export function parseOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const out = intOptions(INTS, env);
  const lists = Object.fromEntries(Object.entries(LISTS).map(([k, s]) => [k, intList(s, env[s.env])])) as { [K in keyof typeof LISTS]: number[] };
  const cpuRaw = env.CPU ?? '0';
  const cpu = cpuRaw === 'none' ? undefined : int({ env: 'CPU', def: 0, min: 0, max: 4095, desc: '' }, cpuRaw);
  const phases = new Set(names('PHASES', PHASES, env.PHASES));
  const tcpPaths = names('TCP_PATHS', TCP_PATHS, env.TCP_PATHS);
  const missHooks = names('MISS_HOOKS', MISS_HOOKS, env.MISS_HOOKS);
  const missModes = names('MISS_MODES', MISS_MODES, env.MISS_MODES);
  return { ...out, ...lists, cpu, phases, tcpPaths, missHooks, missModes, missPerf: env.MISS_PERF || undefined };
}

/**
 * cliOptions: a bench's command line: --help prints usage and exits 0;
 * `--phases tcp` or `--phases=tcp` is the same as PHASES=tcp (any option the
 * usage lists, flag over environment); anything else, or an option parse()
 * refuses, exits 2 with the usage.
 */
export function cliOptions<T>(usageText: () => string, parse: () => T): T {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usageText());
    process.exit(0);
  }
  const known = new Set([...usageText().matchAll(/^ {2}([A-Z][A-Z0-9_]*) /gm)].map((m) => m[1]!));
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(args[i]!);
    const name = m?.[1]!.toUpperCase().replaceAll('-', '_');
    const value = m?.[2] ?? args[++i];
    if (!name || !known.has(name) || value === undefined) {
      console.error(`bad arguments: ${args.join(' ')} (options: --${[...known].map((k) => k.toLowerCase().replaceAll('_', '-')).join(', --')}, or the same as environment variables; see --help)`);
      process.exit(2);
    }
    process.env[name] = value;
  }
  try {
    return parse();
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usageText()}`);
    process.exit(2);
  }
}
