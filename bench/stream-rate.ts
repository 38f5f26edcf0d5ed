/**
 * stream-rate: how many route operations per second one programming stream
 * (ProgramService.Program) carries, from code that makes one call at a
 * time: N addRoute calls through the coalescing ProgramStream (default:
 * up to 1000 operations per message, 1 ms flush), then the same N with one
 * operation per message (the baseline: what a client that does not
 * coalesce gets, ~ the stream's message rate), then the deletes the same
 * two ways. A lab daemon in a namespace of its own (removed at the end);
 * routes use a RECEIVE next hop (no vif needed).
 *
 *   node bench/stream-rate.ts [--routes 200000] [--max-ops 1000] [--in-flight 20000]
 *
 * The producer loop waits (ProgramStream.ready) whenever more than
 * --in-flight operations are unanswered, as an agent would: without it the
 * loop makes all N calls before the event loop sends anything but the
 * first messages, and the daemon works only after the client is done.
 *
 * Prints one JSON line.
 */
import { parseArgs } from 'node:util';
import { Lab } from '../lab/topology.ts';
import { LabDaemon } from '../lab/daemon.ts';
import type { VrouterClient } from '../src/client/client.ts';

const { values } = parseArgs({ options: { routes: { type: 'string', default: '200000' }, 'max-ops': { type: 'string', default: '1000' }, 'in-flight': { type: 'string', default: '20000' } } });
const N = Number(values.routes);
const MAX_OPS = Number(values['max-ops']);
const IN_FLIGHT = Number(values['in-flight']);

const prefix = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;

/** run: N calls, one at a time (none awaited before the next), through one stream; ops/s. */
async function run(c: VrouterClient, kind: 'add' | 'delete', maxOpsPerMessage: number): Promise<{ opsPerSec: number; messages: number; ms: number }> {
  const s = c.programStream({ maxOpsPerMessage });
  const t0 = performance.now();
  const all: Promise<void>[] = new Array(N);
  for (let i = 0; i < N; i++) {
    all[i] = kind === 'add' ? s.addRoute({ vrf: 1, prefix: prefix(i), nextHopId: 1 }) : s.deleteRoute({ vrf: 1, prefix: prefix(i) });
    // a producer's brake (what an agent does): at most IN_FLIGHT operations unanswered
    if ((i & 1023) === 1023) await s.ready(IN_FLIGHT);
  }
  await Promise.all(all);
  const ms = performance.now() - t0;
  await s.close();
  return { opsPerSec: Math.round((N / ms) * 1000), messages: s.counters.messagesSent, ms: Math.round(ms) };
}

const lab = new Lab('vrbsr');
let daemon: LabDaemon | undefined;
try {
  const host = lab.ns('host');
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: host, extraArgs: ['--metrics', '', '--max-routes', String(Math.max(N + 1024, 1024))] });
  const c = await daemon.start();
  await c.nextHops.addNextHop({ nextHop: { id: 1, vrf: 1, kind: { case: 'receive', value: {} } } });
  // the routes of both IPv4 maps (host routes and prefixes)
  const count = async () => (await c.system.getSystemInfo({})).maps.filter((m) => m.name === 'vr_rt4' || m.name === 'vr_host4').reduce((a, m) => a + m.used, 0);
  const coalescedAdd = await run(c, 'add', MAX_OPS);
  if ((await count()) !== N) throw new Error(`expected ${N} routes after the adds, found ${await count()}`);
  const coalescedDelete = await run(c, 'delete', MAX_OPS);
  const onePerMessageAdd = await run(c, 'add', 1);
  if ((await count()) !== N) throw new Error(`expected ${N} routes after the adds, found ${await count()}`);
  const onePerMessageDelete = await run(c, 'delete', 1);
  if ((await count()) !== 0) throw new Error('routes left after the deletes');
  process.stdout.write(
    `${JSON.stringify({ routes: N, maxOpsPerMessage: MAX_OPS, inFlight: IN_FLIGHT, coalescedAdd, coalescedDelete, onePerMessageAdd, onePerMessageDelete })}\n`,
  );
} finally {
  await daemon?.destroy();
  lab.cleanup();
}
