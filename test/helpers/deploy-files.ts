/**
 * The deployment files as data for the tests: the systemd unit's keys, and
 * the one list of capabilities that the unit, the DaemonSet and the README
 * all name (test/e2e/capabilities.test.ts runs the daemon with it).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const UNIT_PATH = `${ROOT}deploy/systemd/vrouter-ebpfd.service`;
/** where the unit expects the checkout */
export const UNIT_INSTALL_ROOT = '/opt/vrouter-ebpf';

/** the daemon's capabilities, and the one of them it can do without (batch re-injection is lost) */
export const CAPABILITIES = ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_PERFMON', 'CAP_NET_RAW', 'CAP_SYS_ADMIN'] as const;
export const OPTIONAL_CAPABILITIES = ['CAP_SYS_ADMIN'] as const;

/** parseUnit: a unit file as section → key → values (a key may repeat); continuation lines are not used in ours. */
export function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const head = /^\[([A-Za-z]+)\]$/.exec(line);
    if (head) {
      current = new Map();
      sections.set(head[1]!, current);
      return;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !current) throw new Error(`unit line ${i + 1}: not "Key=value" inside a section: ${JSON.stringify(line)}`);
    current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
  });
  return sections;
}

export function readUnit(): Map<string, Map<string, string[]>> {
  return parseUnit(readFileSync(UNIT_PATH, 'utf8'));
}

/** unitValue: the last value of a key (systemd's rule for single-valued keys). */
export function unitValue(unit: Map<string, Map<string, string[]>>, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}
