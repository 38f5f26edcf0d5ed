/**
 * Upgrades without loss, with real pods and the real daemon:
 * - a daemon started with another build of the programs (same layout)
 *   switches every pinned link, XDP and tcx, to the new program of its hook
 *   (bpf_link_update): same links, new programs, not one ping lost;
 * - a v4 daemon started on a v1 datapath (built here by hand from the v1
 *   object, as a v1 daemon would have left it) migrates it while it forwards:
 *   not one ping lost, routes converted (host routes moved to their hashes),
 *   old maps gone (v3 → v4 with TC vifs and flows: upgrade-v3.test.ts);
 * - a layout it cannot migrate (newer, no migration, bad magic) is refused
 *   and left forwarding.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../lab/topology.ts';
import { pingAcross, upgradeLine } from '../helpers/background-ping.ts';
import { BPFFS_LAB_ROOT, LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { BpfMap } from '../../src/bpf/map.ts';
import { BpfLink } from '../../src/bpf/link.ts';
import { BpfProgram } from '../../src/bpf/program.ts';
import { loadAndPin } from '../../src/bpf/object.ts';
import { withNetns } from '../../src/bpf/netns.ts';
import { MAP_NAMES, VR_LAYOUT_VERSION as LATEST } from '../../src/maps/layout.ts';
import { V1_TO_V2 } from '../../src/maps/migrate-v1.ts';
import { routeEntries } from '../helpers/migration.ts';

/** the maps a v1 daemon pinned (v3 added the flow maps, v4 the host route hashes) */
const V1_MAPS = Object.keys(V1_TO_V2.shapes);
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import type { GetSystemInfoResponse } from '../../src/gen/vrouter/ebpf/v1/system_pb.js';

const BUILD = fileURLToPath(new URL('../../bpf/build/', import.meta.url));
const ALT_OBJECT = join(BUILD, 'vr_xdp_alt.o');
const V1_OBJECT = join(BUILD, 'vr_xdp_v1.o');
const MAGIC = 0x76726562;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function meta(magic: number, version: number, loadedAtNs: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(version, 4);
  b.writeBigUInt64LE(loadedAtNs, 8);
  return b;
}

function linkProgIds(dir: string): Map<string, { id: number; progId: number }> {
  const out = new Map<string, { id: number; progId: number }>();
  for (const name of readdirSync(join(dir, 'links')).sort()) {
    const l = BpfLink.open(join(dir, 'links', name))!;
    const i = l.info();
    out.set(name, { id: i.id, progId: i.progId });
    l.close();
  }
  return out;
}

/** progOf: the id of the program each pinned link should run, by its pin (xdp_<ifindex>, tc_<ifindex>) */
const progOf = (info: GetSystemInfoResponse, pin: string) =>
  info.programs.find((p) => p.name === (pin.startsWith('tc_') ? 'vr_tc_vif' : 'vr_xdp_vif'))!;

function mapExists(id: number): boolean {
  try {
    execFileSync('bpftool', ['map', 'show', 'id', String(id)], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

describe('program replace (same layout)', () => {
  let lab: Lab;
  let topo: TwoPods;
  let daemon: LabDaemon;
  let client: VrouterClient;

  before(async () => {
    lab = new Lab('vrupg');
    topo = buildTwoPods(lab);
    daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
    client = await daemon.start();
    await programTwoPods(client, topo);
    // one vif on each hook: pod 1's on XDP, pod 2's on TC (auto, a veth)
    await client.interfaces.updateInterface({ index: 1, hookPolicy: AttachHook.XDP });
    lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 1);
  });

  after(async () => {
    await daemon?.destroy();
    lab?.cleanup();
  });

  it('a daemon with another build switches every link to the new program of its hook: same links, no ping lost', async () => {
    const dir = join(BPFFS_LAB_ROOT, lab.prefix);
    const info0 = await client.system.getSystemInfo({});
    const links0 = linkProgIds(dir);
    // vif 1 on XDP (its XDP link and its tcx link, the skb path), vif 2 on TC
    assert.deepEqual([...links0.keys()].map((k) => k.split('_')[0]).sort(), ['tc', 'tc', 'xdp'], 'links on both hooks');
    assert.deepEqual(info0.programs.map((p) => p.name), ['vr_xdp_vif', 'vr_tc_vif', 'vr_tc_egress']);
    for (const [pin, l] of links0) assert.equal(l.progId, progOf(info0, pin).id, `${pin} runs its hook's program`);

    // 4 s at 100/s
    const { ping: result } = await pingAcross(lab, topo, 400, 'replacement', async () => {
      await daemon.stop('SIGTERM');
      daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host, extraArgs: ['--object', ALT_OBJECT] });
      client = await daemon.start();
    });
    console.log(upgradeLine(daemon.log));
    console.log(`program replace: ${result.transmitted} sent, ${result.received} received`);
    assert.deepEqual(result, { transmitted: 400, received: 400 }, 'no ping lost across the replacement');

    const info1 = await client.system.getSystemInfo({});
    const p0 = info0.programs[0]!;
    const p1 = info1.programs[0]!;
    assert.equal(info1.adopted, true);
    for (const [i, was] of info0.programs.entries()) {
      const now = info1.programs[i]!;
      assert.notEqual(now.id, was.id, `${was.name}: a new program`);
      assert.notEqual(now.tag, was.tag, `${was.name}: of another build`);
      const pinned = BpfProgram.open(join(dir, 'progs', was.name), was.name);
      assert.equal(pinned.info().id, now.id, `${was.name}: pinned in the old one's place`);
      pinned.close();
    }
    assert.deepEqual(info1.attachments.map((a) => a.linkId), info0.attachments.map((a) => a.linkId), 'same links');
    assert.deepEqual(info1.attachments.map((a) => a.hook), [AttachHook.XDP, AttachHook.TC]);
    const links1 = linkProgIds(dir);
    assert.deepEqual([...links1.values()].map((l) => l.id), [...links0.values()].map((l) => l.id));
    for (const [pin, l] of links1) assert.equal(l.progId, progOf(info1, pin).id, `${pin} runs the new program of its hook`);
    assert.match(daemon.log, /"kind":"program-replaced"/);
    assert.match(daemon.log, /"linksMoved":3/);
    assert.equal(existsSync(join(dir, 'next')), false, 'no staging left');

    // the same build again: nothing to replace
    await daemon.stop('SIGTERM');
    client = await daemon.start();
    const info2 = await client.system.getSystemInfo({});
    assert.equal(info2.programs[0]!.id, p1.id, 'same build: the pinned program is kept');
    assert.doesNotMatch(daemon.log, /program-replaced/);

    // and back to the default build
    await daemon.stop('SIGTERM');
    daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
    client = await daemon.start();
    const info3 = await client.system.getSystemInfo({});
    assert.equal(info3.programs[0]!.tag, p0.tag, 'the default build again');
    assert.notEqual(info3.programs[0]!.id, p1.id);
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip6, 2).received, 2);
  });
});

// ---------------------------------------------------------------- v1 -> v2

interface V1Route {
  vrf: number;
  addr: string; // IPv4 dotted or IPv6
  plen: number;
  nh: number;
  proxy: boolean;
}

function addrBytes(a: string): Buffer {
  if (a.includes(':')) {
    const [head, tail] = a.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
    return b;
  }
  return Buffer.from(a.split('.').map(Number));
}

function rtKey(r: V1Route): Buffer {
  const a = addrBytes(r.addr);
  const k = Buffer.alloc(8 + a.length);
  k.writeUInt32LE(32 + r.plen, 0);
  k.writeUInt32BE(r.vrf, 4);
  a.copy(k, 8);
  return k;
}

/** The v1 encoding of struct vr_rt: u32 nh_id, u32 flags, u32 label. */
function rtValueV1(r: V1Route): Buffer {
  const v = Buffer.alloc(12);
  v.writeUInt32LE(r.nh, 0);
  v.writeUInt32LE(r.proxy ? 1 : 0, 4);
  return v;
}

describe('layout migration v1 -> latest (through v2, v3)', () => {
  let lab: Lab;
  let topo: TwoPods;
  let daemon: LabDaemon;
  let client: VrouterClient;
  let dir: string;
  const SIZES = { vifs: 64, nhs: 256, routes: 1024 };
  const routes: V1Route[] = [];
  const v1MapIds: Record<string, number> = {};
  let v1ProgId = 0;
  let linkIds: number[] = [];

  before(() => {
    lab = new Lab('vrmig');
    topo = buildTwoPods(lab);
    dir = join(BPFFS_LAB_ROOT, lab.prefix);
    daemon = new LabDaemon(lab, {
      instance: lab.prefix,
      ns: topo.host,
      extraArgs: ['--max-interfaces', '128', '--max-next-hops', '512', '--max-routes', '2048'], // the pinned sizes win
    });

    // what a v1 daemon would have pinned: the v1 object, vr_meta v1, tables in v1 encodings, links
    loadAndPin({
      objectPath: V1_OBJECT,
      maxEntries: { vr_vifs: SIZES.vifs, vr_vif_stats: SIZES.vifs, vr_nexthops: SIZES.nhs, vr_rt4: SIZES.routes, vr_rt6: SIZES.routes },
      maps: V1_MAPS,
      programs: ['vr_xdp_vif'],
      mapDir: join(dir, 'maps'),
      progDir: join(dir, 'progs'),
    });
    mkdirSync(join(dir, 'links'), { recursive: true });
    const m = Object.fromEntries(V1_MAPS.map((n) => [n, BpfMap.open(join(dir, 'maps', n))])) as Record<string, BpfMap>;
    for (const [n, map] of Object.entries(m)) v1MapIds[n] = map.info.id;
    m.vr_meta!.update(u32(0), meta(MAGIC, 1, BigInt(Date.now() - 60_000) * 1_000_000n));

    const ifindex = (name: string) => (JSON.parse(lab.ip(topo.host, ['-j', 'link', 'show', name])) as { ifindex: number }[])[0]!.ifindex;
    const hostIfs = topo.pods.map((p) => ifindex(p.hostIf));
    // next hops: 0 discard, 1 receive, 11 / 12 encap to the pods (struct vr_nh, same in v1 and v2)
    const nh = (type: number, f: (b: Buffer) => void = () => {}) => {
      const b = Buffer.alloc(32);
      b.writeUInt8(type, 0);
      b.writeUInt32LE(1, 24); // vrf
      f(b);
      return b;
    };
    m.vr_nexthops!.update(u32(0), nh(5, (b) => b.writeUInt32LE(0, 24)));
    m.vr_nexthops!.update(u32(1), nh(1));
    topo.pods.forEach((pod, i) => {
      m.vr_nexthops!.update(u32(11 + i), nh(2, (b) => {
        b.writeUInt8(1, 1); // oif_state: enabled
        b.writeUInt32LE(hostIfs[i]!, 4);
        b.writeUInt32LE(i + 1, 8);
        Buffer.from(pod.mac.split(':').map((x) => parseInt(x, 16))).copy(b, 12);
        Buffer.from(pod.hostMac.split(':').map((x) => parseInt(x, 16))).copy(b, 18);
        b.writeUInt16LE(1500, 28);
      }));
      // vifs 1 and 2 (struct vr_vif, same in v1 and v2)
      const v = Buffer.alloc(44);
      v.writeUInt32LE(i + 1, 0);
      v.writeUInt32LE(1, 4); // vrf
      v.writeUInt32LE(1, 8); // enabled
      v.writeUInt16LE(1500, 12);
      v.writeUInt8(4, 14); // virtual
      v.writeUInt8(1, 15); // native
      Buffer.from(pod.hostMac.split(':').map((x) => parseInt(x, 16))).copy(v, 16);
      addrBytes(pod.ip4).copy(v, 24);
      addrBytes(pod.ip6).copy(v, 28);
      m.vr_vifs!.update(u32(hostIfs[i]!), v);
    });
    // the demo's routes, and more of every prefix length class (0 included), in two VRFs
    routes.push(
      { vrf: 1, addr: topo.pods[0].ip4, plen: 32, nh: 11, proxy: true },
      { vrf: 1, addr: topo.pods[1].ip4, plen: 32, nh: 12, proxy: true },
      { vrf: 1, addr: topo.pods[0].ip6, plen: 128, nh: 11, proxy: true },
      { vrf: 1, addr: topo.pods[1].ip6, plen: 128, nh: 12, proxy: true },
      { vrf: 1, addr: '10.10.1.1', plen: 32, nh: 1, proxy: true },
      { vrf: 1, addr: '10.10.2.1', plen: 32, nh: 1, proxy: true },
      { vrf: 1, addr: 'fd00:10:1::1', plen: 128, nh: 1, proxy: true },
      { vrf: 1, addr: 'fd00:10:2::1', plen: 128, nh: 1, proxy: true },
      { vrf: 1, addr: '10.20.0.0', plen: 16, nh: 12, proxy: false },
      { vrf: 1, addr: '10.30.4.0', plen: 24, nh: 11, proxy: false },
      { vrf: 1, addr: 'fd00:20::', plen: 64, nh: 12, proxy: false },
      { vrf: 2, addr: '0.0.0.0', plen: 0, nh: 0, proxy: false },
      { vrf: 2, addr: '::', plen: 0, nh: 0, proxy: false },
      { vrf: 2, addr: '192.168.0.0', plen: 17, nh: 1, proxy: false },
    );
    for (const r of routes) (r.addr.includes(':') ? m.vr_rt6! : m.vr_rt4!).update(rtKey(r), rtValueV1(r));
    for (const map of Object.values(m)) map.close();

    const prog = BpfProgram.open(join(dir, 'progs', 'vr_xdp_vif'), 'vr_xdp_vif');
    v1ProgId = prog.info().id;
    withNetns(`/run/netns/${topo.host}`, () => {
      for (const i of hostIfs) BpfLink.attachXdp(prog.fd, i, 'native', join(dir, 'links', `xdp_${i}`)).close();
    });
    prog.close();
    linkIds = [...linkProgIds(dir).values()].map((l) => l.id);
  });

  after(async () => {
    await daemon?.destroy();
    lab?.cleanup();
  });

  it('the hand-built v1 datapath forwards on its own', () => {
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2);
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip6, 2).received, 2);
  });

  it('a daemon of the latest layout migrates it while it forwards: no ping lost, links kept, routes converted, old maps gone', async () => {
    const { ping: result } = await pingAcross(lab, topo, 400, 'migration', async () => {
      client = await daemon.start();
    });
    console.log(upgradeLine(daemon.log));
    console.log(`layout migration: ${result.transmitted} sent, ${result.received} received`);
    assert.deepEqual(result, { transmitted: 400, received: 400 }, 'no ping lost across the migration');

    assert.match(daemon.log, /"kind":"layout-migrated"/);
    assert.match(daemon.log, new RegExp(`"fromLayout":1,"toLayout":${LATEST}`));
    const info = await client.system.getSystemInfo({});
    assert.equal(info.layoutVersion, LATEST);
    assert.equal(info.adopted, true);
    assert.notEqual(info.programs[0]!.id, v1ProgId, 'a new program');
    assert.deepEqual(info.attachments.map((a) => a.linkId).sort(), [...linkIds].sort(), 'same links');
    assert.ok(info.datapathUptimeSeconds >= 60, `the datapath keeps its load time (${info.datapathUptimeSeconds}s)`);
    // the v1 daemon had XDP links only; the new one adds each XDP vif's tcx link (its skb path)
    for (const [pin, l] of linkProgIds(dir)) assert.equal(l.progId, progOf(info, pin).id, `${pin} on the new program of its hook`);
    assert.deepEqual([...linkProgIds(dir).keys()].map((k) => k.split('_')[0]).sort(), ['tc', 'tc', 'xdp', 'xdp']);

    // the maps as pinned now: new ones, same capacities, v2 contents, host routes in their hashes
    const m = Object.fromEntries(MAP_NAMES.map((n) => [n, BpfMap.open(join(dir, 'maps', n))])) as Record<string, BpfMap>;
    try {
      for (const n of V1_MAPS) assert.notEqual(m[n]!.info.id, v1MapIds[n], `${n}: a new map`);
      assert.equal(m.vr_vifs!.info.maxEntries, SIZES.vifs);
      assert.equal(m.vr_vif_stats!.info.maxEntries, SIZES.vifs);
      assert.equal(m.vr_nexthops!.info.maxEntries, SIZES.nhs);
      assert.equal(m.vr_rt4!.info.maxEntries, SIZES.routes);
      assert.equal(m.vr_rt6!.info.maxEntries, SIZES.routes);
      assert.equal(m.vr_host4!.info.maxEntries, SIZES.routes, 'the host hashes sized like the pinned tries');
      assert.equal(m.vr_host6!.info.maxEntries, SIZES.routes);
      const mv = m.vr_meta!.lookup(u32(0))!;
      assert.equal(mv.readUInt32LE(0), MAGIC);
      assert.equal(mv.readUInt32LE(4), LATEST, `vr_meta says v${LATEST}`);
      assert.deepEqual([m.vr_host4!.count(), m.vr_host6!.count()], [4, 4], 'the /32 and /128 routes moved to the hashes');
      const seen = new Set<string>();
      for (const [trie, hosts, fam] of [[m.vr_rt4!, m.vr_host4!, 4], [m.vr_rt6!, m.vr_host6!, 6]] as const)
        for (const [k, v] of routeEntries(trie, hosts)) {
          const r = routes.find((x) => (x.addr.includes(':') ? 6 : 4) === fam && rtKey(x).equals(k));
          assert.ok(r, `route key ${k.toString('hex')} was written`);
          seen.add(`${r.vrf}|${r.addr}/${r.plen}`);
          assert.equal(v.readUInt32LE(0), r.nh, `${r.addr}/${r.plen}: next hop`);
          assert.equal(v.readUInt16LE(4), r.proxy ? 1 : 0, `${r.addr}/${r.plen}: flags`);
          assert.equal(v.readUInt8(6), r.plen, `${r.addr}/${r.plen}: plen`);
          assert.equal(v.readUInt8(7), 0, 'pad');
          assert.equal(v.readUInt32LE(8), 0, 'label');
        }
      assert.equal(seen.size, routes.length, 'every route migrated');
      assert.equal(m.vr_vifs!.count(), 2);
      // per-CPU counters came along and went on: at least the 400 pings (and the 4 before) on vif 1
      let rx = 0n;
      const buf = m.vr_vif_stats!.lookup(u32(1))!;
      for (let off = 0; off < buf.length; off += 56) rx += buf.readBigUInt64LE(off);
      assert.ok(rx >= 404n, `vif 1 rx counted across the migration (${rx})`);
    } finally {
      for (const map of Object.values(m)) map.close();
    }
    assert.equal(existsSync(join(dir, 'next')), false, 'no staging left');
    // the old maps are freed once nothing holds them (their program went with its last link)
    const deadline = Date.now() + 5000;
    while (Object.values(v1MapIds).some(mapExists) && Date.now() < deadline) await sleep(100);
    for (const [n, id] of Object.entries(v1MapIds)) assert.equal(mapExists(id), false, `old ${n} (id ${id}) is gone`);

    // the daemon's API answers the migrated routes
    const listed = (await collect(client.routes.listRoutes({}))).map((x) => x.route!);
    assert.equal(listed.length, routes.length);
    for (const r of routes)
      assert.ok(listed.some((l) => l.vrf === r.vrf && l.prefix === `${r.addr}/${r.plen}` && l.nextHopId === r.nh && l.proxyArp === r.proxy), `listed ${r.addr}/${r.plen}`);
    const got = await client.routes.getRoute({ vrf: 1, prefix: '10.20.0.0/16' });
    assert.equal(got.route!.nextHopId, 12);
    const lk = await client.routes.lookupRoute({ vrf: 1, address: '10.20.7.9' });
    assert.equal(lk.route!.prefix, '10.20.0.0/16');
    const lk6 = await client.routes.lookupRoute({ vrf: 2, address: '2001:db8::1' });
    assert.equal(lk6.route!.prefix, '::/0');
    // and it programs on top of it
    await client.routes.addRoute({ route: { vrf: 1, prefix: '10.10.9.0/24', nextHopId: 12 } });
    await client.routes.deleteRoute({ vrf: 1, prefix: '10.10.9.0/24' });
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip6, 2).received, 2);

    // a restart now adopts the latest layout as it is
    await daemon.stop('SIGTERM');
    client = await daemon.start();
    assert.doesNotMatch(daemon.log, /layout-migrated|program-replaced/);
    assert.equal((await client.system.getSystemInfo({})).programs[0]!.id, info.programs[0]!.id);
  });

  it('refuses what it cannot migrate (newer layout, no migration, bad magic) and leaves it forwarding', async () => {
    await daemon.stop('SIGTERM');
    const metaMap = BpfMap.open(join(dir, 'maps', 'vr_meta'));
    const good = metaMap.lookup(u32(0))!;
    const loadedAt = good.readBigUInt64LE(8);
    try {
      for (const [bad, re] of [
        [meta(MAGIC, LATEST + 1, loadedAt), new RegExp(`pinned map layout v${LATEST + 1}, this daemon speaks v${LATEST}; refusing to adopt it`)],
        [meta(MAGIC, 0, loadedAt), new RegExp(`pinned map layout v0, this daemon speaks v${LATEST} and has no migration from it; refusing`)],
        [meta(0x12345678, 2, loadedAt), /not a vrouter-ebpf datapath \(bad magic\); refusing to touch it/],
      ] as const) {
        metaMap.update(u32(0), bad);
        await assert.rejects(daemon.start(), re);
        assert.ok(metaMap.lookup(u32(0))!.equals(bad), 'vr_meta left as it was');
        assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2, 'left alone and forwarding');
      }
    } finally {
      metaMap.update(u32(0), good);
      metaMap.close();
    }
    client = await daemon.start();
    assert.equal((await client.system.getSystemInfo({})).layoutVersion, LATEST);
  });

  it('refuses an object built for another layout (a v1 program would run on v4 maps) and leaves the datapath alone', async () => {
    await daemon.stop('SIGTERM');
    const progId = (await import('../../src/bpf/program.ts')).BpfProgram.open(join(dir, 'progs', 'vr_xdp_vif'), 'vr_xdp_vif');
    const before = progId.info().id;
    const wrong = new LabDaemon(lab, { instance: daemon.opts.instance, ns: topo.host, extraArgs: ['--object', V1_OBJECT] });
    try {
      await assert.rejects(wrong.start(), new RegExp(`vr_xdp_v1\\.o: built for map layout v1, this daemon speaks v${LATEST}; refusing to load it`));
    } finally {
      await wrong.stop('SIGKILL');
    }
    assert.equal(progId.info().id, before, 'the pinned program was not replaced');
    progId.close();
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2, 'left alone and forwarding');
    client = await daemon.start();
    assert.equal((await client.system.getSystemInfo({})).layoutVersion, LATEST);
  });
});
