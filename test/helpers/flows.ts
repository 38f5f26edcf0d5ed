/**
 * Flow test helpers: keys and entries from strings, synthetic ring batches
 * of vr_miss records, a clock the test moves, and an injector that records
 * what it is asked to run.
 */
import { EventBatch } from '../../src/bpf/ringbuf.ts';
import type { TestRunInput, TestRunResult } from '../../src/bpf/program.ts';
import { FLOW, type FlowValue } from '../../src/maps/codecs.ts';
import type { FlowKey } from '../../src/manager/flow-model.ts';
import type { Injector } from '../../src/flows/reinject.ts';
import { ip } from './packets.ts';

export function flowKey(src: string, dst: string, proto = 17, sport = 1000, dport = 2000, vrf = 1): FlowKey {
  const s = ip(src);
  return { vrf, family: s.length === 4 ? 4 : 6, proto, src: s, dst: ip(dst), sport, dport };
}

/** flowValue: a vr_flow entry; unset fields zero. */
export function flowValue(v: Partial<FlowValue>): Buffer {
  return FLOW.encode({
    action: 0, flags: 0, holdCount: 0, tcpFlags: 0, holdId: 0n, createdNs: 0n, lastNs: 0n, packets: 0n, bytes: 0n,
    natSrc: Buffer.alloc(16), natDst: Buffer.alloc(16), natSport: 0, natDport: 0, ...v,
  });
}

/** batchOf: records as the ring reader hands them over (8-byte ring headers between them, as in the ring). */
export function batchOf(records: readonly Buffer[]): EventBatch {
  const span = records.reduce((a, r) => a + 8 + ((r.length + 7) & ~7), 0);
  const bytes = new Uint8Array(span);
  const index = new Uint32Array(2 * records.length);
  let off = 0;
  records.forEach((r, i) => {
    bytes.set(r, off + 8);
    index[2 * i] = off + 8;
    index[2 * i + 1] = r.length;
    off += 8 + ((r.length + 7) & ~7);
  });
  return new EventBatch(bytes, index);
}

/** FakeClock: CLOCK_MONOTONIC ns that only the test moves. */
export class FakeClock {
  ns = 1_000_000_000_000n;
  readonly now = (): bigint => this.ns;
  advance(ms: number): void {
    this.ns += BigInt(Math.round(ms * 1e6));
  }
}

/** RecordingInjector: keeps a copy of each frame it runs (and its ifindex); fails the ones `fail` picks. */
export class RecordingInjector implements Injector {
  readonly runs: { frame: Buffer; ifindex: number; flags: number }[] = [];
  fail: ((input: TestRunInput) => boolean) | undefined;

  testRun(input: TestRunInput): TestRunResult {
    if (this.fail?.(input)) throw new Error('injected failure');
    this.runs.push({ frame: Buffer.from(input.data), ifindex: input.ingressIfindex ?? 0, flags: input.flags ?? 0 });
    return { retval: 4, data: Buffer.alloc(0), durationNs: 0 };
  }
}

/** turn: lets timers of 0 ms and immediates run. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
