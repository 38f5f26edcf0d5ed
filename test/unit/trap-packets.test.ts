/**
 * The packet interface without a kernel: vr_trap records decoded (and the
 * reason list held against the C header and the proto enum), and the
 * PacketHub's fan-out: a reason filter before each watcher's queue, a slow
 * watcher losing only its own packets, counted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EventBatch } from '../../src/bpf/ringbuf.ts';
import { TRAP } from '../../src/maps/codecs.ts';
import { TRAP_F, TrapReasonCode } from '../../src/maps/layout.ts';
import { parseTrapRules, trapMask, trapRulesOf, TRAP_REASONS, TRAP_RULES, type TrapReasonName } from '../../src/maps/trap-reasons.ts';
import { decodeTrap, encodeTrap, type TrappedPacket } from '../../src/packets/trap-record.ts';
import { PacketHub, type TrapBatch } from '../../src/packets/packet-hub.ts';
import type { Watcher } from '../../src/events/fanout.ts';
import { TrapReason } from '../../src/gen/vrouter/ebpf/v1/packet_pb.js';
import { trapRulesFromProto } from '../../src/api/convert/packet.ts';
import { DatapathError } from '../../src/manager/errors.ts';
import { maxFrame } from '../../src/packets/packet-io.ts';

const header = readFileSync(new URL('../../bpf/shared/vr_kern_user.h', import.meta.url), 'utf8');

function pkt(reason: TrapReasonName, n = 0, frameLen = 60): TrappedPacket {
  return { reason, hook: n % 2 ? 'tc' : 'xdp', vifIdx: 1 + (n % 3), ifindex: 10 + n, vrf: 7, tsNs: 1_000_000n + BigInt(n), pktLen: frameLen, frame: Buffer.alloc(frameLen, n & 0xff) };
}

/** batch: records laid out as the ring reader hands them over (8-byte aligned, an index of [offset, length]) */
function batch(records: Buffer[]): EventBatch {
  const offs: number[] = [];
  let at = 0;
  for (const r of records) {
    offs.push(at + 8, r.length);
    at += 8 + Math.ceil(r.length / 8) * 8;
  }
  const bytes = new Uint8Array(at);
  records.forEach((r, i) => bytes.set(r, offs[2 * i]!));
  return new EventBatch(bytes, Uint32Array.from(offs));
}

async function take(w: Watcher<TrapBatch>): Promise<{ packets: TrappedPacket[]; lost: number }> {
  const packets: TrappedPacket[] = [];
  let lost = 0;
  w.end();
  for await (const item of w) {
    if (item.kind === 'lost') lost += item.count;
    else packets.push(...item.batch.packets);
  }
  return { packets, lost };
}

describe('trap reasons', () => {
  it('C enum vr_trap_reason = VR_TRAP_* bits = TypeScript list = proto enum', () => {
    // the C and layout.ts names of reason 0 are UNSPEC, the proto's UNSPECIFIED
    const cName = (n: TrapReasonName) => (n === 'unspecified' ? 'UNSPEC' : n.toUpperCase());
    TRAP_REASONS.forEach((name, code) => {
      assert.equal((TrapReasonCode as Record<string, number>)[cName(name)], code, name);
      assert.equal((TrapReason as unknown as Record<string, number>)[name.toUpperCase()], code, `proto TRAP_REASON_${name.toUpperCase()}`);
    });
    const cOrder = [...header.matchAll(/^\s*(VR_TRAP_R_\w+)\s*(?:=\s*\d+)?,/gm)].map((m) => m[1]);
    assert.deepEqual(cOrder, TRAP_REASONS.map((n) => `VR_TRAP_R_${cName(n)}`), 'the C enum lists the reasons in the same order');
    assert.match(header, /VR_TRAP_R_UNSPEC = 0,/);
    for (const name of TRAP_RULES) {
      const bit = Number(new RegExp(`#define VR_TRAP_${name.toUpperCase()}\\s+\\(1u << (\\d+)\\)`).exec(header)?.[1]);
      assert.equal(trapMask([name]), 1 << bit, `VR_TRAP_${name.toUpperCase()}`);
      assert.equal(trapMask([name]), (TRAP_F as Record<string, number>)[name.toUpperCase()]);
    }
  });
  it('masks and names go both ways; parsing names the word at fault', () => {
    assert.equal(trapMask(['arp', 'own']), TRAP_F.ARP | TRAP_F.OWN);
    assert.deepEqual(trapRulesOf(TRAP_F.DNS | TRAP_F.ND | (1 << 20)), ['dns', 'nd'], 'unknown bits ignored');
    assert.deepEqual(parseTrapRules('x', ''), []);
    assert.throws(() => parseTrapRules('rules', 'arp,,ndp'), /^Error: rules: "ndp" is not one of/);
  });
  it('proto reasons: UNSPECIFIED and unknown numbers are refused at their position, repeats dropped', () => {
    assert.deepEqual(trapRulesFromProto([TrapReason.DNS, TrapReason.ARP, TrapReason.DNS], 'rules'), ['dns', 'arp']);
    for (const [bad, at] of [[[TrapReason.ARP, 99 as TrapReason], 1], [[TrapReason.UNSPECIFIED], 0]] as const) {
      assert.throws(() => trapRulesFromProto(bad, 'rules'), (e: unknown) => e instanceof DatapathError && e.code === 'invalid_argument' && e.field === `rules[${at}]`);
    }
  });
  it('SendPacket frames: the vif MTU and an Ethernet header, never more than 9216', () => {
    assert.deepEqual([maxFrame(1500), maxFrame(9000), maxFrame(9500), maxFrame(0)], [1514, 9014, 9216, 9216]);
  });
});

describe('decodeTrap', () => {
  it('reads every header field and copies the frame', () => {
    const p = pkt('dhcp', 3, 342);
    p.pktLen = 400; // the datapath cut it
    const rec = encodeTrap(p);
    assert.equal(rec.length, TRAP.size + 342);
    const got = decodeTrap(rec)!;
    assert.deepEqual(got, p);
    rec.fill(0xee, TRAP.size);
    assert.equal(got.frame[0], 3, 'a copy: the ring batch may be reused');
  });
  it('refuses what is not a whole trap record', () => {
    const rec = encodeTrap(pkt('arp', 0, 42));
    assert.equal(decodeTrap(rec.subarray(0, 31)), undefined, 'shorter than the header');
    assert.equal(decodeTrap(rec.subarray(0, rec.length - 1)), undefined, 'cap_len past the record');
    const miss = Buffer.from(rec);
    miss.writeUInt16LE(1, 0); // VR_EV_MISS
    assert.equal(decodeTrap(miss), undefined, 'another record type');
    const odd = Buffer.from(rec);
    odd[3] = 42;
    assert.equal(decodeTrap(odd)!.reason, 'unspecified', 'a reason this daemon does not know');
  });
});

describe('PacketHub', () => {
  it('filters before each queue: an ARP flood costs a DHCP watcher nothing; the slow one loses only its own', async () => {
    const hub = new PacketHub();
    const all = hub.watch({ max: 4 });
    const dhcp = hub.watch({ reasons: ['dhcp'], max: 2 });
    const arpNd = hub.watch({ reasons: ['arp', 'nd'] });
    const recs = [...Array.from({ length: 8 }, (_, i) => pkt('arp', i)), pkt('dhcp', 8), pkt('nd', 9), pkt('dns', 10)];
    hub.publish(batch(recs.map(encodeTrap)));
    const a = await take(all);
    assert.deepEqual(a.packets.map((p) => p.tsNs), recs.slice(0, 4).map((p) => p.tsNs), 'the first 4, in order');
    assert.equal(a.lost, 7);
    const d = await take(dhcp);
    assert.deepEqual([d.packets.map((p) => p.reason), d.lost], [['dhcp'], 0]);
    const an = await take(arpNd);
    assert.deepEqual([an.packets.length, an.lost], [9, 0]);
    assert.deepEqual(an.packets[8], recs[9]);
    const s = hub.stats();
    assert.deepEqual([s.read, s.malformed, s.unwatched, s.watcherLost], [11, 0, 0, 7]);
  });
  it('counts packets nobody wanted and records that are not traps; keeps the losses of watchers gone', async () => {
    const hub = new PacketHub();
    hub.publish(batch([encodeTrap(pkt('arp')), Buffer.alloc(12)]));
    assert.deepEqual([hub.stats().read, hub.stats().malformed, hub.stats().unwatched], [2, 1, 1]);
    const rs = hub.watch({ reasons: ['rs'], max: 1 });
    hub.publish(batch([encodeTrap(pkt('arp')), encodeTrap(pkt('rs')), encodeTrap(pkt('rs'))]));
    assert.deepEqual([hub.stats().unwatched, hub.stats().watcherLost, hub.stats().watchers], [2, 1, 1]);
    rs.close();
    assert.deepEqual([hub.stats().watcherLost, hub.stats().watchers], [1, 0], 'a closed watcher\'s losses stay counted');
  });
  it('end: watchers finish what they hold; a later watcher ends at once', async () => {
    const hub = new PacketHub();
    const w = hub.watch();
    hub.publish(batch([encodeTrap(pkt('own'))]));
    hub.end();
    const got: string[] = [];
    for await (const item of w) if (item.kind === 'events') got.push(...item.batch.packets.map((p) => p.reason));
    assert.deepEqual(got, ['own']);
    const late = hub.watch();
    assert.deepEqual(await late.next(), { value: undefined, done: true });
  });
});
