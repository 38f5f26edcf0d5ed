/**
 * Config reload (SIGHUP): the options that differ between the config in
 * force and a newly parsed one, split into those the running daemon applies
 * (LIVE_OPTIONS) and those that need a restart (table sizes, listeners,
 * paths: objects made once at start). The result says what changed so the
 * daemon can log both lists.
 */
import { LIVE_OPTIONS, OPTIONS, type Config, type OptName } from './config.ts';
import type { TrapRuleName } from './maps/trap-reasons.ts';

/** the Config field(s) behind each option, for comparing two configs */
const VALUE_OF: Record<OptName, (c: Config) => unknown> = {
  config: (c) => c.configFile,
  instance: (c) => c.instance,
  'bpffs-root': (c) => c.bpffsRoot,
  socket: (c) => c.socketPath,
  'socket-mode': (c) => c.socketMode,
  'socket-group': (c) => c.socketGid,
  'grpc-tcp': (c) => c.grpcTcp,
  'tls-cert': (c) => c.tlsCert,
  'tls-key': (c) => c.tlsKey,
  'tls-client-ca': (c) => c.tlsClientCa,
  'grpc-tcp-insecure-plaintext': (c) => c.grpcTcpInsecurePlaintext,
  metrics: (c) => c.metricsAddress,
  object: (c) => c.objectPath,
  'max-interfaces': (c) => c.maxInterfaces,
  'max-next-hops': (c) => c.maxNextHops,
  'max-routes': (c) => c.maxRoutes,
  'max-flows': (c) => c.maxFlows,
  'max-labels': (c) => c.maxLabels,
  'max-vnis': (c) => c.maxVnis,
  'max-bridge-entries': (c) => c.maxBridge,
  'max-composites': (c) => c.maxComposites,
  'max-vrfs': (c) => c.maxVrfs,
  'sync-orphan-timeout': (c) => c.syncOrphanTimeoutMs,
  trap: (c) => c.trap,
  'hold-per-flow': (c) => c.holdPerFlow,
  'hold-timeout': (c) => c.holdTimeoutMs,
  'hold-queue-max': (c) => c.holdQueueMax,
  'flow-idle-tcp': (c) => c.flowIdleMs.tcp,
  'flow-idle-udp': (c) => c.flowIdleMs.udp,
  'flow-idle-icmp': (c) => c.flowIdleMs.icmp,
  'flow-idle-other': (c) => c.flowIdleMs.other,
  'log-level': (c) => c.logLevel,
  'log-pretty': (c) => c.logPretty,
  destroy: (c) => c.destroy,
  help: (c) => c.help,
  version: (c) => c.version,
};

/** what the running daemon can change; each call gets only the values that changed */
export interface LiveTargets {
  logLevel(level: string): void;
  trap(rules: TrapRuleName[]): void;
  holdPerFlow(n: number): void;
  timeouts(t: { holdMs?: number; holdQueueMax?: number; aging?: { tcpMs?: number; udpMs?: number; icmpMs?: number; otherMs?: number } }): void;
}

export type Change = { from: unknown; to: unknown };

export interface ReloadOutcome {
  /** applied to the running daemon */
  applied: Partial<Record<OptName, Change>>;
  /** changed in the file but kept until a restart */
  needsRestart: Partial<Record<OptName, Change>>;
  /** the config in force now: the live options from the new one, the rest as started */
  config: Config;
}

/** changedOptions: the options whose values differ between a and b. */
export function changedOptions(a: Config, b: Config): Partial<Record<OptName, Change>> {
  const out: Partial<Record<OptName, Change>> = {};
  for (const name of Object.keys(OPTIONS) as OptName[]) {
    const from = VALUE_OF[name](a);
    const to = VALUE_OF[name](b);
    if (JSON.stringify(from) !== JSON.stringify(to)) out[name] = { from, to };
  }
  return out;
}

/** applyReload: applies what may change at run time; a target that throws leaves the rest unapplied. */
export function applyReload(current: Config, next: Config, t: LiveTargets): ReloadOutcome {
  const changes = changedOptions(current, next);
  const applied: ReloadOutcome['applied'] = {};
  const needsRestart: ReloadOutcome['needsRestart'] = {};
  for (const [name, ch] of Object.entries(changes) as [OptName, Change][]) (LIVE_OPTIONS.includes(name) ? applied : needsRestart)[name] = ch;
  const config: Config = {
    ...current,
    logLevel: next.logLevel, trap: next.trap, holdPerFlow: next.holdPerFlow, holdTimeoutMs: next.holdTimeoutMs, holdQueueMax: next.holdQueueMax,
    flowIdleMs: next.flowIdleMs, sources: next.sources, shadowed: next.shadowed,
  };
  if (applied['log-level']) t.logLevel(next.logLevel);
  if (applied.trap) t.trap(next.trap);
  if (applied['hold-per-flow']) t.holdPerFlow(next.holdPerFlow);
  const idle = { tcpMs: 'flow-idle-tcp', udpMs: 'flow-idle-udp', icmpMs: 'flow-idle-icmp', otherMs: 'flow-idle-other' } as const;
  const aging: Record<string, number> = {};
  for (const [k, name] of Object.entries(idle)) if (applied[name]) aging[k] = next.flowIdleMs[k.slice(0, -2) as 'tcp'];
  const timeouts = {
    ...(applied['hold-timeout'] ? { holdMs: next.holdTimeoutMs } : {}),
    ...(applied['hold-queue-max'] ? { holdQueueMax: next.holdQueueMax } : {}),
    ...(Object.keys(aging).length ? { aging } : {}),
  };
  if (Object.keys(timeouts).length) t.timeouts(timeouts);
  return { applied, needsRestart, config };
}
