/**
 * compositeBehaviour: what the manager promises for composite next hops,
 * written once and run on the fake and on the real kernel: validation
 * (code, field, nothing written), the block in vr_comp (members, ECMP
 * buckets), members added and removed one at a time with as few buckets
 * moved as possible, references, undo, transactions, sync epochs and a
 * restarted manager.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NH, u32Key } from '../../src/maps/codecs.ts';
import { VR_COMP_BLOCK, VR_COMP_BUCKETS, VR_COMP_MEMBERS } from '../../src/maps/layout.ts';
import type { CompositeKind, NextHopSpec } from '../../src/manager/model.ts';
import { encapNh, route, tunnelNh, vif } from './specs.ts';
import { dump, is, using, type Harness, type HarnessFactory } from './manager-harness.ts';

const EIO = 5;

/** base: vifs 1 (pod) and 2 (fabric); encaps 2, 3 on vif 1; tunnels 4, 5 on the fabric; a VRF next hop 6 */
async function base(h: Harness): Promise<void> {
  await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), vrf: 1 }));
  const fab = h.netdev();
  h.forwarding(fab, true);
  await h.mgr.addInterface(vif({ index: 2, type: 'fabric', name: fab, vrf: 0, ip4: '192.0.2.1' }));
  await h.mgr.addNextHop(encapNh(2, 1, 1, '02:00:00:00:00:02'));
  await h.mgr.addNextHop(encapNh(3, 1, 1, '02:00:00:00:00:03'));
  await h.mgr.addNextHop(tunnelNh(4, 1, { type: 'mplsoudp', src: '192.0.2.1', dst: '198.51.100.1', label: 100, vifIndex: 2 }));
  await h.mgr.addNextHop(tunnelNh(5, 1, { type: 'vxlan', src: '192.0.2.1', dst: '198.51.100.2', label: 5001, vifIndex: 2 }));
  await h.mgr.addNextHop({ id: 6, vrf: 2, kind: 'vrf' });
}

const comp = (id: number, kind: CompositeKind | undefined, members: number[]): NextHopSpec => ({ id, vrf: 1, kind: 'composite', composite: { kind, members } });

/** slots: what vr_comp holds for a composite: its members (count from its next hop) and buckets */
function slots(h: Harness, id: number): { first: number; count: number; kind: number; members: number[]; buckets: number[] } {
  const v = NH.decode(h.kernel.maps.vr_nexthops.lookup(u32Key(id))!);
  const at = (s: number) => h.kernel.maps.vr_comp.lookup(u32Key(s))!.readUInt32LE(0);
  const members = Array.from({ length: v.compCount }, (_, i) => at(v.compFirst + i));
  const buckets = Array.from({ length: VR_COMP_BUCKETS }, (_, b) => at(v.compFirst + VR_COMP_MEMBERS + b));
  return { first: v.compFirst, count: v.compCount, kind: v.compKind, members, buckets };
}

const share = (buckets: number[]) => {
  const m = new Map<number, number>();
  for (const b of buckets) m.set(b, (m.get(b) ?? 0) + 1);
  return Object.fromEntries([...m].sort((a, b) => a[0] - b[0]));
};

export function compositeBehaviour(make: HarnessFactory): void {
  describe('composites: validation (the code and field of every refusal, and nothing written)', () => {
    type Case = [string, (h: Harness) => Promise<unknown>, ReturnType<typeof is>];
    const cases: Case[] = [
      ['composite without its composite part', (h) => h.mgr.addNextHop({ id: 9, vrf: 1, kind: 'composite' }), is('invalid_argument', 'composite')],
      ['composite without a kind', (h) => h.mgr.addNextHop(comp(9, undefined, [2])), is('invalid_argument', 'composite.kind')],
      ['a missing member', (h) => h.mgr.addNextHop(comp(9, 'ecmp', [2, 40])), is('not_found', 'composite.memberIds[1]')],
      ['a composite member (no nesting)', (h) => h.mgr.addNextHop(comp(9, 'ecmp', [2, 7])), is('failed_precondition', 'composite.memberIds[1]')],
      ['a VRF next hop as a member', (h) => h.mgr.addNextHop(comp(9, 'flood', [6])), is('failed_precondition', 'composite.memberIds[0]')],
      ['the discard next hop as a member', (h) => h.mgr.addNextHop(comp(9, 'ecmp', [0])), is('failed_precondition', 'composite.memberIds[0]')],
      ['a member listed twice', (h) => h.mgr.addNextHop(comp(9, 'ecmp', [2, 3, 2])), is('invalid_argument', 'composite.memberIds[2]')],
      ['itself as a member', (h) => h.mgr.addNextHop(comp(9, 'ecmp', [9])), is('invalid_argument', 'composite.memberIds[0]')],
      ['more than 64 members', (h) => h.mgr.addNextHop(comp(9, 'flood', Array.from({ length: 65 }, (_, i) => i + 100))), is('invalid_argument', 'composite.memberIds')],
      ['ECMP to flood', (h) => h.mgr.updateNextHop(comp(7, 'flood', [2])), is('failed_precondition', 'composite.kind')],
      ['a composite to another kind', (h) => h.mgr.updateNextHop(encapNh(7, 1, 1, '02:00:00:00:00:07')), is('failed_precondition', 'kind')],
      ['member add: no such composite', (h) => h.mgr.addCompositeMember(40, 2), is('not_found', 'id')],
      ['member add: not a composite', (h) => h.mgr.addCompositeMember(2, 3), is('failed_precondition', 'id')],
      ['member add: no such member', (h) => h.mgr.addCompositeMember(7, 40), is('not_found', 'memberId')],
      ['member add: a composite member', (h) => h.mgr.addCompositeMember(7, 8), is('failed_precondition', 'memberId')],
      ['member add: a member already', (h) => h.mgr.addCompositeMember(7, 2), is('already_exists', 'memberId')],
      ['member remove: not a member', (h) => h.mgr.removeCompositeMember(7, 4), is('not_found', 'memberId')],
      ['member remove: no such composite', (h) => h.mgr.removeCompositeMember(40, 2), is('not_found', 'id')],
      ['delete of a member in use', (h) => h.mgr.deleteNextHop(2), is('failed_precondition', 'id')],
      ['a label to a composite', (h) => h.mgr.addDecap('mpls', { key: 7, nhId: 7 }), is('failed_precondition', 'nhId')],
    ];
    for (const [what, call, check] of cases)
      it(what, using(make, async (h) => {
        await base(h);
        await h.mgr.addNextHop(comp(7, 'ecmp', [2, 3]));
        await h.mgr.addNextHop(comp(8, 'flood', [3]));
        const before = dump(h);
        h.kernel.resetWrites();
        await assert.rejects(Promise.resolve().then(() => call(h)), check);
        assert.equal(h.kernel.writes(), 0, 'no map written');
        assert.deepEqual(dump(h), before);
      }, { maxNextHops: 256 }));

    it('the composite table full: RESOURCE_EXHAUSTED, nothing written; a deleted composite frees its block', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop(comp(7, 'ecmp', [2]));
      await h.mgr.addNextHop(comp(8, 'flood', []));
      const before = dump(h);
      await assert.rejects(h.mgr.addNextHop(comp(9, 'ecmp', [3])), is('resource_exhausted'));
      assert.deepEqual(dump(h), before);
      await h.mgr.deleteNextHop(8);
      await h.mgr.addNextHop(comp(9, 'ecmp', [3]));
    }, { maxComposites: 2 }));

    it('64 members at most: the 65th is RESOURCE_EXHAUSTED', using(make, async (h) => {
      await base(h);
      for (let i = 0; i < VR_COMP_MEMBERS; i++) await h.mgr.addNextHop(encapNh(100 + i, 1, 1, '02:00:00:00:01:00'));
      await h.mgr.addNextHop(encapNh(200, 1, 1, '02:00:00:00:02:00'));
      await h.mgr.addNextHop(comp(7, 'flood', Array.from({ length: VR_COMP_MEMBERS }, (_, i) => 100 + i)));
      await assert.rejects(h.mgr.addCompositeMember(7, 200), is('resource_exhausted'));
      assert.equal(slots(h, 7).count, VR_COMP_MEMBERS);
    }, { maxNextHops: 256 }));
  });

  describe('composites: what is written', () => {
    it('ECMP: members and buckets round-robin; a new member takes an equal share and nothing else moves', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop(comp(7, 'ecmp', [2, 4]));
      const s = slots(h, 7);
      assert.equal(s.first % VR_COMP_BLOCK, 0, 'a block of its own');
      assert.deepEqual([s.count, s.kind, s.members], [2, 1, [2, 4]]);
      assert.deepEqual(share(s.buckets), { 2: 32, 4: 32 });
      assert.deepEqual(h.mgr.nhs.get(7).composite, { kind: 'ecmp', members: [2, 4] });
      assert.deepEqual([h.mgr.nhs.compositeRefCount(2), h.mgr.nhs.compositeRefCount(4), h.mgr.nhs.compositeRefCount(3)], [1, 1, 0]);
      // a third member: 21 or 22 each; every bucket that moved moved to it
      await h.mgr.addCompositeMember(7, 5);
      const t = slots(h, 7);
      assert.deepEqual(t.members, [2, 4, 5]);
      assert.deepEqual(Object.values(share(t.buckets)).sort(), [21, 21, 22]);
      assert.equal(share(t.buckets)[5], 21, 'the new member: 64 / 3');
      t.buckets.forEach((b, k) => assert.ok(b === s.buckets[k] || b === 5, `bucket ${k} moved from ${s.buckets[k]} to ${b}`));
      // a member goes: only its buckets move, to the others
      await h.mgr.removeCompositeMember(7, 2);
      const u = slots(h, 7);
      assert.deepEqual(u.members.sort(), [4, 5]);
      assert.deepEqual(share(u.buckets), { 4: 32, 5: 32 });
      u.buckets.forEach((b, k) => assert.ok(t.buckets[k] === 2 || b === t.buckets[k], `bucket ${k} of ${t.buckets[k]} moved`));
      assert.equal(h.mgr.nhs.compositeRefCount(2), 0);
      await h.mgr.deleteNextHop(2);
      // the last members go: count 0, buckets cleared
      await h.mgr.removeCompositeMember(7, 4);
      await h.mgr.removeCompositeMember(7, 5);
      const e = slots(h, 7);
      assert.deepEqual([e.count, share(e.buckets)], [0, { 0: 64 }]);
      await h.mgr.addCompositeMember(7, 3);
      assert.deepEqual(share(slots(h, 7).buckets), { 3: 64 });
    }));

    it('flood: members in slot order; a removed member\'s place is taken by the last', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop(comp(8, 'flood', [2, 3, 4, 5]));
      assert.deepEqual(slots(h, 8).members, [2, 3, 4, 5]);
      assert.deepEqual(share(slots(h, 8).buckets), { 0: 64 }, 'a flood has no buckets');
      await h.mgr.removeCompositeMember(8, 3);
      assert.deepEqual(slots(h, 8).members, [2, 5, 4]);
      assert.deepEqual(h.mgr.nhs.get(8).composite, { kind: 'flood', members: [2, 5, 4] });
    }));

    it('update sets the members (one removed, one added, the rest keep their buckets); routes use composites; delete clears the block', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop(comp(7, 'ecmp', [2, 3, 4]));
      const s = slots(h, 7);
      await h.mgr.updateNextHop(comp(7, 'ecmp', [3, 4, 5]));
      const t = slots(h, 7);
      assert.deepEqual([...t.members].sort(), [3, 4, 5]);
      t.buckets.forEach((b, k) => assert.ok(b === s.buckets[k] || s.buckets[k] === 2 || b === 5, `bucket ${k}`));
      await h.mgr.addRoutes([{ ...route(1, '10.9.0.0/16', 7), label: 77 }]);
      await assert.rejects(h.mgr.deleteNextHop(7), is('failed_precondition', 'id'));
      await h.mgr.deleteRoutes([{ vrf: 1, addr: Buffer.from([10, 9, 0, 0]), plen: 16 }]);
      const before = dump(h);
      await h.mgr.deleteNextHop(7);
      assert.equal(h.kernel.maps.vr_comp.lookup(u32Key(t.first))!.readUInt32LE(0), 0, 'the block cleared');
      assert.deepEqual([h.mgr.nhs.compositeRefCount(3), h.mgr.nhs.compositeRefCount(5)], [0, 0]);
      await h.mgr.addNextHop(comp(7, 'ecmp', [3, 4, 5]));
      assert.notDeepEqual(dump(h), before, 'written again');
    }));

    it('a restarted manager reads composites back (members, buckets, references, free blocks)', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop(comp(7, 'ecmp', [2, 3]));
      await h.mgr.addCompositeMember(7, 4);
      await h.mgr.addNextHop(comp(8, 'flood', [2, 5]));
      const b7 = h.mgr.nhs.comps.buckets(7);
      const st = [h.mgr.nhs.get(7), h.mgr.nhs.get(8), [2, 3, 4, 5].map((id) => h.mgr.nhs.compositeRefCount(id))];
      await h.restart();
      assert.deepEqual([h.mgr.nhs.get(7), h.mgr.nhs.get(8), [2, 3, 4, 5].map((id) => h.mgr.nhs.compositeRefCount(id))], st);
      assert.deepEqual(h.mgr.nhs.comps.buckets(7), b7);
      await h.mgr.removeCompositeMember(7, 4);
      assert.deepEqual(share(slots(h, 7).buckets), { 2: 32, 3: 32 });
      await h.mgr.addNextHop(comp(9, 'ecmp', [5]));
      assert.notEqual(slots(h, 9).first, slots(h, 7).first);
      assert.notEqual(slots(h, 9).first, slots(h, 8).first);
    }));
  });

  describe('composites: undo, transactions, sync', () => {
    it('a slot write that fails leaves every table and count as it was', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop(comp(7, 'ecmp', [2, 3]));
      const before = dump(h);
      const refs = [2, 3, 4].map((id) => h.mgr.nhs.compositeRefCount(id));
      h.kernel.failNext('vr_nexthops', 'update', EIO); // the count, after the slots
      await assert.rejects(h.mgr.addCompositeMember(7, 4), is('internal'));
      assert.deepEqual(dump(h), before);
      assert.deepEqual([2, 3, 4].map((id) => h.mgr.nhs.compositeRefCount(id)), refs);
      assert.deepEqual(h.mgr.nhs.get(7).composite, { kind: 'ecmp', members: [2, 3] });
      h.kernel.failNext('vr_comp', 'update', EIO);
      await assert.rejects(h.mgr.addNextHop(comp(8, 'flood', [2, 3])), is('internal'));
      assert.deepEqual(dump(h), before);
      assert.equal(h.mgr.nhs.has(8), false);
      // and the block it had is free again
      await h.mgr.addNextHop(comp(8, 'flood', [2, 3]));
    }));

    it('a transaction: members, the composite, a member add and the route in dependency order; undone whole', using(make, async (h) => {
      await base(h);
      const ops = (last: 'ok' | 'bad') => [
        { kind: 'route' as const, action: 'add' as const, spec: route(1, '10.9.0.0/16', 9) },
        { kind: 'member' as const, action: 'add' as const, id: 9, member: 11 },
        { kind: 'nh' as const, action: 'add' as const, spec: comp(9, 'ecmp', [10]) },
        { kind: 'nh' as const, action: 'add' as const, spec: encapNh(10, 1, 1, '02:00:00:00:00:10') },
        { kind: 'nh' as const, action: 'add' as const, spec: encapNh(11, 1, 1, '02:00:00:00:00:11') },
        { kind: 'vxlan' as const, action: last === 'ok' ? ('add' as const) : ('delete' as const), ...(last === 'ok' ? { entry: { key: 1, nhId: 10 } } : { key: 1 }) },
      ];
      const before = dump(h);
      const out = await h.mgr.apply(ops('bad') as never, true);
      assert.ok(is('not_found', 'key', 5)(out[5]));
      assert.deepEqual(dump(h), before, 'all undone');
      assert.deepEqual(Array.from(await h.mgr.apply(ops('ok') as never, true)), Array(6).fill(undefined));
      assert.deepEqual(h.mgr.nhs.get(9).composite, { kind: 'ecmp', members: [10, 11] });
      // removed in the other order: the route, the composite, then its members
      const del = await h.mgr.apply(
        [
          { kind: 'nh', action: 'delete', id: 10 },
          { kind: 'vxlan', action: 'delete', key: 1 },
          { kind: 'nh', action: 'delete', id: 11 },
          { kind: 'nh', action: 'delete', id: 9 },
          { kind: 'route', action: 'delete', key: { vrf: 1, addr: Buffer.from([10, 9, 0, 0]), plen: 16 } },
        ],
        true,
      );
      assert.deepEqual(Array.from(del), Array(5).fill(undefined));
      assert.equal(h.mgr.nhs.has(9), false);
    }));

    it('a sync epoch: a composite re-sent unchanged is not rewritten, one with other members is, one not re-sent goes before its members', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop(comp(7, 'ecmp', [2, 3]));
      await h.mgr.addNextHop(comp(8, 'flood', [4, 5]));
      await h.mgr.addNextHop(comp(9, 'ecmp', [4]));
      const s = await h.mgr.beginSync('test', 60_000);
      h.kernel.resetWrites();
      const resent = await h.mgr.apply(
        [
          { kind: 'vif', action: 'add', spec: vif({ index: 1, type: 'virtual', name: h.mgr.vifs.get(1).name, vrf: 1 }) },
          { kind: 'nh', action: 'add', spec: encapNh(2, 1, 1, '02:00:00:00:00:02') },
          { kind: 'nh', action: 'add', spec: encapNh(3, 1, 1, '02:00:00:00:00:03') },
          { kind: 'nh', action: 'add', spec: comp(7, 'ecmp', [3, 2]) },
          { kind: 'nh', action: 'add', spec: comp(8, 'flood', [5]) },
        ],
        false,
      );
      assert.deepEqual(Array.from(resent), Array(5).fill(undefined));
      assert.equal(h.kernel.writes('vr_comp') > 0, true, 'composite 8 lost a member');
      assert.deepEqual(h.mgr.nhs.get(7).composite, { kind: 'ecmp', members: [2, 3] }, 'composite 7 as it was');
      const end = await h.mgr.endSync(s.epoch);
      // 9 (not re-sent) goes, then 4 (its member, and 8's no more) and the VRF next hop 6; 5 is still 8's; the fabric keeps tunnel 5
      assert.deepEqual(end.removed, { vifs: 0, nextHops: 3, routes: 0, labels: 0, vnis: 0, bridge: 0 });
      assert.deepEqual([...h.mgr.nhs.ids()], [0, 2, 3, 5, 7, 8]);
    }));
  });
}
