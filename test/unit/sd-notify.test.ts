/**
 * sdNotify against a fake NOTIFY_SOCKET: the datagram systemd would read,
 * on a path socket and an abstract one, and nothing without the variable.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sdNotify } from '../../src/sd-notify.ts';
import { DatagramReceiver } from '../../src/bpf/unix-datagram.ts';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'vr-notify-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('sdNotify', () => {
  it('sends nothing without NOTIFY_SOCKET', () => {
    assert.equal(sdNotify({ READY: '1' }, {}), false);
  });

  it('sends KEY=value lines to a path socket, one datagram', () => {
    const rx = DatagramReceiver.bind(join(dir, 'notify.sock'));
    try {
      assert.equal(sdNotify({ READY: '1', STATUS: 'serving on /run/x.sock', MAINPID: '42' }, { NOTIFY_SOCKET: rx.path }), true);
      assert.equal(rx.tryRecv()?.toString(), 'READY=1\nSTATUS=serving on /run/x.sock\nMAINPID=42\n');
      assert.equal(rx.tryRecv(), undefined);
    } finally {
      rx.close();
    }
  });

  it('reaches an abstract socket ("@name", as systemd may set it)', () => {
    const rx = DatagramReceiver.bind(`@vr-notify-test-${randomBytes(4).toString('hex')}`);
    try {
      sdNotify({ STOPPING: '1' }, { NOTIFY_SOCKET: rx.path });
      assert.equal(rx.tryRecv()?.toString(), 'STOPPING=1\n');
    } finally {
      rx.close();
    }
  });

  it('keeps a value on its line: a newline in it would start another key', () => {
    const rx = DatagramReceiver.bind(join(dir, 'nl.sock'));
    try {
      sdNotify({ STATUS: 'a\nREADY=1' }, { NOTIFY_SOCKET: rx.path });
      assert.equal(rx.tryRecv()?.toString(), 'STATUS=a READY=1\n');
    } finally {
      rx.close();
    }
  });

  it('throws a named error when nothing listens, and for a path too long', () => {
    assert.throws(() => sdNotify({ READY: '1' }, { NOTIFY_SOCKET: join(dir, 'absent.sock') }), /sendto\(.*absent\.sock\): ENOENT/);
    assert.throws(() => sdNotify({ READY: '1' }, { NOTIFY_SOCKET: `/${'x'.repeat(200)}` }), /want 1 to 107 bytes/);
  });
});
