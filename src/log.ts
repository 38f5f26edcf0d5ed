/** The daemon's root pino logger; modules take child({ component }). */
import { pino, type DestinationStream, type Logger } from 'pino';

/** rootLogger: JSON lines on stdout, or on `dest` (the pretty stream of --log-pretty, a test's sink). */
export function rootLogger(level: string, dest?: DestinationStream): Logger {
  const opts = { level, base: { svc: 'vrouter-ebpfd' } };
  return dest ? pino(opts, dest) : pino(opts);
}

/**
 * prettyStream: --log-pretty's destination: pino-pretty, in this thread and
 * synchronous (no line lost when the daemon exits), colours on a terminal
 * only. Loaded on demand: a daemon logging JSON never loads it.
 */
export async function prettyStream(out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Promise<DestinationStream> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({
    destination: out, sync: true, colorize: out.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,svc,component',
    // the component before the message ("[manager] datapath change"), not as a field line
    messageFormat: '{if component}[{component}] {end}{msg}',
    // pino-pretty shows a `name` field as the logger's name, "(veth-p1)"; ours is an interface's
    customPrettifiers: { name: (n) => `name=${String(n)}` },
  });
}
