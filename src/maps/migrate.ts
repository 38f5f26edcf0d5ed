/**
 * Upgrades of a pinned datapath without a gap in forwarding:
 *
 * - replaceProgram: same layout, another build of the programs. The new
 *   programs are loaded on the pinned maps (bpf_map__reuse_fd) and every
 *   pinned link is switched to the program of its hook (links/xdp_* to the
 *   XDP entry, links/tc_* to the TC entry) with bpf_link_update.
 * - migrateLayout: an older layout. New maps are created with the pinned
 *   ones' capacities, filled with their converted contents, every link is
 *   switched to the new program, and the new pins take the old ones' place.
 *
 * MIGRATIONS is the registry: one entry per layout step (from → from + 1),
 * each naming the shapes of the maps it reads and a converter per map whose
 * entries change (an entry may move to another map: migrate-copy.ts); a map
 * without a converter is copied as is. A pinned layout is migrated only
 * along an unbroken chain of steps up to this daemon's.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../bpf/map.ts';
import { BpfProgram, type ProgInfo } from '../bpf/program.ts';
import { BpfLink } from '../bpf/link.ts';
import { BpfObject } from '../bpf/object.ts';
import { BpfError, ERRNO } from '../bpf/errors.ts';
import { sys } from '../bpf/libbpf.ts';
import { V1_TO_V2 } from './migrate-v1.ts';
import { V2_TO_V3 } from './migrate-v2.ts';
import { V3_TO_V4, V4_SHAPES } from './migrate-v3.ts';
import { copyMaps, foldCounters } from './migrate-copy.ts';
import { tunnelsStep } from './migrate-v4.ts';

/**
 * MapConverter: one entry of a map in the old layout → the same entry in the
 * next; a third element names the map of the next layout the entry moves to
 * (from then on it is that map's entry).
 */
export type MapConverter = (key: Buffer, value: Buffer) => [Buffer, Buffer] | [Buffer, Buffer, string];

export interface LayoutMigration {
  from: number;
  to: number;
  /**
   * the maps of layout `from` (name → key and value size): what is checked
   * before anything is touched, and what is copied (a map left out, such as
   * a ring buffer or a scratch buffer, starts empty)
   */
  shapes: Record<string, { keySize: number; valueSize: number }>;
  /** per map whose entries change; per-CPU maps get the whole per-CPU buffer */
  convert: Record<string, MapConverter>;
  /** maps new in `to` whose capacity is that of a pinned map (new name → pinned name), not the config's */
  sizedLike?: Record<string, string>;
}

/** The registry: add v5 → v6 here. */
export const MIGRATIONS: readonly LayoutMigration[] = [V1_TO_V2, V2_TO_V3, V3_TO_V4, tunnelsStep(4, V4_SHAPES)];

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

/** the programs of the links, by the hook their pins are named for (links/<hook>_<ifindex>) */
export type LinkedPrograms = Partial<Record<'xdp' | 'tc' | 'egress', BpfProgram>>;

/** the program each hook's links run (egress: the tcx egress links of host vifs) */
export const LINKED_PROGRAMS = { xdp: 'vr_xdp_vif', tc: 'vr_tc_vif', egress: 'vr_tc_egress' } as const;

/**
 * moveLinks: every pinned link of the instance onto the program of its hook,
 * each in one bpf_link_update (the interface is never without a program).
 * Links already on it, and links of a hook not in `progs`, are left alone;
 * a link whose interface is gone (ENOLINK) is counted and left for the
 * manager, which reports it.
 */
export function moveLinks(linkDir: string, progs: LinkedPrograms): { moved: number; gone: number; total: number } {
  const ids = new Map<string, { id: number; fd: number }>();
  for (const [hook, p] of Object.entries(progs)) if (p) ids.set(hook, { id: p.info().id, fd: p.fd });
  let moved = 0;
  let gone = 0;
  let total = 0;
  if (!existsSync(linkDir)) return { moved, gone, total };
  for (const name of readdirSync(linkDir).sort()) {
    const prog = ids.get(name.slice(0, name.indexOf('_')));
    if (!prog) continue;
    const link = BpfLink.open(join(linkDir, name));
    if (!link) continue;
    total++;
    try {
      if (link.info().progId === prog.id) continue;
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
 * replaceProgram: loads the object on the pinned maps and, for each of its
 * programs whose pin is another build (tag, or the maps it uses) or is
 * missing, pins the new one and switches the links of its hook to it. When
 * every program is the same build, the new load is dropped (and links left
 * on another program by an interrupted upgrade are moved back to the
 * pinned one).
 *
 * Order, and what a crash at each point leaves:
 *   1. new programs pinned under next/progs/: the pins still name the old
 *      ones; the next start clears next/ and begins again.
 *   2. links switched one by one, each to the new program of its hook: some
 *      links run new programs, some old; all use the same maps and forward
 *      alike. The next start sees pinned programs that differ from its
 *      build and switches them all.
 *   3. rename(next/progs/X → progs/X), one per program: atomic; from here
 *      the pin names the new program, the old one goes with its last
 *      reference. A crash between two renames: the next start replaces the
 *      rest, and moves the links of the renamed ones back onto their pins.
 */
export function replaceProgram(
  dir: string,
  objectPath: string,
  maps: Record<string, BpfMap>,
  layout: number,
  names: readonly string[],
  main: string,
): { upgrade: DatapathUpgrade | undefined; programsPinned: string[] } {
  const t0 = performance.now();
  const linkDir = join(dir, 'links');
  const obj = BpfObject.loadOnMaps(objectPath, maps);
  const pinned = new Map<string, BpfProgram>();
  try {
    const fresh = new Map(names.map((n) => [n, new BpfProgram(obj.progFd(n), n, objectPath)])); // fds owned by obj
    const changed: string[] = []; // pinned as another build: its links move
    const missing: string[] = []; // not pinned: a datapath pinned by a daemon that lacked it
    for (const n of names) {
      const path = join(dir, 'progs', n);
      if (!existsSync(path)) {
        missing.push(n);
        continue;
      }
      const cur = BpfProgram.open(path, n);
      pinned.set(n, cur);
      if (cur.info().tag !== fresh.get(n)!.info().tag || !sameIds(pinnedIdsOf(fresh.get(n)!, maps), pinnedIdsOf(cur, maps))) changed.push(n);
    }
    const byHook = (pick: (n: string) => BpfProgram | undefined): LinkedPrograms => {
      const out: LinkedPrograms = {};
      for (const [hook, n] of Object.entries(LINKED_PROGRAMS) as [keyof LinkedPrograms, string][]) {
        const p = pick(n);
        if (p) out[hook] = p;
      }
      return out;
    };
    const mainWas = pinned.get(main)?.info();
    const mainNow = fresh.get(main)!.info();
    if (!changed.length && !missing.length) {
      const links = moveLinks(linkDir, byHook((n) => pinned.get(n)));
      if (!links.moved) return { upgrade: undefined, programsPinned: [] };
      return {
        upgrade: {
          kind: 'links-repaired', fromLayout: layout, toLayout: layout, oldProgram: progRef(mainNow), newProgram: progRef(mainWas ?? mainNow),
          linksMoved: links.moved, linksGone: links.gone, durationMs: performance.now() - t0,
        },
        programsPinned: [],
      };
    }
    const toPin = [...changed, ...missing];
    const staged = join(stagingDir(dir), 'progs');
    mkdirSync(staged, { recursive: true });
    for (const n of toPin) obj.pinProgram(n, join(staged, n));
    let links: ReturnType<typeof moveLinks>;
    try {
      links = moveLinks(linkDir, byHook((n) => (toPin.includes(n) ? fresh.get(n) : pinned.get(n))));
      for (const n of toPin) renameSync(join(staged, n), join(dir, 'progs', n));
    } catch (err) {
      // not committed: every link back on its pinned program (best effort: the next start does it anyway)
      try {
        moveLinks(linkDir, byHook((n) => pinned.get(n)));
      } catch {
        /* left for the next start */
      }
      clearStaging(dir);
      throw err;
    }
    clearStaging(dir);
    if (!changed.length) return { upgrade: undefined, programsPinned: toPin };
    return {
      upgrade: {
        kind: 'program-replaced', fromLayout: layout, toLayout: layout, oldProgram: progRef(mainWas ?? mainNow), newProgram: progRef(mainNow),
        linksMoved: links.moved, linksGone: links.gone, durationMs: performance.now() - t0,
      },
      programsPinned: toPin,
    };
  } finally {
    for (const p of pinned.values()) p.close();
    obj.close();
  }
}

// ---------------------------------------------------------------- layout migration

export interface MigrateSpec {
  dir: string;
  objectPath: string;
  progName: string;
  /** the object's other programs, pinned beside progName in the new progs/ (vr_tc_vif's links move too: LINKED_PROGRAMS) */
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
  // the old datapath's other linked entries (TC ingress, TC egress), those it had: their links move too
  const oldOthers = linkedCompanions(progsDir);
  const fresh: Record<string, BpfMap> = {};
  let newProg: BpfProgram | undefined;
  let newOthers: LinkedPrograms = {};
  let linksTouched = false;
  try {
    // 2. new maps of the same capacities, staged and filled
    const maxEntries: Record<string, number> = {};
    const sizedLike: Record<string, string | undefined> = Object.assign({}, ...steps.map((s) => s.sizedLike ?? {}));
    // a pinned map's capacity, or that of the map it is sized like (through the steps: a map of v5 like one new in v4 like one pinned)
    const pinnedCapacity = (name: string): number | undefined => {
      for (let n: string | undefined = name, hops = 0; n !== undefined && hops <= steps.length; n = sizedLike[n], hops++)
        if (old[n]) return old[n].info.maxEntries;
      return undefined;
    };
    for (const name of spec.mapNames) {
      const pinnedSize = pinnedCapacity(name);
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
    newOthers = linkedCompanions(join(next, 'progs'));

    const { entries, copied } = copyMaps(old, fresh, steps, [spec.meta.name]);
    fresh[spec.meta.name]!.update(spec.meta.key, spec.meta.value);

    // 3. every link onto the new program
    linksTouched = true;
    const links = moveLinks(join(dir, 'links'), { ...newOthers, xdp: newProg });

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
    closePrograms(oldOthers);
    newProg.close();
    closePrograms(newOthers);
    clearStaging(dir);
    report.durationMs = performance.now() - t0;
    return report;
  } catch (err) {
    // not committed: the old program on every link again, the staging gone
    if (linksTouched) {
      try {
        moveLinks(join(dir, 'links'), { ...oldOthers, xdp: oldProg });
      } catch {
        /* the next start begins again from the pinned (old) layout */
      }
    }
    closeAll(old);
    closeAll(fresh);
    oldProg.close();
    closePrograms(oldOthers);
    newProg?.close();
    closePrograms(newOthers);
    clearStaging(dir);
    throw err;
  }
}

/** linkedCompanions: the linked programs other than the XDP one pinned under progsDir (those there are) */
function linkedCompanions(progsDir: string): LinkedPrograms {
  const out: LinkedPrograms = {};
  for (const hook of ['tc', 'egress'] as const) {
    const path = join(progsDir, LINKED_PROGRAMS[hook]);
    if (existsSync(path)) out[hook] = BpfProgram.open(path, LINKED_PROGRAMS[hook]);
  }
  return out;
}

function closePrograms(progs: LinkedPrograms): void {
  for (const p of Object.values(progs)) p?.close();
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
