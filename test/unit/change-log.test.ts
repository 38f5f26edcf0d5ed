/**
 * The change log on a FakeKernel: every committed change to the datapath
 * is one debug line "datapath change" with its object's key (vif index,
 * next-hop id, VRF + prefix, label, VNI, flow key), from single calls,
 * transactions and sync sweeps alike; an undone write logs nothing; a
 * commit of more than PER_ITEM_MAX items is summarised at debug and listed
 * at trace; at info there is no change line at all.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino, type Level } from 'pino';
import { DatapathManager } from '../../src/manager/datapath-manager.ts';
import { PER_ITEM_MAX } from '../../src/manager/change-log.ts';
import { FakeKernel } from '../helpers/fake-kernel.ts';
import { fkey } from '../helpers/flow-suite.ts';
import { encapNh, route, routeKey, vif } from '../helpers/specs.ts';

type Line = Record<string, unknown> & { level: number; msg: string };

async function manager(level: Level): Promise<{ mgr: DatapathManager; kernel: FakeKernel; lines: Line[]; changes: () => Line[] }> {
  const lines: Line[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const kernel = new FakeKernel({ maxInterfaces: 16, maxNextHops: 64, maxRoutes: 4096, maxFlows: 1024 });
  const mgr = new DatapathManager(kernel, { maxVrfs: 64 }, log);
  await mgr.load();
  lines.length = 0;
  const changes = () => lines.filter((l) => l.msg === 'datapath change').map(({ level: _l, time: _t, pid: _p, hostname: _h, msg: _m, ...rest }) => rest as Line);
  return { mgr, kernel, lines, changes };
}

const DEBUG = 20;
const TRACE = 10;

describe('ChangeLog', () => {
  it('logs every change of single calls at debug with its key', async () => {
    const { mgr, kernel, lines, changes } = await manager('debug');
    const dev = kernel.fake.addNetdev('cl0', { kind: 'veth' }).name;
    await mgr.addInterface(vif({ index: 1, type: 'virtual', name: dev, vrf: 2 }));
    await mgr.addNextHop(encapNh(11, 2, 1, '02:00:00:00:00:01'));
    await mgr.addRoutes([route(2, '10.1.0.0/16', 11), route(2, '10.9.9.9/32', 11)]);
    await mgr.updateRoute(route(2, '10.1.0.0/16', 0));
    await mgr.addDecap('mpls', { key: 100, nhId: 11 });
    await mgr.addDecap('vxlan', { key: 5000, nhId: 11 });
    await mgr.setFlow({ key: fkey(2, 6, '10.1.0.1', 1000, '10.9.9.9', 80), action: 'forward' });
    await mgr.deleteFlow(fkey(2, 6, '10.1.0.1', 1000, '10.9.9.9', 80));
    await mgr.deleteDecap('vxlan', 5000);
    await mgr.deleteRoutes([routeKey(2, '10.9.9.9/32')]);
    await mgr.updateInterface(1, { mtu: 1400 });
    assert.deepEqual(changes(), [
      { object: 'vif', action: 'add', vif: 1, name: dev, vrf: 2 },
      { object: 'nh', action: 'add', nh: 11, type: 'encap' },
      { object: 'route', action: 'add', vrf: 2, prefix: '10.1.0.0/16', nh: 11 },
      { object: 'route', action: 'add', vrf: 2, prefix: '10.9.9.9/32', nh: 11 },
      { object: 'route', action: 'update', vrf: 2, prefix: '10.1.0.0/16', nh: 0 },
      { object: 'mpls', action: 'add', label: 100, nh: 11 },
      { object: 'vxlan', action: 'add', vni: 5000, nh: 11 },
      // a flow is a pair of entries: the reverse half is derived
      { object: 'flow', action: 'add', flow: 'vrf2 6 10.1.0.1:1000 > 10.9.9.9:80' },
      { object: 'flow', action: 'add', flow: 'vrf2 6 10.9.9.9:80 > 10.1.0.1:1000' },
      { object: 'flow', action: 'delete', flow: 'vrf2 6 10.1.0.1:1000 > 10.9.9.9:80' },
      { object: 'flow', action: 'delete', flow: 'vrf2 6 10.9.9.9:80 > 10.1.0.1:1000' },
      { object: 'vxlan', action: 'delete', vni: 5000 },
      { object: 'route', action: 'delete', vrf: 2, prefix: '10.9.9.9/32' },
      // a vif update rewrites its copy in the next hops that output on it
      { object: 'vif', action: 'update', vif: 1, name: dev, vrf: 2 },
      { object: 'nh', action: 'update', nh: 11, type: 'encap' },
    ]);
    assert.ok(lines.filter((l) => l.msg === 'datapath change').every((l) => l.level === DEBUG));
  });

  it('bridge entries: added and deleted with their VRF and MAC', async () => {
    const { mgr, kernel, changes } = await manager('debug');
    const dev = kernel.fake.addNetdev('cl1', { kind: 'veth' }).name;
    await mgr.addInterface(vif({ index: 1, type: 'virtual', name: dev, vrf: 3 }));
    await mgr.addNextHop({ id: 12, vrf: 3, kind: 'encap', l2: true, encap: { vifIndex: 1, dmac: undefined, smac: undefined } });
    const mac = Buffer.from('020000000007', 'hex');
    await mgr.addBridge({ vrf: 3, mac, nhId: 12, label: undefined });
    await mgr.deleteBridge({ vrf: 3, mac });
    assert.deepEqual(changes().filter((c) => c.object === 'bridge'), [
      { object: 'bridge', action: 'add', vrf: 3, mac: '02:00:00:00:00:07', nh: 12 },
      { object: 'bridge', action: 'delete', vrf: 3, mac: '02:00:00:00:00:07' },
    ]);
  });

  it('a transaction logs once it committed; one that failed and was undone logs nothing', async () => {
    const { mgr, kernel, changes } = await manager('debug');
    const dev = kernel.fake.addNetdev('cl1', { kind: 'veth' }).name;
    const failed = await mgr.apply(
      [
        { kind: 'vif', action: 'add', spec: vif({ index: 1, type: 'virtual', name: dev, vrf: 1 }) },
        { kind: 'route', action: 'add', spec: route(1, '10.0.0.0/8', 42) }, // no next hop 42
      ],
      true,
    );
    assert.ok(failed[1]);
    assert.deepEqual(changes(), [], 'nothing logged for an undone transaction');
    const ok = await mgr.apply(
      [
        { kind: 'route', action: 'add', spec: route(1, '10.0.0.0/8', 11) },
        { kind: 'nh', action: 'add', spec: encapNh(11, 1, 1, '02:00:00:00:00:01') },
        { kind: 'vif', action: 'add', spec: vif({ index: 1, type: 'virtual', name: dev, vrf: 1 }) },
      ],
      true,
    );
    assert.deepEqual(ok.filter(Boolean), []);
    // in the order applied (dependencies first)
    assert.deepEqual(changes().map((c) => `${c.object} ${c.action}`), ['vif add', 'nh add', 'route add']);
    // not atomic: what went in is logged, what failed is not
    const each = await mgr.apply(
      [
        { kind: 'route', action: 'add', spec: route(1, '10.2.0.0/16', 11) },
        { kind: 'route', action: 'add', spec: route(1, '10.3.0.0/16', 99) },
        { kind: 'mpls', action: 'add', entry: { key: 7, nhId: 99 } },
      ],
      false,
    );
    assert.deepEqual([0, 1, 2].map((i) => Boolean(each[i])), [false, true, true]);
    assert.deepEqual(changes().slice(3), [{ object: 'route', action: 'add', vrf: 1, prefix: '10.2.0.0/16', nh: 11 }]);
  });

  it('a sync epoch\'s sweep logs what it removed', async () => {
    const { mgr, kernel, changes } = await manager('debug');
    const dev = kernel.fake.addNetdev('cl2', { kind: 'veth' }).name;
    await mgr.addInterface(vif({ index: 1, type: 'virtual', name: dev, vrf: 1 }));
    await mgr.addNextHop(encapNh(11, 1, 1, '02:00:00:00:00:01'));
    await mgr.addRoutes([route(1, '10.1.0.0/16', 11), route(1, '10.2.0.0/16', 11)]);
    const n = changes().length;
    const s = await mgr.beginSync('agent', 60_000);
    // re-sent unchanged: no write, no line
    await mgr.apply(
      [
        { kind: 'vif', action: 'add', spec: vif({ index: 1, type: 'virtual', name: dev, vrf: 1 }) },
        { kind: 'nh', action: 'add', spec: encapNh(11, 1, 1, '02:00:00:00:00:01') },
        { kind: 'route', action: 'add', spec: route(1, '10.1.0.0/16', 11) },
      ],
      false,
    );
    assert.equal(changes().length, n, 'unchanged objects re-sent in a sync: nothing written, nothing logged');
    await mgr.endSync(s.epoch);
    assert.deepEqual(changes().slice(n), [{ object: 'route', action: 'delete', vrf: 1, prefix: '10.2.0.0/16' }]);
  });

  it(`more than ${PER_ITEM_MAX} items: a summary at debug, every item at trace`, async () => {
    for (const level of ['debug', 'trace'] as const) {
      const { mgr, kernel, lines, changes } = await manager(level);
      const dev = kernel.fake.addNetdev(`cl3${level}`, { kind: 'veth' }).name;
      await mgr.addInterface(vif({ index: 1, type: 'virtual', name: dev, vrf: 1 }));
      await mgr.addNextHop(encapNh(11, 1, 1, '02:00:00:00:00:01'));
      lines.length = 0;
      const routes = Array.from({ length: PER_ITEM_MAX + 500 }, (_, i) => route(1, `10.${i >> 8}.${i & 255}.0/24`, 11));
      await mgr.addRoutes(routes);
      const summary = lines.filter((l) => l.msg === 'datapath changes');
      assert.equal(summary.length, 1);
      assert.deepEqual(
        { ...summary[0], level: undefined, time: undefined, pid: undefined, hostname: undefined, msg: undefined },
        {
          level: undefined, time: undefined, pid: undefined, hostname: undefined, msg: undefined,
          object: 'route', action: 'add', count: routes.length,
          first: { vrf: 1, prefix: '10.0.0.0/24', nh: 11 }, last: { vrf: 1, prefix: `10.5.219.0/24`, nh: 11 },
        },
      );
      assert.equal(summary[0]!.level, DEBUG);
      const items = changes();
      if (level === 'debug') assert.equal(items.length, 0, 'no per-route lines at debug');
      else {
        assert.equal(items.length, routes.length);
        assert.ok(lines.filter((l) => l.msg === 'datapath change').every((l) => l.level === TRACE));
      }
    }
  });

  it('a large flow batch is summarised by what each entry did', async () => {
    const { mgr, lines } = await manager('debug');
    const specs = Array.from({ length: PER_ITEM_MAX / 2 + 10 }, (_, i) => ({ key: fkey(1, 17, '10.0.0.1', 1000 + i, '10.0.0.2', 53), action: 'forward' as const }));
    await mgr.setFlows(specs);
    const summary = lines.filter((l) => l.msg === 'datapath changes');
    assert.deepEqual(
      summary.map((l) => [l.object, l.action, l.count, l.first, l.last]),
      [['flow', 'add', specs.length * 2, { flow: 'vrf1 17 10.0.0.1:1000 > 10.0.0.2:53' }, { flow: `vrf1 17 10.0.0.2:53 > 10.0.0.1:${1000 + specs.length - 1}` }]],
    );
  });

  it('at info no change is logged', async () => {
    const { mgr, kernel, lines } = await manager('info');
    await mgr.addInterface(vif({ index: 1, type: 'virtual', name: kernel.fake.addNetdev('cl4', { kind: 'veth' }).name, vrf: 1 }));
    assert.deepEqual(lines.filter((l) => l.msg.startsWith('datapath change')), []);
  });
});
