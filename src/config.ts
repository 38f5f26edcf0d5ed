/**
 * Config: the daemon's settings from flags, then VROUTER_EBPFD_* environment
 * variables, then the YAML config file (--config / VROUTER_EBPFD_CONFIG),
 * then defaults. parseConfig never exits; main decides.
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
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

/** where an option's value came from (precedence: flag > env > file > default) */
export type Source = 'flag' | 'env' | 'file' | 'default';

export interface Config {
  /** the config file read (empty: none) */
  configFile: string;
  instance: string;
  bpffsRoot: string;
  socketPath: string;
  /** the unix socket's permission bits */
  socketMode: number;
  /** the unix socket's group (undefined: the daemon's own) */
  socketGid: number | undefined;
  grpcTcp: string;
  /** serve grpc-tcp without TLS (only with this explicit option) */
  grpcTcpInsecurePlaintext: boolean;
  /** PEM files for TCP: the server's certificate chain and key, and the CA client certificates must chain to (mTLS) */
  tlsCert: string;
  tlsKey: string;
  tlsClientCa: string;
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
  /** human-readable log lines (pino-pretty) in place of JSON */
  logPretty: boolean;
  destroy: boolean;
  help: boolean;
  version: boolean;
  /** where each option's value came from */
  sources: Record<OptName, Source>;
  /** keys the file sets that a flag or a variable overrides */
  shadowed: OptName[];
}

/**
 * OPTIONS: every option, by its one name (the flag without --, the file's
 * key, VROUTER_EBPFD_<NAME> in the environment). file: false keeps an
 * option out of the config file (actions, and the file's own path).
 */
export const OPTIONS = {
  config: { type: 'string', desc: 'YAML config file of these options by name (flags and env override it; SIGHUP re-reads it)', def: '', file: false },
  instance: { type: 'string', desc: 'instance name: pins under <bpffs-root>/<instance>/', def: 'default' },
  'bpffs-root': { type: 'string', desc: 'bpffs directory for all instances', def: '/sys/fs/bpf/vrouter-ebpf' },
  socket: { type: 'string', desc: 'gRPC unix socket', def: '/run/vrouter-ebpf/<instance>.sock' },
  'socket-mode': { type: 'string', desc: 'the unix socket\'s permission bits, octal', def: '0660' },
  'socket-group': { type: 'string', desc: 'the unix socket\'s group, a name or a gid (empty = the daemon\'s group)', def: '' },
  'grpc-tcp': { type: 'string', desc: 'also serve gRPC on host:port, with TLS (tls-cert, tls-key; empty = off)', def: '' },
  'tls-cert': { type: 'string', desc: 'PEM certificate (chain) grpc-tcp serves', def: '' },
  'tls-key': { type: 'string', desc: 'PEM private key of tls-cert', def: '' },
  'tls-client-ca': { type: 'string', desc: 'PEM CA bundle: grpc-tcp clients must present a certificate it signed (mTLS)', def: '' },
  'grpc-tcp-insecure-plaintext': { type: 'boolean', desc: 'serve grpc-tcp WITHOUT TLS: anyone reaching the port programs the datapath (labs only)', def: false },
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
  'log-level': { type: 'string', desc: 'trace|debug|info|warn|error (debug: every datapath change with its key)', def: 'info' },
  'log-pretty': { type: 'boolean', desc: 'log lines for a terminal (pino-pretty) in place of JSON', def: false },
  destroy: { type: 'boolean', desc: 'detach and remove this instance\'s pinned datapath, then exit', def: false, file: false },
  help: { type: 'boolean', desc: 'print this help', def: false, file: false },
  version: { type: 'boolean', desc: 'print the version', def: false, file: false },
} as const;

export type OptName = keyof typeof OPTIONS;

const envName = (name: string) => `VROUTER_EBPFD_${name.toUpperCase().replaceAll('-', '_')}`;
const inFile = (name: OptName) => !('file' in OPTIONS[name]);

export function usage(): string {
  const lines = Object.entries(OPTIONS).map(([name, o]) => {
    const env = envName(name);
    const def = o.type === 'boolean' ? (inFile(name as OptName) ? ` (env ${env})` : '') : ` (default ${o.def || '""'}; env ${env})`;
    return `  --${name.padEnd(28)} ${o.desc}${def}`;
  });
  return [
    'vrouter-ebpfd: the eBPF vRouter datapath daemon',
    '',
    'Loads (or adopts) the XDP datapath pinned in bpffs, attaches it to the vifs the',
    'agent adds, and serves the vrouter.ebpf.v1 gRPC API. Stopping the daemon leaves',
    'the datapath forwarding; a new daemon adopts it.',
    '',
    'usage: vrouter-ebpfd [--config FILE] [options]',
    '',
    'Every option but --config, --destroy, --help and --version may also be a key of',
    'the YAML file --config names (deploy/config.example.yaml); a flag beats its',
    'VROUTER_EBPFD_* variable, which beats the file, which beats the default.',
    'SIGHUP re-reads the file and applies what can change while running',
    `(${LIVE_OPTIONS.join(', ')}); other changes are logged as needing a restart.`,
    '',
    ...lines,
  ].join('\n');
}

/** LIVE_OPTIONS: what SIGHUP applies to the running daemon (see src/config-reload.ts). */
export const LIVE_OPTIONS: readonly OptName[] = [
  'log-level', 'trap', 'hold-per-flow', 'hold-timeout', 'hold-queue-max', 'flow-idle-tcp', 'flow-idle-udp', 'flow-idle-icmp', 'flow-idle-other',
];

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

function positiveInt(v: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n <= 0) throw new Error(`want a positive integer, got ${JSON.stringify(v.slice(0, 32))}`);
  if (n > max) throw new Error(`${n} is above the largest supported size, ${max}`);
  return n;
}

/** seconds: a positive number of seconds (fractions allowed, up to a day), as ms */
function seconds(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 86_400) throw new Error(`want seconds in (0, 86400], got ${JSON.stringify(v.slice(0, 32))}`);
  return Math.round(n * 1000);
}

function octalMode(v: string): number {
  if (!/^0?[0-7]{3}$/.test(v)) throw new Error(`want octal permission bits such as 0660, got ${JSON.stringify(v.slice(0, 32))}`);
  return parseInt(v, 8);
}

function bool(v: string): boolean {
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off', ''].includes(s)) return false;
  throw new Error(`want true or false, got ${JSON.stringify(v.slice(0, 32))}`);
}

/** groupId: a gid as given, or a group name looked up through NSS (getent reads /etc/group, LDAP, ...). */
function groupId(v: string): number | undefined {
  if (v === '') return undefined;
  if (/^\d+$/.test(v)) {
    const gid = Number(v);
    if (gid > 0xfffffffe) throw new Error(`gid ${v} is out of range`);
    return gid;
  }
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(v)) throw new Error(`${JSON.stringify(v.slice(0, 32))} is not a group name`);
  let line: string;
  try {
    line = execFileSync('getent', ['group', v], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    throw new Error(`no group named ${JSON.stringify(v)}`);
  }
  return Number(line.split(':')[2]);
}

/** readConfigFile: the file's keys as strings (YAML failsafe schema: 0660 stays "0660"); null (empty file) is no keys. */
export function readConfigFile(path: string): Map<OptName, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text, { schema: 'failsafe', uniqueKeys: true, prettyErrors: true });
  } catch (err) {
    throw new Error(`config file ${path}: not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out = new Map<OptName, string>();
  if (doc === null || doc === undefined || doc === '') return out; // an empty file, comments only, a bare ---
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`config file ${path}: want a mapping of option names to values`);
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (!(key in OPTIONS) || !inFile(key as OptName)) {
      // name a nested key by its path (tls: {cert: ...} is "tls.cert")
      const sub = v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v)[0] : undefined;
      const why = key in OPTIONS ? ' (a command-line flag only)' : '';
      throw new Error(`config file ${path}: unknown key ${sub === undefined ? key : `${key}.${sub}`}${why}`);
    }
    let value: string;
    if (typeof v === 'string') value = v;
    else if (key === 'trap' && Array.isArray(v) && v.every((x) => typeof x === 'string')) value = v.join(','); // trap: [arp, dhcp]
    else throw new Error(`config file ${path}: ${key}: want a single value, got a ${Array.isArray(v) ? 'list' : 'mapping'}`);
    out.set(key as OptName, value);
  }
  return out;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const spec = Object.fromEntries(Object.entries(OPTIONS).map(([k, o]) => [k, { type: o.type }])) as Record<
    OptName,
    { type: 'string' | 'boolean' }
  >;
  const { values } = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false });
  const configFile = typeof values.config === 'string' ? values.config : (env[envName('config')] ?? '');
  const file = configFile ? readConfigFile(configFile) : new Map<OptName, string>();
  const sources = {} as Record<OptName, Source>;
  sources.config = typeof values.config === 'string' ? 'flag' : configFile ? 'env' : 'default';
  const raw = (name: OptName): string => {
    const v = values[name];
    if (v !== undefined) {
      sources[name] = 'flag';
      return typeof v === 'string' ? v : String(v);
    }
    const e = inFile(name) ? env[envName(name)] : undefined;
    if (e !== undefined) {
      sources[name] = 'env';
      return e;
    }
    const f = file.get(name);
    if (f !== undefined) {
      sources[name] = 'file';
      return f;
    }
    sources[name] = 'default';
    return String(OPTIONS[name].def);
  };
  /** label: the option as its source spells it, for error messages */
  const label = (name: OptName): string => {
    const s = sources[name];
    return s === 'env' ? envName(name) : s === 'file' ? `config file ${configFile}: ${name}` : `--${name}`;
  };
  /** get: the option's value through its parser; a refusal names the option where it was set */
  const get = <T>(name: OptName, parse: (v: string) => T): T => {
    const v = raw(name);
    try {
      return parse(v);
    } catch (err) {
      throw new Error(`${label(name)}: ${(err as Error).message}`);
    }
  };
  const str = (name: OptName) => get(name, (v) => v);
  const instance = get('instance', (v) => {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(v) || v.startsWith('.')) throw new Error(`${JSON.stringify(v)} is not a valid name (letters, digits, _ . -)`);
    return v;
  });
  const logLevel = get('log-level', (v) => {
    if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(v)) throw new Error(`${JSON.stringify(v)} is not one of trace, debug, info, warn, error`);
    return v;
  });
  const cap = (name: keyof typeof CAPACITY_LIMITS) => get(name, (v) => positiveInt(v, CAPACITY_LIMITS[name]));
  const cfg: Config = {
    configFile,
    instance,
    bpffsRoot: str('bpffs-root'),
    socketPath: str('socket').replace('<instance>', instance),
    socketMode: get('socket-mode', octalMode),
    socketGid: get('socket-group', groupId),
    grpcTcp: str('grpc-tcp'),
    grpcTcpInsecurePlaintext: get('grpc-tcp-insecure-plaintext', bool),
    tlsCert: str('tls-cert'),
    tlsKey: str('tls-key'),
    tlsClientCa: str('tls-client-ca'),
    metricsAddress: str('metrics'),
    objectPath: str('object'),
    maxInterfaces: cap('max-interfaces'),
    maxNextHops: cap('max-next-hops'),
    maxRoutes: cap('max-routes'),
    maxFlows: cap('max-flows'),
    maxLabels: cap('max-labels'),
    maxVnis: cap('max-vnis'),
    maxBridge: cap('max-bridge-entries'),
    maxComposites: cap('max-composites'),
    maxVrfs: cap('max-vrfs'),
    syncOrphanTimeoutMs: get('sync-orphan-timeout', (v) => positiveInt(v, 86_400_000)),
    trap: ((v) => parseTrapRules(label('trap'), v))(raw('trap')), // its message names the option itself (raw first: it sets the source)
    holdPerFlow: get('hold-per-flow', (v) => positiveInt(v, 255)),
    holdTimeoutMs: get('hold-timeout', (v) => positiveInt(v, 600_000)),
    holdQueueMax: get('hold-queue-max', (v) => positiveInt(v, 1_048_576)),
    flowIdleMs: {
      tcp: get('flow-idle-tcp', seconds),
      udp: get('flow-idle-udp', seconds),
      icmp: get('flow-idle-icmp', seconds),
      other: get('flow-idle-other', seconds),
    },
    logLevel,
    logPretty: get('log-pretty', bool),
    destroy: get('destroy', bool),
    help: get('help', bool),
    version: get('version', bool),
    sources,
    shadowed: [...file.keys()].filter((k) => sources[k] !== 'file'),
  };
  checkTls(cfg, label);
  return cfg;
}

/** checkTls: TCP only with TLS (both halves of it), or with the explicit plaintext option. */
function checkTls(c: Config, label: (name: OptName) => string): void {
  if (c.tlsCert && !c.tlsKey) throw new Error(`${label('tls-cert')}: needs tls-key too`);
  if (c.tlsKey && !c.tlsCert) throw new Error(`${label('tls-key')}: needs tls-cert too`);
  if (c.tlsClientCa && !c.tlsCert) throw new Error(`${label('tls-client-ca')}: mTLS needs the server's tls-cert and tls-key too`);
  if (!c.grpcTcp) return;
  if (c.grpcTcpInsecurePlaintext && c.tlsCert)
    throw new Error(`${label('grpc-tcp-insecure-plaintext')}: conflicts with tls-cert (TLS or plaintext, not both)`);
  if (!c.grpcTcpInsecurePlaintext && !c.tlsCert)
    throw new Error(`${label('grpc-tcp')}: TCP is served with TLS only: set tls-cert and tls-key (or, for a lab, --grpc-tcp-insecure-plaintext)`);
}
