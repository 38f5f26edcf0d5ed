/**
 * makePki: a throwaway PKI made with the openssl CLI for the TLS tests: a
 * CA, a server certificate for 127.0.0.1 (an IP SAN, what clients check
 * when they dial an address), a client certificate from the same CA, and
 * another CA with a client certificate of its own (one the server must
 * refuse). EC P-256 keys, valid a day.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function ca(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key };
}

function leaf(dir: string, name: string, issuer: { cert: string; key: string }, ext: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext}\nbasicConstraints=critical,CA:FALSE\n`);
  openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', extFile]);
  return { cert, key };
}

export function makePki(dir: string): Pki {
  const root = ca(dir, 'test-ca');
  const other = ca(dir, 'other-ca');
  const server = leaf(dir, 'server', root, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  const client = leaf(dir, 'client', root, 'extendedKeyUsage=clientAuth');
  const otherClient = leaf(dir, 'other-client', other, 'extendedKeyUsage=clientAuth');
  return {
    ca: root.cert, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key,
    otherCa: other.cert, otherClientCert: otherClient.cert, otherClientKey: otherClient.key,
  };
}
