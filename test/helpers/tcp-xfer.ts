/**
 * tcp-xfer: a tiny TCP sender/receiver for end-to-end tests, run inside a
 * pod namespace. Both ends print one JSON line with the byte count and the
 * sha256 of what they sent or received.
 *   serve <ip> <port>          accept one connection, hash it, exit
 *   send <ip> <port> <bytes>   send pseudo-random bytes, exit; also prints
 *                              connectMs, the time the TCP handshake took
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';

const [mode, host, portText, bytesText] = process.argv.slice(2);
const port = Number(portText);
const deadline = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timeout' }) + '\n');
  process.exit(3);
}, 60_000);

if (mode === 'serve') {
  const server = createServer((sock) => {
    const h = createHash('sha256');
    let bytes = 0;
    sock.on('data', (d) => {
      h.update(d);
      bytes += d.length;
    });
    sock.on('end', () => {
      process.stdout.write(JSON.stringify({ bytes, sha256: h.digest('hex') }) + '\n');
      clearTimeout(deadline);
      server.close();
    });
  });
  server.listen(port, host, () => process.stdout.write('listening\n'));
} else if (mode === 'send') {
  const total = Number(bytesText);
  const h = createHash('sha256');
  const t0 = performance.now();
  let connectMs = 0;
  const sock = connect(port, host, () => {
    connectMs = performance.now() - t0;
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const chunk = randomBytes(Math.min(64 * 1024, total - sent));
        h.update(chunk);
        sent += chunk.length;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
      sock.end(() => {
        process.stdout.write(JSON.stringify({ bytes: sent, sha256: h.digest('hex'), connectMs }) + '\n');
        clearTimeout(deadline);
      });
    };
    pump();
  });
  sock.on('error', (err) => {
    process.stdout.write(JSON.stringify({ error: err.message }) + '\n');
    process.exit(2);
  });
} else {
  process.stderr.write('usage: tcp-xfer serve <ip> <port> | send <ip> <port> <bytes>\n');
  process.exit(2);
}
