/**
 * PinnedDatapath: the datapath as it lives in bpffs under
 * <root>/<instance>/{maps,progs,links}. openDatapath adopts what is pinned
 * (no re-attach) when its layout is ours, and replaces the pinned program
 * through its links if this daemon's build differs; migrates an older layout
 * it has a migration for (src/maps/migrate.ts); loads and pins when nothing
 * is pinned; and refuses an unknown layout or a half-pinned directory
 * without touching it. A program of this build that the pinned datapath
 * lacks (vr_tc_vif, added after vr_xdp_vif) is loaded on the pinned maps and
 * pinned: only the XDP program must be there (a datapath of layout v1 or v2
 * had at least that one).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../bpf/map.ts';
import { BpfProgram } from '../bpf/program.ts';
import { loadAndPin, objectLayoutVersion } from '../bpf/object.ts';
import {
  MAP_NAMES, PROGRAM_NAMES, VR_COMP_BLOCK, VR_DEF_MAX_BRIDGE, VR_DEF_MAX_COMP, VR_DEF_MAX_FLOWS, VR_DEF_MAX_LABELS, VR_DEF_MAX_VNIS, VR_LAYOUT_VERSION, VR_MAGIC, VR_TC_MAX,
  type MapName,
} from './layout.ts';
import { decodeMeta, encodeMeta, u32Key } from './codecs.ts';
import { VR_DROP_MAX } from './drop-reasons.ts';
import {
  clearStaging, migrateLayout, migrationPath, MigrationRefused, replaceProgram, type DatapathUpgrade,
} from './migrate.ts';

export type { DatapathUpgrade } from './migrate.ts';

/** the hooks a link is pinned for; the pin's name starts with it */
export type LinkHook = 'xdp' | 'tc' | 'egress';

export interface TableSizes {
  maxInterfaces: number;
  maxNextHops: number;
  maxRoutes: number;
  /** flow table entries (forward and reverse halves count one each); default VR_DEF_MAX_FLOWS */
  maxFlows?: number | undefined;
  /** MPLS label table entries; default VR_DEF_MAX_LABELS */
  maxLabels?: number | undefined;
  /** VNI table entries; default VR_DEF_MAX_VNIS */
  maxVnis?: number | undefined;
  /** bridge (MAC) table entries; default VR_DEF_MAX_BRIDGE */
  maxBridge?: number | undefined;
  /** composite next hops (vr_comp holds VR_COMP_BLOCK slots for each); default VR_DEF_MAX_COMP / VR_COMP_BLOCK */
  maxComposites?: number | undefined;
}

export interface OpenOptions {
  bpffsRoot: string;
  instance: string;
  objectPath: string;
  sizes: TableSizes;
}

/** DatapathLayoutError: pinned state this daemon must not touch. */
export class DatapathLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatapathLayoutError';
  }
}

export class PinnedDatapath {
  readonly dir: string;
  readonly maps: Record<MapName, BpfMap>;
  readonly xdp: BpfProgram;
  /** the tcx ingress entry of the same datapath (same maps) */
  readonly tc: BpfProgram;
  /** the tcx egress entry of host vifs (same maps) */
  readonly egress: BpfProgram;
  readonly adopted: boolean;
  readonly loadedAtNs: bigint;
  /** what openDatapath changed in an adopted datapath: its program replaced, or its layout migrated */
  readonly upgrade: DatapathUpgrade | undefined;
  /** programs an adoption pinned because the pinned datapath lacked them (or had another build of them) */
  readonly programsPinned: readonly string[];

  constructor(
    dir: string,
    maps: Record<MapName, BpfMap>,
    xdp: BpfProgram,
    tc: BpfProgram,
    egress: BpfProgram,
    adopted: boolean,
    loadedAtNs: bigint,
    upgrade?: DatapathUpgrade,
    programsPinned: readonly string[] = [],
  ) {
    this.dir = dir;
    this.maps = maps;
    this.xdp = xdp;
    this.tc = tc;
    this.egress = egress;
    this.programsPinned = programsPinned;
    this.adopted = adopted;
    this.loadedAtNs = loadedAtNs;
    this.upgrade = upgrade;
  }

  /** programReplaced: the links now run another program than the one pinned before this start. */
  get programReplaced(): boolean {
    return this.upgrade !== undefined && this.upgrade.kind !== 'links-repaired';
  }

  get linkDir(): string {
    return join(this.dir, 'links');
  }

  /** linkPath: where the link of a kernel interface on a hook is pinned (links/xdp_<ifindex>, links/tc_<ifindex>, links/egress_<ifindex>). */
  linkPath(ifindex: number, hook: LinkHook): string {
    return join(this.linkDir, `${hook}_${ifindex}`);
  }

  close(): void {
    for (const m of Object.values(this.maps)) m.close();
    this.xdp.close();
    this.tc.close();
    this.egress.close();
  }
}

function openPinned(dir: string): Record<MapName, BpfMap> {
  const maps = {} as Record<MapName, BpfMap>;
  for (const name of MAP_NAMES) maps[name] = BpfMap.open(join(dir, 'maps', name));
  return maps;
}

/** tableSizes: max_entries per map for a new load. */
function tableSizes(sizes: TableSizes): Record<string, number> {
  return {
    vr_vifs: sizes.maxInterfaces,
    vr_vif_stats: sizes.maxInterfaces,
    vr_nexthops: sizes.maxNextHops,
    vr_rt4: sizes.maxRoutes,
    vr_rt6: sizes.maxRoutes,
    vr_host4: sizes.maxRoutes,
    vr_host6: sizes.maxRoutes,
    vr_drops: VR_DROP_MAX,
    vr_flows: sizes.maxFlows ?? VR_DEF_MAX_FLOWS,
    vr_mpls: sizes.maxLabels ?? VR_DEF_MAX_LABELS,
    vr_vxlan: sizes.maxVnis ?? VR_DEF_MAX_VNIS,
    vr_comp: sizes.maxComposites ? sizes.maxComposites * VR_COMP_BLOCK : VR_DEF_MAX_COMP,
    vr_tctr: VR_TC_MAX,
    vr_bridge: sizes.maxBridge ?? VR_DEF_MAX_BRIDGE,
  };
}

/** openDatapath: adopt the pinned datapath of this instance, or load it. */
export function openDatapath(opts: OpenOptions): PinnedDatapath {
  const dir = join(opts.bpffsRoot, opts.instance);
  // the object must be of this daemon's layout: a program of another layout would
  // run on maps it does not match (a program replace checks only the map sizes)
  const built = objectLayoutVersion(opts.objectPath);
  if (built !== VR_LAYOUT_VERSION)
    throw new DatapathLayoutError(
      `${opts.objectPath}: built for map layout ${built === undefined ? '(none: not a vrouter-ebpf object)' : `v${built}`}, ` +
        `this daemon speaks v${VR_LAYOUT_VERSION}; refusing to load it (a pinned datapath is left alone)`,
    );
  const metaPath = join(dir, 'maps', 'vr_meta');
  const progPath = (name: string) => join(dir, 'progs', name);
  // the program the pinned links run must be there; the others are pinned from this build when missing
  const MAIN = 'vr_xdp_vif';
  const companions = PROGRAM_NAMES.filter((n) => n !== MAIN);

  let m: ReturnType<typeof decodeMeta> | undefined;
  if (existsSync(metaPath)) {
    const meta = BpfMap.open(metaPath);
    const raw = meta.lookup(u32Key(0));
    meta.close();
    m = raw ? decodeMeta(raw) : undefined;
  }
  // magic 0: vr_meta was pinned but never written, a load that did not finish
  if (m && m.magic !== 0) {
    if (m.magic !== VR_MAGIC)
      throw new DatapathLayoutError(`${metaPath}: not a vrouter-ebpf datapath (bad magic); refusing to touch it`);
    if (m.layoutVersion > VR_LAYOUT_VERSION)
      throw new DatapathLayoutError(
        `${dir}: pinned map layout v${m.layoutVersion}, this daemon speaks v${VR_LAYOUT_VERSION}; ` +
          'refusing to adopt it (the running datapath is left alone)',
      );
    let upgrade: DatapathUpgrade | undefined;
    if (m.layoutVersion < VR_LAYOUT_VERSION) {
      const steps = migrationPath(m.layoutVersion, VR_LAYOUT_VERSION);
      if (!steps)
        throw new DatapathLayoutError(
          `${dir}: pinned map layout v${m.layoutVersion}, this daemon speaks v${VR_LAYOUT_VERSION} and has no migration ` +
            'from it; refusing to adopt it (the running datapath is left alone)',
        );
      if (!existsSync(progPath(MAIN))) throw new DatapathLayoutError(`${dir}: pinned datapath is missing ${progPath(MAIN)}`);
      try {
        upgrade = {
          kind: 'layout-migrated',
          ...migrateLayout({
            dir,
            objectPath: opts.objectPath,
            progName: MAIN,
            companions,
            mapNames: MAP_NAMES,
            defaultSizes: tableSizes(opts.sizes),
            layoutSized: ['vr_meta', 'vr_drops', 'vr_fctr', 'vr_scratch', 'vr_config', 'vr_tctr'],
            steps,
            meta: {
              name: 'vr_meta',
              key: u32Key(0),
              value: encodeMeta({ magic: VR_MAGIC, layoutVersion: VR_LAYOUT_VERSION, loadedAtNs: m.loadedAtNs }),
            },
          }),
        };
      } catch (err) {
        if (err instanceof MigrationRefused) throw new DatapathLayoutError(`${err.message}; refusing to migrate it (left alone)`);
        throw err;
      }
    }
    for (const name of [...MAP_NAMES.map((n) => join(dir, 'maps', n)), progPath(MAIN)])
      if (!existsSync(name)) throw new DatapathLayoutError(`${dir}: pinned datapath is missing ${name}`);
    clearStaging(dir);
    const maps = openPinned(dir);
    let programsPinned: string[] = [];
    if (!upgrade) {
      // same layout: a different build of a program takes over the links of its hook; the programs the
      // pinned datapath lacks are pinned from the same load (on the pinned maps)
      try {
        ({ upgrade, programsPinned } = replaceProgram(dir, opts.objectPath, maps, VR_LAYOUT_VERSION, PROGRAM_NAMES, MAIN));
      } catch (err) {
        for (const mp of Object.values(maps)) mp.close();
        throw err;
      }
    }
    const xdp = BpfProgram.open(progPath(MAIN), MAIN);
    const tc = BpfProgram.open(progPath('vr_tc_vif'), 'vr_tc_vif');
    const egress = BpfProgram.open(progPath('vr_tc_egress'), 'vr_tc_egress');
    return new PinnedDatapath(dir, maps, xdp, tc, egress, true, m.loadedAtNs, upgrade, programsPinned);
  }

  // No (finished) meta: the directory must hold nothing (a crash mid-load leaves maps
  // and progs without links; those are ours to clear, links are not).
  if (existsSync(join(dir, 'links')) && readdirSync(join(dir, 'links')).length > 0)
    throw new DatapathLayoutError(`${dir}: links are pinned but no vr_meta; refusing to touch them`);
  rmSync(join(dir, 'maps'), { recursive: true, force: true });
  rmSync(join(dir, 'progs'), { recursive: true, force: true });
  clearStaging(dir);
  mkdirSync(join(dir, 'links'), { recursive: true });

  // vr_meta is pinned last: its presence means the load completed
  const mapsWithoutMeta = MAP_NAMES.filter((n) => n !== 'vr_meta');
  loadAndPin({
    objectPath: opts.objectPath,
    maxEntries: tableSizes(opts.sizes),
    maps: [...mapsWithoutMeta, 'vr_meta'],
    programs: PROGRAM_NAMES,
    mapDir: join(dir, 'maps'),
    progDir: join(dir, 'progs'),
  });
  const maps = openPinned(dir);
  const loadedAtNs = BigInt(Date.now()) * 1_000_000n;
  maps.vr_meta.update(u32Key(0), encodeMeta({ magic: VR_MAGIC, layoutVersion: VR_LAYOUT_VERSION, loadedAtNs }));
  return new PinnedDatapath(
    dir, maps, BpfProgram.open(progPath(MAIN), MAIN), BpfProgram.open(progPath('vr_tc_vif'), 'vr_tc_vif'),
    BpfProgram.open(progPath('vr_tc_egress'), 'vr_tc_egress'), false, loadedAtNs,
  );
}

/** destroyDatapath: detaches every pinned link and removes the instance's pins. */
export function destroyDatapath(bpffsRoot: string, instance: string): void {
  rmSync(join(bpffsRoot, instance), { recursive: true, force: true });
}
