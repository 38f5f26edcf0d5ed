/**
 * Config: the daemon's settings from flags, then VROUTER_EBPFD_* environment
 * variables, then defaults. parseConfig never exits; main decides.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseTrapRules, TRAP_RULES, type TrapRuleName } from './maps/trap-reasons.ts';

export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * DAEMON_NODE_FLAGS: how node runs the daemon (npm start, the bin's
 * shebang, the Dockerfile and the lab all pass them). A small young
 * generation lets V8 give back what a 1M-route batch used: without it the
 * heap stays ~150 MiB after bulk work (RSS ~220 MiB at 0 routes after a few
 * 1M add/delete cycles, against ~125 MiB with it); rates are unchanged.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=8'] as const;

export interface Config {
  instance: string;
  bpffsRoot: string;
  socketPath: string;
  grpcTcp: string;
  metricsAddress: string;
  objectPath: string;
  maxInterfaces: number;
  maxNextHops: number;
  maxRoutes: number;
  maxFlows: number;
  /** MPLS label table entries (vr_mpls) */
  maxLabels: number;
  /** VNI table entries (vr_vxlan) */
  maxVnis: number;
  /** bridge (MAC) table entries over all VRFs (vr_bridge) */
  maxBridge: number;
  /** composite next hops (vr_comp: VR_COMP_BLOCK slots each) */
  maxComposites: number;
  maxVrfs: number;
  syncOrphanTimeoutMs: number;
  /** packets of interest the datapath traps to the agent from start (vr_config.trap_mask) */
  trap: TrapRuleName[];
  /** packets held per flow miss (vr_config.hold_per_flow) */
  holdPerFlow: number;
  /** ms an unanswered flow miss keeps its packets (then flow_hold_expired) */
  holdTimeoutMs: number;
  /** packets the daemon holds at most, all misses together (then flow_hold_queue_full) */
  holdQueueMax: number;
  /** idle timeouts (ms) after which a flow is aged out, per protocol */
  flowIdleMs: { tcp: number; udp: number; icmp: number; other: number };
  logLevel: string;
  destroy: boolean;
  help: boolean;
  version: boolean;
}

const OPTIONS = {
  instance: { type: 'string', desc: 'instance name: pins under <bpffs-root>/<instance>/', def: 'default' },
  'bpffs-root': { type: 'string', desc: 'bpffs directory for all instances', def: '/sys/fs/bpf/vrouter-ebpf' },
  socket: { type: 'string', desc: 'gRPC unix socket', def: '/run/vrouter-ebpf/<instance>.sock' },
  'grpc-tcp': { type: 'string', desc: 'also serve gRPC on host:port (insecure; empty = off)', def: '' },
  metrics: { type: 'string', desc: 'Prometheus /metrics on host:port (empty = off)', def: '127.0.0.1:9478' },
  object: { type: 'string', desc: 'compiled BPF object', def: join(PACKAGE_ROOT, 'bpf/build/vr_xdp.o') },
  'max-interfaces': { type: 'string', desc: 'vif table size (vif indices below it)', def: '4096' },
  'max-next-hops': { type: 'string', desc: 'next-hop table size (ids below it)', def: '65536' },
  'max-routes': { type: 'string', desc: 'routes per family (IPv4, IPv6)', def: '262144' },
  'max-flows': { type: 'string', desc: 'flow table entries (each half of a flow is one)', def: '524288' },
  'max-labels': { type: 'string', desc: 'MPLS label table entries (labels themselves are any 20-bit value)', def: '16384' },
  'max-vnis': { type: 'string', desc: 'VNI table entries (VNIs themselves are any 24-bit value)', def: '16384' },
  'max-bridge-entries': { type: 'string', desc: 'bridge (MAC) table entries, over all VRFs', def: '65536' },
  'max-composites': { type: 'string', desc: 'composite (ECMP / flood) next hops; each takes 128 slots (512 B) of vr_comp', def: '2048' },
  'max-vrfs': { type: 'string', desc: 'VRF ids below it are valid', def: '4096' },
  'sync-orphan-timeout': { type: 'string', desc: 'ms a sync epoch stays open after its stream went away (then abandoned, nothing removed)', def: '60000' },
  trap: { type: 'string', desc: `packets trapped to the agent: a comma list of ${TRAP_RULES.join(', ')}`, def: 'none' },
  'hold-per-flow': { type: 'string', desc: 'packets held per flow miss until the agent answers (1..255)', def: '3' },
  'hold-timeout': { type: 'string', desc: 'ms an unanswered flow miss keeps its packets (then dropped: flow_hold_expired)', def: '5000' },
  'hold-queue-max': { type: 'string', desc: 'packets held at most, all misses together (then dropped: flow_hold_queue_full)', def: '65536' },
  'flow-idle-tcp': { type: 'string', desc: 's a TCP flow may be idle before it is aged out (RST / FIN both ways: 2 s)', def: '180' },
  'flow-idle-udp': { type: 'string', desc: 's a UDP flow may be idle before it is aged out', def: '60' },
  'flow-idle-icmp': { type: 'string', desc: 's an ICMP / ICMPv6 flow may be idle before it is aged out', def: '30' },
  'flow-idle-other': { type: 'string', desc: 's a flow of another protocol may be idle before it is aged out', def: '60' },
  'log-level': { type: 'string', desc: 'trace|debug|info|warn|error', def: 'info' },
  destroy: { type: 'boolean', desc: 'detach and remove this instance\'s pinned datapath, then exit', def: false },
  help: { type: 'boolean', desc: 'print this help', def: false },
  version: { type: 'boolean', desc: 'print the version', def: false },
} as const;

type OptName = keyof typeof OPTIONS;

export function usage(): string {
  const lines = Object.entries(OPTIONS).map(([name, o]) => {
    const env = `VROUTER_EBPFD_${name.toUpperCase().replaceAll('-', '_')}`;
    const def = o.type === 'boolean' ? '' : ` (default ${o.def || '""'}; env ${env})`;
    return `  --${name.padEnd(16)} ${o.desc}${def}`;
  });
  return [
    'vrouter-ebpfd: the eBPF vRouter datapath daemon',
    '',
    'Loads (or adopts) the XDP datapath pinned in bpffs, attaches it to the vifs the',
    'agent adds, and serves the vrouter.ebpf.v1 gRPC API. Stopping the daemon leaves',
    'the datapath forwarding; a new daemon adopts it.',
    '',
    'usage: vrouter-ebpfd [options]',
    '',
    ...lines,
  ].join('\n');
}

/** Upper bounds of the table sizes: what a map of that kind can hold here and the vRouter's own limits. */
export const CAPACITY_LIMITS = {
  'max-interfaces': 65_536, // vRouter VR_MAX_INTERFACES is 4096+259; vif indices are u32
  'max-next-hops': 4_194_304, // an ARRAY of 80-byte next hops: 320 MiB at most
  'max-routes': 16_777_216, // per family; LPM nodes are allocated as routes arrive
  'max-flows': 16_777_216, // hash entries allocated as flows arrive (~200 B each); the vRouter's default is 512K
  'max-labels': 1_048_576, // every 20-bit label; a preallocated hash (~80 B an entry)
  'max-vnis': 1_048_576, // a preallocated hash (~80 B an entry)
  'max-bridge-entries': 4_194_304, // a preallocated hash (~100 B an entry)
  'max-composites': 65_536, // 512 B each, preallocated (32 MiB at most)
  'max-vrfs': 65_536, // the vRouter's own maximum
} as const;

function positiveInt(name: string, v: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: want a positive integer, got ${JSON.stringify(v.slice(0, 32))}`);
  if (n > max) throw new Error(`--${name}: ${n} is above the largest supported size, ${max}`);
  return n;
}

/** seconds: a positive number of seconds (fractions allowed, up to a day), as ms */
function seconds(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new Error(`--${name}: want seconds in (0, 86400], got ${JSON.stringify(v.slice(0, 32))}`);
  return Math.round(n * 1000);
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const spec = Object.fromEntries(Object.entries(OPTIONS).map(([k, o]) => [k, { type: o.type }])) as Record<
    OptName,
    { type: 'string' | 'boolean' }
  >;
  const { values } = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false });
  const get = (name: OptName): string => {
    const v = values[name];
    if (typeof v === 'string') return v;
    const e = env[`VROUTER_EBPFD_${name.toUpperCase().replaceAll('-', '_')}`];
    return e ?? String(OPTIONS[name].def);
  };
  const flag = (name: OptName) => values[name] === true;
  const instance = get('instance');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(instance) || instance.startsWith('.'))
    throw new Error(`--instance: ${JSON.stringify(instance)} is not a valid name (letters, digits, _ . -)`);
  const logLevel = get('log-level');
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(logLevel))
    throw new Error(`--log-level: ${JSON.stringify(logLevel)} is not one of trace, debug, info, warn, error`);
  return {
    instance,
    bpffsRoot: get('bpffs-root'),
    socketPath: get('socket').replace('<instance>', instance),
    grpcTcp: get('grpc-tcp'),
    metricsAddress: get('metrics'),
    objectPath: get('object'),
    maxInterfaces: positiveInt('max-interfaces', get('max-interfaces'), CAPACITY_LIMITS['max-interfaces']),
    maxNextHops: positiveInt('max-next-hops', get('max-next-hops'), CAPACITY_LIMITS['max-next-hops']),
    maxRoutes: positiveInt('max-routes', get('max-routes'), CAPACITY_LIMITS['max-routes']),
    maxFlows: positiveInt('max-flows', get('max-flows'), CAPACITY_LIMITS['max-flows']),
    maxLabels: positiveInt('max-labels', get('max-labels'), CAPACITY_LIMITS['max-labels']),
    maxVnis: positiveInt('max-vnis', get('max-vnis'), CAPACITY_LIMITS['max-vnis']),
    maxBridge: positiveInt('max-bridge-entries', get('max-bridge-entries'), CAPACITY_LIMITS['max-bridge-entries']),
    maxComposites: positiveInt('max-composites', get('max-composites'), CAPACITY_LIMITS['max-composites']),
    maxVrfs: positiveInt('max-vrfs', get('max-vrfs'), CAPACITY_LIMITS['max-vrfs']),
    syncOrphanTimeoutMs: positiveInt('sync-orphan-timeout', get('sync-orphan-timeout'), 86_400_000),
    trap: parseTrapRules('--trap', get('trap')),
    holdPerFlow: positiveInt('hold-per-flow', get('hold-per-flow'), 255),
    holdTimeoutMs: positiveInt('hold-timeout', get('hold-timeout'), 600_000),
    holdQueueMax: positiveInt('hold-queue-max', get('hold-queue-max'), 1_048_576),
    flowIdleMs: {
      tcp: seconds('flow-idle-tcp', get('flow-idle-tcp')),
      udp: seconds('flow-idle-udp', get('flow-idle-udp')),
      icmp: seconds('flow-idle-icmp', get('flow-idle-icmp')),
      other: seconds('flow-idle-other', get('flow-idle-other')),
    },
    logLevel,
    destroy: flag('destroy'),
    help: flag('help'),
    version: flag('version'),
  };
}
