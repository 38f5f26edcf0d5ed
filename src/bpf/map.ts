/**
 * BpfMap: one live kernel map, by fd, with raw byte-level access. Typed
 * access (codecs) lives in src/maps; this class only moves bytes.
 */
import { sys, MapBatchOpts, sizeofStruct } from './libbpf.ts';
import { BpfError, check, ERRNO } from './errors.ts';

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

/** Kernel map type numbers (uapi enum bpf_map_type) we name in reports. */
export const MAP_TYPE_NAMES: Record<number, string> = {
  1: 'hash', 2: 'array', 5: 'percpu_hash', 6: 'percpu_array', 11: 'lpm_trie',
  14: 'devmap', 27: 'ringbuf', 30: 'devmap_hash',
};
const PERCPU_TYPES = new Set([5, 6, 10]);

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

/** readMapInfo: bpf_obj_get_info_by_fd on a map fd (struct bpf_map_info). */
export function readMapInfo(fd: number, what: string): MapInfo {
  const buf = Buffer.alloc(96);
  const len = [buf.length];
  check(sys.bpf_obj_get_info_by_fd(fd, buf, len), 'bpf_obj_get_info_by_fd', what);
  const nameEnd = buf.indexOf(0, 24);
  return {
    type: buf.readUInt32LE(0),
    id: buf.readUInt32LE(4),
    keySize: buf.readUInt32LE(8),
    valueSize: buf.readUInt32LE(12),
    maxEntries: buf.readUInt32LE(16),
    flags: buf.readUInt32LE(20),
    name: buf.toString('latin1', 24, nameEnd > 24 && nameEnd < 40 ? nameEnd : 40),
  };
}

let possibleCpus = 0;
/** numPossibleCpus: the per-CPU value count of per-CPU maps. */
export function numPossibleCpus(): number {
  if (!possibleCpus) possibleCpus = check(sys.libbpf_num_possible_cpus(), 'libbpf_num_possible_cpus', 'system');
  return possibleCpus;
}

export class BpfMap {
  readonly fd: number;
  readonly info: MapInfo;
  readonly pinPath: string;
  /** valueBytes: the size of one lookup buffer (per-CPU maps: all CPUs, 8-aligned each). */
  readonly valueBytes: number;
  readonly perCpu: boolean;

  constructor(fd: number, pinPath: string) {
    this.fd = fd;
    this.pinPath = pinPath;
    this.info = readMapInfo(fd, pinPath);
    this.perCpu = PERCPU_TYPES.has(this.info.type);
    this.valueBytes = this.perCpu
      ? Math.ceil(this.info.valueSize / 8) * 8 * numPossibleCpus()
      : this.info.valueSize;
  }

  /** open: a pinned map by path. */
  static open(pinPath: string): BpfMap {
    const fd = sys.bpf_obj_get(pinPath);
    check(fd, 'bpf_obj_get', pinPath);
    return new BpfMap(fd, pinPath);
  }

  get name(): string {
    return this.info.name;
  }

  get keySize(): number {
    return this.info.keySize;
  }

  get valueSize(): number {
    return this.info.valueSize;
  }

  get maxEntries(): number {
    return this.info.maxEntries;
  }

  /** lookup: the value bytes (in `into` when given), or undefined when the key is absent. */
  lookup(key: Buffer, into?: Buffer): Buffer | undefined {
    const value = into ?? Buffer.alloc(this.valueBytes);
    const ret = sys.bpf_map_lookup_elem(this.fd, key, value);
    if (ret === -ERRNO.ENOENT) return undefined;
    check(ret, 'bpf_map_lookup_elem', this.name);
    return value;
  }

  update(key: Buffer, value: Buffer, flags = BPF_ANY): void {
    check(sys.bpf_map_update_elem(this.fd, key, value, flags), 'bpf_map_update_elem', this.name);
  }

  /** delete: false when the key was absent. */
  delete(key: Buffer): boolean {
    const ret = sys.bpf_map_delete_elem(this.fd, key);
    if (ret === -ERRNO.ENOENT) return false;
    check(ret, 'bpf_map_delete_elem', this.name);
    return true;
  }

  /** keys: every key, in the kernel's iteration order. */
  *keys(): Generator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.info.keySize);
      const ret = sys.bpf_map_get_next_key(this.fd, prev, next);
      if (ret === -ERRNO.ENOENT) return;
      check(ret, 'bpf_map_get_next_key', this.name);
      yield next;
      prev = next;
    }
  }

  /**
   * chunks: every key and value, read with bpf_map_lookup_batch, one
   * syscall per chunk; each chunk's buffers are reused by the next (copy
   * what you keep). Map types without batch lookup are walked key by key.
   */
  *chunks(chunk = 4096): Generator<{ keys: Buffer; values: Buffer; count: number }> {
    const ks = this.info.keySize;
    const vs = this.valueBytes;
    const keys = Buffer.alloc(ks * chunk);
    const values = Buffer.alloc(vs * chunk);
    const opts = { sz: sizeofStruct(MapBatchOpts), elem_flags: 0, flags: 0 };
    // the batch cursor is opaque to us; 8 bytes hold every kind the kernel uses
    let inBatch: Buffer | null = null;
    const outBatch = Buffer.alloc(Math.max(ks, 8));
    for (;;) {
      const n = [chunk];
      const ret = sys.bpf_map_lookup_batch(this.fd, inBatch, outBatch, keys, values, n, opts);
      if (ret < 0 && ret !== -ERRNO.ENOENT) {
        if (inBatch === null && (ret === -ERRNO.EINVAL || ret === -ERRNO.EOPNOTSUPP || ret === -524 /* ENOTSUPP */)) break;
        check(ret, 'bpf_map_lookup_batch', this.name);
      }
      if (n[0]) yield { keys, values, count: n[0] };
      if (ret === -ERRNO.ENOENT) return;
      inBatch = Buffer.from(outBatch);
    }
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield { keys: k, values: v, count: 1 };
    }
  }

  /**
   * batchAt: up to `max` entries from a batch cursor (null: the start),
   * with the cursor of the rest (null: the end). A hash bucket larger than
   * max comes whole (the kernel refuses to split one: ENOSPC, so the
   * batch is asked again, twice as large).
   */
  batchAt(cursor: Buffer | null, max: number): { keys: Buffer; values: Buffer; count: number; next: Buffer | null } {
    const ks = this.info.keySize;
    const vs = this.valueBytes;
    const opts = { sz: sizeofStruct(MapBatchOpts), elem_flags: 0, flags: 0 };
    for (let size = Math.max(1, max); ; size *= 2) {
      const keys = Buffer.alloc(ks * size);
      const values = Buffer.alloc(vs * size);
      const out = Buffer.alloc(Math.max(ks, 8));
      const n = [size];
      const ret = sys.bpf_map_lookup_batch(this.fd, cursor, out, keys, values, n, opts);
      if (ret === -ERRNO.ENOSPC && !n[0] && size < 1 << 20) continue;
      if (ret < 0 && ret !== -ERRNO.ENOENT) check(ret, 'bpf_map_lookup_batch', this.name);
      const count = n[0] ?? 0;
      return { keys: keys.subarray(0, count * ks), values: values.subarray(0, count * vs), count, next: ret === -ERRNO.ENOENT ? null : out };
    }
  }

  /** entries: every key and value (copies), in the kernel's order. */
  *entries(chunk = 4096): Generator<[Buffer, Buffer]> {
    const ks = this.info.keySize;
    const vs = this.valueBytes;
    for (const c of this.chunks(chunk))
      for (let i = 0; i < c.count; i++)
        yield [Buffer.from(c.keys.subarray(i * ks, (i + 1) * ks)), Buffer.from(c.values.subarray(i * vs, (i + 1) * vs))];
  }

  /** count: the number of keys (walks the map). */
  count(): number {
    let n = 0;
    for (const _ of this.keys()) n++;
    return n;
  }

  /**
   * updateBatch: writes `count` packed keys and values in one syscall per
   * chunk, as BPF_ANY (the kernel takes no NOEXIST/EXIST in batches: the
   * caller checks existence first). On failure throws with the number
   * written before the failure in `written`, so that the caller can undo them.
   */
  updateBatch(keys: Buffer, values: Buffer, count: number): void {
    const opts = { sz: sizeofStruct(MapBatchOpts), elem_flags: 0, flags: 0 };
    let done = 0;
    while (done < count) {
      const n = [count - done];
      const ret = sys.bpf_map_update_batch(
        this.fd,
        keys.subarray(done * this.info.keySize),
        values.subarray(done * this.info.valueSize),
        n,
        opts,
      );
      done += n[0] ?? 0;
      if (ret < 0) throw Object.assign(new BpfError('bpf_map_update_batch', this.name, -ret), { written: done });
      if (n[0] === 0) break;
    }
  }

  /** deleteBatch: removes `count` packed keys; all must exist. */
  deleteBatch(keys: Buffer, count: number): void {
    const opts = { sz: sizeofStruct(MapBatchOpts), elem_flags: 0, flags: 0 };
    let done = 0;
    while (done < count) {
      const n = [count - done];
      const ret = sys.bpf_map_delete_batch(this.fd, keys.subarray(done * this.info.keySize), n, opts);
      done += n[0] ?? 0;
      if (ret < 0) throw Object.assign(new BpfError('bpf_map_delete_batch', this.name, -ret), { written: done });
      if (n[0] === 0) break;
    }
  }

  close(): void {
    sys.close(this.fd);
  }
}
