/**
 * The streaming programming API: the rate at which a caller that hands routes over ONE AT A
 * TIME gets them programmed. Goal: >= 100k routes/s with coalescing.
 *
 * The senders, on the client's ProgramStream (ProgramService.Program):
 *   - 'stream, 1 op/message': each send() becomes one stream message;
 *   - 'stream, coalesced':    the client library packs many send()s into
 *                             one message (up to 1000, or after 1 ms).
 * send() resolves when the daemon has acknowledged that route (the
 * operation's answer); close() ends the stream. Nothing else changes: the
 * bench calls send() once per route, keeping at most `window` routes
 * unacknowledged, and times the whole set.
 *
 * The 'AddRoute unary' entry is today's way of doing it (one RPC per route),
 * as the reference point of the same harness.
 */
import { performance } from 'node:perf_hooks';
import { VrouterClient } from '../src/client/client.ts';
import type { RouteInit } from './control-routes.ts';
import { progress } from './util.ts';

/** SendOneRoute: hands one route to the API; resolves once the daemon has acknowledged it. */
export type SendOneRoute = (route: RouteInit) => Promise<void>;

export interface StreamingSender {
  send: SendOneRoute;
  /** ends the stream / releases the connection */
  close(): Promise<void> | void;
}

export interface SenderSlot {
  name: string;
  /** routes sent by this case (bounded; the unary reference is slow) */
  routes: number;
  /** routes unacknowledged at most: the caller's own pipelining */
  window: number;
  /** a sender on the daemon at `address` (unix:PATH; may open its stream first), or undefined while the API does not exist */
  make(address: string): StreamingSender | undefined | Promise<StreamingSender | undefined>;
}

/** streamSender: send() = ProgramStream.addRoute on one Program stream; at most maxOps operations per message (flushed after 1 ms) */
function streamSender(address: string, maxOpsPerMessage: number): StreamingSender {
  const client = new VrouterClient(address, 0);
  const stream = client.programStream({ maxOpsPerMessage });
  return {
    send: (route) => stream.addRoute(route),
    close: async () => {
      await stream.close();
      client.close();
    },
  };
}

export const STREAMING_SENDERS: SenderSlot[] = [
  {
    name: 'AddRoute unary, 64 in flight (today)',
    routes: 20_000,
    window: 64,
    make(address) {
      const client = new VrouterClient(address, 60_000);
      return {
        send: async (route) => {
          await client.routes.addRoute({ route });
        },
        close: () => client.close(),
      };
    },
  },
  {
    name: 'stream, 1 op/message',
    routes: 200_000,
    window: 4096,
    make: (address) => streamSender(address, 1),
  },
  {
    name: 'stream, coalesced',
    routes: 1_000_000,
    window: 65_536,
    make: (address) => streamSender(address, 1000),
  },
];

export interface StreamingResult {
  name: string;
  available: boolean;
  routes: number;
  seconds: number;
  perSecond: number;
  /** stopped by the time limit before every route was sent */
  truncated: boolean;
}

/**
 * measureOneAtATime: send() per route, at most `window` pending, stopping
 * early (truncated) once maxSeconds have passed; the rate counts the
 * routes acknowledged.
 */
export async function measureOneAtATime(
  slot: SenderSlot,
  sender: StreamingSender,
  routes: readonly RouteInit[],
  maxSeconds: number,
): Promise<StreamingResult> {
  const n = Math.min(slot.routes, routes.length);
  let next = 0;
  let acked = 0;
  const t0 = performance.now();
  const deadline = t0 + maxSeconds * 1000;
  const worker = async () => {
    while (next < n && performance.now() < deadline) {
      await sender.send(routes[next++]!);
      acked++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(slot.window, n) }, worker));
  const seconds = (performance.now() - t0) / 1000;
  progress(`${slot.name}: ${acked} routes in ${seconds.toFixed(2)} s`);
  return { name: slot.name, available: true, routes: acked, seconds, perSecond: acked / seconds, truncated: acked < n };
}
