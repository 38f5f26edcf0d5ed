/**
 * sdNotify: the systemd notify protocol (sd_notify(3)) without libsystemd:
 * one datagram of "KEY=value" lines to $NOTIFY_SOCKET, sent from the main
 * process (the unit's default NotifyAccess=main refuses a helper's, e.g. a
 * spawned systemd-notify). No NOTIFY_SOCKET (not under systemd, or not
 * Type=notify): nothing is sent. A failed send is the caller's to log: the
 * daemon serves all the same.
 */
import { sendDatagram } from './bpf/unix-datagram.ts';

/** sdNotify: sends `state` (e.g. { READY: '1', STATUS: '...' }); false when there is no notify socket. */
export function sdNotify(state: Record<string, string>, env: NodeJS.ProcessEnv = process.env): boolean {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return false;
  // a value is one line: a newline would start another key
  const text = Object.entries(state).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`).join('\n');
  sendDatagram(socket, Buffer.from(`${text}\n`));
  return true;
}
