/**
 * Harness: a DatapathManager over a kernel the behaviour suites can fail on
 * demand. The suites (manager-suite.ts, manager-undo-suite.ts,
 * kernel-rules-suite.ts) take a HarnessFactory and are run twice: on the
 * FakeKernel (test/unit/manager.test.ts) and on the real kernel in a private
 * netns (test/bpf/manager-kernel.test.ts), so each rule the fake models is
 * pinned by the real kernel.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { XdpMode } from '../../src/bpf/link.ts';
import { DatapathError, type ErrorCode } from '../../src/manager/errors.ts';
import { DatapathManager } from '../../src/manager/datapath-manager.ts';
import type { TableSizes } from '../../src/maps/pinned-datapath.ts';
import { FakeKernel, dumpMaps, type FaultyKernel } from './fake-kernel.ts';

export const MAX_VRFS = 64;
export const DEFAULT_SIZES: TableSizes = { maxInterfaces: 16, maxNextHops: 64, maxRoutes: 64 };

export interface Harness {
  readonly real: boolean;
  readonly kernel: FaultyKernel;
  mgr: DatapathManager;
  /** netdev: a new kernel interface (down): a veth, its peer in the same namespace; its name */
  netdev(): string;
  /** occupy: another XDP program attached to the interface, as another tool would; returns its release */
  occupy(name: string, mode: XdpMode): () => void;
  /** forwarding: turns IPv4 forwarding of a kernel interface on or off (a tunnel's fabric needs it on) */
  forwarding(name: string, on: boolean): void;
  /** restart: a new manager on the same kernel, loaded from the maps (becomes mgr) */
  restart(): Promise<DatapathManager>;
  dispose(): void;
}

export type HarnessFactory = (sizes?: Partial<TableSizes>) => Harness;

/** newManager: a manager on the kernel; its route count runs as its first queued command (writes wait for it). */
export function newManager(kernel: FaultyKernel): DatapathManager {
  const mgr = new DatapathManager(kernel, { maxVrfs: MAX_VRFS }, pino({ level: 'silent' }));
  void mgr.load();
  return mgr;
}

/** restarted: a new manager on the kernel, once it has read everything. */
export async function restarted(kernel: FaultyKernel): Promise<DatapathManager> {
  const mgr = new DatapathManager(kernel, { maxVrfs: MAX_VRFS }, pino({ level: 'silent' }));
  await mgr.load();
  return mgr;
}

let fakeDevs = 0;
export const fakeHarness: HarnessFactory = (sizes = {}) => {
  const kernel = new FakeKernel({ ...DEFAULT_SIZES, ...sizes });
  const h: Harness = {
    real: false,
    kernel,
    mgr: newManager(kernel),
    // a veth whose peer is in the same namespace, like the real harness's vethPair
    netdev: () => kernel.fake.addNetdev(`fk${fakeDevs++}`, { kind: 'veth' }).name,
    occupy: (name, mode) => {
      const link = kernel.fake.attachXdp(kernel.fake.netdev(name)!.ifindex, mode, true);
      return () => link.detach();
    },
    forwarding: (name, on) => (on ? kernel.fake.noForwarding.delete(name) : kernel.fake.noForwarding.add(name)),
    restart: async () => (h.mgr = await restarted(kernel)),
    dispose: () => undefined,
  };
  return h;
};

/** using: a test body with a harness of its own, disposed after. */
export function using(make: HarnessFactory, fn: (h: Harness) => Promise<void> | void, sizes?: Partial<TableSizes>): () => Promise<void> {
  return async () => {
    const h = make(sizes);
    try {
      await fn(h);
      assert.deepEqual(h.kernel.armed(), [], 'every injected fault was hit');
    } finally {
      h.dispose();
    }
  };
}

/** dump: the whole datapath (every entry of every map), to compare states. */
export const dump = (h: Harness) => dumpMaps(h.kernel);

/** is: a predicate for assert.rejects: a DatapathError of this code (and field, and batch index). */
export function is(code: ErrorCode, field?: string, index?: number) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof DatapathError, `a DatapathError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (field !== undefined) assert.equal(e.field, field, e.message);
    if (index !== undefined) assert.equal(e.index, index, e.message);
    return true;
  };
}

/** statusOf: the code a client sees (anything but a DatapathError is INTERNAL at the edge). */
export function statusOf(e: unknown): ErrorCode {
  return e instanceof DatapathError ? e.code : 'internal';
}

/** state: what the manager keeps beside the maps, to compare managers. */
export function state(h: Harness) {
  const m = h.mgr;
  return {
    vifs: m.vifs.list(),
    nhs: [...m.nhs.ids()].map((id) => ({ ...m.nhs.get(id), refs: m.nhs.refCount(id) })),
    users: m.vifs.list().map((v) => [v.index, m.nhs.usersOf(v.index)]),
    routes: { 4: m.routes.count(4), 6: m.routes.count(6) },
    routeMaps: { rt4: m.routes.countIn('rt4'), host4: m.routes.countIn('host4'), rt6: m.routes.countIn('rt6'), host6: m.routes.countIn('host6') },
  };
}
