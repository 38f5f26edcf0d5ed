/**
 * One GetSystemInfo call through the typed client (src/client/client.ts),
 * run as a child process inside a lab namespace (where the daemon's TCP
 * listener is): prints {"ok":true,"instance":...} or {"ok":false,"code":..,
 * "details":..}.
 *
 * usage: node tls-call.ts ADDRESS plaintext | tls CA|- CERT|- KEY|-
 */
import { readFileSync } from 'node:fs';
import type { ServiceError } from '@grpc/grpc-js';
import { VrouterClient } from '../../src/client/client.ts';

const [address, mode, ca, cert, key] = process.argv.slice(2);
const file = (p: string | undefined) => (p && p !== '-' ? readFileSync(p) : undefined);
const client = new VrouterClient(address!, 10_000, mode === 'tls' ? { tls: { ca: file(ca), cert: file(cert), key: file(key) } } : {});
try {
  const info = await client.system.getSystemInfo({});
  process.stdout.write(`${JSON.stringify({ ok: true, instance: info.instance })}\n`);
} catch (err) {
  const e = err as ServiceError;
  process.stdout.write(`${JSON.stringify({ ok: false, code: e.code, details: e.details })}\n`);
} finally {
  client.close();
}
