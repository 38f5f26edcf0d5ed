/**
 * Layout v3 → latest (through v4) with real pods and the real daemon: a v3 datapath (the v3
 * build of the same source, pinned as a v3 daemon leaves it: TC vifs, tcx
 * links, thousands of host routes in the tries, flows) is migrated by a v4
 * daemon while a pod pings the other through it: not one ping lost, every
 * /32 and /128 moved into the host hashes, the rest as it was, the links
 * kept, the old maps gone, and the API answering from both maps.
 *
 * The vif and next-hop entries are what a daemon writes (their structs did
 * not change from v3 to v4; v5 appended the tunnel fields to the next hop): a scratch daemon programs the pods and its
 * entries are copied before it is removed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/topology.ts';
import { BPFFS_LAB_ROOT, LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import { pingAcross, upgradeLine } from '../helpers/background-ping.ts';
import { linkProgs, objectOf, routeEntries, V3_MAP_NAMES, writeMeta } from '../helpers/migration.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { BpfMap } from '../../src/bpf/map.ts';
import { BpfLink } from '../../src/bpf/link.ts';
import { BpfProgram } from '../../src/bpf/program.ts';
import { loadAndPin } from '../../src/bpf/object.ts';
import { withNetns } from '../../src/bpf/netns.ts';
import { VR_LAYOUT_VERSION as LATEST } from '../../src/maps/layout.ts';
import { encodeRouteKey, encodeRt } from '../../src/maps/codecs.ts';
import { parsePrefix } from '../../src/manager/net-addr.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';

const V3_OBJECT = objectOf('vr_xdp_v3');
const V3_MAPS = V3_MAP_NAMES;
const SIZES = { vifs: 64, nhs: 256, routes: 4096, flows: 1024 };
/** host routes beyond the demo's: in VRF 1, to pod 2 */
const EXTRA4 = 2000;
const EXTRA6 = 500;

function mapExists(id: number): boolean {
  try {
    execFileSync('bpftool', ['map', 'show', 'id', String(id)], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** the routes of the v3 datapath: the demo's host routes and gateways, two prefixes and many more host routes */
function v3Routes(t: TwoPods): { vrf: number; prefix: string; nh: number; proxy: boolean }[] {
  const [p1, p2] = t.pods;
  const out = [
    { vrf: 1, prefix: `${p1.ip4}/32`, nh: 11, proxy: true },
    { vrf: 1, prefix: `${p2.ip4}/32`, nh: 12, proxy: true },
    { vrf: 1, prefix: `${p1.ip6}/128`, nh: 11, proxy: true },
    { vrf: 1, prefix: `${p2.ip6}/128`, nh: 12, proxy: true },
    { vrf: 1, prefix: '10.10.1.1/32', nh: 1, proxy: true },
    { vrf: 1, prefix: '10.10.2.1/32', nh: 1, proxy: true },
    { vrf: 1, prefix: 'fd00:10:1::1/128', nh: 1, proxy: true },
    { vrf: 1, prefix: 'fd00:10:2::1/128', nh: 1, proxy: true },
    { vrf: 1, prefix: '10.20.0.0/16', nh: 12, proxy: false },
    { vrf: 1, prefix: 'fd00:20::/64', nh: 12, proxy: false },
  ];
  for (let i = 0; i < EXTRA4; i++) out.push({ vrf: 1, prefix: `10.50.${i >> 8}.${i & 255}/32`, nh: 12, proxy: false });
  for (let i = 0; i < EXTRA6; i++) out.push({ vrf: 1, prefix: `fd00:50::${(i + 1).toString(16)}/128`, nh: 12, proxy: false });
  return out;
}

describe('layout migration v3 -> latest: host routes move to their hashes under traffic', () => {
  let lab: Lab;
  let topo: TwoPods;
  let daemon: LabDaemon;
  let client: VrouterClient;
  let dir: string;
  const v3MapIds: Record<string, number> = {};
  let linkIds: number[] = [];
  let routes: ReturnType<typeof v3Routes> = [];

  before(async () => {
    lab = new Lab('vrmg3');
    topo = buildTwoPods(lab, 1500, { offloads: 'default' });
    dir = join(BPFFS_LAB_ROOT, lab.prefix);
    routes = v3Routes(topo);

    // the vif and next-hop entries a daemon writes for the two pods on TC vifs
    const scratch = new LabDaemon(lab, { instance: `${lab.prefix}s`, ns: topo.host });
    await programTwoPods(await scratch.start(), topo, AttachHook.TC);
    await scratch.stop('SIGTERM');
    const sm = (n: string) => BpfMap.open(join(BPFFS_LAB_ROOT, scratch.opts.instance, 'maps', n));
    const [svifs, snhs] = [sm('vr_vifs'), sm('vr_nexthops')];
    const vifs = [...svifs.entries()];
    // type UNSPEC: an empty slot; a v3 next hop is the first 32 bytes of today's (layout v5 appended the tunnel fields)
    const nhs = [...snhs.entries()].filter(([, v]) => v[0] !== 0).map(([k, v]) => [k, Buffer.concat([v.subarray(0, 30), Buffer.alloc(2)])] as const);
    svifs.close();
    snhs.close();
    await scratch.destroy(); // its links go with its pins

    // what a v3 daemon leaves: the v3 build pinned, vr_meta v3, the tables, tcx links on the v3 program
    loadAndPin({
      objectPath: V3_OBJECT,
      maxEntries: { vr_vifs: SIZES.vifs, vr_vif_stats: SIZES.vifs, vr_nexthops: SIZES.nhs, vr_rt4: SIZES.routes, vr_rt6: SIZES.routes, vr_flows: SIZES.flows },
      maps: V3_MAPS,
      programs: ['vr_xdp_vif', 'vr_tc_vif'],
      mapDir: join(dir, 'maps'),
      progDir: join(dir, 'progs'),
    });
    mkdirSync(join(dir, 'links'), { recursive: true });
    const m = Object.fromEntries(V3_MAPS.map((n) => [n, BpfMap.open(join(dir, 'maps', n))])) as Record<string, BpfMap>;
    for (const [n, map] of Object.entries(m)) v3MapIds[n] = map.info.id;
    writeMeta(m.vr_meta!, 3, BigInt(Date.now() - 60_000) * 1_000_000n);
    for (const [k, v] of vifs) m.vr_vifs!.update(k, v);
    for (const [k, v] of nhs) m.vr_nexthops!.update(k, v);
    for (const r of routes) {
      const p = parsePrefix(r.prefix, 'prefix');
      const key = encodeRouteKey({ vrf: r.vrf, addr: p.addr, plen: p.plen });
      (p.addr.length === 4 ? m.vr_rt4! : m.vr_rt6!).update(key, encodeRt({ nhId: r.nh, flags: r.proxy ? 1 : 0, plen: p.plen, label: 0 }));
    }
    for (let i = 0; i < 10; i++) m.vr_flows!.update(Buffer.alloc(44, i + 1), Buffer.alloc(96, i + 1));
    for (const map of Object.values(m)) map.close();

    const tc = BpfProgram.open(join(dir, 'progs', 'vr_tc_vif'), 'vr_tc_vif');
    withNetns(`/run/netns/${topo.host}`, () => {
      for (const [k] of vifs) {
        const ifindex = k.readUInt32LE(0);
        BpfLink.attachTcx(tc.fd, ifindex, join(dir, 'links', `tc_${ifindex}`)).close();
      }
    });
    tc.close();
    linkIds = linkProgs(dir);
    daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host, extraArgs: ['--max-routes', '100'] }); // the pinned sizes win
  });

  after(async () => {
    await daemon?.destroy();
    lab?.cleanup();
    // the hand-pinned v3 datapath, should the set-up have failed before the daemon could remove it
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the hand-built v3 datapath forwards on its own, host routes from its tries', () => {
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2);
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip6, 2).received, 2);
  });

  it('a daemon of the latest layout migrates it while it forwards: no ping lost, host routes in the hashes, the rest as it was', async () => {
    const { ping: result } = await pingAcross(lab, topo, 400, 'migration', async () => {
      client = await daemon.start();
    });
    const line = upgradeLine(daemon.log);
    console.log(line);
    console.log(`layout migration v3 -> ${LATEST}: ${result.transmitted} sent, ${result.received} received`);
    assert.deepEqual(result, { transmitted: 400, received: 400 }, 'no ping lost across the migration');
    const up = (JSON.parse(line) as { upgrade: { kind: string; fromLayout: number; toLayout: number; entries: Record<string, number> } }).upgrade;
    assert.deepEqual([up.kind, up.fromLayout, up.toLayout], ['layout-migrated', 3, LATEST]);
    const h4 = 4 + EXTRA4;
    const h6 = 4 + EXTRA6;
    const e = up.entries;
    assert.deepEqual([e.vr_rt4, e.vr_host4, e.vr_rt6, e.vr_host6, e.vr_flows], [1, h4, 1, h6, 10], 'entries copied per map of v4 (host routes in the hashes)');

    const info = await client.system.getSystemInfo({});
    assert.equal(info.layoutVersion, LATEST);
    assert.ok(info.datapathUptimeSeconds >= 60, 'the datapath keeps its load time');
    assert.deepEqual(linkProgs(dir).length, linkIds.length, 'the same tcx links');
    for (const id of linkProgs(dir)) assert.equal(id, info.programs.find((p) => p.name === 'vr_tc_vif')!.id, 'each on the new TC program');
    const used = Object.fromEntries(info.maps.map((x) => [x.name, [x.used, x.capacity]]));
    assert.deepEqual(
      [used.vr_rt4, used.vr_host4, used.vr_rt6, used.vr_host6],
      [[1, SIZES.routes], [h4, SIZES.routes], [1, SIZES.routes], [h6, SIZES.routes]],
      'host routes in the hashes, sized like the pinned tries (not --max-routes)',
    );
    assert.equal(used.vr_flows![0], 10, 'the flows came along');

    const m = Object.fromEntries(['vr_rt4', 'vr_rt6', 'vr_host4', 'vr_host6'].map((n) => [n, BpfMap.open(join(dir, 'maps', n))])) as Record<string, BpfMap>;
    try {
      let n = 0;
      for (const [trie, hosts] of [[m.vr_rt4!, m.vr_host4!], [m.vr_rt6!, m.vr_host6!]] as const) for (const _ of routeEntries(trie, hosts)) n++;
      assert.equal(n, routes.length, 'every route once, each in the map its length says');
    } finally {
      for (const x of Object.values(m)) x.close();
    }
    const deadline = Date.now() + 5000;
    while (Object.values(v3MapIds).some(mapExists) && Date.now() < deadline) await sleep(100);
    for (const [name, id] of Object.entries(v3MapIds)) assert.equal(mapExists(id), false, `old ${name} (id ${id}) is gone`);
    assert.equal(existsSync(join(dir, 'next')), false, 'no staging left');

    // the API reads one table over both maps
    const listed = (await collect(client.routes.listRoutes({ chunkSize: 1000 }))).flatMap((x) => x.routes);
    assert.equal(listed.length, routes.length);
    assert.equal((await client.routes.lookupRoute({ vrf: 1, address: '10.50.3.7' })).route!.prefix, '10.50.3.7/32');
    assert.equal((await client.routes.lookupRoute({ vrf: 1, address: '10.20.3.7' })).route!.prefix, '10.20.0.0/16');
    assert.equal((await client.routes.getRoute({ vrf: 1, prefix: `${topo.pods[1].ip6}/128` })).route!.nextHopId, 12);
  });

  it('forwards and programs on top of it; a restart adopts it as it is', async () => {
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip6, 2).received, 2);
    await client.routes.deleteRoute({ vrf: 1, prefix: `${topo.pods[1].ip4}/32` });
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 1, { allowFail: true }).received, 0, 'no route: the host route was the only one');
    await client.routes.addRoute({ route: { vrf: 1, prefix: `${topo.pods[1].ip4}/32`, nextHopId: 12, proxyArp: true } });
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2);
    const id = (await client.system.getSystemInfo({})).programs[0]!.id;
    await daemon.stop('SIGTERM');
    client = await daemon.start();
    assert.doesNotMatch(daemon.log, /layout-migrated|program-replaced/);
    const info = await client.system.getSystemInfo({});
    assert.equal(info.programs[0]!.id, id);
    assert.equal(info.maps.find((x) => x.name === 'vr_host4')!.used, 4 + EXTRA4, 'counted from the hash at start-up');
  });
});
