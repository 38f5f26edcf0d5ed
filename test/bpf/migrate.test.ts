/**
 * Upgrades of a pinned datapath, without traffic (the e2e test has the
 * pings): the migration registry, a v1 → v4 migration of thousands of
 * entries checked one by one, a failed migration that leaves everything as
 * it was, and the states an interrupted upgrade leaves behind, which the next
 * start must repair. XDP links go on veths of a private network namespace.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { OBJECT, TEST_BPFFS } from '../helpers/datapath.ts';
import {
  MAGIC, attach, attachEgress, attachTc, hostRoutes, linkProgs, newDir, objectOf, removeDirs, rng, routeEntries, u32, writeMeta,
} from '../helpers/migration.ts';
import { BpfMap, numPossibleCpus } from '../../src/bpf/map.ts';
import { BpfProgram } from '../../src/bpf/program.ts';
import { BpfObject, loadAndPin } from '../../src/bpf/object.ts';
import { ifindexOf } from '../../src/bpf/netdev.ts';
import { openDatapath } from '../../src/maps/pinned-datapath.ts';
import { MAP_NAMES, VR_LAYOUT_VERSION as LATEST } from '../../src/maps/layout.ts';
import { MIGRATIONS, migrateLayout, migrationPath, type LayoutMigration } from '../../src/maps/migrate.ts';
import { routeV1ToV2, V1_TO_V2 } from '../../src/maps/migrate-v1.ts';
import { convertEntry } from '../../src/maps/migrate-copy.ts';
import { nhV4ToV5, V3_SHAPES } from '../../src/maps/migrate-v4.ts';

const V1_OBJECT = objectOf('vr_xdp_v1');
const ALT_OBJECT = objectOf('vr_xdp_alt');
const SIZES = { maxInterfaces: 64, maxNextHops: 512, maxRoutes: 8192 };

/** the maps of layouts v1 and v2 (v3 added the flow maps) */
const V1_MAPS = Object.keys(V1_TO_V2.shapes);

function openAll(dir: string, names: readonly string[] = V1_MAPS): Record<string, BpfMap> {
  return Object.fromEntries(names.map((name) => [name, BpfMap.open(join(dir, 'maps', name))]));
}
function closeAll(m: Record<string, BpfMap>): void {
  for (const x of Object.values(m)) x.close();
}

/** pinV1: what a v1 daemon leaves: the v1 object pinned (its XDP program, and its TC one if asked), vr_meta v1. */
function pinV1(dir: string, programs: string[] = ['vr_xdp_vif']): void {
  loadAndPin({
    objectPath: V1_OBJECT,
    maxEntries: {
      vr_vifs: SIZES.maxInterfaces, vr_vif_stats: SIZES.maxInterfaces, vr_nexthops: SIZES.maxNextHops,
      vr_rt4: SIZES.maxRoutes, vr_rt6: SIZES.maxRoutes,
    },
    maps: V1_MAPS,
    programs,
    mapDir: join(dir, 'maps'),
    progDir: join(dir, 'progs'),
  });
  mkdirSync(join(dir, 'links'), { recursive: true });
  const meta = BpfMap.open(join(dir, 'maps', 'vr_meta'));
  writeMeta(meta, 1, 123_456_789n);
  meta.close();
}

interface Filled {
  vifs: Map<string, Buffer>;
  nhs: Map<string, Buffer>;
  rt4: Map<string, Buffer>;
  rt6: Map<string, Buffer>;
  stats: Map<string, Buffer>;
  drops: Map<string, Buffer>;
}

/** fillV1: random tables in v1 encodings; returns what was written, by key (hex). */
function fillV1(dir: string, routesPerFamily: number): Filled {
  const r = rng(42);
  const m = openAll(dir);
  const f: Filled = { vifs: new Map(), nhs: new Map(), rt4: new Map(), rt6: new Map(), stats: new Map(), drops: new Map() };
  const put = (map: BpfMap, into: Map<string, Buffer>, k: Buffer, v: Buffer) => {
    map.update(k, v);
    into.set(k.toString('hex'), v);
  };
  const rand = (len: number) => Buffer.from(Array.from({ length: len }, () => Math.floor(r() * 256)));
  for (let i = 0; i < 10; i++) put(m.vr_vifs!, f.vifs, u32(100 + i), rand(44));
  for (let id = 1; id < SIZES.maxNextHops; id += 3) {
    const v = rand(32);
    v[0] = 2; // ENCAP: not an empty slot
    put(m.vr_nexthops!, f.nhs, u32(id), v);
  }
  for (const [map, into, bytes] of [[m.vr_rt4!, f.rt4, 4], [m.vr_rt6!, f.rt6, 16]] as const) {
    while (into.size < routesPerFamily) {
      const plen = Math.floor(r() * (bytes * 8 + 1));
      const addr = rand(bytes);
      for (let bit = plen; bit < bytes * 8; bit++) addr[bit >> 3]! &= ~(0x80 >> (bit & 7)); // no host bits
      const k = Buffer.alloc(8 + bytes);
      k.writeUInt32LE(32 + plen, 0);
      k.writeUInt32BE(1 + Math.floor(r() * 5), 4);
      addr.copy(k, 8);
      const v = Buffer.alloc(12);
      v.writeUInt32LE(Math.floor(r() * SIZES.maxNextHops), 0);
      v.writeUInt32LE(r() < 0.5 ? 1 : 0, 4);
      v.writeUInt32LE(Math.floor(r() * 0xfffff), 8);
      put(map, into, k, v);
    }
  }
  const cpus = numPossibleCpus();
  for (let i = 0; i < 10; i++) put(m.vr_vif_stats!, f.stats, u32(i), rand(56 * cpus));
  for (let i = 1; i < 5; i++) put(m.vr_drops!, f.drops, u32(i), rand(8 * cpus));
  closeAll(m);
  return f;
}

before(() => {
  privateNetns();
  vethPair('mig0a', 'mig0b');
  vethPair('mig1a', 'mig1b');
});

after(removeDirs);

describe('migration registry', () => {
  const step = (from: number, to: number): LayoutMigration => ({ from, to, shapes: {}, convert: {} });

  it('finds the chain of steps from a pinned layout to ours, or none', () => {
    assert.deepEqual(migrationPath(1, 2), [V1_TO_V2]);
    assert.equal(migrationPath(0, 2), undefined, 'no step from v0');
    assert.equal(migrationPath(3, 2), undefined, 'no way down');
    const reg = [step(1, 2), step(2, 3)];
    assert.deepEqual(migrationPath(1, 3, reg)?.map((s) => s.to), [2, 3]);
    assert.equal(migrationPath(1, 4, [step(1, 2), step(3, 4)]), undefined, 'a gap');
  });

  it('a v1 route value gets its prefix length from its key', () => {
    const k = Buffer.alloc(12);
    k.writeUInt32LE(32 + 24, 0);
    const v = Buffer.from([7, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0]);
    assert.deepEqual([...routeV1ToV2(k, v, 4)], [7, 0, 0, 0, 1, 0, 24, 0, 9, 0, 0, 0]);
    k.writeUInt32LE(32, 0);
    assert.equal(routeV1ToV2(k, v, 4)[6], 0, '/0');
    k.writeUInt32LE(32 + 33, 0);
    assert.throws(() => routeV1ToV2(k, v, 4), /out of range/);
    k.writeUInt32LE(40, 0);
    v.writeUInt32LE(0x10000, 4);
    assert.throws(() => routeV1ToV2(k, v, 4), /do not fit/);
  });

  it('the chain to v4 converts a v1 route, then moves a host route to its hash, keyed without its prefixlen', () => {
    const steps = migrationPath(1, 4)!;
    assert.deepEqual(steps.map((s) => s.to), [2, 3, 4]);
    const k = Buffer.from([32 + 32, 0, 0, 0, 0, 0, 0, 7, 10, 1, 2, 3]);
    const v = Buffer.from([9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    const host = convertEntry(steps, 'vr_rt4', k, v);
    assert.deepEqual([host.map, host.key.toString('hex'), [...host.value]], ['vr_host4', '000000070a010203', [9, 0, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0]]);
    k.writeUInt32LE(32 + 24, 0);
    const prefix = convertEntry(steps, 'vr_rt4', k, v);
    assert.deepEqual([prefix.map, prefix.key.equals(k), prefix.value[6]], ['vr_rt4', true, 24]);
    // a later step's converter of the map an entry moved to applies to it
    const v5: LayoutMigration = { from: 4, to: 5, shapes: {}, convert: { vr_host4: (key, value) => [Buffer.concat([key, Buffer.from([1])]), value] } };
    const moved = convertEntry([...steps, v5], 'vr_rt4', Buffer.from([32 + 32, 0, 0, 0, 0, 0, 0, 7, 10, 1, 2, 3]), v);
    assert.deepEqual([moved.map, moved.key.toString('hex')], ['vr_host4', '000000070a01020301']);
  });
});

describe('v1 -> v4 migration (through v2 and v3)', () => {
  it('converts every entry, keeps capacities, links and counters, and leaves no staging', () => {
    const dir = newDir();
    pinV1(dir);
    const f = fillV1(dir, 3000);
    const v1 = BpfProgram.open(join(dir, 'progs', 'vr_xdp_vif'), 'vr_xdp_vif');
    attach(v1.fd, 'mig0a', dir).close();
    attach(v1.fd, 'mig1a', dir).close();
    const v1Id = v1.info().id;
    v1.close();
    // leftovers of an earlier, interrupted attempt: cleared, not used
    mkdirSync(join(dir, 'next', 'maps'), { recursive: true });
    loadAndPin({ objectPath: V1_OBJECT, maxEntries: {}, maps: ['vr_meta'], programs: [], mapDir: join(dir, 'next', 'maps'), progDir: join(dir, 'next', 'progs') });

    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance: dir.split('/').pop()!, objectPath: OBJECT, sizes: { maxInterfaces: 8, maxNextHops: 8, maxRoutes: 8 } });
    try {
      const up = dp.upgrade!;
      assert.equal(up.kind, 'layout-migrated');
      assert.equal(dp.programReplaced, true);
      assert.deepEqual([up.fromLayout, up.toLayout], [1, LATEST]);
      assert.equal(up.linksMoved, 2);
      const hosts4 = hostRoutes(f.rt4, 4);
      const hosts6 = hostRoutes(f.rt6, 16);
      assert.ok(hosts4 > 50 && hosts6 > 10, `host routes among the random ones (${hosts4}, ${hosts6})`);
      assert.deepEqual(up.entries, {
        vr_vifs: 10, vr_nexthops: f.nhs.size, vr_rt4: 3000 - hosts4, vr_rt6: 3000 - hosts6, vr_host4: hosts4, vr_host6: hosts6, vr_vif_stats: 10, vr_drops: 4,
      });
      assert.equal(dp.loadedAtNs, 123_456_789n, 'the datapath keeps its load time');
      const newId = dp.xdp.info().id;
      assert.notEqual(newId, v1Id);
      assert.deepEqual(linkProgs(dir), [newId, newId]);
      assert.equal(existsSync(join(dir, 'next')), false);
      assert.deepEqual(readdirSync(join(dir, 'progs')).sort(), ['vr_tc_egress', 'vr_tc_vif', 'vr_xdp_vif'], 'the v1 datapath had no TC entries; the migration pins them');
      assert.ok(dp.tc.mapIds().includes(dp.maps.vr_rt4.info.id), 'vr_tc_vif on the new maps');

      const m = dp.maps;
      assert.equal(m.vr_vifs.info.maxEntries, SIZES.maxInterfaces, 'pinned capacities, not the new config');
      assert.equal(m.vr_nexthops.info.maxEntries, SIZES.maxNextHops);
      assert.equal(m.vr_rt4.info.maxEntries, SIZES.maxRoutes);
      assert.equal(m.vr_rt6.info.maxEntries, SIZES.maxRoutes);
      assert.equal(m.vr_vif_stats.info.maxEntries, SIZES.maxInterfaces);
      assert.equal(m.vr_meta.lookup(u32(0))!.readUInt32LE(4), LATEST);
      assert.equal(m.vr_flows.info.maxEntries, 524288, 'a map new in v3: the default size');
      assert.equal(m.vr_host4.info.maxEntries, SIZES.maxRoutes, 'a host hash new in v4: sized like the pinned trie');
      assert.equal(m.vr_host6.info.maxEntries, SIZES.maxRoutes);

      const same = (map: BpfMap, want: Map<string, Buffer>, what: string, convert = (v: Buffer) => v) => {
        let count = 0;
        for (const [k, v] of map.entries()) {
          if (map.info.type === 2 || map.info.type === 6) if (v.every((b) => b === 0)) continue;
          const w = want.get(k.toString('hex'));
          assert.ok(w, `${what}: key ${k.toString('hex')} was written`);
          assert.ok(v.equals(convert(w)), `${what}: ${k.toString('hex')} copied (converted)`);
          count++;
        }
        assert.equal(count, want.size, `${what}: every entry`);
      };
      same(m.vr_vifs, f.vifs, 'vr_vifs');
      // layout v5 grew the next hop: its first 30 bytes kept, the rest zero
      same(m.vr_nexthops, f.nhs, 'vr_nexthops', nhV4ToV5);
      assert.equal(m.vr_nexthops.info.valueSize, 80);
      same(m.vr_vif_stats, f.stats, 'vr_vif_stats (per CPU)');
      same(m.vr_drops, f.drops, 'vr_drops (per CPU)');
      for (const [want, maps] of [[f.rt4, [m.vr_rt4, m.vr_host4]], [f.rt6, [m.vr_rt6, m.vr_host6]]] as const) {
        let count = 0;
        for (const [k, v] of routeEntries(maps[0], maps[1])) {
          const old = want.get(k.toString('hex'))!;
          assert.ok(old, `route ${k.toString('hex')} was written`);
          assert.equal(v.readUInt32LE(0), old.readUInt32LE(0), 'nh_id');
          assert.equal(v.readUInt16LE(4), old.readUInt32LE(4), 'flags');
          assert.equal(v.readUInt8(6), k.readUInt32LE(0) - 32, 'plen');
          assert.equal(v.readUInt8(7), 0, 'pad');
          assert.equal(v.readUInt32LE(8), old.readUInt32LE(8), 'label');
          count++;
        }
        assert.equal(count, want.size);
      }
    } finally {
      dp.close();
    }
  });

  it('moves each link to the new program of its hook: XDP links to vr_xdp_vif, tcx links to vr_tc_vif', () => {
    const dir = newDir();
    pinV1(dir, ['vr_xdp_vif', 'vr_tc_vif']);
    const xdp1 = BpfProgram.open(join(dir, 'progs', 'vr_xdp_vif'), 'vr_xdp_vif');
    const tc1 = BpfProgram.open(join(dir, 'progs', 'vr_tc_vif'), 'vr_tc_vif');
    attach(xdp1.fd, 'mig0a', dir).close();
    attachTc(tc1.fd, 'mig1a', dir).close();
    const old = [xdp1.info().id, tc1.info().id];
    xdp1.close();
    tc1.close();
    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance: dir.split('/').pop()!, objectPath: OBJECT, sizes: SIZES });
    try {
      assert.equal(dp.upgrade?.kind, 'layout-migrated');
      assert.equal(dp.upgrade?.linksMoved, 2);
      const now = [dp.xdp.info().id, dp.tc.info().id];
      assert.ok(!now.some((id) => old.includes(id)), 'new programs');
      // links/tc_<mig1a> sorts before links/xdp_<mig0a>
      assert.deepEqual(linkProgs(dir), [dp.tc.info().id, dp.xdp.info().id]);
    } finally {
      dp.close();
    }
  });

  it('a migration that fails before its commit leaves the pinned datapath as it was', () => {
    const dir = newDir();
    pinV1(dir);
    fillV1(dir, 50);
    const v1 = BpfProgram.open(join(dir, 'progs', 'vr_xdp_vif'), 'vr_xdp_vif');
    attach(v1.fd, 'mig0a', dir).close();
    const v1Id = v1.info().id;
    v1.close();
    const before = openAll(dir);
    const ids = Object.fromEntries(Object.entries(before).map(([k, m]) => [k, m.info.id]));
    closeAll(before);
    const broken: LayoutMigration = {
      ...V1_TO_V2,
      convert: { ...V1_TO_V2.convert, vr_rt6: () => { throw new Error('converter failed'); } },
    };
    assert.throws(
      () => migrateLayout({
        dir, objectPath: OBJECT, progName: 'vr_xdp_vif', mapNames: MAP_NAMES, defaultSizes: {}, layoutSized: ['vr_meta', 'vr_drops'],
        steps: [broken, ...MIGRATIONS.slice(1)], meta: { name: 'vr_meta', key: u32(0), value: Buffer.alloc(16) },
      }),
      /converter failed/,
    );
    const afterMaps = openAll(dir);
    try {
      for (const [k, m] of Object.entries(afterMaps)) assert.equal(m.info.id, ids[k], `${k}: still the pinned v1 map`);
      assert.equal(afterMaps.vr_meta!.lookup(u32(0))!.readUInt32LE(4), 1, 'still v1');
    } finally {
      closeAll(afterMaps);
    }
    assert.deepEqual(linkProgs(dir), [v1Id], 'the link still runs v1');
    assert.equal(existsSync(join(dir, 'next')), false, 'staging removed');
    // and a daemon migrates it afterwards
    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance: dir.split('/').pop()!, objectPath: OBJECT, sizes: SIZES });
    assert.equal(dp.upgrade?.kind, 'layout-migrated');
    dp.close();
  });

  it('refuses pinned maps whose shapes are not the layout they claim, touching nothing', () => {
    const dir = newDir();
    pinV1(dir);
    // a vr_rt4 of other sizes pinned in place of the v1 one
    rmSync(join(dir, 'maps', 'vr_rt4'));
    loadAndPin({ objectPath: V1_OBJECT, maxEntries: {}, maps: ['vr_rt6'], programs: [], mapDir: join(dir, 'odd'), progDir: join(dir, 'odd') });
    renameSync(join(dir, 'odd', 'vr_rt6'), join(dir, 'maps', 'vr_rt4'));
    assert.throws(
      () => openDatapath({ bpffsRoot: TEST_BPFFS, instance: dir.split('/').pop()!, objectPath: OBJECT, sizes: SIZES }),
      /vr_rt4: key\/value 24\/12 bytes, layout v1 has 12\/12; refusing to migrate it/,
    );
    const meta = BpfMap.open(join(dir, 'maps', 'vr_meta'));
    assert.equal(meta.lookup(u32(0))!.readUInt32LE(4), 1);
    meta.close();
  });
});

describe('v3 -> v5 migration (tunnels: the next hop grows, new maps)', () => {
  const V3_OBJECT = OBJECT.replace(/vr_xdp\.o$/, 'vr_xdp_v3.o');
  const V3_MAPS = Object.keys(V3_SHAPES);

  it('the next-hop converter keeps the first 30 bytes and zeroes the new fields', () => {
    const v = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
    const out = nhV4ToV5(v);
    assert.equal(out.length, 80);
    assert.deepEqual([...out.subarray(0, 30)], [...v.subarray(0, 30)]);
    assert.ok(out.subarray(30).every((b) => b === 0), 'tunnel type, family, addresses, label and composite room zero');
    assert.throws(() => nhV4ToV5(Buffer.alloc(80)), /32 bytes/);
    assert.deepEqual(migrationPath(3, LATEST)?.map((st) => [st.from, st.to]), [[3, 4], [4, 5]]);
    assert.deepEqual(migrationPath(1, LATEST)?.map((st) => [st.from, st.to]), [[1, 2], [2, 3], [3, 4], [4, 5]]);
  });

  it('a pinned v3 datapath: next hops converted, flows and config carried, the new maps empty, links moved', () => {
    const dir = newDir();
    loadAndPin({
      objectPath: V3_OBJECT,
      maxEntries: {
        vr_vifs: SIZES.maxInterfaces, vr_vif_stats: SIZES.maxInterfaces, vr_nexthops: SIZES.maxNextHops,
        vr_rt4: SIZES.maxRoutes, vr_rt6: SIZES.maxRoutes, vr_flows: 1024,
      },
      maps: [...V3_MAPS, 'vr_scratch', 'vr_miss_rb', 'vr_trap_rb'],
      programs: ['vr_xdp_vif', 'vr_tc_vif'],
      mapDir: join(dir, 'maps'),
      progDir: join(dir, 'progs'),
    });
    mkdirSync(join(dir, 'links'), { recursive: true });
    const m = openAll(dir, V3_MAPS);
    const meta = Buffer.alloc(16);
    meta.writeUInt32LE(MAGIC, 0);
    meta.writeUInt32LE(3, 4);
    m.vr_meta!.update(u32(0), meta);
    const nhs = new Map<number, Buffer>();
    for (const id of [1, 7, 300]) {
      const v = Buffer.alloc(32);
      v[0] = 2; // ENCAP
      v[1] = 1;
      v.writeUInt32LE(100 + id, 4);
      v.writeUInt32LE(id, 8);
      v.fill(0xab, 12, 24);
      v.writeUInt32LE(1, 24);
      v.writeUInt16LE(1500, 28);
      m.vr_nexthops!.update(u32(id), v);
      nhs.set(id, v);
    }
    const flowKey = Buffer.alloc(44, 3);
    const flow = Buffer.alloc(96, 4);
    m.vr_flows!.update(flowKey, flow);
    const cfg = Buffer.alloc(16);
    cfg.writeUInt32LE(5, 0);
    cfg.writeUInt32LE(0x21, 4);
    m.vr_config!.update(u32(0), cfg);
    closeAll(m);
    const xdp = BpfProgram.open(join(dir, 'progs', 'vr_xdp_vif'), 'vr_xdp_vif');
    attach(xdp.fd, 'mig0a', dir).close();
    xdp.close();

    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance: dir.split('/').pop()!, objectPath: OBJECT, sizes: SIZES });
    try {
      const up = dp.upgrade!;
      assert.equal(up.kind, 'layout-migrated');
      assert.deepEqual([up.fromLayout, up.toLayout], [3, LATEST]);
      assert.equal(up.linksMoved, 1);
      assert.equal(up.entries?.vr_nexthops, 3);
      assert.equal(up.entries?.vr_flows, 1);
      assert.equal(dp.maps.vr_meta.lookup(u32(0))!.readUInt32LE(4), LATEST);
      assert.equal(dp.maps.vr_nexthops.info.valueSize, 80);
      for (const [id, v] of nhs) assert.ok(dp.maps.vr_nexthops.lookup(u32(id))!.equals(nhV4ToV5(v)), `next hop ${id} converted`);
      assert.ok(dp.maps.vr_flows.lookup(flowKey)!.equals(flow), 'the flow carried as it was');
      assert.equal(dp.maps.vr_flows.info.maxEntries, 1024, 'the pinned flow table\'s capacity');
      assert.ok(dp.maps.vr_config.lookup(u32(0))!.equals(cfg), 'the config carried');
      for (const name of ['vr_mpls', 'vr_vxlan'] as const) assert.equal([...dp.maps[name].entries()].length, 0, `${name} new and empty`);
      assert.equal(dp.maps.vr_tctr.info.maxEntries, 4);
      assert.deepEqual(linkProgs(dir), [dp.xdp.info().id]);
    } finally {
      dp.close();
    }
  });
});

describe('interrupted upgrades are repaired by the next start', () => {
  it('maps committed, program pin not: the pinned program is replaced by one on the pinned maps', () => {
    const dir = newDir();
    const instance = dir.split('/').pop()!;
    const dp0 = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    attach(dp0.xdp.fd, 'mig0a', dir).close();
    const runningId = dp0.xdp.info().id;
    const rt4Id = dp0.maps.vr_rt4.info.id;
    dp0.close();
    // progs/ names another program on other maps (the old one, as before the program directory swap)
    loadAndPin({ objectPath: V1_OBJECT, maxEntries: {}, maps: [], programs: ['vr_xdp_vif'], mapDir: join(dir, 'old'), progDir: join(dir, 'old') });
    renameSync(join(dir, 'old', 'vr_xdp_vif'), join(dir, 'progs', 'vr_xdp_vif'));
    rmSync(join(dir, 'old'), { recursive: true });

    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    try {
      assert.equal(dp.upgrade?.kind, 'program-replaced');
      assert.ok(dp.xdp.mapIds().includes(rt4Id), 'the pinned program uses the pinned maps');
      assert.deepEqual(linkProgs(dir), [dp.xdp.info().id]);
      assert.notEqual(dp.xdp.info().id, runningId);
    } finally {
      dp.close();
    }
  });

  it('links left on another build of the same program go back to the pinned one', () => {
    const dir = newDir();
    const instance = dir.split('/').pop()!;
    const dp0 = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    const pinnedId = dp0.xdp.info().id;
    const alt = BpfObject.loadOnMaps(ALT_OBJECT, dp0.maps);
    attach(dp0.xdp.fd, 'mig0a', dir).close();
    attach(alt.progFd('vr_xdp_vif'), 'mig1a', dir).close();
    alt.close();
    dp0.close();
    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    try {
      assert.equal(dp.upgrade?.kind, 'links-repaired');
      assert.equal(dp.upgrade?.linksMoved, 1);
      assert.equal(dp.programReplaced, false);
      assert.equal(dp.xdp.info().id, pinnedId, 'the pinned program stays');
      assert.deepEqual(linkProgs(dir), [pinnedId, pinnedId]);
    } finally {
      dp.close();
    }
    // and the same build again changes nothing
    const dp2 = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    assert.equal(dp2.upgrade, undefined);
    assert.equal(dp2.xdp.info().id, pinnedId);
    dp2.close();
  });

  it('tcx links left on another build of the TC program go back to the pinned one', () => {
    const dir = newDir();
    const instance = dir.split('/').pop()!;
    const dp0 = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    const pinned = [dp0.xdp.info().id, dp0.tc.info().id];
    const alt = BpfObject.loadOnMaps(ALT_OBJECT, dp0.maps);
    attachTc(alt.progFd('vr_tc_vif'), 'mig0a', dir).close();
    attach(dp0.xdp.fd, 'mig1a', dir).close();
    alt.close();
    dp0.close();
    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    try {
      assert.equal(dp.upgrade?.kind, 'links-repaired');
      assert.equal(dp.upgrade?.linksMoved, 1);
      assert.deepEqual([dp.xdp.info().id, dp.tc.info().id], pinned, 'the pinned programs stay');
      assert.deepEqual(linkProgs(dir), [pinned[1], pinned[0]]);
    } finally {
      dp.close();
    }
  });

  it('another build of every program: the host egress links move to the new vr_tc_egress with the others', () => {
    const dir = newDir();
    const instance = dir.split('/').pop()!;
    const dp0 = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    attachEgress(dp0.egress.fd, 'mig0a', dir).close();
    attachTc(dp0.tc.fd, 'mig0a', dir).close();
    const old = [dp0.tc.info().id, dp0.egress.info().id];
    dp0.close();
    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: ALT_OBJECT, sizes: SIZES });
    try {
      assert.equal(dp.upgrade?.kind, 'program-replaced');
      assert.equal(dp.upgrade?.linksMoved, 2);
      const now = [dp.tc.info().id, dp.egress.info().id];
      assert.ok(!now.some((id) => old.includes(id)), 'new programs of the alternative build');
      // links/egress_<mig0a> sorts before links/tc_<mig0a>
      assert.deepEqual(linkProgs(dir), [now[1], now[0]]);
    } finally {
      dp.close();
    }
  });

  it('only the TC pin names another build (a crash between two pin renames): it is replaced, its links moved', () => {
    const dir = newDir();
    const instance = dir.split('/').pop()!;
    const dp0 = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    const xdpId = dp0.xdp.info().id;
    // the TC pin and its link on the alt build, on the pinned maps
    const alt = BpfObject.loadOnMaps(ALT_OBJECT, dp0.maps);
    rmSync(join(dir, 'progs', 'vr_tc_vif'));
    alt.pinProgram('vr_tc_vif', join(dir, 'progs', 'vr_tc_vif'));
    attachTc(alt.progFd('vr_tc_vif'), 'mig0a', dir).close();
    const altTc = BpfProgram.open(join(dir, 'progs', 'vr_tc_vif'), 'vr_tc_vif');
    const altTcId = altTc.info().id;
    altTc.close();
    alt.close();
    dp0.close();
    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    try {
      assert.equal(dp.upgrade?.kind, 'program-replaced');
      assert.deepEqual(dp.programsPinned, ['vr_tc_vif']);
      assert.equal(dp.xdp.info().id, xdpId, 'the XDP program is the same build: kept');
      assert.notEqual(dp.tc.info().id, altTcId);
      assert.deepEqual(linkProgs(dir), [dp.tc.info().id]);
    } finally {
      dp.close();
    }
  });
});

describe('a program added to the object', () => {
  it('a datapath pinned without vr_tc_vif (nor vr_tc_egress) is adopted: the missing programs are pinned on the pinned maps, nothing else changes', () => {
    const dir = newDir();
    const instance = dir.split('/').pop()!;
    // what the previous daemon pinned: the same layout, only progs/vr_xdp_vif, a link on it
    const dp0 = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    attach(dp0.xdp.fd, 'mig0a', dir).close();
    const xdpId = dp0.xdp.info().id;
    const mapIds = Object.fromEntries(Object.entries(dp0.maps).map(([k, m]) => [k, m.info.id]));
    dp0.maps.vr_vifs.update(u32(ifindexOf('mig0a')!), Buffer.alloc(44, 7));
    dp0.close();
    rmSync(join(dir, 'progs', 'vr_tc_vif'));
    rmSync(join(dir, 'progs', 'vr_tc_egress'));
    assert.deepEqual(readdirSync(join(dir, 'progs')), ['vr_xdp_vif']);

    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    try {
      assert.equal(dp.adopted, true);
      assert.equal(dp.upgrade, undefined, 'the XDP program is the same build: not replaced');
      assert.deepEqual(dp.programsPinned, ['vr_tc_vif', 'vr_tc_egress']);
      assert.deepEqual(readdirSync(join(dir, 'progs')).sort(), ['vr_tc_egress', 'vr_tc_vif', 'vr_xdp_vif']);
      assert.equal(dp.xdp.info().id, xdpId, 'the pinned XDP program stays');
      assert.deepEqual(linkProgs(dir), [xdpId], 'the link still runs it');
      assert.equal(dp.tc.info().type, 3, 'vr_tc_vif is a SCHED_CLS program');
      assert.equal(dp.egress.info().type, 3, 'vr_tc_egress is a SCHED_CLS program');
      for (const [k, m] of Object.entries(dp.maps)) assert.equal(m.info.id, mapIds[k], `${k}: the pinned map`);
      const onPinned = new Set(Object.values(mapIds));
      const tcMaps = dp.tc.mapIds().filter((id) => onPinned.has(id));
      assert.ok(tcMaps.length >= 5, `vr_tc_vif uses the pinned maps (${tcMaps.length})`);
      assert.deepEqual(dp.maps.vr_vifs.lookup(u32(ifindexOf('mig0a')!)), Buffer.alloc(44, 7), 'contents untouched');
      assert.equal(existsSync(join(dir, 'next')), false, 'no staging left');
    } finally {
      dp.close();
    }
    // and the next start finds everything in place
    const dp2 = openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES });
    assert.equal(dp2.upgrade, undefined);
    assert.deepEqual(dp2.programsPinned, []);
    dp2.close();
  });

  it('still refuses a pinned datapath without its XDP program', () => {
    const dir = newDir();
    const instance = dir.split('/').pop()!;
    openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES }).close();
    rmSync(join(dir, 'progs', 'vr_xdp_vif'));
    assert.throws(() => openDatapath({ bpffsRoot: TEST_BPFFS, instance, objectPath: OBJECT, sizes: SIZES }), /pinned datapath is missing .*progs\/vr_xdp_vif/);
  });
});
