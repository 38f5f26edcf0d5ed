/**
 * loadAndPin: opens a BPF object file, sizes its maps, loads it into the
 * kernel and pins every map and program under a directory. The object is
 * closed afterwards: from then on the pins are the datapath, and callers
 * reopen them by path (the same way a restarted daemon adopts them).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sys } from './libbpf.ts';
import { BpfError, check } from './errors.ts';
import { withLibbpfLog } from './libbpf-log.ts';

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
  const obj = sys.bpf_object__open_file(spec.objectPath, null);
  if (!obj) throw new BpfError('bpf_object__open_file', spec.objectPath, sys.errno());
  try {
    for (const [name, n] of Object.entries(spec.maxEntries)) {
      const map = sys.bpf_object__find_map_by_name(obj, name);
      if (!map) throw new BpfError('bpf_object__find_map_by_name', name, 2);
      check(sys.bpf_map__set_max_entries(map, n), 'bpf_map__set_max_entries', name);
    }
    // a failed load keeps what libbpf printed: the whole verifier log
    const load = withLibbpfLog(() => sys.bpf_object__load(obj));
    if (load.result < 0) throw new BpfError('bpf_object__load', spec.objectPath, -load.result, load.log.trim() ? `\n${load.log}` : undefined);
    mkdirSync(spec.mapDir, { recursive: true });
    mkdirSync(spec.progDir, { recursive: true });
    for (const name of spec.maps) {
      const map = sys.bpf_object__find_map_by_name(obj, name);
      if (!map) throw new BpfError('bpf_object__find_map_by_name', name, 2);
      const path = join(spec.mapDir, name);
      check(sys.bpf_obj_pin(sys.bpf_map__fd(map), path), 'bpf_obj_pin', path);
    }
    for (const name of spec.programs) {
      const prog = sys.bpf_object__find_program_by_name(obj, name);
      if (!prog) throw new BpfError('bpf_object__find_program_by_name', name, 2);
      const path = join(spec.progDir, name);
      check(sys.bpf_obj_pin(sys.bpf_program__fd(prog), path), 'bpf_obj_pin', path);
    }
  } finally {
    sys.bpf_object__close(obj);
  }
}
