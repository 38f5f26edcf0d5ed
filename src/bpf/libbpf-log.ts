/**
 * libbpf's own messages (warnings, the verifier log of a failed load) routed
 * to a sink of ours instead of stderr, and captured around a call so that a
 * failed load keeps the whole verifier log in its error.
 */
import { sys, LibbpfPrintFn, registerCallback } from './libbpf.ts';

export type LibbpfLevel = 'warn' | 'info' | 'debug';
export type LibbpfSink = (level: LibbpfLevel, message: string) => void;

const LEVELS: LibbpfLevel[] = ['warn', 'info', 'debug'];
// one buffer: a va_list can be formatted only once, so it must be large
// enough for a verifier log; what does not fit is cut and marked
const BUF = Buffer.alloc(1 << 20);

let sink: LibbpfSink = (level, message) => {
  if (level !== 'debug') process.stderr.write(message);
};
let capture: string[] | undefined;
let registered: bigint | undefined;

function print(level: number, fmt: string, ap: bigint): number {
  const n = sys.vsnprintf(BUF, BUF.length, fmt, ap);
  if (n < 0) return 0;
  let text = BUF.toString('utf8', 0, Math.min(n, BUF.length - 1));
  if (n >= BUF.length) text += `\n[... ${n - BUF.length + 1} bytes of libbpf output cut]\n`;
  const lvl = LEVELS[level] ?? 'debug';
  if (capture && lvl !== 'debug') capture.push(text);
  sink(lvl, text);
  return n;
}

/** setLibbpfSink: where libbpf's messages go from now on (debug ones included). */
export function setLibbpfSink(fn: LibbpfSink): void {
  sink = fn;
  if (registered === undefined) {
    registered = registerCallback(print as (...args: never[]) => unknown, LibbpfPrintFn);
    sys.libbpf_set_print(registered);
  }
}

/** withLibbpfLog: runs fn, returning what libbpf printed (warn/info) during it. */
export function withLibbpfLog<T>(fn: () => T): { result: T; log: string } {
  if (registered === undefined) setLibbpfSink(sink);
  const outer = capture;
  capture = [];
  try {
    return { result: fn(), log: capture.join('') };
  } finally {
    capture = outer;
  }
}
