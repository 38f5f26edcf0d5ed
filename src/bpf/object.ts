/**
 * BpfObject: a BPF object file opened, configured (map sizes, maps reused
 * from live fds) and loaded into the kernel. loadAndPin builds on it: it
 * loads, pins every map and program under a directory and closes the
 * object: from then on the pins are the datapath, and callers reopen them by
 * path (the same way a restarted daemon adopts them).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readU32, sys } from './libbpf.ts';
import { BpfError, check, ERRNO } from './errors.ts';
import { withLibbpfLog } from './libbpf-log.ts';

export interface ObjectSetup {
  /** map name → max_entries override */
  maxEntries?: Record<string, number>;
  /** map name → fd of a live map that the object uses instead of creating its own */
  reuseFds?: Record<string, number>;
  /** bpf_object__load attempts when the verifier is interrupted (EAGAIN) */
  attempts?: number;
  /** load only these programs (the others are not verified: a big datapath costs its verifier time once, not per helper program) */
  only?: readonly string[];
}

type ObjPtr = NonNullable<ReturnType<typeof sys.bpf_object__open_file>>;

/**
 * objectLayoutVersion: the `vr_layout_version` an object file was built for
 * (the only .rodata variable of bpf/vr_xdp.c, at offset 0), read without
 * loading anything; undefined for an object that has none.
 */
export function objectLayoutVersion(path: string): number | undefined {
  const obj = sys.bpf_object__open_file(path, null);
  if (!obj) throw new BpfError('bpf_object__open_file', path, sys.errno());
  try {
    const map = sys.bpf_object__find_map_by_name(obj, '.rodata');
    if (!map) return undefined;
    const size = [0];
    const data = sys.bpf_map__initial_value(map, size);
    return data && (size[0] ?? 0) >= 4 ? readU32(data) : undefined;
  } finally {
    sys.bpf_object__close(obj);
  }
}

export class BpfObject {
  readonly path: string;
  private obj: ObjPtr | null;

  private constructor(path: string, obj: ObjPtr) {
    this.path = path;
    this.obj = obj;
  }

  /**
   * load: opens the object file, applies the setup and loads it. The
   * verifier fails a load with EAGAIN when signals interrupt it; libbpf
   * cannot load an object twice, so each attempt opens the file again.
   */
  static load(path: string, setup: ObjectSetup = {}): BpfObject {
    const attempts = setup.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const obj = sys.bpf_object__open_file(path, null);
      if (!obj) throw new BpfError('bpf_object__open_file', path, sys.errno());
      let loaded = false;
      try {
        for (const [name, n] of Object.entries(setup.maxEntries ?? {})) {
          const map = sys.bpf_object__find_map_by_name(obj, name);
          if (!map) throw new BpfError('bpf_object__find_map_by_name', name, ERRNO.ENOENT);
          check(sys.bpf_map__set_max_entries(map, n), 'bpf_map__set_max_entries', name);
        }
        if (setup.only)
          for (let p = sys.bpf_object__next_program(obj, null); p; p = sys.bpf_object__next_program(obj, p))
            if (!setup.only.includes(sys.bpf_program__name(p) as string)) check(sys.bpf_program__set_autoload(p, false), 'bpf_program__set_autoload', path);
        for (const [name, fd] of Object.entries(setup.reuseFds ?? {})) {
          const map = sys.bpf_object__find_map_by_name(obj, name);
          if (!map) throw new BpfError('bpf_object__find_map_by_name', name, ERRNO.ENOENT);
          // libbpf checks type, key/value size, max_entries and flags at load
          check(sys.bpf_map__reuse_fd(map, fd), 'bpf_map__reuse_fd', name);
        }
        // a failed load keeps what libbpf printed: the whole verifier log
        const load = withLibbpfLog(() => sys.bpf_object__load(obj));
        if (load.result === -ERRNO.EAGAIN && attempt < attempts) continue;
        if (load.result < 0) throw new BpfError('bpf_object__load', path, -load.result, load.log.trim() ? `\n${load.log}` : undefined);
        loaded = true;
        return new BpfObject(path, obj);
      } finally {
        if (!loaded) sys.bpf_object__close(obj);
      }
    }
  }

  /** loadOnMaps: load with every map of `maps` (by name) reused: the object's programs (or `only` these) run on those maps. */
  static loadOnMaps(path: string, maps: Record<string, { readonly fd: number }>, only?: readonly string[]): BpfObject {
    return BpfObject.load(path, { reuseFds: Object.fromEntries(Object.entries(maps).map(([name, m]) => [name, m.fd])), only });
  }

  private get handle(): ObjPtr {
    if (!this.obj) throw new Error(`${this.path}: object closed`);
    return this.obj;
  }

  /** mapFd: the fd of a loaded map (owned by the object: valid until close). */
  mapFd(name: string): number {
    const map = sys.bpf_object__find_map_by_name(this.handle, name);
    if (!map) throw new BpfError('bpf_object__find_map_by_name', name, ERRNO.ENOENT);
    return check(sys.bpf_map__fd(map), 'bpf_map__fd', name);
  }

  /** progFd: the fd of a loaded program (owned by the object: valid until close). */
  progFd(name: string): number {
    const prog = sys.bpf_object__find_program_by_name(this.handle, name);
    if (!prog) throw new BpfError('bpf_object__find_program_by_name', name, ERRNO.ENOENT);
    return check(sys.bpf_program__fd(prog), 'bpf_program__fd', name);
  }

  pinMap(name: string, path: string): void {
    check(sys.bpf_obj_pin(this.mapFd(name), path), 'bpf_obj_pin', path);
  }

  pinProgram(name: string, path: string): void {
    check(sys.bpf_obj_pin(this.progFd(name), path), 'bpf_obj_pin', path);
  }

  /** close: drops the object's fds; what is pinned or attached lives on. */
  close(): void {
    if (this.obj) sys.bpf_object__close(this.obj);
    this.obj = null;
  }
}

export interface LoadSpec {
  objectPath: string;
  /** map name → max_entries override */
  maxEntries: Record<string, number>;
  maps: readonly string[];
  programs: readonly string[];
  mapDir: string;
  progDir: string;
}

export function loadAndPin(spec: LoadSpec): void {
  const obj = BpfObject.load(spec.objectPath, { maxEntries: spec.maxEntries });
  try {
    mkdirSync(spec.mapDir, { recursive: true });
    mkdirSync(spec.progDir, { recursive: true });
    for (const name of spec.maps) obj.pinMap(name, join(spec.mapDir, name));
    for (const name of spec.programs) obj.pinProgram(name, join(spec.progDir, name));
  } finally {
    obj.close();
  }
}
