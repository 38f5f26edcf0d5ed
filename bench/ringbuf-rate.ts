/**
 * npm run bench:events: how fast the ring buffer reader (src/bpf/ringbuf.ts)
 * drains a BPF ring buffer, and how fast its events reach one watcher on the
 * main thread (src/events), for 64- and 256-byte records.
 *
 * Each run fills a ring (RINGBUF_MB, default 256 MiB) with as many records
 * as fit (bpf/tools/ringbuf_gen.c through BPF_PROG_TEST_RUN) before any
 * reader exists, then opens one and times the drain: the generator never
 * competes with the reader for the 2 CPUs, so the figures are the reader's.
 * - drain: the worker alone (drainOnly: it walks the record headers and
 *   advances consumer_pos; nothing copied or posted), first batch to last.
 * - delivered: the worker copies each batch out of the ring and posts it;
 *   the main thread fans it out to one watcher, which reads every record's
 *   sequence number (checked in order): worker's first batch to the
 *   watcher's last event.
 * Then the same two with a live producer instead of a full ring: the
 * generator on a thread of its own writes LIVE_EVENTS records into a
 * LIVE_MB ring (default 16 MiB) while the reader drains it; events/s from
 * the generator's start to the last event read (drain) or delivered. Here
 * the generator, the worker and (delivered) the main thread share 2 CPUs.
 * Prints a table (median of RUNS, default 3) and writes
 * bench/results/events-latest.json plus a timestamped copy.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RingbufGen } from '../test/helpers/ringbuf-gen.ts';
import { RingbufReader } from '../src/bpf/ringbuf.ts';
import { EventStream } from '../src/events/event-stream.ts';
import { table } from './report.ts';
import { median, progress, sleep } from './util.ts';

const RESULTS = fileURLToPath(new URL('results/', import.meta.url));
const RING_MB = Number(process.env.RINGBUF_MB ?? 256);
const RUNS = Number(process.env.RUNS ?? 3);
const SIZES = (process.env.SIZES ?? '64,256').split(',').map(Number);
const BATCH_MAX = Number(process.env.BATCH_MAX ?? 4096);
const LIVE_MB = Number(process.env.LIVE_MB ?? 16);
const LIVE_EVENTS = Number(process.env.LIVE_EVENTS ?? 5_000_000);

type Mode = 'drain' | 'delivered' | 'live drain' | 'live delivered';
const MODES: Mode[] = ['drain', 'delivered', 'live drain', 'live delivered'];

interface Run {
  events: number;
  seconds: number;
  perSecond: number;
}

interface Row {
  recordBytes: number;
  mode: Mode;
  events: number;
  medianPerSecond: number;
  medianMBps: number;
  runs: Run[];
}

const now = () => performance.timeOrigin + performance.now();

/** fill: a new generator whose ring holds as many `size`-byte records as fit. */
async function fill(size: number): Promise<{ gen: RingbufGen; events: number; genPerSecond: number }> {
  const ring = RING_MB << 20;
  const gen = RingbufGen.load(ring);
  const events = Math.floor((ring - 4096) / (((size + 8 + 7) & ~7)));
  const t0 = now();
  while (gen.next < events) {
    const r = gen.write(Math.min(1 << 20, events - gen.next), { minSize: size });
    if (r.written === 0) throw new Error(`ring full at ${gen.next} of ${events} records`);
  }
  return { gen, events, genPerSecond: events / ((now() - t0) / 1000) };
}

/** readInOrder: reads a watcher until `events` records came, each with the next sequence number; no loss allowed */
async function readInOrder(w: ReturnType<EventStream['subscribe']>, events: number): Promise<void> {
  let next = 0;
  for await (const item of w) {
    if (item.kind === 'lost') throw new Error(`watcher lost ${item.count} events`);
    const b = item.batch;
    const dv = new DataView(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
    for (let i = 0; i < b.count; i++) {
      // the low half of the sequence number is enough to check the order
      if (dv.getUint32(b.offset(i), true) !== next) throw new Error(`expected seq ${next}`);
      next++;
    }
    if (next >= events) return;
  }
  throw new Error(`the watcher ended after ${next} of ${events} events`);
}

/** drained: waits until the reader has taken `events` records (bounded by timeoutMs) */
async function drained(reader: RingbufReader, events: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = now() + timeoutMs;
  while (reader.stats().events < events) {
    if (now() > deadline) throw new Error(`${what}: ${reader.stats().events} of ${events} in ${timeoutMs / 1000} s`);
    await sleep(1);
  }
}

async function drainRun(size: number): Promise<Run & { genPerSecond: number }> {
  const { gen, events, genPerSecond } = await fill(size);
  const reader = RingbufReader.open(gen.mapFd, { drainOnly: true, batchMax: BATCH_MAX });
  try {
    await drained(reader, events, 60_000, 'drain');
    const s = reader.stats();
    const seconds = (s.lastAt - s.firstAt) / 1000;
    return { events, seconds, perSecond: events / seconds, genPerSecond };
  } finally {
    await reader.close();
    gen.close();
  }
}

async function deliveredRun(size: number): Promise<Run> {
  const { gen, events } = await fill(size);
  const stream = EventStream.open(gen.mapFd, { batchMax: BATCH_MAX });
  try {
    await readInOrder(stream.subscribe({ max: 1 << 22 }), events);
    const seconds = (now() - stream.stats().firstAt) / 1000;
    return { events, seconds, perSecond: events / seconds };
  } finally {
    await stream.close();
    gen.close();
  }
}

/** startGen: the live producer thread; resolves with its own time when it has written all */
function startGen(progFd: number, events: number, size: number): Promise<{ seconds: number; fullRuns: number }> {
  const w = new Worker(new URL('./ringbuf-gen-worker.ts', import.meta.url), { workerData: { progFd, events, size } });
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function liveRun(size: number, deliver: boolean): Promise<Run> {
  const ring = RingbufGen.load(LIVE_MB << 20); // the producer thread runs this program (it loads nothing itself)
  const events = LIVE_EVENTS;
  let t0 = 0;
  try {
    if (!deliver) {
      const reader = RingbufReader.open(ring.mapFd, { drainOnly: true, batchMax: BATCH_MAX });
      try {
        await sleep(100); // the worker is up and asleep in epoll_wait
        t0 = now();
        const gen = startGen(ring.progFd, events, size);
        await drained(reader, events, 120_000, 'live drain');
        await gen;
        const seconds = (reader.stats().lastAt - t0) / 1000;
        return { events, seconds, perSecond: events / seconds };
      } finally {
        await reader.close();
      }
    }
    const stream = EventStream.open(ring.mapFd, { batchMax: BATCH_MAX });
    try {
      const w = stream.subscribe({ max: 1 << 22 });
      await sleep(100);
      t0 = now();
      const gen = startGen(ring.progFd, events, size);
      await readInOrder(w, events);
      const seconds = (now() - t0) / 1000;
      await gen;
      return { events, seconds, perSecond: events / seconds };
    } finally {
      await stream.close();
    }
  } finally {
    ring.close();
  }
}

const startedAt = new Date().toISOString();
const rows: Row[] = [];
const genRates: Record<number, number[]> = {};
for (const size of SIZES) {
  for (const mode of MODES) {
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      progress(`${size} B ${mode}: run ${i + 1} of ${RUNS}`);
      if (mode === 'drain') {
        const r = await drainRun(size);
        (genRates[size] ??= []).push(r.genPerSecond);
        runs.push({ events: r.events, seconds: r.seconds, perSecond: r.perSecond });
      } else if (mode === 'delivered') runs.push(await deliveredRun(size));
      else runs.push(await liveRun(size, mode === 'live delivered'));
    }
    const m = median(runs.map((r) => r.perSecond));
    rows.push({ recordBytes: size, mode, events: runs[0]!.events, medianPerSecond: m, medianMBps: (m * size) / 1e6, runs });
  }
}

const M = (x: number) => (x / 1e6).toFixed(2);
console.log(`Ring buffer reader: a ${RING_MB} MiB ring filled before the reader starts, then drained; median of ${RUNS}; batchMax ${BATCH_MAX}`);
console.log(table(
  ['record', 'mode', 'events', 'M events/s', 'MB/s', 'runs (M events/s)'],
  rows.map((r) => [`${r.recordBytes} B`, r.mode, String(r.events), M(r.medianPerSecond), r.medianMBps.toFixed(0), r.runs.map((x) => M(x.perSecond)).join(' ')]),
));
console.log('(drain: the worker alone, headers walked and consumer_pos advanced; delivered: copied, posted, fanned out to one watcher that reads every record;');
console.log(` live: ${LIVE_EVENTS} records written by a generator thread into a ${LIVE_MB} MiB ring while the reader drains it, generator start to last event)`);
console.log(`generator (bpf_ringbuf_output in bpf_loop, for reference): ${SIZES.map((s) => `${s} B ${M(median(genRates[s]!))} M/s`).join(', ')}`);

const result = {
  startedAt,
  host: { kernel: release(), cpus: cpus().length, node: process.version },
  options: { ringMiB: RING_MB, runs: RUNS, sizes: SIZES, batchMax: BATCH_MAX, liveMiB: LIVE_MB, liveEvents: LIVE_EVENTS },
  generatorPerSecond: Object.fromEntries(SIZES.map((s) => [s, median(genRates[s]!)])),
  rows,
};
mkdirSync(RESULTS, { recursive: true });
const json = `${JSON.stringify(result, null, 2)}\n`;
writeFileSync(join(RESULTS, 'events-latest.json'), json);
writeFileSync(join(RESULTS, `events-${startedAt.replaceAll(':', '-')}.json`), json);
progress(`results in ${join(RESULTS, 'events-latest.json')}`);
