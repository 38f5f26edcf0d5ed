/**
 * Bench options: environment variables only (so that `npm run bench` needs
 * no `--`), each bounded, so that a typo cannot start an hour-long run.
 */

export type Phase = 'packets' | 'routes' | 'program';
const PHASES: readonly Phase[] = ['packets', 'routes', 'program'];

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
} as const satisfies Record<string, IntSpec>;

export type BenchOptions = { [K in keyof typeof INTS]: number } & {
  /** CPU the generator is pinned to; undefined = not pinned */
  cpu: number | undefined;
  phases: Set<Phase>;
};

export function usage(): string {
  const ints = intUsage(INTS, 12);
  return [
    'npm run bench: packet rate of the XDP datapath vs Linux forwarding, route',
    'programming rate of the gRPC API vs `ip -batch`, and the XDP program\'s own cost',
    'per packet vs an empty program, in throwaway namespaces.',
    'Results: a table on stdout, JSON in bench/results/latest.json (+ a timestamped copy).',
    '',
    'usage: [VAR=value ...] npm run bench        (node bench/run.ts --help: this text)',
    '',
    ...ints,
    `  ${'CPU'.padEnd(12)} CPU the generator (and so the whole inline path) runs on; "none" = unpinned (default 0)`,
    `  ${'PHASES'.padEnd(12)} comma-separated subset of packets,routes,program (default all)`,
  ].join('\n');
}

function int(spec: IntSpec, raw: string | undefined): number {
  if (raw === undefined || raw === '') return spec.def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < spec.min || n > spec.max)
    throw new Error(`${spec.env}=${raw}: want an integer in ${spec.min}..${spec.max}`);
  return n;
}

export function parseOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const out = intOptions(INTS, env);
  const cpuRaw = env.CPU ?? '0';
  const cpu = cpuRaw === 'none' ? undefined : int({ env: 'CPU', def: 0, min: 0, max: 4095, desc: '' }, cpuRaw);
  const phases = new Set<Phase>();
  for (const p of (env.PHASES ?? PHASES.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(PHASES as readonly string[]).includes(p)) throw new Error(`PHASES: unknown phase ${JSON.stringify(p)} (${PHASES.join(', ')})`);
    phases.add(p as Phase);
  }
  if (!phases.size) throw new Error('PHASES: empty');
  return { ...out, cpu, phases };
}

/**
 * cliOptions: a bench's command line: --help prints usage and exits 0; any
 * other argument, or an option parse() refuses, exits 2 with the usage.
 */
export function cliOptions<T>(usageText: () => string, parse: () => T): T {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usageText());
    process.exit(0);
  }
  if (args.length) {
    console.error(`unknown arguments: ${args.join(' ')} (options are environment variables; see --help)`);
    process.exit(2);
  }
  try {
    return parse();
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usageText()}`);
    process.exit(2);
  }
}
