/**
 * Upgrades of a pinned datapath without a gap in forwarding:
 *
 * - replaceProgram: same layout, another build of the program. The new
 *   program is loaded on the pinned maps (bpf_map__reuse_fd) and every
 *   pinned XDP link is switched to it with bpf_link_update.
 * - migrateLayout: an older layout. New maps are created with the pinned
 *   ones' capacities, filled with their converted contents, every link is
 *   switched to the new program, and the new pins take the old ones' place.
 *
 * MIGRATIONS is the registry: one entry per layout step (from → from + 1),
 * each naming the shapes of the maps it reads and a converter per map whose
 * entries change; a map without a converter is copied as is. A pinned layout
 * is migrated only along an unbroken chain of steps up to this daemon's.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, BPF_ANY } from '../bpf/map.ts';
import { BpfProgram, type ProgInfo } from '../bpf/program.ts';
import { BpfLink } from '../bpf/link.ts';
import { BpfObject } from '../bpf/object.ts';
import { BpfError, ERRNO } from '../bpf/errors.ts';
import { sys } from '../bpf/libbpf.ts';
import { V1_TO_V2 } from './migrate-v1.ts';

/** MapConverter: one entry of a map in the old layout → the same entry in the next. */
export type MapConverter = (key: Buffer, value: Buffer) => [Buffer, Buffer];

export interface LayoutMigration {
  from: number;
  to: number;
  /** the maps of layout `from` (name → key and value size): what is checked before anything is touched */
  shapes: Record<string, { keySize: number; valueSize: number }>;
  /** per map whose entries change; per-CPU maps get the whole per-CPU buffer */
  convert: Record<string, MapConverter>;
}

/** The registry: add v2 → v3 here. */
export const MIGRATIONS: readonly LayoutMigration[] = [V1_TO_V2];

/** migrationPath: the steps from a pinned layout to ours, or undefined when there is no way. */
export function migrationPath(from: number, to: number, registry: readonly LayoutMigration[] = MIGRATIONS): LayoutMigration[] | undefined {
  const steps: LayoutMigration[] = [];
  for (let v = from; v < to; ) {
    const step = registry.find((m) => m.from === v);
    if (!step || step.to <= v) return undefined;
    steps.push(step);
    v = step.to;
  }
  return steps.length && steps[steps.length - 1]!.to === to ? steps : undefined;
}

export interface DatapathUpgrade {
  /** program-replaced: same layout, new code; links-repaired: links on another program than the pin (an
   * interrupted upgrade) moved back; layout-migrated: maps converted and replaced */
  kind: 'program-replaced' | 'links-repaired' | 'layout-migrated';
  fromLayout: number;
  toLayout: number;
  oldProgram: { id: number; tag: string };
  newProgram: { id: number; tag: string };
  /** links switched to the new program; links whose interface is gone (left as they are) */
  linksMoved: number;
  linksGone: number;
  /** layout-migrated: entries copied per map */
  entries?: Record<string, number>;
  durationMs: number;
}

const RENAME_EXCHANGE = 2;

/** The staging directory of an upgrade in progress: <dir>/next/{maps,progs}. */
export function stagingDir(dir: string): string {
  return join(dir, 'next');
}

/** clearStaging: what an interrupted upgrade left (never the live pins: see the orders below). */
export function clearStaging(dir: string): void {
  rmSync(stagingDir(dir), { recursive: true, force: true });
}

function progRef(info: ProgInfo): { id: number; tag: string } {
  return { id: info.id, tag: info.tag };
}

/**
 * moveLinks: every pinned link of the instance onto `prog`, each in one
 * bpf_link_update (the interface is never without a program). Links already
 * on it are left alone; a link whose interface is gone (ENOLINK) is counted
 * and left for the manager, which reports it.
 */
export function moveLinks(linkDir: string, prog: BpfProgram): { moved: number; gone: number; total: number } {
  const progId = prog.info().id;
  let moved = 0;
  let gone = 0;
  let total = 0;
  if (!existsSync(linkDir)) return { moved, gone, total };
  for (const name of readdirSync(linkDir).sort()) {
    const link = BpfLink.open(join(linkDir, name));
    if (!link) continue;
    total++;
    try {
      if (link.info().progId === progId) continue;
      try {
        link.update(prog.fd);
        moved++;
      } catch (err) {
        if (err instanceof BpfError && err.errno === ERRNO.ENOLINK) gone++;
        else throw err;
      }
    } finally {
      link.close();
    }
  }
  return { moved, gone, total };
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * pinnedIdsOf: the program's maps that are pinned ones. Each load also makes
 * maps of its own (the object's .rodata, with vr_layout_version), which the
 * kernel binds to every program of the load: those differ from load to load
 * and say nothing about the build.
 */
function pinnedIdsOf(p: BpfProgram, maps: Record<string, BpfMap>): number[] {
  const pinned = new Set(Object.values(maps).map((m) => m.info.id));
  return p.mapIds().filter((id) => pinned.has(id));
}

/**
 * replaceProgram: loads the object on the pinned maps and, if its program
 * differs from the pinned one (tag, or the maps it uses), switches every
 * link to it and pins it in the old one's place. Same program: the new load
 * is dropped (and links left on another program by an interrupted upgrade
 * are moved back to the pinned one).
 *
 * Order, and what a crash at each point leaves:
 *   1. new program pinned under next/progs/: the pins still name the old
 *      one; the next start clears next/ and begins again.
 *   2. links switched one by one: some links run the new program, some the
 *      old; both use the same maps and forward alike. The next start sees a
 *      pinned program that differs from its build and switches them all.
 *   3. rename(next/progs/X → progs/X): atomic; from here the pin names the
 *      new program, the old one goes when its last reference does.
 */
export function replaceProgram(
  dir: string,
  objectPath: string,
  progName: string,
  maps: Record<string, BpfMap>,
  pinned: BpfProgram,
  layout: number,
  companions: readonly string[] = [],
): { upgrade: DatapathUpgrade | undefined; programsPinned: string[] } {
  const t0 = performance.now();
  const linkDir = join(dir, 'links');
  const reuseFds = Object.fromEntries(Object.entries(maps).map(([name, m]) => [name, m.fd]));
  const obj = BpfObject.load(objectPath, { reuseFds });
  try {
    // programs without links of their own, from the same load: pinned when missing (a datapath pinned by
    // a daemon that did not have them) or when the pin is another build
    const programsPinned = pinCompanions(dir, obj, objectPath, companions, maps);
    const fresh = new BpfProgram(obj.progFd(progName), progName, objectPath); // fd owned by obj
    const was = pinned.info();
    const now = fresh.info();
    if (now.tag === was.tag && sameIds(pinnedIdsOf(fresh, maps), pinnedIdsOf(pinned, maps))) {
      const links = moveLinks(linkDir, pinned);
      if (!links.moved) return { upgrade: undefined, programsPinned };
      return {
        upgrade: {
          kind: 'links-repaired', fromLayout: layout, toLayout: layout, oldProgram: progRef(now), newProgram: progRef(was),
          linksMoved: links.moved, linksGone: links.gone, durationMs: performance.now() - t0,
        },
        programsPinned,
      };
    }
    const staged = join(stagingDir(dir), 'progs');
    mkdirSync(staged, { recursive: true });
    obj.pinProgram(progName, join(staged, progName));
    let links: ReturnType<typeof moveLinks>;
    try {
      links = moveLinks(linkDir, fresh);
      renameSync(join(staged, progName), join(dir, 'progs', progName));
    } catch (err) {
      // not committed: every link back on the pinned program (best effort: the next start does it anyway)
      try {
        moveLinks(linkDir, pinned);
      } catch {
        /* left for the next start */
      }
      clearStaging(dir);
      throw err;
    }
    clearStaging(dir);
    return {
      upgrade: {
        kind: 'program-replaced', fromLayout: layout, toLayout: layout, oldProgram: progRef(was), newProgram: progRef(now),
        linksMoved: links.moved, linksGone: links.gone, durationMs: performance.now() - t0,
      },
      programsPinned,
    };
  } finally {
    obj.close();
  }
}

/**
 * pinCompanions: the programs of a load that no pinned link runs yet (the TC
 * entry, until the daemon attaches it): each is pinned when its pin is
 * missing or names another build (tag, or other pinned maps), through
 * next/progs/ and one rename, so progs/<name> is never half there. Returns
 * the names pinned. When links run such a program (TC attach), its replace
 * must also move those links, like the main program's.
 */
function pinCompanions(dir: string, obj: BpfObject, objectPath: string, names: readonly string[], maps: Record<string, BpfMap>): string[] {
  const done: string[] = [];
  for (const name of names) {
    const path = join(dir, 'progs', name);
    const fresh = new BpfProgram(obj.progFd(name), name, objectPath); // fd owned by obj
    if (existsSync(path)) {
      const cur = BpfProgram.open(path, name);
      try {
        if (cur.info().tag === fresh.info().tag && sameIds(pinnedIdsOf(fresh, maps), pinnedIdsOf(cur, maps))) continue;
      } finally {
        cur.close();
      }
    }
    const staged = join(stagingDir(dir), 'progs');
    mkdirSync(staged, { recursive: true });
    obj.pinProgram(name, join(staged, name));
    renameSync(join(staged, name), path);
    done.push(name);
  }
  if (done.length) clearStaging(dir);
  return done;
}

// ---------------------------------------------------------------- layout migration

const ARRAY_TYPES = new Set([2, 6]); // array, percpu_array: every slot exists

/** copyMap: every entry of `from` into `to`, converted; returns the count and, for per-CPU maps, what was copied. */
function copyMap(from: BpfMap, to: BpfMap, convert: MapConverter[]): { count: number; copied?: Map<string, Buffer> } {
  const copied = from.perCpu ? new Map<string, Buffer>() : undefined;
  const ks = to.info.keySize;
  const vs = to.info.valueSize;
  const CHUNK = 4096;
  const keys = Buffer.alloc(ks * CHUNK);
  const values = Buffer.alloc(vs * CHUNK);
  let pending = 0;
  let count = 0;
  const flush = () => {
    if (pending) to.updateBatch(keys, values, pending);
    pending = 0;
  };
  for (const [k0, v0] of from.entries()) {
    // an empty array slot is already there, zeroed, in the new map
    if (ARRAY_TYPES.has(from.info.type) && v0.every((b) => b === 0)) continue;
    let k = k0;
    let v = v0;
    for (const c of convert) [k, v] = c(k, v);
    count++;
    if (copied) {
      // per-CPU values: one update per key (a batch would take one CPU's worth of stride)
      copied.set(k0.toString('hex'), v0);
      to.update(k, v, BPF_ANY);
      continue;
    }
    k.copy(keys, pending * ks);
    v.copy(values, pending * vs);
    if (++pending === CHUNK) flush();
  }
  flush();
  return { count, copied };
}

/**
 * foldCounters: what the old program counted between the copy and the
 * switch of the links, added to the new map (per-CPU u64 counters: every
 * per-CPU map of ours holds only u64 counters).
 */
function foldCounters(from: BpfMap, to: BpfMap, copied: Map<string, Buffer>): void {
  for (const [k, now] of from.entries()) {
    const before = copied.get(k.toString('hex')) ?? Buffer.alloc(now.length);
    if (now.equals(before)) continue;
    const cur = to.lookup(k) ?? Buffer.alloc(now.length);
    for (let off = 0; off + 8 <= now.length; off += 8) {
      const delta = BigInt.asUintN(64, now.readBigUInt64LE(off) - before.readBigUInt64LE(off));
      cur.writeBigUInt64LE(BigInt.asUintN(64, cur.readBigUInt64LE(off) + delta), off);
    }
    to.update(k, cur, BPF_ANY);
  }
}

export interface MigrateSpec {
  dir: string;
  objectPath: string;
  progName: string;
  /** the object's other programs (no links of their own yet), pinned beside progName in the new progs/ */
  companions?: readonly string[];
  /** the maps of the new layout */
  mapNames: readonly string[];
  /** max_entries of the new maps that have no pinned counterpart (the table maps keep the pinned capacities) */
  defaultSizes: Record<string, number>;
  /** maps whose capacity is the layout's, not the pinned one's (e.g. one slot per drop reason) */
  layoutSized: readonly string[];
  steps: LayoutMigration[];
  /** the new vr_meta value (the new version), written into the new maps before they become the pinned ones */
  meta: { name: string; key: Buffer; value: Buffer };
}

/**
 * migrateLayout: converts the pinned datapath of <dir> to the layout of the
 * object, while it forwards.
 *
 * Order, and why. The start-up reads <dir>/maps/vr_meta and nothing else to
 * decide; the migration flips what that path holds in one atomic step, last:
 *   1. check the pinned maps' shapes against the first step: a mismatch is
 *      refused before anything is touched.
 *   2. load the object with new maps sized as the pinned ones, pin them and
 *      the program under next/ (staging), copy and convert every entry. The
 *      new vr_meta gets the new version, but at next/maps/vr_meta it names
 *      nothing yet. Crash: the pins still say vN, the old program still runs
 *      everywhere; the next start clears next/ and begins again.
 *   3. switch every link to the new program (bpf_link_update, one at a
 *      time). Crash: some interfaces run the new program on the new maps,
 *      some the old on the old, with the same contents (nobody writes the
 *      tables during a migration: the daemon is the only writer, and it is
 *      here); the pins still say vN, so the next start copies again from the
 *      old maps and switches every link. A failure here moves the links back.
 *   4. fold the counts the old program made since the copy into the new
 *      per-CPU maps.
 *   5. commit: renameat2(RENAME_EXCHANGE) of next/maps and maps: one atomic
 *      swap of the whole directory, so maps/vr_meta goes from vN to the new
 *      version together with every map beside it (never a mix of old and new
 *      maps under one meta). Then the same swap for progs. Crash between
 *      the two: the pins say the new version, and the start-up's program
 *      check (replaceProgram) finds progs/ naming a program that is not the
 *      build's on these maps and switches to a fresh one.
 *   6. remove next/, which now holds the old maps and program: they are
 *      freed with their last reference.
 */
export function migrateLayout(spec: MigrateSpec): Omit<DatapathUpgrade, 'kind'> {
  const t0 = performance.now();
  const { dir, steps } = spec;
  const first = steps[0]!;
  const mapsDir = join(dir, 'maps');
  const progsDir = join(dir, 'progs');
  const next = stagingDir(dir);
  clearStaging(dir);

  // 1. the pinned maps, as the oldest step knows them
  const old: Record<string, BpfMap> = {};
  const closeAll = (ms: Record<string, BpfMap>) => Object.values(ms).forEach((m) => m.close());
  try {
    for (const [name, shape] of Object.entries(first.shapes)) {
      const path = join(mapsDir, name);
      if (!existsSync(path)) throw new MigrationRefused(`${dir}: pinned layout v${first.from} is missing ${path}`);
      const m = (old[name] = BpfMap.open(path));
      if (m.info.keySize !== shape.keySize || m.info.valueSize !== shape.valueSize)
        throw new MigrationRefused(
          `${path}: key/value ${m.info.keySize}/${m.info.valueSize} bytes, layout v${first.from} has ${shape.keySize}/${shape.valueSize}`,
        );
    }
  } catch (err) {
    closeAll(old);
    throw err;
  }
  const oldProg = BpfProgram.open(join(progsDir, spec.progName), spec.progName);
  const fresh: Record<string, BpfMap> = {};
  let newProg: BpfProgram | undefined;
  let linksTouched = false;
  try {
    // 2. new maps of the same capacities, staged and filled
    const maxEntries: Record<string, number> = {};
    for (const name of spec.mapNames) {
      const pinnedSize = old[name]?.info.maxEntries;
      const size = spec.layoutSized.includes(name) || pinnedSize === undefined ? spec.defaultSizes[name] : pinnedSize;
      if (size !== undefined) maxEntries[name] = size;
    }
    const obj = BpfObject.load(spec.objectPath, { maxEntries });
    try {
      mkdirSync(join(next, 'maps'), { recursive: true });
      mkdirSync(join(next, 'progs'), { recursive: true });
      for (const name of spec.mapNames) obj.pinMap(name, join(next, 'maps', name));
      obj.pinProgram(spec.progName, join(next, 'progs', spec.progName));
      for (const name of spec.companions ?? []) obj.pinProgram(name, join(next, 'progs', name));
    } finally {
      obj.close();
    }
    for (const name of spec.mapNames) fresh[name] = BpfMap.open(join(next, 'maps', name));
    newProg = BpfProgram.open(join(next, 'progs', spec.progName), spec.progName);

    const entries: Record<string, number> = {};
    const copied: Record<string, Map<string, Buffer>> = {};
    for (const name of spec.mapNames) {
      if (name === spec.meta.name || !old[name]) continue;
      const chain = steps.map((s) => s.convert[name]).filter((c): c is MapConverter => c !== undefined);
      const r = copyMap(old[name], fresh[name]!, chain);
      entries[name] = r.count;
      if (r.copied) copied[name] = r.copied;
    }
    fresh[spec.meta.name]!.update(spec.meta.key, spec.meta.value);

    // 3. every link onto the new program
    linksTouched = true;
    const links = moveLinks(join(dir, 'links'), newProg);

    // 4. what the old program counted meanwhile
    for (const [name, c] of Object.entries(copied)) foldCounters(old[name]!, fresh[name]!, c);

    // 5. commit: one atomic swap of the map directory, then of the program's
    exchange(join(next, 'maps'), mapsDir);
    linksTouched = false; // committed: no way back from here
    exchange(join(next, 'progs'), progsDir);

    const report = {
      fromLayout: first.from,
      toLayout: steps[steps.length - 1]!.to,
      oldProgram: progRef(oldProg.info()),
      newProgram: progRef(newProg.info()),
      linksMoved: links.moved,
      linksGone: links.gone,
      entries,
      durationMs: 0,
    };
    // 6. the old maps and program, now under next/
    closeAll(old);
    closeAll(fresh);
    oldProg.close();
    newProg.close();
    clearStaging(dir);
    report.durationMs = performance.now() - t0;
    return report;
  } catch (err) {
    // not committed: the old program on every link again, the staging gone
    if (linksTouched) {
      try {
        moveLinks(join(dir, 'links'), oldProg);
      } catch {
        /* the next start begins again from the pinned (old) layout */
      }
    }
    closeAll(old);
    closeAll(fresh);
    oldProg.close();
    newProg?.close();
    clearStaging(dir);
    throw err;
  }
}

/** exchange: swaps two directories in one step (bpffs supports RENAME_EXCHANGE). */
function exchange(a: string, b: string): void {
  const AT_FDCWD = -100;
  if (sys.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0) throw new BpfError('renameat2', `${a} <-> ${b}`, sys.errno());
}

/** MigrationRefused: the pinned datapath is not what its layout says; nothing was touched. */
export class MigrationRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationRefused';
  }
}
