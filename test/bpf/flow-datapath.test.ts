/**
 * The flow stage of the datapath (layout v3) through both entries with
 * BPF_PROG_TEST_RUN: a miss on a policy vif makes a HOLD entry and puts
 * the frame in the miss ring (consumed, not a drop); more packets of that
 * miss are held up to the limit; FORWARD / DROP / NAT flows do what they
 * say, NAT with checksums an independent computation accepts; packets of
 * interest go into the trap ring. Entries are written straight into
 * vr_flows here (the flow API is tested apart).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { HOOKS, openTestDatapath, XDP_DROP, XDP_REDIRECT } from '../helpers/datapath.ts';
import { BPF_F_TEST_SKB_CHECKSUM_COMPLETE } from '../../src/bpf/program.ts';
import { arpRequest, csum16, eth, icmpEcho, ip, ipv4, ipv6, udp } from '../helpers/packets.ts';
import { ifindexOf } from '../../src/bpf/netdev.ts';
import { CONFIG, FLOW, FLOW_KEY, MISS, TRAP, perCpuU64, u32Key, type FlowValue } from '../../src/maps/codecs.ts';
import { FlowActionCode, FlowCounter, FLOW_F, MISS_F, TCP_FLAG, TRAP_F, TrapReasonCode } from '../../src/maps/layout.ts';
import { RingbufReader } from '../../src/bpf/ringbuf.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';
import type { PinnedDatapath } from '../../src/maps/pinned-datapath.ts';
import { encapNh, route as rt, vif as vifOf } from '../helpers/specs.ts';

const POD1 = '02:aa:00:00:00:01';
const POD2 = '02:aa:00:00:00:02';
const VIF1_MAC = '02:00:00:00:01:01';
const VIF2_MAC = '02:00:00:00:02:01';
const VIF1_IP4 = '10.1.0.1';

let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let dp: PinnedDatapath;
const rings: Record<'miss' | 'trap', Buffer[]> = { miss: [], trap: [] };
const readers: RingbufReader[] = [];

/* ---- frames, with L4 checksums computed here ---- */

function pseudoSum(src: Buffer, dst: Buffer, proto: number, len: number): number {
  const p = Buffer.alloc(src.length * 2 + 8);
  src.copy(p, 0);
  dst.copy(p, src.length);
  p.writeUInt32BE(len, src.length * 2);
  p[src.length * 2 + 7] = proto;
  return 0xffff & ~csum16(p);
}

/** l4 with its checksum filled for the given addresses (offset of the field: TCP 16, UDP 6, ICMPv6 2) */
function withCsum(seg: Buffer, src: string, dst: string, proto: number, at: number): Buffer {
  const s = Buffer.from(seg);
  s.writeUInt16BE(0, at);
  let c = csum16(s, pseudoSum(ip(src), ip(dst), proto, s.length));
  if (proto === 17 && c === 0) c = 0xffff;
  s.writeUInt16BE(c, at);
  return s;
}

function tcp(sport: number, dport: number, flags: number, payload = Buffer.alloc(20, 0x5a)): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(1000, 4);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(65535, 14);
  return Buffer.concat([h, payload]);
}

const v6 = (s: string) => s.includes(':');

function frame(src: string, dst: string, proto: number, l4: Buffer): Buffer {
  if (v6(src)) {
    const at = proto === 6 ? 16 : proto === 17 ? 6 : 2;
    return eth(VIF1_MAC, POD1, 0x86dd, ipv6(src, dst, proto, withCsum(l4, src, dst, proto, at)));
  }
  const seg = proto === 6 ? withCsum(l4, src, dst, 6, 16) : proto === 17 ? withCsum(l4, src, dst, 17, 6) : l4;
  return eth(VIF1_MAC, POD1, 0x0800, ipv4(src, dst, proto, seg));
}

const tcp4 = (src: string, sport: number, dst: string, dport: number, flags: number = TCP_FLAG.SYN) => frame(src, dst, 6, tcp(sport, dport, flags));
const udpf = (src: string, sport: number, dst: string, dport: number) => frame(src, dst, 17, udp(sport, dport, Buffer.alloc(24, 7)));

/** checksumsOk: the IPv4 header and the L4 checksum of a frame, verified from scratch */
function checksumsOk(f: Buffer): void {
  const type = f.readUInt16BE(12);
  if (type === 0x0800) {
    const ihl = (f[14]! & 0xf) * 4;
    assert.equal(csum16(f.subarray(14, 14 + ihl)), 0, 'IPv4 header checksum');
    const proto = f[23]!;
    const seg = f.subarray(14 + ihl, 14 + f.readUInt16BE(16));
    if (proto === 1) assert.equal(csum16(seg), 0, 'ICMP checksum');
    else assert.equal(csum16(seg, pseudoSum(f.subarray(26, 30), f.subarray(30, 34), proto, seg.length)), 0, `L4 (${proto}) checksum`);
  } else {
    const proto = f[20]!;
    const seg = f.subarray(54, 54 + f.readUInt16BE(18));
    assert.equal(csum16(seg, pseudoSum(f.subarray(22, 38), f.subarray(38, 54), proto, seg.length)), 0, `L4 (${proto}) checksum`);
  }
}

/* ---- tables ---- */

function key(src: string, sport: number, dst: string, dport: number, proto: number, vrf = 1): Buffer {
  const pad = (a: string) => {
    const b = Buffer.alloc(16);
    ip(a).copy(b);
    return b;
  };
  return FLOW_KEY.encode({ vrf, family: v6(src) ? 6 : 4, proto, sport, dport, src: pad(src), dst: pad(dst) });
}

function flowValue(action: number, extra: Partial<FlowValue> = {}): Buffer {
  return FLOW.encode({
    action, flags: 0, tcpFlags: 0, holdCount: 0, holdId: 0n, createdNs: 0n, lastNs: 0n, packets: 0n, bytes: 0n,
    natSrc: Buffer.alloc(16), natDst: Buffer.alloc(16), natSport: 0, natDport: 0, ...extra,
  });
}

const pad16 = (a: string) => {
  const b = Buffer.alloc(16);
  ip(a).copy(b);
  return b;
};

function flowOf(k: Buffer): FlowValue | undefined {
  const v = dp.maps.vr_flows.lookup(k);
  return v ? FLOW.decode(v) : undefined;
}

function fctr(c: number): bigint {
  return perCpuU64(dp.maps.vr_fctr.lookup(u32Key(c))!).reduce((a, b) => a + b, 0n);
}

function drops(): Map<string, bigint> {
  return new Map(mgr.dropStats().map((d) => [d.name, d.packets]));
}

function setConfig(trapMask: number, holdPerFlow = 0): void {
  dp.maps.vr_config.update(u32Key(0), CONFIG.encode({ holdPerFlow, trapMask }));
}

async function records(ring: 'miss' | 'trap', n: number): Promise<Buffer[]> {
  const until = Date.now() + 3000;
  while (rings[ring].length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  return rings[ring].splice(0, rings[ring].length);
}

before(async () => {
  privateNetns();
  for (const [a, b] of [['p1', 'q1'], ['p2', 'q2'], ['p3', 'q3']]) vethPair(a!, b!);
  t = openTestDatapath();
  mgr = t.mgr;
  dp = t.dp;
  await mgr.addInterface(vifOf({ index: 1, type: 'virtual', name: 'p1', vrf: 1, mac: VIF1_MAC, hookPolicy: 'xdp', policyEnabled: true, ip4: VIF1_IP4 }));
  await mgr.addInterface(vifOf({ index: 2, type: 'virtual', name: 'p2', vrf: 1, mac: VIF2_MAC, hookPolicy: 'xdp', policyEnabled: true }));
  await mgr.addInterface(vifOf({ index: 3, type: 'virtual', name: 'p3', vrf: 1, mac: '02:00:00:00:03:01', hookPolicy: 'xdp' }));
  await mgr.addNextHop(encapNh(12, 1, 2, POD2));
  await mgr.addRoutes([rt(1, '10.2.0.0/24', 12), rt(1, 'fd00:2::/64', 12)]);
  for (const ring of ['miss', 'trap'] as const) {
    readers.push(
      RingbufReader.open(join(dp.dir, 'maps', `vr_${ring}_rb`), {
        onBatch: (b) => {
          for (let i = 0; i < b.count; i++) rings[ring].push(Buffer.from(b.event(i)));
        },
      }),
    );
  }
});

after(async () => {
  for (const r of readers) await r.close();
  t.dispose();
});

for (const hook of HOOKS)
  describe(`flows on the ${hook.name} hook`, () => {
    const run = (f: Buffer, on = 'p1', flags = 0) =>
      hook.prog(dp).testRun({ data: f, ingressIfindex: ifindexOf(on), outSize: f.length + 64, flags });
    // distinct keys per hook: both describe blocks share the table
    const port = hook.name === 'XDP' ? 1000 : 2000;

    beforeEach(async () => {
      setConfig(0);
      await records('miss', 0);
      await records('trap', 0);
    });

    it('a miss makes a HOLD entry and puts the frame into the miss ring; the packet is held, not dropped', async () => {
      const f = udpf('10.1.0.2', port, '10.2.0.5', 53);
      const d0 = drops();
      const [m0, h0] = [fctr(FlowCounter.MISSES), fctr(FlowCounter.HELD)];
      assert.equal(run(f).retval, hook.verdict(XDP_DROP), 'consumed');
      const k = key('10.1.0.2', port, '10.2.0.5', 53, 17);
      const e = flowOf(k);
      assert.ok(e, 'HOLD entry made');
      assert.equal(e.action, FlowActionCode.HOLD);
      assert.equal(e.holdCount, 1);
      assert.notEqual(e.holdId, 0n);
      const [rec] = await records('miss', 1);
      assert.ok(rec, 'a miss record');
      const m = MISS.decode(rec);
      assert.equal(m.flags, MISS_F.NEW | MISS_F.HELD);
      assert.equal(m.hook, hook.name === 'XDP' ? 0 : 1);
      assert.equal(m.holdId, e.holdId);
      assert.equal(m.vifIdx, 1);
      assert.equal(m.ifindex, ifindexOf('p1'));
      assert.equal(m.pktLen, f.length);
      assert.equal(m.capLen, f.length);
      assert.deepEqual(m.key, k, 'record key = table key');
      assert.equal(rec.subarray(MISS.size).toString('hex'), f.toString('hex'), 'the whole frame');
      assert.equal(fctr(FlowCounter.MISSES) - m0, 1n);
      assert.equal(fctr(FlowCounter.HELD) - h0, 1n);
      for (const [name, n] of drops()) assert.equal(n, d0.get(name), `no drop counted (${name})`);

      // more packets of the same miss: held with the same handle, up to 3; the 4th is dropped
      assert.equal(run(f).retval, hook.verdict(XDP_DROP));
      assert.equal(run(f).retval, hook.verdict(XDP_DROP));
      const more = await records('miss', 2);
      assert.equal(more.length, 2);
      for (const r of more) {
        assert.equal(MISS.decode(r).flags, MISS_F.HELD, 'held, not new');
        assert.equal(MISS.decode(r).holdId, e.holdId);
      }
      const lim0 = drops().get('flow_hold_limit')!;
      assert.equal(run(f).retval, hook.verdict(XDP_DROP));
      assert.equal(drops().get('flow_hold_limit')! - lim0, 1n, 'over the per-flow limit: a named drop');
      assert.equal((await records('miss', 0)).length, 0, 'nothing more in the ring');

      // the agent answers FORWARD (keeping the handle): now the packet goes by its route
      dp.maps.vr_flows.update(k, flowValue(FlowActionCode.FORWARD, { holdId: e.holdId }));
      const r = run(f);
      assert.equal(r.retval, hook.verdict(XDP_REDIRECT));
      assert.equal(r.data.subarray(0, 6).toString('hex'), '02aa00000002', 'to pod 2');
      const after = flowOf(k)!;
      assert.equal(after.packets, 1n);
      assert.equal(after.bytes, BigInt(f.length));
      assert.ok(after.lastNs > 0n, 'last use stamped');
    });

    it('the per-flow hold limit comes from vr_config', async () => {
      setConfig(0, 1);
      const f = udpf('10.1.0.2', port + 1, '10.2.0.5', 53);
      run(f);
      const lim0 = drops().get('flow_hold_limit')!;
      run(f);
      assert.equal(drops().get('flow_hold_limit')! - lim0, 1n);
      assert.equal((await records('miss', 1)).length, 1);
    });

    it('a DROP flow drops under its own reason', () => {
      const f = udpf('10.1.0.2', port + 2, '10.2.0.5', 53);
      dp.maps.vr_flows.update(key('10.1.0.2', port + 2, '10.2.0.5', 53, 17), flowValue(FlowActionCode.DROP));
      const d0 = drops().get('flow_drop')!;
      assert.equal(run(f).retval, hook.verdict(XDP_DROP));
      assert.equal(drops().get('flow_drop')! - d0, 1n);
    });

    it('TCP flags seen accumulate in the entry', () => {
      const k = key('10.1.0.2', port + 3, '10.2.0.5', 80, 6);
      dp.maps.vr_flows.update(k, flowValue(FlowActionCode.FORWARD));
      run(tcp4('10.1.0.2', port + 3, '10.2.0.5', 80, TCP_FLAG.SYN));
      run(tcp4('10.1.0.2', port + 3, '10.2.0.5', 80, TCP_FLAG.ACK | TCP_FLAG.FIN));
      assert.equal(flowOf(k)!.tcpFlags, TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.FIN);
      assert.equal(flowOf(k)!.packets, 2n);
    });

    it('a vif without policy forwards by route and makes no entry', () => {
      const f = udpf('10.1.0.2', port + 4, '10.2.0.5', 53);
      assert.equal(run(f, 'p3').retval, hook.verdict(XDP_REDIRECT));
      assert.equal(flowOf(key('10.1.0.2', port + 4, '10.2.0.5', 53, 17)), undefined);
    });

    const natCases = [
      {
        name: 'IPv4 TCP DNAT (address and port): routed by the new destination',
        f: () => tcp4('10.1.0.2', port + 5, '10.9.9.9', 80),
        k: () => key('10.1.0.2', port + 5, '10.9.9.9', 80, 6),
        nat: { flags: FLOW_F.DNAT, natDst: pad16('10.2.0.7'), natDport: 8080 },
        check: (o: Buffer) => {
          assert.deepEqual([...o.subarray(30, 34)], [10, 2, 0, 7], 'destination address');
          assert.equal(o.readUInt16BE(36), 8080, 'destination port');
          assert.equal(o[22], 63, 'TTL');
        },
      },
      {
        name: 'IPv4 UDP SNAT (address and port)',
        f: () => udpf('10.1.0.2', port + 6, '10.2.0.5', 53),
        k: () => key('10.1.0.2', port + 6, '10.2.0.5', 53, 17),
        nat: { flags: FLOW_F.SNAT, natSrc: pad16('192.0.2.1'), natSport: 40001 },
        check: (o: Buffer) => {
          assert.deepEqual([...o.subarray(26, 30)], [192, 0, 2, 1]);
          assert.equal(o.readUInt16BE(34), 40001);
        },
      },
      {
        name: 'ICMP echo SNAT: address and echo id',
        f: () => frame('10.1.0.2', '10.2.0.5', 1, icmpEcho(port + 7)),
        k: () => key('10.1.0.2', 0x77, '10.2.0.5', 0, 1),
        nat: { flags: FLOW_F.SNAT, natSrc: pad16('192.0.2.2'), natSport: 777 },
        check: (o: Buffer) => {
          assert.deepEqual([...o.subarray(26, 30)], [192, 0, 2, 2]);
          assert.equal(o.readUInt16BE(38), 777, 'echo id');
        },
      },
      {
        name: 'IPv6 UDP SNAT + DNAT',
        f: () => udpf('fd00:1::2', port + 8, 'fd00:9::9', 53),
        k: () => key('fd00:1::2', port + 8, 'fd00:9::9', 53, 17),
        nat: { flags: FLOW_F.SNAT | FLOW_F.DNAT, natSrc: pad16('fd00:77::1'), natDst: pad16('fd00:2::8'), natSport: 5555, natDport: 5353 },
        check: (o: Buffer) => {
          assert.equal(o.subarray(22, 38).toString('hex'), ip('fd00:77::1').toString('hex'));
          assert.equal(o.subarray(38, 54).toString('hex'), ip('fd00:2::8').toString('hex'));
          assert.equal(o.readUInt16BE(54), 5555);
          assert.equal(o.readUInt16BE(56), 5353);
        },
      },
      {
        name: 'IPv6 TCP DNAT',
        f: () => frame('fd00:1::2', 'fd00:9::9', 6, tcp(port + 9, 443, TCP_FLAG.SYN)),
        k: () => key('fd00:1::2', port + 9, 'fd00:9::9', 443, 6),
        nat: { flags: FLOW_F.DNAT, natDst: pad16('fd00:2::9') },
        check: (o: Buffer) => assert.equal(o.subarray(38, 54).toString('hex'), ip('fd00:2::9').toString('hex')),
      },
    ];
    for (const c of natCases)
      it(`NAT: ${c.name}; every checksum verified from scratch`, () => {
        const f = c.f();
        dp.maps.vr_flows.update(c.k(), flowValue(FlowActionCode.NAT, c.nat));
        const r = run(f);
        assert.equal(r.retval, hook.verdict(XDP_REDIRECT));
        c.check(r.data);
        checksumsOk(r.data);
        if (hook.name === 'TC') {
          // a CHECKSUM_COMPLETE skb: the kernel checks skb->csum after the run (EBADMSG if the rewrite broke it)
          const rc = run(f, 'p1', BPF_F_TEST_SKB_CHECKSUM_COMPLETE);
          assert.equal(rc.retval, hook.verdict(XDP_REDIRECT));
          checksumsOk(rc.data);
        }
      });

    it('packets of interest go to the trap ring (DHCP, DNS, own address, ARP), consumed', async () => {
      setConfig(TRAP_F.DHCP | TRAP_F.DNS | TRAP_F.OWN | TRAP_F.ARP);
      const t0 = fctr(FlowCounter.TRAPPED);
      const frames: [Buffer, number][] = [
        [udpf('10.1.0.2', 68, '10.2.0.255', 67), TrapReasonCode.DHCP],
        [udpf('10.1.0.2', port + 10, '10.2.0.5', 53), TrapReasonCode.DNS],
        [tcp4('10.1.0.2', port + 11, VIF1_IP4, 179), TrapReasonCode.OWN],
        [arpRequest(POD1, '10.1.0.2', '10.1.0.9'), TrapReasonCode.ARP],
      ];
      const d0 = drops();
      for (const [f] of frames) assert.equal(run(f).retval, hook.verdict(XDP_DROP));
      const recs = await records('trap', frames.length);
      assert.equal(recs.length, frames.length);
      recs.forEach((r, i) => {
        const tr = TRAP.decode(r);
        assert.equal(tr.reason, frames[i]![1], `reason of trap ${i}`);
        assert.equal(tr.vifIdx, 1);
        assert.equal(tr.vrf, 1);
        assert.equal(r.subarray(TRAP.size).toString('hex'), frames[i]![0].toString('hex'));
      });
      assert.equal(fctr(FlowCounter.TRAPPED) - t0, BigInt(frames.length));
      for (const [name, n] of drops()) assert.equal(n, d0.get(name), `no drop counted (${name})`);
      assert.equal(flowOf(key('10.1.0.2', port + 10, '10.2.0.5', 53, 17)), undefined, 'a trapped packet makes no flow');
    });
  });
