/**
 * DatapathKernel: everything the manager asks of the kernel, as an
 * interface: the datapath's maps, XDP and tcx attachments and network devices.
 * `kernelOf(PinnedDatapath)` is the real one; test/helpers/fake-kernel.ts is
 * an in-memory twin whose rules (flags, full tables, batch partial writes,
 * LPM matching) the same tests pin against the real kernel.
 */
import { BpfLink, type LinkInfo, type XdpMode } from '../bpf/link.ts';
import { ipv4Forwarding, netdev, nameOf, type NetDev } from '../bpf/netdev.ts';
import type { MapName } from './layout.ts';
import type { PinnedDatapath } from './pinned-datapath.ts';
import type { RouteLookups } from './tables/route-probe.ts';
import type { TraceHook, TraceResult } from './tables/packet-tracer.ts';

/** KernelMap: one map, moved as bytes. Errors are BpfErrors (errno codes). */
export interface KernelMap {
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** the size of one lookup buffer (per-CPU maps: every CPU's value) */
  readonly valueBytes: number;
  /** lookup: the value (LPM tries: of the longest match), or undefined. */
  lookup(key: Buffer, into?: Buffer): Buffer | undefined;
  update(key: Buffer, value: Buffer, flags?: number): void;
  /** delete: false when the key was absent. */
  delete(key: Buffer): boolean;
  /** updateBatch: BPF_ANY writes; on failure the thrown error carries `written`. */
  updateBatch(keys: Buffer, values: Buffer, count: number): void;
  /** deleteBatch: every key must exist; on failure the thrown error carries `written`. */
  deleteBatch(keys: Buffer, count: number): void;
  /** entries: every key and value, in the kernel's order, read in chunks. */
  entries(chunk?: number): Generator<[Buffer, Buffer]>;
  /** chunks: like entries, as packed chunks whose buffers the next chunk reuses (no copy per entry). */
  chunks?(chunk?: number): Generator<{ keys: Buffer; values: Buffer; count: number }>;
  /**
   * batchAt: about `max` entries from `cursor` (null: the start), in the
   * map's order, and the cursor of the rest (null: the end), for walks
   * that stop and resume (paged listings). The cursor is opaque (the real
   * one is a hash bucket: an entry present throughout a walk is seen
   * once); a batch may hold more than max when one bucket does.
   */
  batchAt(cursor: Buffer | null, max: number): MapBatch;
}

/** MapBatch: packed keys and values (new buffers) and the cursor of what follows (null: the end). */
export interface MapBatch {
  keys: Buffer;
  values: Buffer;
  count: number;
  next: Buffer | null;
}

/** Attachment: a pinned XDP or tcx link. */
export interface Attachment {
  info(): LinkInfo;
  /** detach: detaches and removes the pin. */
  detach(): void;
  close(): void;
}

export interface DatapathKernel {
  readonly maps: Record<MapName, KernelMap>;
  /** attachXdp: attaches the XDP entry to ifindex and pins the link. */
  attachXdp(ifindex: number, mode: XdpMode): Attachment;
  /** openXdp: the pinned XDP link of ifindex, if any. */
  openXdp(ifindex: number): Attachment | undefined;
  /** attachTc: attaches the TC entry at tcx ingress of ifindex and pins the link. */
  attachTc(ifindex: number): Attachment;
  /** attachTcEgress: attaches the host vif's egress entry at tcx egress of ifindex and pins the link. */
  attachTcEgress(ifindex: number): Attachment;
  /** openTcEgress: the pinned tcx egress link of ifindex, if any. */
  openTcEgress(ifindex: number): Attachment | undefined;
  /** openTc: the pinned tcx link of ifindex, if any. */
  openTc(ifindex: number): Attachment | undefined;
  netdev(name: string): NetDev | undefined;
  nameOf(ifindex: number): string | undefined;
  /** ipv4Forwarding: net.ipv4.conf.<name>.forwarding (the underlay FIB lookup of a tunnel needs it on the fabric) */
  ipv4Forwarding(name: string): boolean | undefined;
  /** many route lookups in one call, when the kernel side offers it (else one lookup per key) */
  readonly routeLookups?: RouteLookups | undefined;
  /** runs a frame through the datapath without sending it (TracePacket), when the trace object is loaded */
  readonly tracer?: Tracer | undefined;
}

/** Tracer: a frame through the datapath on a hook, as if it arrived on ifindex; nothing sent or counted. */
export interface Tracer {
  trace(hook: TraceHook, ifindex: number, frame: Buffer): TraceResult;
}

/** kernelOf: the real kernel under a pinned datapath; `routeLookups` from RouteProbe.open, `tracer` from PacketTracer.open. */
export function kernelOf(dp: PinnedDatapath, routeLookups?: RouteLookups, tracer?: Tracer): DatapathKernel {
  return {
    maps: dp.maps,
    routeLookups,
    tracer,
    attachXdp: (ifindex, mode) => BpfLink.attachXdp(dp.xdp.fd, ifindex, mode, dp.linkPath(ifindex, 'xdp')),
    openXdp: (ifindex) => BpfLink.open(dp.linkPath(ifindex, 'xdp')),
    attachTc: (ifindex) => BpfLink.attachTcx(dp.tc.fd, ifindex, dp.linkPath(ifindex, 'tc')),
    openTc: (ifindex) => BpfLink.open(dp.linkPath(ifindex, 'tc')),
    attachTcEgress: (ifindex) => BpfLink.attachTcx(dp.egress.fd, ifindex, dp.linkPath(ifindex, 'egress'), 'egress'),
    openTcEgress: (ifindex) => BpfLink.open(dp.linkPath(ifindex, 'egress')),
    netdev,
    nameOf,
    ipv4Forwarding,
  };
}
