/**
 * The daemon's logger: JSON lines by default; --log-pretty gives pino-pretty's
 * lines for a terminal (level, message, then the fields), without colours
 * when the output is not a terminal.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config.ts';
import { prettyStream, rootLogger } from '../../src/log.ts';

function sink(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { out, text: () => text };
}

describe('logging', () => {
  it('--log-pretty is a flag, off by default', () => {
    assert.equal(parseConfig([], {}).logPretty, false);
    assert.equal(parseConfig(['--log-pretty'], {}).logPretty, true);
    assert.throws(() => parseConfig(['--log-pretty=yes'], {}), /log-pretty/);
  });

  it('pretty lines: level, message and fields, no JSON, no colour off a terminal', async () => {
    const s = sink();
    const log = rootLogger('debug', await prettyStream(s.out)).child({ component: 'manager' });
    log.debug({ object: 'vif', action: 'add', vif: 1, name: 'veth-p1' }, 'datapath change');
    log.trace('not at debug');
    const text = s.text();
    assert.match(text, /DEBUG.*: \[manager\] datapath change\n/);
    assert.match(text, /vif: 1/);
    assert.match(text, /\(name=veth-p1\)/);
    assert.doesNotMatch(text, /not at debug/);
    assert.doesNotMatch(text, /\x1b\[/, 'no escape codes');
    assert.throws(() => JSON.parse(text.split('\n')[0]!));
  });
});
