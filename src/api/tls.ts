/**
 * Server TLS for the gRPC TCP listener: the PEM files named by tls-cert,
 * tls-key and tls-client-ca, read and checked before the daemon touches the
 * datapath, so a wrong file refuses the start with the key named rather
 * than failing later inside grpc-js.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';

export interface TlsFiles {
  tlsCert: string;
  tlsKey: string;
  /** empty: no client certificates asked for */
  tlsClientCa: string;
}

function read(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function certificate(key: string, path: string, pem: Buffer): void {
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new Error(`${key}: ${path} is not a PEM certificate: ${(err as Error).message}`);
  }
}

/** serverCredentials: TLS (mTLS with a client CA) credentials from the files; throws naming the key at fault. */
export function serverCredentials(f: TlsFiles): ServerCredentials {
  const cert = read('tls-cert', f.tlsCert);
  const key = read('tls-key', f.tlsKey);
  certificate('tls-cert', f.tlsCert, cert);
  const ca = f.tlsClientCa ? read('tls-client-ca', f.tlsClientCa) : null;
  if (ca) certificate('tls-client-ca', f.tlsClientCa, ca);
  try {
    // what grpc-js would do at bind time, here where the message can name the key
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`tls-key: ${f.tlsKey} does not fit tls-cert ${f.tlsCert}: ${(err as Error).message}`);
  }
  return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
}
