/**
 * FakeKernel: an in-memory DatapathKernel for the manager's unit tests.
 * FakeMap models the kernel rules the manager relies on, as Linux 6.18
 * answers them (each is pinned by test/helpers/manager-suite.ts run on the
 * real kernel, see test/bpf/manager-kernel.test.ts):
 *   - update flags > BPF_EXIST: EINVAL; BPF_NOEXIST on a present key: EEXIST;
 *     BPF_EXIST on an absent key: ENOENT (checked before "full");
 *   - hash full: E2BIG; LPM trie (BPF_F_NO_PREALLOC) full: ENOSPC; a present
 *     key is still replaced when full;
 *   - array: every slot exists (lookup past the end: ENOENT, i.e. undefined),
 *     update past the end: E2BIG, BPF_NOEXIST: EEXIST, delete: EINVAL, no
 *     batch delete (ENOTSUPP); per-CPU values are one 8-aligned value per CPU;
 *   - LPM: key = u32 LE prefixlen then data; only the first prefixlen bits
 *     name the entry (host bits are stored, not compared); lookup is the
 *     longest match no longer than the key's prefixlen; delete is exact;
 *     prefixlen beyond the data: EINVAL on update and delete, ENOENT on
 *     lookup; iteration is the trie's post-order (a prefix after the longer
 *     prefixes it covers);
 *   - batches write entry by entry and stop at the first error, reporting
 *     how many were done (`written`);
 *   - batchAt walks the map in key order, its cursor the last key returned
 *     (the kernel's is a hash bucket): what a resumed walk promises (an
 *     entry present throughout is seen once) holds for both.
 * FaultyKernel wraps any DatapathKernel (this one or the real) with the
 * same fault injection and write counting, so one test runs on both.
 */
import { BpfError } from '../../src/bpf/errors.ts';
import type { LinkInfo, XdpMode } from '../../src/bpf/link.ts';
import { BPF_EXIST, BPF_NOEXIST, numPossibleCpus } from '../../src/bpf/map.ts';
import type { NetDev } from '../../src/bpf/netdev.ts';
import { VR_DROP_MAX } from '../../src/maps/drop-reasons.ts';
import type { Attachment, DatapathKernel, KernelMap, MapBatch } from '../../src/maps/kernel.ts';
import { MAP_NAMES, RING_MAPS, type MapName } from '../../src/maps/layout.ts';
import type { TableSizes } from '../../src/maps/pinned-datapath.ts';

export const ENOTSUPP = 524;
const E = { ENOENT: 2, EIO: 5, E2BIG: 7, EBUSY: 16, EEXIST: 17, EINVAL: 22, ENOSPC: 28 } as const;

export type MapType = 'hash' | 'array' | 'percpu_array' | 'lpm_trie';

export class FakeMap implements KernelMap {
  readonly name: string;
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly valueBytes: number;
  /** by identity (hex of the key; LPM: prefixlen and masked data) */
  private readonly items = new Map<string, { key: Buffer; value: Buffer }>();
  /** LPM: how many entries per prefixlen (lookups try only the lengths in use) */
  private readonly lens = new Map<number, number>();

  constructor(name: string, type: MapType, keySize: number, valueSize: number, maxEntries: number) {
    this.name = name;
    this.type = type;
    this.keySize = keySize;
    this.valueSize = valueSize;
    this.maxEntries = maxEntries;
    this.valueBytes = type === 'percpu_array' ? Math.ceil(valueSize / 8) * 8 * numPossibleCpus() : valueSize;
  }

  private get isArray(): boolean {
    return this.type === 'array' || this.type === 'percpu_array';
  }

  private get maxPrefixlen(): number {
    return (this.keySize - 4) * 8;
  }

  private err(op: string, errno: number): BpfError {
    return new BpfError(op, this.name, errno);
  }

  /** id: the identity of an LPM key with `plen` bits of its data. */
  private lpmId(key: Buffer, plen: number): string {
    const data = Buffer.from(key.subarray(4, this.keySize));
    for (let i = 0; i < data.length; i++) {
      const keep = Math.max(0, Math.min(8, plen - i * 8));
      data[i]! &= (0xff << (8 - keep)) & 0xff;
    }
    return `${plen}/${data.toString('hex')}`;
  }

  private id(key: Buffer): string {
    if (this.type === 'lpm_trie') return this.lpmId(key, key.readUInt32LE(0));
    return key.subarray(0, this.keySize).toString('hex');
  }

  private index(key: Buffer): number {
    return key.readUInt32LE(0);
  }

  lookup(key: Buffer, into?: Buffer): Buffer | undefined {
    let found: { value: Buffer } | undefined;
    if (this.isArray) {
      const i = this.index(key);
      if (i >= this.maxEntries) return undefined;
      found = this.items.get(this.id(key)) ?? { value: Buffer.alloc(this.valueBytes) };
    } else if (this.type === 'lpm_trie') {
      const plen = key.readUInt32LE(0);
      if (plen > this.maxPrefixlen) return undefined;
      const lens = [...this.lens.keys()].filter((l) => l <= plen).sort((a, b) => b - a);
      for (const l of lens) if ((found = this.items.get(this.lpmId(key, l)))) break;
    } else found = this.items.get(this.id(key));
    if (!found) return undefined;
    const out = into ?? Buffer.alloc(this.valueBytes);
    found.value.copy(out, 0, 0, this.valueBytes);
    return out;
  }

  update(key: Buffer, value: Buffer, flags = 0): void {
    const op = 'bpf_map_update_elem';
    if (flags > BPF_EXIST) throw this.err(op, E.EINVAL);
    if (this.type === 'lpm_trie' && key.readUInt32LE(0) > this.maxPrefixlen) throw this.err(op, E.EINVAL);
    if (this.isArray) {
      if (this.index(key) >= this.maxEntries) throw this.err(op, E.E2BIG);
      if (flags === BPF_NOEXIST) throw this.err(op, E.EEXIST);
    } else {
      const present = this.items.has(this.id(key));
      if (present && flags === BPF_NOEXIST) throw this.err(op, E.EEXIST);
      if (!present && flags === BPF_EXIST) throw this.err(op, E.ENOENT);
      if (!present && this.items.size >= this.maxEntries) throw this.err(op, this.type === 'lpm_trie' ? E.ENOSPC : E.E2BIG);
    }
    const id = this.id(key);
    if (this.type === 'lpm_trie' && !this.items.has(id)) {
      const l = key.readUInt32LE(0);
      this.lens.set(l, (this.lens.get(l) ?? 0) + 1);
    }
    const v = Buffer.alloc(this.valueBytes);
    value.copy(v, 0, 0, this.valueBytes);
    this.items.set(id, { key: Buffer.from(key.subarray(0, this.keySize)), value: v });
  }

  delete(key: Buffer): boolean {
    const op = 'bpf_map_delete_elem';
    if (this.isArray) throw this.err(op, E.EINVAL);
    if (this.type === 'lpm_trie' && key.readUInt32LE(0) > this.maxPrefixlen) throw this.err(op, E.EINVAL);
    const id = this.id(key);
    if (!this.items.delete(id)) return false;
    if (this.type === 'lpm_trie') {
      const l = key.readUInt32LE(0);
      const n = this.lens.get(l)! - 1;
      if (n) this.lens.set(l, n);
      else this.lens.delete(l);
    }
    return true;
  }

  updateBatch(keys: Buffer, values: Buffer, count: number): void {
    for (let i = 0; i < count; i++) {
      try {
        this.update(keys.subarray(i * this.keySize), values.subarray(i * this.valueBytes));
      } catch (err) {
        throw Object.assign(new BpfError('bpf_map_update_batch', this.name, (err as BpfError).errno), { written: i });
      }
    }
  }

  deleteBatch(keys: Buffer, count: number): void {
    const op = 'bpf_map_delete_batch';
    if (this.isArray) throw Object.assign(this.err(op, ENOTSUPP), { written: 0 });
    for (let i = 0; i < count; i++) {
      let errno = 0;
      try {
        if (!this.delete(keys.subarray(i * this.keySize))) errno = E.ENOENT;
      } catch (err) {
        errno = (err as BpfError).errno;
      }
      if (errno) throw Object.assign(this.err(op, errno), { written: i });
    }
  }

  *entries(): Generator<[Buffer, Buffer]> {
    if (this.isArray) {
      for (let i = 0; i < this.maxEntries; i++) {
        const k = Buffer.alloc(this.keySize);
        k.writeUInt32LE(i);
        yield [k, this.lookup(k)!];
      }
      return;
    }
    const all = [...this.items.values()];
    if (this.type === 'lpm_trie') all.sort((a, b) => postOrder(a.key, b.key));
    for (const { key, value } of all) yield [Buffer.from(key), Buffer.from(value)];
  }

  batchAt(cursor: Buffer | null, max: number): MapBatch {
    const all = [...this.entries()].sort(([a], [b]) => Buffer.compare(a, b));
    let from = cursor ? all.findIndex(([k]) => Buffer.compare(k, cursor) > 0) : 0;
    if (from < 0) from = all.length;
    const part = all.slice(from, from + Math.max(1, max));
    return {
      keys: Buffer.concat(part.map(([k]) => k)),
      values: Buffer.concat(part.map(([, v]) => v)),
      count: part.length,
      next: from + part.length < all.length ? Buffer.from(part.at(-1)![0]) : null,
    };
  }

  /** size: the entries held (arrays: max_entries). */
  get size(): number {
    return this.isArray ? this.maxEntries : this.items.size;
  }
}

/** postOrder: the trie's iteration order: by address bits, a prefix after the longer ones it covers. */
function postOrder(a: Buffer, b: Buffer): number {
  const pa = a.readUInt32LE(0);
  const pb = b.readUInt32LE(0);
  for (let bit = 0; bit < Math.min(pa, pb); bit++) {
    const x = (a[4 + (bit >> 3)]! >> (7 - (bit & 7))) & 1;
    const y = (b[4 + (bit >> 3)]! >> (7 - (bit & 7))) & 1;
    if (x !== y) return x - y;
  }
  return pb - pa;
}

type LinkSlot = XdpMode | 'tc' | 'egress';

interface FakeLink extends Attachment {
  mode: LinkSlot;
  foreign: boolean;
}

/** FakeDatapath: the maps of a PinnedDatapath of these sizes, fake netdevs and XDP links. */
export class FakeDatapath implements DatapathKernel {
  readonly maps: Record<MapName, FakeMap>;
  private readonly devs = new Map<string, NetDev>();
  private readonly links = new Map<number, Partial<Record<LinkSlot, FakeLink>>>();
  /** every attach and detach, in order ("attach 3 native", "detach 3 native", "attach 3 tc") */
  readonly xdpLog: string[] = [];
  private nextIfindex = 2; // 1 is lo
  private nextLinkId = 1;

  constructor(sizes: TableSizes) {
    const s = sizes;
    this.maps = {
      vr_meta: new FakeMap('vr_meta', 'array', 4, 16, 1),
      vr_vifs: new FakeMap('vr_vifs', 'hash', 4, 44, s.maxInterfaces),
      vr_nexthops: new FakeMap('vr_nexthops', 'array', 4, 80, s.maxNextHops),
      vr_rt4: new FakeMap('vr_rt4', 'lpm_trie', 12, 12, s.maxRoutes),
      vr_rt6: new FakeMap('vr_rt6', 'lpm_trie', 24, 12, s.maxRoutes),
      vr_vif_stats: new FakeMap('vr_vif_stats', 'percpu_array', 4, 56, s.maxInterfaces),
      vr_drops: new FakeMap('vr_drops', 'percpu_array', 4, 8, VR_DROP_MAX),
      vr_flows: new FakeMap('vr_flows', 'hash', 44, 96, s.maxFlows ?? 524288),
      vr_config: new FakeMap('vr_config', 'array', 4, 16, 1),
      vr_fctr: new FakeMap('vr_fctr', 'percpu_array', 4, 8, 4),
      vr_scratch: new FakeMap('vr_scratch', 'percpu_array', 4, 8 + 80 + 16384, 1),
      // rings: never read or written through the map interface
      vr_miss_rb: new FakeMap('vr_miss_rb', 'hash', 0, 0, 0),
      vr_trap_rb: new FakeMap('vr_trap_rb', 'hash', 0, 0, 0),
      vr_host4: new FakeMap('vr_host4', 'hash', 8, 12, s.maxRoutes),
      vr_host6: new FakeMap('vr_host6', 'hash', 20, 12, s.maxRoutes),
      vr_mpls: new FakeMap('vr_mpls', 'hash', 4, 4, s.maxLabels ?? 16384),
      vr_vxlan: new FakeMap('vr_vxlan', 'hash', 4, 4, s.maxVnis ?? 16384),
      vr_comp: new FakeMap('vr_comp', 'array', 4, 4, (s.maxComposites ?? 2048) * 128),
      vr_tctr: new FakeMap('vr_tctr', 'percpu_array', 4, 8, 4),
      vr_bridge: new FakeMap('vr_bridge', 'hash', 12, 12, s.maxBridge ?? 65536),
    };
    for (const n of MAP_NAMES) if (!this.maps[n]) throw new Error(`fake map ${n} missing`);
  }

  /**
   * addNetdev: a kernel interface (down, MTU 1500, a locally administered
   * MAC by default; a physical NIC unless `kind` says otherwise, e.g. a
   * pod's veth: kind 'veth', peerInOtherNetns true).
   */
  addNetdev(name: string, opts: { mtu?: number; mac?: Buffer; kind?: string; peerInOtherNetns?: boolean } = {}): NetDev {
    const ifindex = this.nextIfindex++;
    const mac = opts.mac ?? Buffer.from([0x02, 0xfa, 0xce, 0, (ifindex >> 8) & 0xff, ifindex & 0xff]);
    const dev: NetDev = { name, ifindex, mac, mtu: opts.mtu ?? 1500, up: false, kind: opts.kind, peerInOtherNetns: opts.peerInOtherNetns ?? false };
    this.devs.set(name, dev);
    return dev;
  }

  /** removeNetdev: the interface goes, and with it its XDP links. */
  removeNetdev(name: string): void {
    const dev = this.devs.get(name);
    if (!dev) return;
    this.devs.delete(name);
    this.links.delete(dev.ifindex);
  }

  netdev(name: string): NetDev | undefined {
    const d = this.devs.get(name);
    return d && { ...d, mac: Buffer.from(d.mac) };
  }

  nameOf(ifindex: number): string | undefined {
    for (const d of this.devs.values()) if (d.ifindex === ifindex) return d.name;
    return undefined;
  }

  /** devices whose IPv4 forwarding is off (the kernel's default is on here: what the tests of tunnels need) */
  readonly noForwarding = new Set<string>();

  ipv4Forwarding(name: string): boolean | undefined {
    return this.devs.has(name) ? !this.noForwarding.has(name) : undefined;
  }

  /**
   * attachXdp: like an XDP bpf_link: EBUSY when the mode already has a link,
   * EEXIST when the other mode has a program (native and generic exclude
   * each other), ENODEV without the device.
   */
  attachXdp(ifindex: number, mode: XdpMode, foreign = false): Attachment {
    if (this.nameOf(ifindex) === undefined) throw new BpfError('bpf_link_create', `xdp ${mode} ifindex ${ifindex}`, 19);
    const slots = this.links.get(ifindex) ?? {};
    if (slots[mode]) throw new BpfError('bpf_link_create', `xdp ${mode} ifindex ${ifindex}`, E.EBUSY);
    if (slots[mode === 'native' ? 'generic' : 'native']) throw new BpfError('bpf_link_create', `xdp ${mode} ifindex ${ifindex}`, E.EEXIST);
    return this.link(ifindex, mode, foreign);
  }

  /** attachTc: like a pinned tcx link: ENODEV without the device, EEXIST when our pin is there already. */
  attachTc(ifindex: number): Attachment {
    if (this.nameOf(ifindex) === undefined) throw new BpfError('bpf_link_create', `tcx ingress ifindex ${ifindex}`, 19);
    if (this.links.get(ifindex)?.tc) throw new BpfError('bpf_obj_pin', `tc_${ifindex}`, E.EEXIST);
    return this.link(ifindex, 'tc', false);
  }

  /** attachTcEgress: like attachTc, at tcx egress. */
  attachTcEgress(ifindex: number): Attachment {
    if (this.nameOf(ifindex) === undefined) throw new BpfError('bpf_link_create', `tcx egress ifindex ${ifindex}`, 19);
    if (this.links.get(ifindex)?.egress) throw new BpfError('bpf_obj_pin', `egress_${ifindex}`, E.EEXIST);
    return this.link(ifindex, 'egress', false);
  }

  private link(ifindex: number, mode: LinkSlot, foreign: boolean): Attachment {
    const slots = this.links.get(ifindex) ?? {};
    const id = this.nextLinkId++;
    const link: FakeLink = {
      mode,
      foreign,
      info: (): LinkInfo => ({ type: mode === 'tc' || mode === 'egress' ? 11 : 6, id, progId: foreign ? 2 : mode === 'tc' ? 3 : mode === 'egress' ? 4 : 1, ifindex }),
      detach: () => {
        if (this.links.get(ifindex)?.[mode] === link) delete this.links.get(ifindex)![mode];
        this.xdpLog.push(`detach ${ifindex} ${mode}`);
      },
      close: () => undefined,
    };
    slots[mode] = link;
    this.links.set(ifindex, slots);
    this.xdpLog.push(`attach ${ifindex} ${mode}${foreign ? ' foreign' : ''}`);
    return link;
  }

  /** openXdp: our pinned link of ifindex (a foreign program is not pinned by us). */
  openXdp(ifindex: number): Attachment | undefined {
    const s = this.links.get(ifindex);
    return [s?.native, s?.generic].find((l) => l && !l.foreign);
  }

  openTc(ifindex: number): Attachment | undefined {
    return this.links.get(ifindex)?.tc;
  }

  openTcEgress(ifindex: number): Attachment | undefined {
    return this.links.get(ifindex)?.egress;
  }

  /** attached: the XDP mode of our link on ifindex, if any. */
  attached(ifindex: number): XdpMode | undefined {
    return (this.openXdp(ifindex) as (FakeLink & { mode: XdpMode }) | undefined)?.mode;
  }

  /** hooks: our links on ifindex ("native", "generic", "tc", "egress"), in that order. */
  hooks(ifindex: number): string[] {
    const s = this.links.get(ifindex) ?? {};
    return (['native', 'generic', 'tc', 'egress'] as const).filter((m) => s[m] && !s[m].foreign);
  }
}

export type MapOp = 'update' | 'delete' | 'updateBatch' | 'deleteBatch';

/**
 * FaultyMap: a KernelMap that counts the entries the manager writes and
 * fails on demand: a fault lets `after` more entries through (batch entries
 * or single calls), then the call fails with errno; a batch writes those
 * entries for real first and reports them in `written`, as the kernel does.
 */
export class FaultyMap implements KernelMap {
  readonly inner: KernelMap;
  /** entries written or deleted (attempted), by op */
  writes = 0;
  private readonly faults = new Map<MapOp, { errno: number; after: number }>();

  constructor(inner: KernelMap) {
    this.inner = inner;
  }

  get name() { return this.inner.name; }
  get keySize() { return this.inner.keySize; }
  get valueSize() { return this.inner.valueSize; }
  get maxEntries() { return this.inner.maxEntries; }
  get valueBytes() { return this.inner.valueBytes; }

  failNext(op: MapOp, errno: number, after = 0): void {
    this.faults.set(op, { errno, after });
  }

  /** armed: the faults not triggered yet. */
  armed(): MapOp[] {
    return [...this.faults.keys()];
  }

  /** take: how many of n entries may go before a fault fires, and its errno (0: none fires). */
  private take(op: MapOp, n: number): { n: number; errno: number } {
    const f = this.faults.get(op);
    if (!f || f.after >= n) {
      if (f) f.after -= n;
      return { n, errno: 0 };
    }
    this.faults.delete(op);
    return { n: f.after, errno: f.errno };
  }

  private fail(syscall: string, errno: number, written: number): never {
    throw Object.assign(new BpfError(syscall, this.name, errno), { written });
  }

  lookup(key: Buffer, into?: Buffer): Buffer | undefined {
    return this.inner.lookup(key, into);
  }

  update(key: Buffer, value: Buffer, flags?: number): void {
    this.writes++;
    const t = this.take('update', 1);
    if (t.errno) this.fail('bpf_map_update_elem', t.errno, 0);
    this.inner.update(key, value, flags);
  }

  delete(key: Buffer): boolean {
    this.writes++;
    const t = this.take('delete', 1);
    if (t.errno) this.fail('bpf_map_delete_elem', t.errno, 0);
    return this.inner.delete(key);
  }

  updateBatch(keys: Buffer, values: Buffer, count: number): void {
    this.writes += count;
    const t = this.take('updateBatch', count);
    if (t.n) this.inner.updateBatch(keys, values, t.n);
    if (t.errno) this.fail('bpf_map_update_batch', t.errno, t.n);
  }

  deleteBatch(keys: Buffer, count: number): void {
    this.writes += count;
    const t = this.take('deleteBatch', count);
    if (t.n) this.inner.deleteBatch(keys, t.n);
    if (t.errno) this.fail('bpf_map_delete_batch', t.errno, t.n);
  }

  entries(chunk?: number): Generator<[Buffer, Buffer]> {
    return this.inner.entries(chunk);
  }

  batchAt(cursor: Buffer | null, max: number): MapBatch {
    return this.inner.batchAt(cursor, max);
  }
}

/** FaultyKernel: any DatapathKernel with FaultyMaps and attach failures on demand. */
export class FaultyKernel implements DatapathKernel {
  readonly inner: DatapathKernel;
  readonly maps: Record<MapName, FaultyMap>;
  private attachFaults: number[] = [];
  private tcAttachFaults: number[] = [];
  private egressAttachFaults: number[] = [];

  constructor(inner: DatapathKernel) {
    this.inner = inner;
    this.maps = Object.fromEntries(MAP_NAMES.map((n) => [n, new FaultyMap(inner.maps[n])])) as Record<MapName, FaultyMap>;
  }

  /** failNext: see FaultyMap. */
  failNext(map: MapName, op: MapOp, errno: number, after = 0): void {
    this.maps[map].failNext(op, errno, after);
  }

  /** failAttach: the next XDP attaches fail with these errnos, one each. */
  failAttach(...errnos: number[]): void {
    this.attachFaults.push(...errnos);
  }

  /** failTcAttach: the next tcx attaches fail with these errnos, one each. */
  failTcAttach(...errnos: number[]): void {
    this.tcAttachFaults.push(...errnos);
  }

  /** failEgressAttach: the next tcx egress attaches (host vifs) fail with these errnos, one each. */
  failEgressAttach(...errnos: number[]): void {
    this.egressAttachFaults.push(...errnos);
  }

  /** armed: every fault not triggered yet ("vr_rt4 updateBatch", "attach"). */
  armed(): string[] {
    return [...MAP_NAMES.flatMap((n) => this.maps[n].armed().map((op) => `${n} ${op}`)), ...this.attachFaults.map(() => 'attach'), ...this.tcAttachFaults.map(() => 'attach tc'), ...this.egressAttachFaults.map(() => 'attach egress')];
  }

  /** writes: entries written to one map, or to all, since the last resetWrites. */
  writes(map?: MapName): number {
    return map ? this.maps[map].writes : MAP_NAMES.reduce((a, n) => a + this.maps[n].writes, 0);
  }

  resetWrites(): void {
    for (const n of MAP_NAMES) this.maps[n].writes = 0;
  }

  attachXdp(ifindex: number, mode: XdpMode): Attachment {
    const errno = this.attachFaults.shift();
    if (errno) throw new BpfError('bpf_link_create', `xdp ${mode} ifindex ${ifindex}`, errno);
    return this.inner.attachXdp(ifindex, mode);
  }

  openXdp(ifindex: number): Attachment | undefined {
    return this.inner.openXdp(ifindex);
  }

  attachTc(ifindex: number): Attachment {
    const errno = this.tcAttachFaults.shift();
    if (errno) throw new BpfError('bpf_link_create', `tcx ingress ifindex ${ifindex}`, errno);
    return this.inner.attachTc(ifindex);
  }

  openTc(ifindex: number): Attachment | undefined {
    return this.inner.openTc(ifindex);
  }

  attachTcEgress(ifindex: number): Attachment {
    const errno = this.egressAttachFaults.shift();
    if (errno) throw new BpfError('bpf_link_create', `tcx egress ifindex ${ifindex}`, errno);
    return this.inner.attachTcEgress(ifindex);
  }

  openTcEgress(ifindex: number): Attachment | undefined {
    return this.inner.openTcEgress(ifindex);
  }

  netdev(name: string): NetDev | undefined {
    return this.inner.netdev(name);
  }

  nameOf(ifindex: number): string | undefined {
    return this.inner.nameOf(ifindex);
  }

  ipv4Forwarding(name: string): boolean | undefined {
    return this.inner.ipv4Forwarding(name);
  }
}

/** FakeKernel: a FakeDatapath with fault injection: what the unit tests run on. */
export class FakeKernel extends FaultyKernel {
  readonly fake: FakeDatapath;

  constructor(sizes: TableSizes) {
    const fake = new FakeDatapath(sizes);
    super(fake);
    this.fake = fake;
  }
}

/** dumpMaps: every entry of every map as sorted "key=value" hex, to compare whole states (ring buffers have no entries to read). */
export function dumpMaps(k: DatapathKernel): Record<MapName, string[]> {
  const rings: readonly string[] = RING_MAPS;
  return Object.fromEntries(
    MAP_NAMES.map((n) => [n, rings.includes(n) ? [] : [...k.maps[n].entries()].map(([key, v]) => `${key.toString('hex')}=${v.toString('hex')}`).sort()]),
  ) as Record<MapName, string[]>;
}
