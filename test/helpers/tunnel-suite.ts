/**
 * tunnelBehaviour: what the manager promises for tunnels, written once and
 * run on the fake and on the real kernel: tunnel and VRF next hops, the
 * MPLS label and VNI tables, route labels, their validation (code, field,
 * nothing written), references, undo, transactions, sync epochs and a
 * restarted manager.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NH, u32Key } from '../../src/maps/codecs.ts';
import { encapNh, route, tunnelNh, vif } from './specs.ts';
import { dump, is, using, type Harness, type HarnessFactory } from './manager-harness.ts';

const EIO = 5;
const FABRIC_MAC = '02:00:00:00:0f:01';

/** base: vif 1 (a pod), vif 2 (the fabric, forwarding on), encap 2 to vif 1, tunnel 3 (MPLSoUDP) on vif 2, VRF next hop 4 */
async function base(h: Harness): Promise<void> {
  await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), vrf: 1 }));
  const fab = h.netdev();
  h.forwarding(fab, true);
  await h.mgr.addInterface(vif({ index: 2, type: 'fabric', name: fab, vrf: 0, mac: FABRIC_MAC, ip4: '192.0.2.1' }));
  await h.mgr.addNextHop(encapNh(2, 1, 1, '02:00:00:00:00:02'));
  await h.mgr.addNextHop(tunnelNh(3, 1, { type: 'mplsoudp', src: '192.0.2.1', dst: '198.51.100.7', label: 1000, vifIndex: 2 }));
  await h.mgr.addNextHop({ id: 4, vrf: 2, kind: 'vrf' });
}

const tun = (over: Partial<Parameters<typeof tunnelNh>[2]> = {}, id = 5) =>
  tunnelNh(id, 1, { type: 'vxlan', src: '192.0.2.1', dst: '198.51.100.9', label: 5001, vifIndex: 2, ...over });

/** decapState: the label and VNI tables as the manager sees them, with the next hops' counts */
const decapState = (h: Harness) => ({
  labels: h.mgr.labels.list(),
  vnis: h.mgr.vnis.list(),
  refs: [...h.mgr.nhs.ids()].map((id) => [id, h.mgr.nhs.decapRefCount(id)]),
});

export function tunnelBehaviour(make: HarnessFactory): void {
  describe('tunnels: validation (the code and field of every refusal, and nothing written)', () => {
    type Case = [string, (h: Harness) => Promise<unknown>, ReturnType<typeof is>];
    const cases: Case[] = [
      ['tunnel without its tunnel part', (h) => h.mgr.addNextHop({ id: 5, vrf: 1, kind: 'tunnel' }), is('invalid_argument', 'tunnel')],
      ['tunnel without a type', (h) => h.mgr.addNextHop({ ...tun(), tunnel: { ...tun().tunnel!, type: undefined } }), is('invalid_argument', 'tunnel.type')],
      ['tunnel without a source', (h) => h.mgr.addNextHop({ ...tun(), tunnel: { ...tun().tunnel!, src: undefined } }), is('invalid_argument', 'tunnel.src')],
      ['tunnel with an IPv6 underlay', (h) => h.mgr.addNextHop(tun({ dst: '2001:db8::1' })), is('invalid_argument', 'tunnel.dst')],
      ['tunnel to a multicast address', (h) => h.mgr.addNextHop(tun({ dst: '239.1.1.1' })), is('invalid_argument', 'tunnel.dst')],
      ['MPLS label beyond 20 bits', (h) => h.mgr.addNextHop(tun({ type: 'mplsoudp', label: 0x100000 })), is('invalid_argument', 'tunnel.label')],
      ['VNI beyond 24 bits', (h) => h.mgr.addNextHop(tun({ label: 0x1000000 })), is('invalid_argument', 'tunnel.label')],
      ['tunnel on a missing vif', (h) => h.mgr.addNextHop(tun({ vifIndex: 9 })), is('not_found', 'tunnel.vifIndex')],
      ['tunnel on a vif that is not a fabric', (h) => h.mgr.addNextHop(tun({ vifIndex: 1 })), is('failed_precondition', 'tunnel.vifIndex')],
      ['inner MACs on an MPLS tunnel', (h) => h.mgr.addNextHop(tun({ type: 'mplsogre', innerDmac: '02:00:00:00:00:09' })), is('invalid_argument', 'tunnel.innerDmac')],
      ['tunnel kind change', (h) => h.mgr.updateNextHop({ id: 3, vrf: 1, kind: 'receive' }), is('failed_precondition', 'kind')],
      ['label beyond 20 bits', (h) => h.mgr.addDecap('mpls', { key: 0x100000, nhId: 2 }), is('invalid_argument', 'key')],
      ['VNI beyond 24 bits', (h) => h.mgr.addDecap('vxlan', { key: 0x1000000, nhId: 2 }), is('invalid_argument', 'key')],
      ['label to a missing next hop', (h) => h.mgr.addDecap('mpls', { key: 7, nhId: 9 }), is('not_found', 'nhId')],
      ['label to a tunnel next hop', (h) => h.mgr.addDecap('mpls', { key: 7, nhId: 3 }), is('failed_precondition', 'nhId')],
      ['VNI to a tunnel next hop', (h) => h.mgr.addDecap('vxlan', { key: 7, nhId: 3 }), is('failed_precondition', 'nhId')],
      ['label that exists', (h) => h.mgr.addDecap('mpls', { key: 100, nhId: 2 }), is('already_exists', 'key')],
      ['update of a missing label', (h) => h.mgr.updateDecap('mpls', { key: 7, nhId: 2 }), is('not_found', 'key')],
      ['update of a label to a tunnel', (h) => h.mgr.updateDecap('mpls', { key: 100, nhId: 3 }), is('failed_precondition', 'nhId')],
      ['delete of a missing VNI', (h) => h.mgr.deleteDecap('vxlan', 7), is('not_found', 'key')],
      ['delete of a next hop a label leads to', (h) => h.mgr.deleteNextHop(2), is('failed_precondition', 'id')],
      ['delete of a next hop a VNI leads to', (h) => h.mgr.deleteNextHop(4), is('failed_precondition', 'id')],
      ['delete of the fabric vif a tunnel leaves by', (h) => h.mgr.deleteInterface(2), is('failed_precondition', 'index')],
    ];
    for (const [what, call, check] of cases)
      it(what, using(make, async (h) => {
        await base(h);
        await h.mgr.addDecap('mpls', { key: 100, nhId: 2 });
        await h.mgr.addDecap('vxlan', { key: 5001, nhId: 4 });
        const before = dump(h);
        const st = decapState(h);
        h.kernel.resetWrites();
        await assert.rejects(Promise.resolve().then(() => call(h)), check);
        assert.equal(h.kernel.writes(), 0, 'no map written');
        assert.deepEqual(dump(h), before);
        assert.deepEqual(decapState(h), st);
      }));

    it('a tunnel on a fabric whose kernel interface does not forward (bpf_fib_lookup would answer nothing)', using(make, async (h) => {
      await base(h);
      const fab = h.mgr.vifs.get(2).name;
      h.forwarding(fab, false);
      await assert.rejects(h.mgr.addNextHop(tun()), is('failed_precondition', 'tunnel.vifIndex'));
      h.forwarding(fab, true);
      await h.mgr.addNextHop(tun());
    }));

    it('the label table full: RESOURCE_EXHAUSTED, nothing written', using(make, async (h) => {
      await base(h);
      for (let k = 0; k < 4; k++) await h.mgr.addDecap('mpls', { key: k, nhId: 2 });
      const before = dump(h);
      await assert.rejects(h.mgr.addDecap('mpls', { key: 99, nhId: 2 }), is('resource_exhausted'));
      assert.deepEqual(dump(h), before);
      await h.mgr.deleteDecap('mpls', 0);
      await h.mgr.addDecap('mpls', { key: 99, nhId: 2 });
    }, { maxLabels: 4, maxVnis: 4 }));
  });

  describe('tunnels: what is written', () => {
    it('a tunnel next hop as the datapath reads it, and as it is read back', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop(tun({ innerDmac: '02:bb:00:00:00:09' }));
      const v = NH.decode(h.kernel.maps.vr_nexthops.lookup(u32Key(5))!);
      const fab = h.mgr.vifs.get(2);
      assert.deepEqual(
        { type: v.type, tunType: v.tunType, tunFamily: v.tunFamily, sip: [...v.tunSip], dip: [...v.tunDip.subarray(0, 4)], label: v.label },
        { type: 3, tunType: 3, tunFamily: 4, sip: [192, 0, 2, 1, ...Array(12).fill(0)], dip: [198, 51, 100, 9], label: 5001 },
      );
      assert.deepEqual([v.oifIfindex, v.oifVif, v.oifMtu, v.oifState & 1], [fab.ifindex, 2, fab.mtu, 1], 'a copy of the fabric vif');
      assert.deepEqual([v.dmac.toString('hex'), v.smac.toString('hex')], ['02bb00000009', '020000000f01'], 'the inner MACs (source: the fabric vif\'s)');
      const nh = h.mgr.nhs.get(5);
      assert.equal(nh.kind, 'tunnel');
      assert.deepEqual({ ...nh.tunnel, src: [...nh.tunnel!.src], dst: [...nh.tunnel!.dst], innerDmac: nh.tunnel!.innerDmac.toString('hex'), innerSmac: nh.tunnel!.innerSmac.toString('hex') }, {
        type: 'vxlan', src: [192, 0, 2, 1], dst: [198, 51, 100, 9], label: 5001, vifIndex: 2, innerDmac: '02bb00000009', innerSmac: '020000000f01',
      });
      // a change of the fabric vif reaches its tunnels at once
      await h.mgr.updateInterface(2, { mtu: 9000, disabled: true });
      const w = NH.decode(h.kernel.maps.vr_nexthops.lookup(u32Key(5))!);
      assert.deepEqual([w.oifMtu, w.oifState & 1], [9000, 0]);
      // and a tunnel changes in place (same kind)
      await h.mgr.updateNextHop(tun({ type: 'mplsogre', dst: '198.51.100.10', label: 77 }));
      assert.deepEqual([h.mgr.nhs.get(5).tunnel!.type, h.mgr.nhs.get(5).tunnel!.label], ['mplsogre', 77]);
    }));

    it('labels and VNIs: add, get, list in order, repoint, delete; the next hops count them', using(make, async (h) => {
      await base(h);
      await h.mgr.addDecap('mpls', { key: 300, nhId: 2 });
      await h.mgr.addDecap('mpls', { key: 100, nhId: 2 });
      await h.mgr.addDecap('vxlan', { key: 5001, nhId: 4 });
      assert.deepEqual(h.mgr.labels.list(), [{ key: 100, nhId: 2 }, { key: 300, nhId: 2 }]);
      assert.deepEqual(h.mgr.vnis.get(5001), { key: 5001, nhId: 4 });
      assert.equal(h.kernel.maps.vr_mpls.lookup(u32Key(300))!.readUInt32LE(0), 2);
      assert.deepEqual([h.mgr.nhs.decapRefCount(2), h.mgr.nhs.decapRefCount(4)], [2, 1]);
      await h.mgr.updateDecap('mpls', { key: 300, nhId: 4 });
      assert.deepEqual([h.mgr.nhs.decapRefCount(2), h.mgr.nhs.decapRefCount(4)], [1, 2]);
      assert.equal(h.kernel.maps.vr_mpls.lookup(u32Key(300))!.readUInt32LE(0), 4);
      await h.mgr.deleteDecap('mpls', 100);
      await h.mgr.deleteNextHop(2);
      assert.equal(h.kernel.maps.vr_mpls.lookup(u32Key(100)), undefined);
      assert.throws(() => h.mgr.labels.get(100), is('not_found', 'key'));
      // a restarted manager reads the tables and the counts back
      const st = decapState(h);
      await h.restart();
      assert.deepEqual(decapState(h), st);
    }));

    it('a route label: written with its flag, read back, absent when not given', using(make, async (h) => {
      await base(h);
      await h.mgr.addRoutes([{ ...route(1, '10.2.0.0/16', 3), label: 4242 }, route(1, '10.3.0.0/16', 3)]);
      assert.equal(h.mgr.routes.lookup(1, Buffer.from([10, 2, 0, 1])).label, 4242);
      assert.equal(h.mgr.routes.lookup(1, Buffer.from([10, 3, 0, 1])).label, undefined);
      await h.mgr.updateRoute({ ...route(1, '10.3.0.0/16', 3), label: 0 });
      assert.equal(h.mgr.routes.lookup(1, Buffer.from([10, 3, 0, 1])).label, 0, 'label 0 is a label');
    }));
  });

  describe('tunnels: undo, transactions, sync', () => {
    it('a label write that fails leaves the tables and the counts as they were', using(make, async (h) => {
      await base(h);
      const before = dump(h);
      const st = decapState(h);
      h.kernel.failNext('vr_mpls', 'update', EIO);
      await assert.rejects(h.mgr.addDecap('mpls', { key: 100, nhId: 2 }), is('internal'));
      assert.deepEqual(dump(h), before);
      assert.deepEqual(decapState(h), st);
    }));

    it('a transaction adds a next hop and the label leading to it in dependency order, and undoes both when a later op fails', using(make, async (h) => {
      await base(h);
      const before = dump(h);
      const out = await h.mgr.apply(
        [
          { kind: 'mpls', action: 'add', entry: { key: 100, nhId: 6 } },
          { kind: 'nh', action: 'add', spec: { id: 6, vrf: 3, kind: 'vrf' } },
          { kind: 'vxlan', action: 'add', entry: { key: 5002, nhId: 6 } },
          { kind: 'vxlan', action: 'delete', key: 9 },
        ],
        true,
      );
      assert.ok(is('not_found', 'key', 3)(out[3]));
      assert.deepEqual(out.slice(0, 3).map((e) => e?.code), ['aborted', 'aborted', 'aborted']);
      assert.deepEqual(dump(h), before, 'all undone');
      assert.deepEqual(h.mgr.labels.list(), []);
      const ok = await h.mgr.apply(
        [
          { kind: 'mpls', action: 'add', entry: { key: 100, nhId: 6 } },
          { kind: 'nh', action: 'add', spec: { id: 6, vrf: 3, kind: 'vrf' } },
        ],
        true,
      );
      assert.deepEqual(Array.from(ok), [undefined, undefined]);
      assert.equal(h.mgr.nhs.decapRefCount(6), 1);
      // and removes them in the other order
      assert.deepEqual(Array.from(await h.mgr.apply([{ kind: 'nh', action: 'delete', id: 6 }, { kind: 'mpls', action: 'delete', key: 100 }], true)), [undefined, undefined]);
    }));

    it('a sync epoch: labels and VNIs re-sent unchanged are not rewritten, changed ones are, the rest go', using(make, async (h) => {
      await base(h);
      await h.mgr.addDecap('mpls', { key: 100, nhId: 2 });
      await h.mgr.addDecap('mpls', { key: 101, nhId: 2 });
      await h.mgr.addDecap('vxlan', { key: 5001, nhId: 4 });
      await h.mgr.addDecap('vxlan', { key: 5002, nhId: 4 });
      const s = await h.mgr.beginSync('test', 60_000);
      h.kernel.resetWrites();
      const resent = await h.mgr.apply(
        [
          { kind: 'vif', action: 'add', spec: { ...vif({ index: 1, type: 'virtual', name: h.mgr.vifs.get(1).name, vrf: 1 }) } },
          { kind: 'vif', action: 'add', spec: { ...vif({ index: 2, type: 'fabric', name: h.mgr.vifs.get(2).name, vrf: 0, mac: FABRIC_MAC, ip4: '192.0.2.1' }) } },
          { kind: 'nh', action: 'add', spec: encapNh(2, 1, 1, '02:00:00:00:00:02') },
          { kind: 'nh', action: 'add', spec: { id: 4, vrf: 2, kind: 'vrf' } },
          { kind: 'mpls', action: 'add', entry: { key: 100, nhId: 2 } },
          { kind: 'vxlan', action: 'add', entry: { key: 5001, nhId: 2 } },
        ],
        false,
      );
      assert.deepEqual(Array.from(resent), Array(6).fill(undefined));
      assert.equal(h.kernel.writes('vr_mpls'), 0, 'label 100 re-sent unchanged: not rewritten');
      assert.equal(h.kernel.writes('vr_vxlan'), 1, 'VNI 5001 repointed in place');
      const end = await h.mgr.endSync(s.epoch);
      assert.deepEqual(end.removed, { vifs: 0, nextHops: 1, routes: 0, labels: 1, vnis: 1, bridge: 0 }, 'label 101, VNI 5002 and the tunnel 3 not re-sent');
      assert.deepEqual(h.mgr.labels.list(), [{ key: 100, nhId: 2 }]);
      assert.deepEqual(h.mgr.vnis.list(), [{ key: 5001, nhId: 2 }]);
    }));
  });
}
