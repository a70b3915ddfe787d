import * as assert from 'node:assert/strict';
import type * as vscode from 'vscode';
import { ChannelLogger, redact } from '../../../src/vscode/log';

/** Collects what would reach the output channel. */
function fakeChannel(): { channel: vscode.LogOutputChannel; lines: string[] } {
  const lines: string[] = [];
  const put = (level: string) => (m: string | Error) => lines.push(`${level} ${String(m)}`);
  const channel = { trace: put('trace'), debug: put('debug'), info: put('info'), warn: put('warn'), error: put('error') };
  return { channel: channel as unknown as vscode.LogOutputChannel, lines };
}

describe('log redaction', () => {
  it('masks Authorization headers, Bearer tokens and URL credentials', () => {
    assert.equal(redact('authorization: Bearer sk-abc.def'), 'authorization: [redacted]');
    assert.equal(redact('{"Authorization":"Bearer sk-1"}'), '{"Authorization":"[redacted]"}');
    assert.equal(redact('sent Bearer abc123== to server'), 'sent Bearer [redacted] to server');
    assert.equal(redact('GET http://user:pa55@host:8080/health'), 'GET http://[redacted]@host:8080/health');
  });

  it('leaves ordinary lines alone', () => {
    const line = 'POST http://127.0.0.1:8080/v1/chat/completions → 200 after 12 ms';
    assert.equal(redact(line), line);
  });

  it('masks a known secret anywhere, keeps the last lines and writes the masked text only', () => {
    const { channel, lines } = fakeChannel();
    const logger = new ChannelLogger(channel);
    logger.setSecrets(['s3cr3t-key']);
    logger.warn('request failed with key s3cr3t-key in it', { header: 'Bearer s3cr3t-key' });
    logger.error(new Error('boom s3cr3t-key'));
    assert.ok(lines.length === 2);
    assert.ok(!lines.join('\n').includes('s3cr3t-key'), lines.join('\n'));
    assert.ok(!logger.recent().join('\n').includes('s3cr3t-key'));
    assert.match(logger.recent()[0], /^\[warn\] request failed with key \[redacted\] in it/);
  });

  it('ignores secrets too short to mask safely', () => {
    const { channel, lines } = fakeChannel();
    const logger = new ChannelLogger(channel);
    logger.setSecrets(['a']);
    logger.info('a cat');
    assert.deepEqual(lines, ['info a cat']);
  });
});
