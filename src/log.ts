/** The daemon's root pino logger; modules take child({ component }). */
import { pino, type Logger } from 'pino';

export function rootLogger(level: string): Logger {
  return pino({ level, base: { svc: 'vrouter-ebpfd' } });
}
