/**
 * FlowAger: removes flows the datapath no longer uses. It walks vr_flows in
 * chunks (one bpf_map_lookup_batch each, the event loop served between
 * them; no copy of the table is kept) and deletes both halves of a pair
 * (the forward entry and its VR_FLOW_F_REVERSE half, keyed by reverseOf)
 * when the pair has been idle longer than its protocol's timeout, or, for
 * TCP, a short linger after a RST or a FIN in both directions. Each half
 * removed is reported with its final counters. HOLD entries are the hold
 * queue's: the ager only hands over those older than the hold timeout (a
 * hold whose miss the daemon never read: a full ring, a restart).
 *
 * last_ns is CLOCK_MONOTONIC (coarse), the clock of process.hrtime.bigint().
 */
import type { Logger } from 'pino';
import type { KernelMap } from '../maps/kernel.ts';
import { FLOW, FLOW_KEY } from '../maps/codecs.ts';
import { FLOW_F, FlowActionCode, TCP_FLAG } from '../maps/layout.ts';
import { IPPROTO, reverseOf, type Flow, type FlowKey } from '../manager/flow-model.ts';
import { decodeFlow, decodeFlowKey, encodeFlowKey } from './flow-bytes.ts';

export interface AgingOptions {
  /** idle timeouts per protocol (ms): TCP 180 s, UDP 60 s, ICMP / ICMPv6 30 s, others 60 s */
  tcpMs?: number | undefined;
  udpMs?: number | undefined;
  icmpMs?: number | undefined;
  otherMs?: number | undefined;
  /** a TCP pair that saw RST, or FIN both ways, goes after this long without packets (default 2000 ms) */
  closeLingerMs?: number | undefined;
  /** HOLD entries older than this are handed to `staleHold` (default 5000 ms, the hold timeout) */
  holdMs?: number | undefined;
  /** time between the end of a scan and the next (default: a quarter of the shortest idle timeout, 100 ms to 5 s) */
  intervalMs?: number | undefined;
  /** entries per batch lookup (default 1024) */
  chunk?: number | undefined;
  /** CLOCK_MONOTONIC ns (tests move it) */
  now?: (() => bigint) | undefined;
}

export type Removal = 'aged' | 'closed';

export interface AgingSink {
  /** a half removed from the map, with its last counters */
  removed(kind: Removal, flow: Flow): void;
  /** a HOLD entry older than the hold timeout: the hold queue decides */
  staleHold(key: FlowKey, keyBytes: Buffer, holdId: bigint): void;
}

export interface ScanResult {
  /** entries seen, and those of them the scan left in place */
  entries: number;
  kept: number;
  aged: number;
  closed: number;
  staleHolds: number;
}

const OFF = {
  action: FLOW.fields.action.off,
  flags: FLOW.fields.flags.off,
  tcpFlags: FLOW.fields.tcpFlags.off,
  holdId: FLOW.fields.holdId.off,
  createdNs: FLOW.fields.createdNs.off,
  lastNs: FLOW.fields.lastNs.off,
} as const;
const MS = 1_000_000n;

export class FlowAger {
  private readonly map: KernelMap;
  private readonly sink: AgingSink;
  private readonly log: Logger;
  private readonly fixedInterval: number | undefined;
  private readonly timeouts: { tcp: bigint; udp: bigint; icmp: bigint; other: bigint; linger: bigint; hold: bigint };
  intervalMs: number;
  private readonly chunk: number;
  private readonly now: () => bigint;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScanResult> | undefined;
  private stopped = true;
  /** stop() asked the running scan to end at its next chunk */
  private aborted = false;
  /** totals since start, and the size of the table after the last scan (the entries it left in place) */
  readonly totals = { scans: 0, aged: 0n, closed: 0n, entries: 0 };

  constructor(map: KernelMap, sink: AgingSink, log: Logger, opts: AgingOptions = {}) {
    this.map = map;
    this.sink = sink;
    this.log = log;
    const ms = (x: number | undefined, d: number) => BigInt(Math.round(x ?? d)) * MS;
    this.timeouts = {
      tcp: ms(opts.tcpMs, 180_000),
      udp: ms(opts.udpMs, 60_000),
      icmp: ms(opts.icmpMs, 30_000),
      other: ms(opts.otherMs, 60_000),
      linger: ms(opts.closeLingerMs, 2000),
      hold: ms(opts.holdMs, 5000),
    };
    this.fixedInterval = opts.intervalMs;
    this.intervalMs = this.interval();
    this.chunk = opts.chunk ?? 1024;
    this.now = opts.now ?? process.hrtime.bigint;
  }

  /** interval: a scan reads the whole table: a quarter of the shortest idle timeout is precise enough */
  private interval(): number {
    const t = this.timeouts;
    const shortest = Number([t.tcp, t.udp, t.icmp, t.other].reduce((a, b) => (a < b ? a : b)) / MS);
    return this.fixedInterval ?? Math.min(5000, Math.max(100, shortest / 4));
  }

  /**
   * setTimeouts: new idle / hold timeouts from now on (SIGHUP); the next
   * scan judges every entry by them, and the scan interval follows.
   */
  setTimeouts(opts: Pick<AgingOptions, 'tcpMs' | 'udpMs' | 'icmpMs' | 'otherMs' | 'holdMs'>): void {
    const ms = (x: number) => BigInt(Math.round(x)) * MS;
    const t = this.timeouts;
    if (opts.tcpMs !== undefined) t.tcp = ms(opts.tcpMs);
    if (opts.udpMs !== undefined) t.udp = ms(opts.udpMs);
    if (opts.icmpMs !== undefined) t.icmp = ms(opts.icmpMs);
    if (opts.otherMs !== undefined) t.other = ms(opts.otherMs);
    if (opts.holdMs !== undefined) t.hold = ms(opts.holdMs);
    const before = this.intervalMs;
    this.intervalMs = this.interval();
    // a shorter interval starts now rather than after the old, longer wait
    if (this.intervalMs < before && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.arm();
    }
  }

  /** timeoutsMs: the timeouts in force (ms). */
  timeoutsMs(): { tcp: number; udp: number; icmp: number; other: number; hold: number } {
    const t = this.timeouts;
    const n = (x: bigint) => Number(x / MS);
    return { tcp: n(t.tcp), udp: n(t.udp), icmp: n(t.icmp), other: n(t.other), hold: n(t.hold) };
  }

  /** start: scans every intervalMs (after the previous scan ends). */
  start(): void {
    this.stopped = false;
    this.aborted = false;
    this.arm();
  }

  /** stop: no more scans; resolves when the running one (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.aborted = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.scan()
        .catch((err: unknown) => this.log.warn({ err }, 'flow aging scan failed'))
        .finally(() => this.arm());
    }, this.intervalMs);
    this.timer.unref();
  }

  /** scan: one pass over the table (one at a time: a second call joins the running one). */
  scan(): Promise<ScanResult> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<ScanResult> {
    const r: ScanResult = { entries: 0, kept: 0, aged: 0, closed: 0, staleHolds: 0 };
    const ks = this.map.keySize;
    const vs = this.map.valueBytes;
    for (const c of chunksOf(this.map, this.chunk)) {
      const now = this.now();
      for (let i = 0; i < c.count; i++) {
        r.entries++;
        if (this.visit(c.keys.subarray(i * ks, (i + 1) * ks), c.values.subarray(i * vs, (i + 1) * vs), now, r)) r.kept++;
      }
      if (this.aborted) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.totals.scans++;
    this.totals.aged += BigInt(r.aged);
    this.totals.closed += BigInt(r.closed);
    this.totals.entries = r.kept;
    return r;
  }

  private timeoutOf(proto: number): bigint {
    if (proto === IPPROTO.TCP) return this.timeouts.tcp;
    if (proto === IPPROTO.UDP) return this.timeouts.udp;
    if (proto === IPPROTO.ICMP || proto === IPPROTO.ICMPV6) return this.timeouts.icmp;
    return this.timeouts.other;
  }

  /**
   * visit: one entry; the cheap tests first, from the chunk's bytes, before
   * anything is decoded or looked up. True when the entry stays.
   */
  private visit(keyBytes: Buffer, value: Buffer, now: bigint, r: ScanResult): boolean {
    const action = value[OFF.action]!;
    if (action === FlowActionCode.HOLD) {
      if (now - value.readBigUInt64LE(OFF.createdNs) >= this.timeouts.hold) {
        r.staleHolds++;
        this.sink.staleHold(decodeFlowKey(keyBytes), Buffer.from(keyBytes), value.readBigUInt64LE(OFF.holdId));
      }
      return true;
    }
    const proto = keyBytes[FLOW_KEY.fields.proto.off]!;
    const idle = now - value.readBigUInt64LE(OFF.lastNs);
    const tcpEnd = proto === IPPROTO.TCP && (value.readUInt32LE(OFF.tcpFlags) & (TCP_FLAG.FIN | TCP_FLAG.RST)) !== 0;
    if (idle < this.timeoutOf(proto) && !(tcpEnd && idle >= this.timeouts.linger)) return true;

    const key = decodeFlowKey(keyBytes);
    const flow = decodeFlow(key, value);
    const partnerBytes = encodeFlowKey(reverseOf(key, flow.nat));
    let partnerValue = this.map.lookup(partnerBytes);
    // the other half of this pair: a live non-HOLD entry on the other side of the REVERSE flag
    if (partnerValue && (partnerValue[OFF.action] === FlowActionCode.HOLD || ((partnerValue[OFF.flags]! & FLOW_F.REVERSE) !== 0) === flow.reverse))
      partnerValue = undefined;

    const pIdle = partnerValue ? now - partnerValue.readBigUInt64LE(OFF.lastNs) : idle;
    const pairIdle = idle < pIdle ? idle : pIdle;
    let kind: Removal | undefined;
    if (proto === IPPROTO.TCP && pairIdle >= this.timeouts.linger && closedTcp(flow.tcpFlags, partnerValue?.readUInt32LE(OFF.tcpFlags)))
      kind = 'closed';
    else if (pairIdle >= this.timeoutOf(proto)) kind = 'aged';
    if (!kind) return true;

    // whichever half's visit decides, the forward half goes first: a packet
    // meanwhile makes a miss, never a hit on half a pair
    const self = { keyBytes: Buffer.from(keyBytes), flow };
    const other = partnerValue ? { keyBytes: partnerBytes, flow: decodeFlow(decodeFlowKey(partnerBytes), partnerValue) } : undefined;
    let removed = false;
    for (const half of flow.reverse && other ? [other, self] : [self, other])
      if (half && this.map.delete(half.keyBytes)) {
        removed = true;
        this.sink.removed(kind, half.flow);
      }
    // a half already removed with its pair earlier in this chunk is not counted again
    if (removed) r[kind]++;
    return false;
  }
}

/** closedTcp: a RST either way, or a FIN both ways (one half alone: its own FIN is enough). */
function closedTcp(flags: number, partnerFlags: number | undefined): boolean {
  if ((flags | (partnerFlags ?? 0)) & TCP_FLAG.RST) return true;
  if (!(flags & TCP_FLAG.FIN)) return false;
  return partnerFlags === undefined || (partnerFlags & TCP_FLAG.FIN) !== 0;
}

/** chunksOf: the map's batch chunks, or its entries grouped when it has none (fakes). */
function* chunksOf(map: KernelMap, chunk: number): Generator<{ keys: Buffer; values: Buffer; count: number }> {
  if (map.chunks) {
    yield* map.chunks(chunk);
    return;
  }
  let keys: Buffer[] = [];
  let values: Buffer[] = [];
  for (const [k, v] of map.entries(chunk)) {
    keys.push(k);
    values.push(v);
    if (keys.length === chunk) {
      yield { keys: Buffer.concat(keys), values: Buffer.concat(values), count: keys.length };
      keys = [];
      values = [];
    }
  }
  if (keys.length) yield { keys: Buffer.concat(keys), values: Buffer.concat(values), count: keys.length };
}
