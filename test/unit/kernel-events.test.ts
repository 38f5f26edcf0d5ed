/**
 * KernelEvents over the fake kernel: rtnetlink messages (as the reader
 * posts them) become events on a watch, counts by type, and changes of the
 * vifs: link down/up in the vif's entry and its next hops' copy, rename in
 * the manager's view, delete as an orphan; a restart keeps the link state.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { fakeHarness, restarted } from '../helpers/manager-harness.ts';
import { encapNh, vif } from '../helpers/specs.ts';
import { KernelEvents, type KernelEvent } from '../../src/netlink/kernel-events.ts';
import type { LinkMessage, RtnetlinkMessage } from '../../src/bpf/rtnetlink-parse.ts';
import { NextHopTable } from '../../src/maps/tables/nexthop-table.ts';
import { VifTable } from '../../src/maps/tables/vif-table.ts';
import { VIF_F_LINK_DOWN } from '../../src/maps/layout.ts';

const link = (ifindex: number, name: string, operUp: boolean, deleted = false): LinkMessage => ({
  kind: 'link', deleted, ifindex, name, flags: operUp ? 0x41 : 0x1, adminUp: true, operUp, operState: operUp ? 'up' : 'lowerlayerdown',
});

async function setup() {
  const h = fakeHarness();
  const p1 = h.netdev();
  const p2 = h.netdev();
  await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: p1, vrf: 1 }));
  await h.mgr.addInterface(vif({ index: 2, type: 'virtual', name: p2, vrf: 1 }));
  await h.mgr.addNextHop(encapNh(12, 1, 2, '02:00:00:00:00:02'));
  const hub = new KernelEvents(h.mgr, pino({ level: 'silent' }));
  const watch = hub.watch(100);
  const seen: KernelEvent[] = [];
  const feed = async (...msgs: RtnetlinkMessage[]) => {
    hub.handle(msgs);
    await hub.settled();
    while (watch.queued > 0) {
      const r = await watch.next();
      if (!r.done && r.value.kind === 'events') seen.push(...r.value.batch.events);
    }
  };
  const ifindex = (i: number) => h.mgr.vifs.get(i).ifindex;
  const vifFlags = () => new VifTable(h.kernel.maps.vr_vifs, h.kernel.maps.vr_vif_stats).get(ifindex(2))!.flags;
  const nhState = () => new NextHopTable(h.kernel.maps.vr_nexthops).get(12)!.oifState;
  return { h, hub, seen, feed, ifindex, vifFlags, nhState, p2 };
}

describe('KernelEvents', () => {
  it('a vif going down and up: its entry and next hops follow; one event per change, not per message', async () => {
    const s = await setup();
    const i2 = s.ifindex(2);
    await s.feed(link(i2, s.p2, true)); // first sight, up as the vif is: nothing to report
    assert.equal(s.seen.length, 0);
    await s.feed(link(i2, s.p2, false), link(i2, s.p2, false));
    assert.deepEqual(s.seen.map((e) => [e.type, e.vif, e.name]), [['link_down', 2, s.p2]]);
    assert.equal(s.h.mgr.vifs.get(2).linkDown, true);
    assert.ok(s.vifFlags() & VIF_F_LINK_DOWN, 'the vif entry says so');
    assert.ok(s.nhState() & VIF_F_LINK_DOWN, 'the next hop copy says so');
    await s.feed(link(i2, s.p2, true));
    assert.deepEqual(s.seen.map((e) => e.type), ['link_down', 'link_up']);
    assert.equal(s.vifFlags() & VIF_F_LINK_DOWN, 0);
    assert.equal(s.nhState() & VIF_F_LINK_DOWN, 0);
    assert.deepEqual([...s.hub.stats().counts].filter(([, n]) => n), [['link_up', 1], ['link_down', 1]]);
  });

  it('a restarted manager reads the link state back from the map', async () => {
    const s = await setup();
    await s.feed(link(s.ifindex(2), s.p2, false));
    const mgr = await restarted(s.h.kernel);
    assert.equal(mgr.vifs.get(2).linkDown, true);
  });

  it('rename: the vif takes the new name; delete: the vif stays, orphaned and down', async () => {
    const s = await setup();
    const i2 = s.ifindex(2);
    await s.feed(link(i2, 'renamed0', true));
    assert.deepEqual(s.seen.map((e) => [e.type, e.name, e.oldName]), [['link_rename', 'renamed0', s.p2]]);
    assert.equal(s.h.mgr.vifs.get(2).name, 'renamed0');
    await s.feed(link(i2, 'renamed0', false, true));
    assert.equal(s.seen.at(-1)!.type, 'link_delete');
    const v = s.h.mgr.vifs.get(2);
    assert.deepEqual([v.orphaned, v.linkDown], [true, true]);
    assert.ok(s.nhState() & VIF_F_LINK_DOWN);
  });

  it('links that are not vifs, addresses, neighbours, routes and overruns are reported with the vif when there is one', async () => {
    const s = await setup();
    const i1 = s.ifindex(1);
    await s.feed(
      link(999, 'other0', false),
      { kind: 'addr', deleted: false, ifindex: i1, family: 4, address: '10.0.0.1', prefixLen: 24 },
      { kind: 'neigh', deleted: false, ifindex: 999, family: 4, address: '10.0.0.9', lladdr: '02:00:00:00:00:09', state: 'reachable' },
      { kind: 'route', deleted: true, family: 4, prefix: '10.0.0.0/24', table: 254, gateway: '', ifindex: i1 },
      { kind: 'overrun' },
    );
    assert.deepEqual(s.seen.map((e) => [e.type, e.vif, e.name]), [
      ['link_down', undefined, 'other0'],
      ['address_add', 1, s.h.mgr.vifs.get(1).name],
      ['neighbour_update', undefined, 'other0'],
      ['route_delete', 1, s.h.mgr.vifs.get(1).name],
      ['overrun', undefined, ''],
    ]);
    assert.equal(s.h.mgr.vifs.get(1).linkDown ?? false, false);
  });
});
