/** vrctl system: SystemService.GetSystemInfo (the vRouter's `vrouter --info`). */
import { toJson } from '@bufbuild/protobuf';
import { AttachHookSchema, AttachModeSchema } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import {
  GetSystemInfoResponseSchema, KernelEventSchema, KernelEventType, KernelEventTypeSchema, SyncStateSchema, type KernelEvent, type SyncEpoch,
} from '../../gen/vrouter/ebpf/v1/system_pb.js';
import { enumName, optUint, printJson, type Command } from '../command.ts';
import { kv, table, yesNo } from '../table.ts';

/** duration: seconds as "3d4h", "2h5m", "4m10s", "12.3s". */
export function duration(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const t = Math.floor(s);
  const [d, h, m, sec] = [Math.floor(t / 86400), Math.floor(t / 3600) % 24, Math.floor(t / 60) % 60, t % 60];
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  return `${m}m${sec}s`;
}

const time = (ms: bigint) => (ms ? new Date(Number(ms)).toISOString() : '-');

function epoch(e: SyncEpoch | undefined): string {
  if (!e) return '-';
  const parts = [`epoch ${e.epoch}`, enumName(SyncStateSchema, e.state), `owner ${e.owner || '-'}`, `started ${time(e.startedAtMs)}`];
  if (e.endedAtMs) parts.push(`ended ${time(e.endedAtMs)}`);
  if (e.removed) parts.push(`removed ${e.removed.interfaces} vifs, ${e.removed.nextHops} nhs, ${e.removed.routes} routes, ${e.removed.labels} labels, ${e.removed.vnis} vnis`);
  if (e.reason) parts.push(`(${e.reason})`);
  return parts.join(', ');
}

/** eventLine: one kernel event, its type first, then what it says by type */
export function eventLine(e: KernelEvent): string {
  const on = `${e.name || '-'} (ifindex ${e.osIndex}${e.interfaceIndex !== undefined ? `, vif ${e.interfaceIndex}` : ''})`;
  const what = ((): string => {
    switch (e.type) {
      case KernelEventType.LINK_RENAME: return `${e.oldName} -> ${on}`;
      case KernelEventType.ADDRESS_ADD:
      case KernelEventType.ADDRESS_DELETE: return `${e.address}/${e.prefixLength} on ${on}`;
      case KernelEventType.NEIGHBOUR_UPDATE:
      case KernelEventType.NEIGHBOUR_DELETE: return `${e.address} lladdr ${e.lladdr || '-'} ${e.neighbourState} on ${on}`;
      case KernelEventType.ROUTE_ADD:
      case KernelEventType.ROUTE_DELETE: return `${e.prefix}${e.gateway ? ` via ${e.gateway}` : ''} table ${e.table}${e.osIndex ? ` dev ${on}` : ''}`;
      case KernelEventType.OVERRUN: return 'the daemon\'s rtnetlink socket overflowed: events were lost';
      default: return `${on} ${e.operState}`;
    }
  })();
  return `${time(e.timeMs)}  ${enumName(KernelEventTypeSchema, e.type)}  ${what}`;
}

const pct = (used: number, cap: number) => (cap ? `${((100 * used) / cap).toFixed(1)}%` : '-');

export const systemCommands: Command[] = [
  {
    path: ['system'],
    nargs: [0, 0],
    summary: 'the daemon and its datapath: version, kernel, programs, maps, attachments, sync epochs',
    async run(ctx) {
      const s = await ctx.client().system.getSystemInfo({});
      if (ctx.json) return printJson(ctx, toJson(GetSystemInfoResponseSchema, s, { alwaysEmitImplicit: true }));
      ctx.out(kv([
        ['version', s.version],
        ['kernel', s.kernel],
        ['instance', s.instance],
        ['bpffs dir', s.bpffsDir],
        ['layout', `v${s.layoutVersion}`],
        ['adopted', yesNo(s.adopted)],
        ['uptime', `${duration(s.uptimeSeconds)} (datapath ${duration(s.datapathUptimeSeconds)})`],
        ['cpus', String(s.possibleCpus)],
        ['current sync', epoch(s.currentSync)],
        ['last sync', epoch(s.lastSync)],
      ]));
      ctx.out('\nprograms');
      ctx.out(table(['NAME', 'ID', 'TAG', 'XLATED', 'JITED', 'PIN'],
        s.programs.map((p) => [p.name, String(p.id), p.tag, String(p.xlatedBytes), String(p.jitedBytes), p.pinPath])));
      ctx.out('\nmaps');
      ctx.out(table(['NAME', 'ID', 'TYPE', 'KEY', 'VALUE', 'CAPACITY', 'USED', 'USE'],
        s.maps.map((m) => [m.name, String(m.id), m.type, String(m.keySize), String(m.valueSize), String(m.capacity), String(m.used), pct(m.used, m.capacity)])));
      ctx.out('\nattachments');
      ctx.out(table(['VIF', 'NAME', 'OS-IDX', 'HOOK', 'DIR', 'MODE', 'LINK', 'PROGRAM'],
        s.attachments.map((a) => [
          String(a.interfaceIndex), a.name, String(a.osIndex), enumName(AttachHookSchema, a.hook), a.egress ? 'egress' : 'ingress',
          enumName(AttachModeSchema, a.mode), String(a.linkId), a.program,
        ])));
    },
  },
  {
    path: ['events'],
    flags: '[--count N]',
    nargs: [0, 0],
    summary: 'print kernel events as they come (WatchKernelEvents: links up/down/renamed/deleted, addresses, neighbours, routes)',
    details: 'With --json, one KernelEvent per line (protobuf JSON), and {"lost": N} when this watcher fell behind.',
    options: { count: { type: 'string', arg: 'N', desc: 'stop after N events' } },
    async run(ctx, _args, o) {
      const count = optUint(o, 'count') ?? 0;
      let seen = 0;
      for await (const r of ctx.streamClient().system.watchKernelEvents({})) {
        if (r.lost) ctx.emit(ctx.json ? JSON.stringify({ lost: Number(r.lost) }) : `lost ${r.lost} event(s): this watcher fell behind`);
        for (const e of r.events) {
          ctx.emit(ctx.json ? JSON.stringify(toJson(KernelEventSchema, e, { alwaysEmitImplicit: true })) : eventLine(e));
          if (count && ++seen >= count) return;
        }
      }
    },
  },
];
