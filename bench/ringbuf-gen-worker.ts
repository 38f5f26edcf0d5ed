/**
 * The live producer of bench/ringbuf-rate.ts, on a thread of its own: runs
 * the generator program the main thread loaded, writing `events` records
 * into its ring as fast as the ring takes them (a full ring: retried at
 * once, since the reader frees it within microseconds), then posts how long
 * that took.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RingbufGen } from '../test/helpers/ringbuf-gen.ts';

const { progFd, events, size } = workerData as { progFd: number; events: number; size: number };
const gen = RingbufGen.onProgram(progFd); // test runs only: no load on this thread (see onProgram)
let fullRuns = 0;
const t0 = performance.now();
while (gen.next < events) {
  const want = Math.min(8192, events - gen.next);
  if (gen.write(want, { minSize: size }).written < want) fullRuns++;
}
parentPort!.postMessage({ seconds: (performance.now() - t0) / 1000, fullRuns });
gen.close();
