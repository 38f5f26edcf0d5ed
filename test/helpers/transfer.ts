/**
 * tcpTransferChecked: `bytes` of TCP from one pod to another over IPv4 or
 * IPv6 (tcp-xfer.ts on both ends), asserting that every byte arrived and
 * that both ends computed the same sha256.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Lab, Pod } from '../../lab/topology.ts';

const XFER = fileURLToPath(new URL('./tcp-xfer.ts', import.meta.url));

export async function tcpTransferChecked(lab: Lab, from: Pod, to: Pod, family: 'ip4' | 'ip6', bytes: number): Promise<void> {
  const dst = to[family];
  const server = lab.spawnIn(to.ns, process.execPath, [XFER, 'serve', dst, '5001']);
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 10_000);
    server.stdout!.on('data', () => out.includes('listening') && (clearTimeout(t), resolve()));
  });
  const sent = JSON.parse(lab.exec(from.ns, process.execPath, [XFER, 'send', dst, '5001', String(bytes)], { timeoutMs: 60_000 })) as { bytes: number; sha256: string };
  await new Promise<void>((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', () => resolve())));
  const got = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; sha256: string };
  assert.equal(sent.bytes, bytes);
  assert.equal(got.bytes, bytes, 'bytes received');
  assert.equal(got.sha256, sent.sha256, 'sha256');
}
