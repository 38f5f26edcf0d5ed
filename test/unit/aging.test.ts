/**
 * FlowAger on a fake vr_flows (the same rules on the real map:
 * test/bpf/flow-aging.test.ts): a pair goes when both halves are idle past
 * their protocol's timeout, or (TCP) a linger after RST or FIN both ways;
 * both halves go together, forward first, each reported with its counters;
 * NAT pairs are found through the NAT'd reverse key; HOLD entries are never
 * aged, only handed over once older than the hold timeout; the scan works
 * in chunks and lets the event loop run between them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FlowAger, type AgingOptions, type Removal } from '../../src/flows/aging.ts';
import { encodeFlowKey } from '../../src/flows/flow-bytes.ts';
import { FLOW, FLOW_KEY, type FlowValue } from '../../src/maps/codecs.ts';
import { FLOW_F, FlowActionCode, TCP_FLAG } from '../../src/maps/layout.ts';
import { reverseOf, reverseNat, type Flow, type FlowKey, type NatSpec } from '../../src/manager/flow-model.ts';
import { FakeMap } from '../helpers/fake-kernel.ts';
import { FakeClock, flowKey, flowValue, turn } from '../helpers/flows.ts';
import { ip } from '../helpers/packets.ts';

const S = 1_000_000_000n;

function setup(opts: AgingOptions = {}) {
  const clock = new FakeClock();
  const map = new FakeMap('vr_flows', 'hash', FLOW_KEY.size, FLOW.size, 1 << 16);
  const removed: { kind: Removal; flow: Flow }[] = [];
  const stale: bigint[] = [];
  const ager = new FlowAger(map, {
    removed: (kind, flow) => removed.push({ kind, flow }),
    staleHold: (_k, _b, holdId) => stale.push(holdId),
  }, pino({ level: 'silent' }), { tcpMs: 180_000, udpMs: 60_000, icmpMs: 30_000, otherMs: 60_000, closeLingerMs: 2000, holdMs: 5000, now: clock.now, ...opts });
  /** pair: a forward entry and its reverse half, each last seen `ago` seconds before now */
  const pair = (key: FlowKey, ago: [number, number], extra: [Partial<FlowValue>, Partial<FlowValue>] = [{}, {}], nat?: NatSpec) => {
    const natFields = (n: NatSpec | undefined) => n ? {
      action: FlowActionCode.NAT,
      flags: (n.src ? FLOW_F.SNAT : 0) | (n.dst ? FLOW_F.DNAT : 0),
      natSrc: n.src ? Buffer.concat([n.src, Buffer.alloc(16 - n.src.length)]) : Buffer.alloc(16),
      natDst: n.dst ? Buffer.concat([n.dst, Buffer.alloc(16 - n.dst.length)]) : Buffer.alloc(16),
      natSport: n.sport ?? 0,
      natDport: n.dport ?? 0,
    } : { action: FlowActionCode.FORWARD };
    const fwd = natFields(nat);
    const rn = nat ? reverseNat(key, nat) : undefined;
    const rev = natFields(rn);
    map.update(encodeFlowKey(key), flowValue({ ...fwd, lastNs: clock.ns - BigInt(ago[0]) * S, packets: 10n, ...extra[0] }));
    map.update(encodeFlowKey(reverseOf(key, nat)), flowValue({ ...rev, flags: (rev.flags ?? 0) | FLOW_F.REVERSE, lastNs: clock.ns - BigInt(ago[1]) * S, packets: 20n, ...extra[1] }));
  };
  const has = (key: FlowKey) => map.lookup(encodeFlowKey(key)) !== undefined;
  return { clock, map, ager, removed, stale, pair, has };
}

describe('FlowAger', () => {
  it('removes a UDP pair idle in both directions past 60 s, forward half first, with counters', async () => {
    const t = setup();
    const idle = flowKey('10.1.1.2', '10.1.2.5', 17, 1000, 2000);
    const halfLive = flowKey('10.1.1.2', '10.1.2.6', 17, 1000, 2000);
    const young = flowKey('10.1.1.2', '10.1.2.7', 17, 1000, 2000);
    t.pair(idle, [61, 60]);
    t.pair(halfLive, [300, 10]); // the answers still come
    t.pair(young, [59, 59]);
    const r = await t.ager.scan();
    assert.deepEqual(r, { entries: 6, kept: 4, aged: 1, closed: 0, staleHolds: 0 });
    assert.deepEqual(t.removed.map((x) => [x.kind, x.flow.reverse, x.flow.packets]), [['aged', false, 10n], ['aged', true, 20n]]);
    assert.deepEqual(t.removed[0]!.flow.key, idle);
    assert.deepEqual([t.has(idle), t.has(reverseOf(idle)), t.has(halfLive), t.has(young)], [false, false, true, true]);
  });

  it('per-protocol timeouts: ICMP 30 s, TCP 180 s, others 60 s', async () => {
    const t = setup();
    const icmp = flowKey('10.1.1.2', '10.1.2.5', 1, 0x77, 0);
    const tcp = flowKey('10.1.1.2', '10.1.2.5', 6, 40000, 80);
    const tcpOld = flowKey('10.1.1.2', '10.1.2.6', 6, 40000, 80);
    const gre = flowKey('10.1.1.2', '10.1.2.5', 47, 0, 0);
    t.pair(icmp, [31, 31]);
    t.pair(tcp, [179, 179]);
    t.pair(tcpOld, [181, 181]);
    t.pair(gre, [61, 61]);
    await t.ager.scan();
    assert.deepEqual([t.has(icmp), t.has(tcp), t.has(tcpOld), t.has(gre)], [false, true, false, false]);
  });

  it('TCP: FIN both ways or a RST closes the pair after the linger; one FIN alone does not', async () => {
    const t = setup();
    const fin2 = flowKey('10.1.1.2', '10.1.2.5', 6, 40001, 80);
    const fin1 = flowKey('10.1.1.2', '10.1.2.5', 6, 40002, 80);
    const rst = flowKey('10.1.1.2', '10.1.2.5', 6, 40003, 80);
    const rstRecent = flowKey('10.1.1.2', '10.1.2.5', 6, 40004, 80);
    const F = TCP_FLAG.FIN | TCP_FLAG.ACK;
    t.pair(fin2, [3, 3], [{ tcpFlags: F }, { tcpFlags: F }]);
    t.pair(fin1, [3, 3], [{ tcpFlags: F }, { tcpFlags: TCP_FLAG.ACK }]);
    t.pair(rst, [3, 3], [{ tcpFlags: TCP_FLAG.ACK }, { tcpFlags: TCP_FLAG.RST }]); // the RST on the reverse half only
    t.pair(rstRecent, [3, 1], [{ tcpFlags: TCP_FLAG.RST }, {}]);
    const r = await t.ager.scan();
    assert.equal(r.closed, 2);
    assert.deepEqual([t.has(fin2), t.has(fin1), t.has(rst), t.has(rstRecent)], [false, true, false, true]);
    assert.ok(t.removed.every((x) => x.kind === 'closed'));
    // the forward half is reported first even when the reverse half's visit decided
    const rstEvents = t.removed.filter((x) => x.flow.key.sport === 40003 || x.flow.key.dport === 40003);
    assert.deepEqual(rstEvents.map((x) => x.flow.reverse), [false, true]);
  });

  it('a NAT pair is found through its NAT\'d reverse key', async () => {
    const t = setup();
    const key = flowKey('10.1.1.2', '10.9.9.9', 17, 1000, 53);
    const nat = { dst: ip('10.1.2.5'), dport: 5353 };
    t.pair(key, [61, 61], [{}, {}], nat);
    const revKey = reverseOf(key, nat);
    assert.deepEqual([revKey.src, revKey.sport], [ip('10.1.2.5'), 5353]);
    await t.ager.scan();
    assert.deepEqual([t.has(key), t.has(revKey)], [false, false]);
    assert.deepEqual(t.removed.map((x) => x.flow.reverse), [false, true], 'one pair, forward first');
    assert.deepEqual(t.removed[0]!.flow.nat?.dst, ip('10.1.2.5'));
    assert.deepEqual(t.removed[1]!.flow.nat?.src, ip('10.9.9.9'), 'the reverse half un-NATs the source');
  });

  it('a half without its other half ages alone', async () => {
    const t = setup();
    const key = flowKey('10.1.1.2', '10.1.2.5', 17, 1000, 2000);
    t.map.update(encodeFlowKey(reverseOf(key)), flowValue({ action: FlowActionCode.FORWARD, flags: FLOW_F.REVERSE, lastNs: t.clock.ns - 61n * S }));
    t.map.update(encodeFlowKey(flowKey('10.1.1.9', '10.1.2.5')), flowValue({ action: FlowActionCode.DROP, lastNs: t.clock.ns - 61n * S }));
    const r = await t.ager.scan();
    assert.equal(r.aged, 2);
    assert.equal(t.map.size, 0);
  });

  it('HOLD entries are never aged, only handed over once older than the hold timeout', async () => {
    const t = setup();
    t.map.update(encodeFlowKey(flowKey('10.1.1.2', '10.1.2.5')), flowValue({ action: FlowActionCode.HOLD, holdId: 1n, createdNs: t.clock.ns - 6n * S }));
    t.map.update(encodeFlowKey(flowKey('10.1.1.2', '10.1.2.6')), flowValue({ action: FlowActionCode.HOLD, holdId: 2n, createdNs: t.clock.ns - 4n * S }));
    const r = await t.ager.scan();
    assert.deepEqual([r.aged, r.staleHolds, t.map.size], [0, 1, 2]);
    assert.deepEqual(t.stale, [1n]);
  });

  it('scans in chunks, the event loop served between them', async () => {
    const t = setup({ chunk: 100 });
    for (let i = 0; i < 1500; i++) t.pair(flowKey('10.1.1.2', `10.2.${i >> 8}.${i & 0xff}`, 17, 1000, 2000), i % 2 ? [61, 61] : [1, 1]);
    let turns = 0;
    let done = false;
    const ticking = (async () => {
      while (!done) {
        turns++;
        await turn();
      }
    })();
    const r = await t.ager.scan();
    done = true;
    await ticking;
    assert.equal(r.aged, 750);
    assert.equal(t.map.size, 1500);
    assert.ok(turns >= 15, `${turns} turns of the loop during the scan`);
    assert.equal(t.ager.totals.entries, t.map.size);
  });

  it('runs by itself every interval until stopped', async () => {
    const t = setup({ intervalMs: 10, now: undefined, udpMs: 50 });
    t.map.update(encodeFlowKey(flowKey('10.1.1.2', '10.1.2.5')), flowValue({ action: FlowActionCode.FORWARD, lastNs: process.hrtime.bigint() }));
    t.ager.start();
    const t0 = Date.now();
    while (t.map.size && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
    await t.ager.stop();
    assert.equal(t.map.size, 0, 'aged out by the timer');
    assert.ok(t.ager.totals.scans >= 2);
  });

  it('setTimeouts (a SIGHUP reload): the next scan judges by the new idle timeout; the interval follows the shortest', async () => {
    const t = setup();
    const key = flowKey('10.1.1.2', '10.1.2.5', 17, 1000, 2000);
    t.pair(key, [20, 20]);
    await t.ager.scan();
    assert.ok(t.has(key), 'idle 20 s < 60 s');
    assert.equal(t.ager.intervalMs, 5000);
    t.ager.setTimeouts({ udpMs: 10_000 });
    assert.deepEqual(t.ager.timeoutsMs(), { tcp: 180_000, udp: 10_000, icmp: 30_000, other: 60_000, hold: 5000 });
    assert.equal(t.ager.intervalMs, 2500, 'a quarter of the shortest idle timeout');
    await t.ager.scan();
    assert.equal(t.has(key), false, 'idle 20 s > 10 s');
    assert.deepEqual(t.removed.map((r) => r.kind), ['aged', 'aged']);
  });
});
