/** vrctl dropstats and stats: StatsService (the vRouter's `dropstats`, `vif --list` counters). */
import { toJson } from '@bufbuild/protobuf';
import { GetDropStatsResponseSchema, InterfaceStatsSchema, type InterfaceStats } from '../../gen/vrouter/ebpf/v1/stats_pb.js';
import { collect } from '../../client/client.ts';
import { optBool, printJson, uint, type Command } from '../command.ts';
import { table } from '../table.ts';

const JSON_OPTS = { alwaysEmitImplicit: true } as const;

function statsTable(rows: readonly InterfaceStats[]): string {
  return table(
    ['VIF', 'NAME', 'RX-PKTS', 'RX-BYTES', 'TX-PKTS', 'TX-BYTES', 'DROPS', 'TO-HOST', 'PROXIED'],
    rows.map((s) => [String(s.index), s.name, ...[s.rxPackets, s.rxBytes, s.txPackets, s.txBytes, s.drops, s.toHost, s.proxied].map(String)]),
  );
}

export const statsCommands: Command[] = [
  {
    path: ['dropstats'],
    flags: '[--per-cpu] [--all]',
    nargs: [0, 0],
    summary: 'packets dropped by the datapath, by reason',
    details: 'Reasons with no drops are left out of the table unless --all; --json has them all.',
    options: {
      'per-cpu': { type: 'boolean', desc: 'a column per CPU' },
      all: { type: 'boolean', desc: 'also the reasons with no drops' },
    },
    async run(ctx, _args, o) {
      const perCpu = optBool(o, 'per-cpu') ?? false;
      const r = await ctx.client().stats.getDropStats({ perCpu });
      if (ctx.json) return printJson(ctx, toJson(GetDropStatsResponseSchema, r, JSON_OPTS));
      const shown = optBool(o, 'all') ? r.counters : r.counters.filter((c) => c.packets > 0n);
      const cpus = perCpu ? Math.max(0, ...r.counters.map((c) => c.perCpu.length)) : 0;
      const cpuHeads = Array.from({ length: cpus }, (_, i) => `CPU${i}`);
      ctx.out(table(['REASON', 'PACKETS', ...cpuHeads], [
        ...shown.map((c) => [c.name, String(c.packets), ...cpuHeads.map((_, i) => String(c.perCpu[i] ?? 0n))]),
        ['total', String(r.total), ...cpuHeads.map((_, i) => String(r.counters.reduce((a, c) => a + (c.perCpu[i] ?? 0n), 0n)))],
      ]));
    },
  },
  {
    path: ['stats'],
    args: '[vif]',
    nargs: [0, 1],
    summary: 'per-vif counters: received, sent, dropped, to the host, proxied ARP/ND',
    async run(ctx, [vif]) {
      const rows =
        vif === undefined
          ? (await collect(ctx.client().stats.listInterfaceStats({}))).map((m) => m.stats)
          : [(await ctx.client().stats.getInterfaceStats({ index: uint('vif', vif) })).stats];
      const stats = rows.filter((s) => s !== undefined);
      if (ctx.json) {
        const j = stats.map((s) => toJson(InterfaceStatsSchema, s, JSON_OPTS));
        return printJson(ctx, vif === undefined ? j : (j[0] ?? null));
      }
      ctx.out(statsTable(stats));
    },
  },
];
