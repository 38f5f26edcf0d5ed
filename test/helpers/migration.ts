/**
 * Helpers of the layout-migration tests (test/bpf/migrate*.test.ts): fresh
 * instance directories, a replayable random generator, links pinned as a
 * daemon pins them, and the routes of the migrated maps read back as LPM
 * entries whichever map holds them.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BpfMap } from '../../src/bpf/map.ts';
import { BpfLink } from '../../src/bpf/link.ts';
import { ifindexOf } from '../../src/bpf/netdev.ts';
import { MAP_NAMES } from '../../src/maps/layout.ts';
import { OBJECT, TEST_BPFFS } from './datapath.ts';

export const objectOf = (build: string) => OBJECT.replace(/vr_xdp\.o$/, `${build}.o`);
export const MAGIC = 0x76726562;
/** the maps of layout v3 (flows, rings, config): MAP_NAMES up to the trap ring; later layouts only add */
export const V3_MAP_NAMES: string[] = MAP_NAMES.slice(0, MAP_NAMES.indexOf('vr_trap_rb') + 1);

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** rng: a small deterministic generator (mulberry32), so that a failure can be replayed. */
export function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let n = 0;
const dirs: string[] = [];
/** newDir: a fresh instance directory; the previous test's goes (its links with it: one XDP link per veth) */
export function newDir(tag = 'mig'): string {
  for (const old of dirs.splice(0)) rmSync(old, { recursive: true, force: true });
  const d = join(TEST_BPFFS, `t${process.pid}-${tag}${n++}`);
  rmSync(d, { recursive: true, force: true });
  dirs.push(d);
  return d;
}

/** removeDirs: what newDir made (an after hook) */
export function removeDirs(): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** writeMeta: vr_meta as a daemon of `version` leaves it */
export function writeMeta(meta: BpfMap, version: number, loadedAtNs: bigint): void {
  const v = Buffer.alloc(16);
  v.writeUInt32LE(MAGIC, 0);
  v.writeUInt32LE(version, 4);
  v.writeBigUInt64LE(loadedAtNs, 8);
  meta.update(u32(0), v);
}

export function attach(progFd: number, ifname: string, dir: string): BpfLink {
  const ifindex = ifindexOf(ifname)!;
  return BpfLink.attachXdp(progFd, ifindex, 'native', join(dir, 'links', `xdp_${ifindex}`));
}

export function attachTc(progFd: number, ifname: string, dir: string): BpfLink {
  const ifindex = ifindexOf(ifname)!;
  return BpfLink.attachTcx(progFd, ifindex, join(dir, 'links', `tc_${ifindex}`));
}

/** linkProgs: the program of every pinned link, in the pins' order */
export function linkProgs(dir: string): number[] {
  return readdirSync(join(dir, 'links')).sort().map((name) => {
    const l = BpfLink.open(join(dir, 'links', name))!;
    const id = l.info().progId;
    l.close();
    return id;
  });
}

/** hostRoutes: how many of the routes (by LPM key, hex) are host routes (/32, /128) */
export function hostRoutes(routes: Map<string, Buffer>, bytes: 4 | 16): number {
  return [...routes.keys()].filter((k) => Buffer.from(k, 'hex').readUInt32LE(0) === 32 + bytes * 8).length;
}

/**
 * routeEntries: the routes of a family as LPM key / value pairs: the
 * trie's, then the host hash's (its keys given their prefixlen back), each
 * checked to be in the map its prefix length says.
 */
export function* routeEntries(trie: BpfMap, hosts: BpfMap): Generator<[Buffer, Buffer]> {
  const full = 32 + (trie.info.keySize - 8) * 8;
  for (const [k, v] of trie.entries()) {
    assert.notEqual(k.readUInt32LE(0), full, `a host route left in the trie: ${k.toString('hex')}`);
    yield [k, v];
  }
  for (const [k, v] of hosts.entries()) {
    const lpm = Buffer.alloc(4 + k.length);
    lpm.writeUInt32LE(full, 0);
    k.copy(lpm, 4);
    assert.equal(v[6], full - 32, 'a host route names its whole length');
    yield [lpm, v];
  }
}
