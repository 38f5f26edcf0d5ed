/**
 * A bridge entry to a FLOOD composite (the flood entry's target): accepted
 * when its members are L2 encaps and VXLAN tunnels; an ECMP composite, an
 * L3 encap or MPLS member, and later changes that would break the rule are
 * refused with the field named and nothing written.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NextHopSpec } from '../../src/manager/model.ts';
import { BROADCAST } from '../../src/manager/bridge-manager.ts';
import { dump, fakeHarness, is, using, type Harness } from '../helpers/manager-harness.ts';
import { encapNh, tunnelNh, vif } from '../helpers/specs.ts';

const l2 = (id: number, vifIndex: number): NextHopSpec => ({ id, vrf: 1, kind: 'encap', l2: true, encap: { vifIndex, dmac: undefined, smac: undefined } });
const comp = (id: number, kind: 'ecmp' | 'flood', members: number[]): NextHopSpec => ({ id, vrf: 1, kind: 'composite', composite: { kind, members } });
const flood = (nhId: number) => ({ vrf: 1, mac: BROADCAST, nhId, label: undefined });

/** vifs 1, 3 (pods), 2 (fabric); L2 encaps 2, 3; L3 encap 4; VXLAN 5, MPLSoUDP 6; flood 7 of 2, 3, 5 */
async function base(h: Harness): Promise<void> {
  await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), vrf: 1 }));
  await h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: h.netdev(), vrf: 1 }));
  const fab = h.netdev();
  h.forwarding(fab, true);
  await h.mgr.addInterface(vif({ index: 2, type: 'fabric', name: fab, vrf: 0, ip4: '192.0.2.1' }));
  await h.mgr.addNextHop(l2(2, 1));
  await h.mgr.addNextHop(l2(3, 3));
  await h.mgr.addNextHop(encapNh(4, 1, 1, '02:00:00:00:00:04'));
  await h.mgr.addNextHop(tunnelNh(5, 1, { type: 'vxlan', src: '192.0.2.1', dst: '198.51.100.2', label: 5001, vifIndex: 2 }));
  await h.mgr.addNextHop(tunnelNh(6, 1, { type: 'mplsoudp', src: '192.0.2.1', dst: '198.51.100.1', label: 100, vifIndex: 2 }));
  await h.mgr.addNextHop(comp(7, 'flood', [2, 3, 5]));
}

describe('bridge entries to FLOOD composites', () => {
  it('the flood entry leads to a flood of L2 encaps and a VXLAN tunnel; the composite is then in use', using(fakeHarness, async (h) => {
    await base(h);
    await h.mgr.addBridge(flood(7));
    await assert.rejects(h.mgr.deleteNextHop(7), is('failed_precondition', 'id'));
    // a member that stays a bridge port may change and be added
    await h.mgr.removeCompositeMember(7, 3);
    await h.mgr.addCompositeMember(7, 3);
    // the entry's VNI is its VXLAN members'
    await h.mgr.updateBridge({ ...flood(7), label: 5002 });
  }));

  type Case = [string, (h: Harness) => Promise<unknown>, ReturnType<typeof is>];
  const cases: Case[] = [
    ['to an ECMP composite', async (h) => { await h.mgr.addNextHop(comp(8, 'ecmp', [2, 3])); return h.mgr.addBridge(flood(8)); }, is('failed_precondition', 'nhId')],
    ['to a flood with an L3 encap member', async (h) => { await h.mgr.addNextHop(comp(8, 'flood', [2, 4])); return h.mgr.addBridge(flood(8)); }, is('failed_precondition', 'nhId')],
    ['to a flood with an MPLS member', async (h) => { await h.mgr.addNextHop(comp(8, 'flood', [2, 6])); return h.mgr.addBridge(flood(8)); }, is('failed_precondition', 'nhId')],
    ['a label (VNI) on an L2 encap\'s entry', (h) => h.mgr.addBridge({ ...flood(2), label: 5002 }), is('invalid_argument', 'label')],
  ];
  for (const [what, call, check] of cases)
    it(`refused: ${what}`, using(fakeHarness, async (h) => {
      await base(h);
      const before = dump(h);
      await assert.rejects(call(h), check);
      if (!what.startsWith('to a') && !what.startsWith('to an')) assert.deepEqual(dump(h), before);
    }));

  const later: Case[] = [
    ['an L3 encap member added', (h) => h.mgr.addCompositeMember(7, 4), is('failed_precondition', 'memberId')],
    ['an MPLS member added', (h) => h.mgr.addCompositeMember(7, 6), is('failed_precondition', 'memberId')],
    ['the composite updated with an L3 encap member', (h) => h.mgr.updateNextHop(comp(7, 'flood', [2, 4])), is('failed_precondition', 'l2')],
    ['a member turned into an L3 encap', (h) => h.mgr.updateNextHop(encapNh(2, 1, 1, '02:00:00:00:00:02')), is('failed_precondition', 'l2')],
  ];
  for (const [what, call, check] of later)
    it(`refused once the flood entry leads there: ${what}; nothing written`, using(fakeHarness, async (h) => {
      await base(h);
      await h.mgr.addBridge(flood(7));
      const before = dump(h);
      h.kernel.resetWrites();
      await assert.rejects(Promise.resolve().then(() => call(h)), check);
      assert.equal(h.kernel.writes(), 0, 'no map written');
      assert.deepEqual(dump(h), before);
    }));
});
