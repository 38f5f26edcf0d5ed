/**
 * flowBehaviour: what the flow manager promises, written once and run on
 * the fake kernel (test/unit/flow-manager.test.ts) and on the real one
 * (test/bpf/flow-kernel.test.ts): validation (code, field, nothing
 * written), pairs and their NAT, entries the datapath made (HOLD) set in
 * place with their counters kept, deletes of both halves, undo of a failed
 * batch or transaction, a full table, paging and counting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FLOW } from '../../src/maps/codecs.ts';
import { FLOW_F, FlowActionCode } from '../../src/maps/layout.ts';
import { encodeFlowKey, type PageCursor } from '../../src/maps/tables/flow-table.ts';
import { reverseOf, type Flow, type FlowKey, type FlowSpec } from '../../src/manager/flow-model.ts';
import { parseIp } from '../../src/manager/net-addr.ts';
import { route } from './specs.ts';
import { FakeFlowHub } from './fake-flow-hub.ts';
import { MAX_VRFS, dump, is, using, type Harness, type HarnessFactory } from './manager-harness.ts';

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ip = (s: string) => parseIp(s, 'ip').bytes;

/** fkey: a FlowKey from strings. */
export function fkey(vrf: number, proto: number, src: string, sport: number, dst: string, dport: number): FlowKey {
  const s = parseIp(src, 'src');
  return { vrf, family: s.family, proto, src: s.bytes, dst: ip(dst), sport, dport };
}

const K = fkey(1, TCP, '10.0.0.1', 1000, '10.0.0.2', 80);
const fwd = (key: FlowKey = K, extra: Partial<FlowSpec> = {}): FlowSpec => ({ key, action: 'forward', ...extra });

/** raw: the entry under a key as the datapath holds it (undefined: none). */
function raw(h: Harness, k: FlowKey) {
  const v = h.kernel.maps.vr_flows.lookup(encodeFlowKey(k));
  return v && FLOW.decode(v);
}

/** hold: a HOLD entry as the datapath makes it on a miss, with counters that must survive. */
function hold(h: Harness, k: FlowKey, holdId = 77n): void {
  const v = FLOW.encode({
    action: FlowActionCode.HOLD, flags: 0, holdCount: 2, tcpFlags: 0x02, holdId, createdNs: 5n, lastNs: 9n, packets: 3n, bytes: 300n,
    natSrc: Buffer.alloc(16), natDst: Buffer.alloc(16), natSport: 0, natDport: 0,
  });
  h.kernel.maps.vr_flows.update(encodeFlowKey(k), v);
}

/** entries: every key in vr_flows, as text. */
function entries(h: Harness): string[] {
  return [...h.kernel.maps.vr_flows.entries()].map(([k]) => k.toString('hex')).sort();
}

const same = (a: FlowKey, b: FlowKey) => encodeFlowKey(a).equals(encodeFlowKey(b));

/** allPages: every entry a paged walk returns. */
function allPages(h: Harness, size: number, filter = {}, budget?: number): { flows: Flow[]; pages: number } {
  const flows: Flow[] = [];
  let from: PageCursor = { at: null, skip: 0 };
  for (let pages = 1; ; pages++) {
    const p = h.mgr.flows.list(filter, size, from, budget);
    assert.ok(p.flows.length <= size);
    flows.push(...p.flows);
    if (!p.next) return { flows, pages };
    from = p.next;
    assert.ok(pages < 10_000, 'the walk ends');
  }
}

export function flowBehaviour(make: HarnessFactory): void {
  describe('flows: validation (the code and field of every refusal, and nothing written)', () => {
    const v6 = fkey(1, TCP, 'fd00::1', 1, 'fd00::2', 2);
    type Case = [string, FlowSpec[], ReturnType<typeof is>];
    const cases: Case[] = [
      ['vrf past max_vrfs', [fwd({ ...K, vrf: MAX_VRFS })], is('invalid_argument', 'key.vrf')],
      ['mixed families', [fwd({ ...K, dst: ip('fd00::2') })], is('invalid_argument', 'key.dst')],
      ['protocol past 255', [fwd({ ...K, proto: 256 })], is('invalid_argument', 'key.proto')],
      ['ICMP with IPv6 addresses', [fwd({ ...v6, proto: ICMP, sport: 0, dport: 0 })], is('invalid_argument', 'key.proto')],
      ['ICMPv6 with IPv4 addresses', [fwd({ ...K, proto: 58, sport: 0, dport: 0 })], is('invalid_argument', 'key.proto')],
      ['port past 65535', [fwd({ ...K, sport: 65536 })], is('invalid_argument', 'key.sport')],
      ['ICMP with a destination port', [fwd({ ...K, proto: ICMP, sport: 7, dport: 1 })], is('invalid_argument', 'key.dport')],
      ['GRE with ports', [fwd({ ...K, proto: 47 })], is('invalid_argument', 'key.sport')],
      ['no action', [{ key: K, action: undefined }], is('invalid_argument', 'action')],
      ['HOLD set by the agent', [{ key: K, action: 'hold' }], is('invalid_argument', 'action')],
      ['NAT without a rewrite', [{ key: K, action: 'nat' }], is('invalid_argument', 'nat')],
      ['NAT with only a port', [{ key: K, action: 'nat', nat: { sport: 2000 } }], is('invalid_argument', 'nat')],
      ['NAT to another family', [{ key: K, action: 'nat', nat: { src: ip('fd00::9') } }], is('invalid_argument', 'nat.src')],
      ['NAT port without its address', [{ key: K, action: 'nat', nat: { src: ip('10.9.9.9'), dport: 8080 } }], is('invalid_argument', 'nat.dport')],
      ['NAT port of ICMP', [{ key: { ...K, proto: ICMP, sport: 7, dport: 0 }, action: 'nat', nat: { src: ip('10.9.9.9'), sport: 9 } }], is('invalid_argument', 'nat.sport')],
      ['FORWARD with a rewrite', [fwd(K, { nat: { dst: ip('10.9.9.9') } })], is('invalid_argument', 'nat')],
      ['reverse HOLD', [fwd(K, { reverseAction: 'hold' })], is('invalid_argument', 'reverseAction')],
      ['NAT reversed by FORWARD', [{ key: K, action: 'nat', nat: { src: ip('10.9.9.9') }, reverseAction: 'forward' }], is('invalid_argument', 'reverseAction')],
      ['FORWARD reversed by NAT', [fwd(K, { reverseAction: 'nat' })], is('invalid_argument', 'reverseAction')],
      ['no_reverse with a reverse action', [fwd(K, { noReverse: true, reverseAction: 'drop' })], is('invalid_argument', 'reverseAction')],
      ['a key twice in a batch', [fwd(), fwd({ ...K, sport: 1001 }), fwd()], is('invalid_argument', 'key', 2)],
      ['a flow whose reverse is another flow', [fwd(), fwd(reverseOf(K))], is('invalid_argument', 'key', 1)],
      ['a bad flow late in a batch', [fwd(), fwd({ ...K, sport: 1001 }), fwd({ ...K, sport: 70000 })], is('invalid_argument', 'key.sport', 2)],
    ];
    for (const [name, specs, check] of cases)
      it(name, using(make, async (h) => {
        await h.mgr.setFlow(fwd(fkey(1, UDP, '10.5.0.1', 5, '10.5.0.2', 6)));
        const before = dump(h);
        await assert.rejects(specs.length === 1 ? h.mgr.setFlow(specs[0]!) : h.mgr.setFlows(specs), check);
        assert.deepEqual(dump(h), before);
      }));

    it('delete and get of an absent flow: NOT_FOUND naming the key', using(make, async (h) => {
      await assert.rejects(h.mgr.deleteFlow(K), is('not_found', 'key'));
      assert.throws(() => h.mgr.flows.get(K), is('not_found', 'key'));
      assert.throws(() => h.mgr.flows.get({ ...K, vrf: MAX_VRFS }), is('invalid_argument', 'key.vrf'));
    }));
  });

  describe('flows: pairs', () => {
    it('a FORWARD flow is two entries; the reverse is swapped and marked', using(make, async (h) => {
      const r = await h.mgr.setFlow(fwd());
      assert.equal(r.created, true);
      assert.equal(r.flow.action, 'forward');
      assert.equal(r.reverse?.reverse, true);
      const rk = fkey(1, TCP, '10.0.0.2', 80, '10.0.0.1', 1000);
      assert.ok(same(r.reverse!.key, rk));
      assert.deepEqual([raw(h, K)?.flags, raw(h, rk)?.flags], [0, FLOW_F.REVERSE]);
      assert.equal(h.mgr.mapUsage().vr_flows, 2);
      const g = h.mgr.flows.get(rk);
      assert.ok(g.pair && same(g.pair.key, K) && !g.pair.reverse);
    }));

    it('ICMP echo: the reverse keeps the identifier as its source port', using(make, async (h) => {
      const k = fkey(1, ICMP, '10.0.0.1', 42, '10.0.0.2', 0);
      const r = await h.mgr.setFlow(fwd(k));
      assert.ok(same(r.reverse!.key, fkey(1, ICMP, '10.0.0.2', 42, '10.0.0.1', 0)));
    }));

    it('SNAT: the reverse half is keyed on the new source and rewrites the destination back', using(make, async (h) => {
      const r = await h.mgr.setFlow({ key: K, action: 'nat', nat: { src: ip('192.0.2.1'), sport: 40000 } });
      const rk = fkey(1, TCP, '10.0.0.2', 80, '192.0.2.1', 40000);
      assert.ok(same(r.reverse!.key, rk));
      const f = raw(h, K)!;
      assert.deepEqual([f.action, f.flags, f.natSrc.subarray(0, 4), f.natSport], [FlowActionCode.NAT, FLOW_F.SNAT, ip('192.0.2.1'), 40000]);
      const b = raw(h, rk)!;
      assert.deepEqual([b.action, b.flags, b.natDst.subarray(0, 4), b.natDport, b.natSport], [FlowActionCode.NAT, FLOW_F.REVERSE | FLOW_F.DNAT, ip('10.0.0.1'), 1000, 0]);
      assert.deepEqual(r.reverse!.nat, { src: undefined, sport: undefined, dst: ip('10.0.0.1'), dport: 1000 });
    }));

    it('DNAT (IPv6): the reverse half rewrites the source back', using(make, async (h) => {
      const k = fkey(2, UDP, 'fd00::1', 5000, 'fd00::100', 53);
      const r = await h.mgr.setFlow({ key: k, action: 'nat', nat: { dst: ip('fd00::200') } });
      const rk = fkey(2, UDP, 'fd00::200', 53, 'fd00::1', 5000);
      assert.ok(same(r.reverse!.key, rk));
      const b = raw(h, rk)!;
      assert.deepEqual([b.flags, b.natSrc, b.natSport], [FLOW_F.REVERSE | FLOW_F.SNAT, ip('fd00::100'), 0]);
    }));

    it('no_reverse writes one entry; reverse_action DROP a dropping reverse', using(make, async (h) => {
      await h.mgr.setFlow(fwd(K, { noReverse: true }));
      assert.equal(entries(h).length, 1);
      const k2 = fkey(1, UDP, '10.0.0.1', 1, '10.0.0.2', 2);
      const r = await h.mgr.setFlow(fwd(k2, { reverseAction: 'drop' }));
      assert.equal(raw(h, r.reverse!.key)?.action, FlowActionCode.DROP);
    }));

    it('a HOLD entry the datapath made is set in place: counters, hold id and times kept; the hub hears of both keys', using(make, async (h) => {
      const hub = new FakeFlowHub();
      h.mgr.flows.hub = hub;
      hold(h, K);
      const r = await h.mgr.setFlow(fwd());
      assert.equal(r.created, false);
      const v = raw(h, K)!;
      assert.deepEqual([v.action, v.holdId, v.holdCount, v.tcpFlags, v.packets, v.bytes, v.createdNs, v.lastNs], [FlowActionCode.FORWARD, 77n, 2, 0x02, 3n, 300n, 5n, 9n]);
      assert.deepEqual([r.flow.holdId, r.flow.packets], [77n, 3n]);
      assert.equal(hub.calls.length, 1);
      assert.equal(hub.calls[0]!.op, 'resolved');
      assert.deepEqual(hub.calls[0]!.keys.map((k) => encodeFlowKey(k).toString('hex')).sort(), [K, reverseOf(K)].map((k) => encodeFlowKey(k).toString('hex')).sort());
    }));

    it('re-setting a flow keeps the counters the datapath added', using(make, async (h) => {
      await h.mgr.setFlow(fwd());
      const v = raw(h, K)!;
      h.kernel.maps.vr_flows.update(encodeFlowKey(K), FLOW.encode({ ...v, packets: 10n, bytes: 1000n, tcpFlags: 0x12 }));
      await h.mgr.setFlow({ key: K, action: 'drop' });
      const after = raw(h, K)!;
      assert.deepEqual([after.action, after.packets, after.bytes, after.tcpFlags, after.createdNs], [FlowActionCode.DROP, 10n, 1000n, 0x12, v.createdNs]);
    }));

    it('a new NAT removes the old reverse half; setting a reverse key replaces its pair', using(make, async (h) => {
      await h.mgr.setFlow({ key: K, action: 'nat', nat: { src: ip('192.0.2.1') } });
      await h.mgr.setFlow({ key: K, action: 'nat', nat: { src: ip('192.0.2.2') } });
      assert.equal(raw(h, fkey(1, TCP, '10.0.0.2', 80, '192.0.2.1', 1000)), undefined, 'old reverse half gone');
      assert.ok(raw(h, fkey(1, TCP, '10.0.0.2', 80, '192.0.2.2', 1000)));
      assert.equal(entries(h).length, 2);
      // the reverse key set on its own: the old forward half goes, the new pair stays
      const rk = fkey(1, TCP, '10.0.0.2', 80, '192.0.2.2', 1000);
      await h.mgr.setFlow(fwd(rk));
      assert.equal(raw(h, K), undefined);
      assert.equal(raw(h, rk)?.flags, 0);
      assert.equal(raw(h, reverseOf(rk))?.flags, FLOW_F.REVERSE);
      assert.equal(entries(h).length, 2);
      assert.equal(h.mgr.mapUsage().vr_flows, 2);
    }));

    it('delete by either half removes both; a HOLD entry alone; flows set one way each stay apart', using(make, async (h) => {
      const hub = new FakeFlowHub();
      h.mgr.flows.hub = hub;
      await h.mgr.setFlow(fwd());
      const d = await h.mgr.deleteFlow(reverseOf(K));
      assert.deepEqual([d.entries, d.flow.reverse], [2, true]);
      assert.deepEqual(entries(h), []);
      assert.deepEqual(hub.calls.at(-1)?.op, 'deleted');
      assert.equal(hub.calls.at(-1)?.keys.length, 2);
      hold(h, K);
      hold(h, reverseOf(K), 78n);
      assert.equal((await h.mgr.deleteFlow(K)).entries, 1);
      assert.equal(entries(h).length, 1);
      await h.mgr.deleteFlow(reverseOf(K));
      await h.mgr.setFlow(fwd(K, { noReverse: true }));
      await h.mgr.setFlow(fwd(reverseOf(K), { noReverse: true }));
      assert.equal((await h.mgr.deleteFlow(K)).entries, 1);
      assert.ok(raw(h, reverseOf(K)));
      assert.equal(h.mgr.flows.get(reverseOf(K)).pair, undefined);
    }));
  });

  describe('flows: undo and full tables', () => {
    it('a write failing mid-batch undoes the batch (the HOLD entry it replaced comes back as it was)', using(make, async (h) => {
      hold(h, fkey(1, UDP, '10.1.0.2', 2, '10.1.0.1', 1));
      const before = dump(h);
      const specs = [0, 1, 2].map((i) => fwd(fkey(1, UDP, `10.1.0.${i + 1}`, 1, `10.1.0.${i + 2}`, 2)));
      // four entries through (two pairs, one of them over the HOLD entry), then the kernel fails
      h.kernel.failNext('vr_flows', 'update', 5, 4);
      await assert.rejects(h.mgr.setFlows(specs), is('internal', undefined, 2));
      assert.deepEqual(dump(h), before);
    }));

    it('a transaction with a flow and a failing route leaves no flow', using(make, async (h) => {
      const hub = new FakeFlowHub();
      h.mgr.flows.hub = hub;
      const before = dump(h);
      const res = await h.mgr.apply([{ kind: 'flow', action: 'set', spec: fwd() }, { kind: 'route', action: 'add', spec: route(1, '10.7.0.0/16', 9) }], true);
      assert.deepEqual(res.map((e) => e?.code), ['aborted', 'not_found']);
      assert.deepEqual(dump(h), before);
      assert.equal(hub.calls.length, 0, 'the hub hears nothing of an undone write');
      // not atomic: the good flow stays (and is told), the bad one gets its error
      const each = await h.mgr.apply([{ kind: 'flow', action: 'set', spec: fwd() }, { kind: 'flow', action: 'set', spec: fwd({ ...K, vrf: MAX_VRFS }) }, { kind: 'flow', action: 'delete', key: { ...K, sport: 5 } }], false);
      assert.deepEqual(Array.from(each, (e) => e && [e.code, e.field, e.index]), [undefined, ['invalid_argument', 'key.vrf', 1], ['not_found', 'key', 2]]);
      assert.deepEqual(hub.calls.map((c) => c.op), ['resolved']);
    }));

    it('a full table: RESOURCE_EXHAUSTED naming vr_flows, nothing of the call written', using(make, async (h) => {
      await h.mgr.setFlows([fwd(), fwd({ ...K, sport: 1001 })]);
      const before = dump(h);
      // 5 entries: the third pair's reverse half does not fit
      await assert.rejects(h.mgr.setFlow(fwd({ ...K, sport: 1002 })), (e: unknown) => is('resource_exhausted')(e) && /vr_flows/.test((e as Error).message));
      assert.deepEqual(dump(h), before);
      await assert.rejects(h.mgr.setFlows([fwd({ ...K, sport: 1003 }), fwd({ ...K, sport: 1004 })]), is('resource_exhausted', undefined, 0));
      assert.deepEqual(dump(h), before);
      // a full table still takes an action change in place
      await h.mgr.setFlow({ key: K, action: 'drop' });
      assert.equal(raw(h, K)?.action, FlowActionCode.DROP);
    }, { maxFlows: 5 }));
  });

  describe('flows: paging and counting', () => {
    it('pages return every entry once, whatever the page size, filters and budget', using(make, async (h) => {
      const specs = Array.from({ length: 30 }, (_, i) => fwd(fkey(1 + (i % 3), i % 2 ? UDP : TCP, `10.2.0.${i + 1}`, 100 + i, '10.3.0.1', 80)));
      await h.mgr.setFlows(specs);
      hold(h, fkey(9, TCP, '10.9.0.1', 1, '10.3.0.1', 2));
      const ids = (fs: Flow[]) => fs.map((f) => encodeFlowKey(f.key).toString('hex')).sort();
      for (const size of [1, 7, 61, 1000]) assert.deepEqual(ids(allPages(h, size).flows), entries(h), `page size ${size}`);
      assert.equal(allPages(h, 1000, {}, 1).flows.length, 61, 'a budget of 1 still gets through');
      assert.equal(allPages(h, 4, { vrf: 2 }).flows.length, 20);
      assert.equal(allPages(h, 4, { proto: UDP }).flows.length, 30);
      assert.equal(allPages(h, 4, { addr: ip('10.3.0.1') }).flows.length, 61);
      assert.equal(allPages(h, 4, { addr: ip('10.2.0.5') }).flows.length, 2);
      assert.equal(allPages(h, 4, { action: FlowActionCode.HOLD }).flows.length, 1);
      assert.equal(allPages(h, 4, { addr: ip('fd00::1') }).flows.length, 0);
      assert.throws(() => h.mgr.flows.list({ vrf: MAX_VRFS }, 1, { at: null, skip: 0 }), is('invalid_argument', 'vrf'));
      // the HOLD entry is the datapath's: the count sees it once the map is walked again
      assert.equal(await h.mgr.flows.recount(), 61);
      assert.equal(h.mgr.mapUsage().vr_flows, 61);
      await h.mgr.deleteFlow(specs[0]!.key);
      assert.equal(h.mgr.mapUsage().vr_flows, 59, 'the daemon\'s own writes count at once');
    }));

    it('a walk resumed after deletes still returns every entry that stayed', using(make, async (h) => {
      await h.mgr.setFlows(Array.from({ length: 20 }, (_, i) => fwd(fkey(1, TCP, `10.4.0.${i + 1}`, 1, '10.4.1.1', 2))));
      const first = h.mgr.flows.list({}, 10, { at: null, skip: 0 });
      for (const f of first.flows) if (!f.reverse) await h.mgr.deleteFlow(f.key).catch(() => undefined);
      const rest: Flow[] = [];
      let from = first.next;
      while (from) {
        const p = h.mgr.flows.list({}, 10, from);
        rest.push(...p.flows);
        from = p.next;
      }
      const seen = new Set([...first.flows, ...rest].map((f) => encodeFlowKey(f.key).toString('hex')));
      for (const k of entries(h)) assert.ok(seen.has(k), 'an entry present throughout was returned');
    }));
  });
}
