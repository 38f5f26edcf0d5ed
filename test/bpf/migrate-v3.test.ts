/**
 * Layout v3 → v4 without traffic (test/e2e/upgrade-v3.test.ts has the
 * pings): a v3 datapath pinned from the v3 build of the same source, filled
 * with thousands of random routes (a third of them host routes), flows and
 * counters; a v4 daemon's openDatapath moves every /32 and /128 out of the
 * tries into the host hashes (sized like the pinned tries), copies the rest
 * as is, and the new programs' own lookup (the route probe) finds every
 * route exactly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { OBJECT, TEST_BPFFS } from '../helpers/datapath.ts';
import {
  attach, attachTc, hostRoutes, linkProgs, newDir, objectOf, removeDirs, rng, routeEntries, u32, V3_MAP_NAMES, writeMeta,
} from '../helpers/migration.ts';
import { BpfMap, numPossibleCpus } from '../../src/bpf/map.ts';
import { BpfProgram } from '../../src/bpf/program.ts';
import { loadAndPin, objectLayoutVersion } from '../../src/bpf/object.ts';
import { openDatapath } from '../../src/maps/pinned-datapath.ts';
import { VR_LAYOUT_VERSION } from '../../src/maps/layout.ts';
import { RouteTable } from '../../src/maps/tables/route-table.ts';
import { RoutePack } from '../../src/maps/tables/route-pack.ts';
import { RouteProbe } from '../../src/maps/tables/route-probe.ts';

const V3_OBJECT = objectOf('vr_xdp_v3');
/** what a v3 daemon pinned: every map of ours but the host hashes */
/** the maps of layout v3: what came after it (host-route hashes in v4, tunnel tables in v5) left out */
const V3_MAPS = V3_MAP_NAMES;
const SIZES = { maxInterfaces: 32, maxNextHops: 256, maxRoutes: 6000, maxFlows: 4096 };

interface Filled {
  rt4: Map<string, Buffer>;
  rt6: Map<string, Buffer>;
  flows: Map<string, Buffer>;
  fctr: Map<string, Buffer>;
}

/** pinV3: the v3 build loaded and pinned as a v3 daemon leaves it, filled with random tables (v3 encodings). */
function pinV3(dir: string, routesPerFamily: number): Filled {
  loadAndPin({
    objectPath: V3_OBJECT,
    maxEntries: {
      vr_vifs: SIZES.maxInterfaces, vr_vif_stats: SIZES.maxInterfaces, vr_nexthops: SIZES.maxNextHops,
      vr_rt4: SIZES.maxRoutes, vr_rt6: SIZES.maxRoutes, vr_flows: SIZES.maxFlows,
    },
    maps: V3_MAPS,
    programs: ['vr_xdp_vif', 'vr_tc_vif'],
    mapDir: join(dir, 'maps'),
    progDir: join(dir, 'progs'),
  });
  mkdirSync(join(dir, 'links'), { recursive: true });
  const m = Object.fromEntries(V3_MAPS.map((n) => [n, BpfMap.open(join(dir, 'maps', n))])) as Record<string, BpfMap>;
  const r = rng(7);
  const rand = (len: number) => Buffer.from(Array.from({ length: len }, () => Math.floor(r() * 256)));
  const f: Filled = { rt4: new Map(), rt6: new Map(), flows: new Map(), fctr: new Map() };
  try {
    writeMeta(m.vr_meta!, 3, 987_654_321n);
    for (const [map, into, bytes] of [[m.vr_rt4!, f.rt4, 4], [m.vr_rt6!, f.rt6, 16]] as const)
      while (into.size < routesPerFamily) {
        // a third host routes, the rest any length
        const plen = r() < 1 / 3 ? bytes * 8 : Math.floor(r() * bytes * 8);
        const addr = rand(bytes);
        for (let bit = plen; bit < bytes * 8; bit++) addr[bit >> 3]! &= ~(0x80 >> (bit & 7));
        const k = Buffer.alloc(8 + bytes);
        k.writeUInt32LE(32 + plen, 0);
        k.writeUInt32BE(1 + Math.floor(r() * 5), 4);
        addr.copy(k, 8);
        const v = Buffer.alloc(12);
        v.writeUInt32LE(1 + Math.floor(r() * (SIZES.maxNextHops - 1)), 0);
        v.writeUInt16LE(r() < 0.5 ? 1 : 0, 4);
        v[6] = plen;
        v.writeUInt32LE(Math.floor(r() * 0xfffff), 8);
        map.update(k, v);
        into.set(k.toString('hex'), v);
      }
    for (let i = 0; i < 500; i++) {
      const k = rand(44);
      const v = rand(96);
      m.vr_flows!.update(k, v);
      f.flows.set(k.toString('hex'), v);
    }
    m.vr_config!.update(u32(0), Buffer.from([5, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    for (let i = 0; i < 4; i++) {
      const v = rand(8 * numPossibleCpus());
      m.vr_fctr!.update(u32(i), v);
      f.fctr.set(u32(i).toString('hex'), v);
    }
  } finally {
    for (const x of Object.values(m)) x.close();
  }
  return f;
}

before(() => {
  privateNetns();
  vethPair('mv3a', 'mv3b');
  vethPair('mv3c', 'mv3d');
});

after(removeDirs);

describe('v3 -> v4 migration: host routes move to their hashes', () => {
  it('the v3 build says 3 and has no host hash', () => {
    assert.equal(objectLayoutVersion(V3_OBJECT), 3);
    const dir = newDir('v3');
    pinV3(dir, 10);
    assert.equal(existsSync(join(dir, 'maps', 'vr_host4')), false);
  });

  it('moves every /32 and /128 into vr_host4 / vr_host6, keeps the rest, the flows and the counters; the new lookup finds them all', () => {
    const dir = newDir('v3');
    const f = pinV3(dir, 3000);
    const xdp = BpfProgram.open(join(dir, 'progs', 'vr_xdp_vif'), 'vr_xdp_vif');
    const tc = BpfProgram.open(join(dir, 'progs', 'vr_tc_vif'), 'vr_tc_vif');
    attach(xdp.fd, 'mv3a', dir).close();
    attachTc(tc.fd, 'mv3c', dir).close();
    const old = [xdp.info().id, tc.info().id];
    xdp.close();
    tc.close();
    // the daemon's config asks for other sizes: the pinned ones win, and the host hashes take the tries'
    const dp = openDatapath({ bpffsRoot: TEST_BPFFS, instance: dir.split('/').pop()!, objectPath: OBJECT, sizes: { maxInterfaces: 8, maxNextHops: 8, maxRoutes: 100 } });
    const probe = RouteProbe.open(OBJECT, dp.maps)!;
    try {
      const up = dp.upgrade!;
      assert.equal(up.kind, 'layout-migrated');
      assert.deepEqual([up.fromLayout, up.toLayout], [3, VR_LAYOUT_VERSION]);
      assert.equal(up.linksMoved, 2);
      assert.ok(!linkProgs(dir).some((id) => old.includes(id)), 'every link on a new program');
      assert.equal(dp.loadedAtNs, 987_654_321n, 'the datapath keeps its load time');
      const h4 = hostRoutes(f.rt4, 4);
      const h6 = hostRoutes(f.rt6, 16);
      assert.ok(h4 > 800 && h6 > 800, `a third host routes (${h4}, ${h6})`);
      assert.deepEqual(
        { rt4: up.entries!.vr_rt4, host4: up.entries!.vr_host4, rt6: up.entries!.vr_rt6, host6: up.entries!.vr_host6, flows: up.entries!.vr_flows, fctr: up.entries!.vr_fctr },
        { rt4: 3000 - h4, host4: h4, rt6: 3000 - h6, host6: h6, flows: 500, fctr: 4 },
      );

      const m = dp.maps;
      assert.equal(m.vr_meta.lookup(u32(0))!.readUInt32LE(4), VR_LAYOUT_VERSION, 'vr_meta says the latest layout');
      for (const name of ['vr_rt4', 'vr_rt6', 'vr_host4', 'vr_host6'] as const) assert.equal(m[name].info.maxEntries, SIZES.maxRoutes, `${name}: the pinned max-routes`);
      assert.equal(m.vr_flows.info.maxEntries, SIZES.maxFlows, 'vr_flows: its pinned capacity');
      for (const [want, trie, hosts] of [[f.rt4, m.vr_rt4, m.vr_host4], [f.rt6, m.vr_rt6, m.vr_host6]] as const) {
        let n = 0;
        for (const [k, v] of routeEntries(trie, hosts)) {
          assert.deepEqual(v, want.get(k.toString('hex')), `route ${k.toString('hex')}: its value as is`);
          n++;
        }
        assert.equal(n, want.size, 'every route once');
      }
      for (const [k, v] of m.vr_flows.entries()) assert.deepEqual(v, f.flows.get(k.toString('hex')), 'a flow as is');
      assert.equal(m.vr_flows.count(), f.flows.size);
      for (const [k, v] of f.fctr) assert.deepEqual(m.vr_fctr.lookup(Buffer.from(k, 'hex')), v, 'flow counters as they were');
      assert.deepEqual([...m.vr_config.lookup(u32(0))!.subarray(0, 8)], [5, 0, 0, 0, 3, 0, 0, 0], 'vr_config as it was');

      // the new program's own lookup (the probe: host hash, then trie) finds every route exactly
      const table = new RouteTable({ rt4: m.vr_rt4, host4: m.vr_host4, rt6: m.vr_rt6, host6: m.vr_host6 }, probe);
      for (const [family, want, slots] of [[4, f.rt4, ['rt4', 'host4']], [6, f.rt6, ['rt6', 'host6']]] as const)
        for (const slot of slots) {
          const p = new RoutePack(slot, 0);
          for (const [k, v] of want) if ((Buffer.from(k, 'hex').readUInt32LE(0) === 32 + (family === 4 ? 32 : 128)) === slot.startsWith('host')) p.pushRaw(Buffer.from(k, 'hex'), v);
          const { found, values } = table.exactMany(p, 0, p.count);
          assert.equal(found.reduce((a, b) => a + b, 0), p.count, `${slot}: every route found exactly`);
          assert.ok(values.equals(p.values.subarray(0, p.count * 12)), `${slot}: with its value`);
        }
      assert.equal(existsSync(join(dir, 'next')), false, 'no staging left');
    } finally {
      probe.close();
      dp.close();
    }
  });
});
