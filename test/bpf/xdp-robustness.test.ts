/**
 * Robustness: thousands of truncated, bit-flipped and random frames through
 * the real datapath, both entries (vr_xdp_vif, vr_tc_vif). The program must
 * never abort, and every frame must be accounted for: each DROP by exactly
 * one drop reason, each PASS by the vif's to_host counter, each REDIRECT by
 * a tx counter. Frames the kernel's skb test run refuses (a truncated IP
 * header: see tcTestRunnable) are run through XDP only.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { HOOKS, openTestDatapath, XDP_DROP, XDP_PASS, XDP_REDIRECT } from '../helpers/datapath.ts';
import { arpRequest, eth, ipv4, ipv6, neighborSolicitation, udp } from '../helpers/packets.ts';
import { ifindexOf } from '../../src/bpf/netdev.ts';
import { encapNh, route as rt, vif as vifOf } from '../helpers/specs.ts';

const POD1 = '02:aa:00:00:00:01';
const VIF1 = '02:00:00:00:01:01';
let t: ReturnType<typeof openTestDatapath>;

before(async () => {
  privateNetns();
  vethPair('p1', 'q1');
  vethPair('p2', 'q2');
  t = openTestDatapath();
  const vif = (index: number, name: string, mac: string) =>
    // on XDP: the XDP entry forwards (a TC output vif would make it hand packets to TC, uncounted)
    t.mgr.addInterface(vifOf({ index, type: 'virtual', name, vrf: 1, mac, hookPolicy: 'xdp' }));
  await vif(1, 'p1', VIF1);
  await vif(2, 'p2', '02:00:00:00:02:01');
  await t.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
  await t.mgr.addNextHop(encapNh(12, 1, 2, '02:aa:00:00:00:02'));
  const routes = [['10.1.0.1/32', 1, true], ['10.1.2.0/24', 12, true], ['fd00:1::1/128', 1, true], ['fd00:1:2::/64', 12, true]] as const;
  await t.mgr.addRoutes(routes.map(([prefix, nh, proxy]) => rt(1, prefix, nh, proxy)));
});
after(() => t.dispose());

/** xorshift32: a seeded generator, so that a failure can be replayed */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const SEEDS = [
  eth(VIF1, POD1, 0x0800, ipv4('10.1.1.2', '10.1.2.5', 17, udp(1, 2, Buffer.alloc(30)))),
  eth(VIF1, POD1, 0x86dd, ipv6('fd00:1:1::2', 'fd00:1:2::5', 17, udp(1, 2, Buffer.alloc(30)))),
  arpRequest(POD1, '10.1.1.2', '10.1.0.1'),
  neighborSolicitation(POD1, 'fd00:1:1::2', 'fd00:1::1'),
  eth(VIF1, POD1, 0x0800, ipv4('10.1.1.2', '10.1.0.1', 6, Buffer.alloc(40))),
];

function mutate(next: () => number): Buffer {
  const seed = SEEDS[next() % SEEDS.length]!;
  const f = Buffer.from(seed);
  switch (next() % 4) {
    case 0: // truncate (test runs need at least an Ethernet header)
      return f.subarray(0, 14 + (next() % (f.length - 13)));
    case 1: // flip bytes in the headers
      for (let i = 0, n = 1 + (next() % 4); i < n; i++) f[next() % Math.min(f.length, 80)] = next() & 0xff;
      return f;
    case 2: // random bytes after a plausible Ethernet header
      for (let i = 14; i < f.length; i++) f[i] = next() & 0xff;
      return f;
    default: // grow with garbage
      return Buffer.concat([f, Buffer.alloc(next() % 64, next() & 0xff)]);
  }
}

for (const hook of HOOKS)
describe(`${hook.name} robustness`, () => {
  it('5000 mutated frames: no abort, every verdict counted once', () => {
    const next = rng(0x5eed1);
    const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
    const drops = () => sum(t.mgr.dropStats().map((d) => d.packets));
    const s = (i: number) => t.mgr.interfaceStats(i);
    const d0 = drops();
    const a0 = s(1);
    const b0 = s(2);
    const verdicts = new Map<number, number>();
    const p1 = ifindexOf('p1');
    const prog = hook.prog(t.dp);
    // the hook's verdicts, named by the XDP ones
    const asXdp = new Map([XDP_DROP, XDP_PASS, XDP_REDIRECT].map((v) => [hook.verdict(v), v]));
    let ran = 0;
    for (let i = 0; i < 5000; i++) {
      const frame = mutate(next);
      if (!hook.runnable(frame)) continue;
      ran++;
      const r = prog.testRun({ data: frame, ingressIfindex: p1 });
      const v = asXdp.get(r.retval);
      assert.ok(v !== undefined, `frame ${i} (${frame.toString('hex')}): verdict ${r.retval}`);
      verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
    }
    assert.ok(ran > 4000, `frames run: ${ran}`);
    const a1 = s(1);
    const b1 = s(2);
    assert.equal(a1.rxPackets - a0.rxPackets, BigInt(ran), 'every frame received');
    assert.equal(drops() - d0, BigInt(verdicts.get(XDP_DROP) ?? 0), 'each drop under exactly one reason');
    assert.equal(a1.drops - a0.drops, BigInt(verdicts.get(XDP_DROP) ?? 0), 'vif drop counter');
    assert.equal(a1.toHost - a0.toHost, BigInt(verdicts.get(XDP_PASS) ?? 0), 'each pass counted');
    const redirects = a1.txPackets - a0.txPackets + (b1.txPackets - b0.txPackets);
    assert.equal(redirects, BigInt(verdicts.get(XDP_REDIRECT) ?? 0), 'each redirect counted as tx');
    // the mutations must reach all three outcomes, or the test proves little
    for (const v of [XDP_DROP, XDP_PASS, XDP_REDIRECT]) assert.ok((verdicts.get(v) ?? 0) > 50, `verdict ${v} seen ${verdicts.get(v)} times`);
  });
});
