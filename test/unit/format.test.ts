import * as assert from 'node:assert/strict';
import { displayModelName, escapeMarkdown, fenceCode, formatDuration, formatFinalText, formatInt, formatStatusText, formatStatusTooltip, formatTps, reasoningCaps } from '../../src/core/base/format';
import type { LiveStats } from '../../src/core/session/sessionEvents';

function stats(over: Partial<LiveStats> = {}): LiveStats {
  return { phase: 'generating', completionTokens: 0, ...over };
}

describe('format', () => {
  describe('formatInt', () => {
    it('groups thousands with commas, independent of locale', () => {
      assert.equal(formatInt(0), '0');
      assert.equal(formatInt(999), '999');
      assert.equal(formatInt(1000), '1,000');
      assert.equal(formatInt(1234), '1,234');
      assert.equal(formatInt(8192), '8,192');
      assert.equal(formatInt(1234567), '1,234,567');
      assert.equal(formatInt(-4321), '-4,321');
      assert.equal(formatInt(1234.6), '1,235');
      assert.equal(formatInt(Number.NaN), '?');
    });
  });

  describe('formatTps', () => {
    it('shows one decimal below 10 and whole numbers above; … when unknown', () => {
      assert.equal(formatTps(undefined), '…');
      assert.equal(formatTps(Number.POSITIVE_INFINITY), '…');
      assert.equal(formatTps(3.44), '3.4');
      assert.equal(formatTps(0), '0.0');
      assert.equal(formatTps(42.4), '42');
      assert.equal(formatTps(1499.6), '1,500');
    });
  });

  describe('formatDuration', () => {
    it('uses ms below a second and seconds above', () => {
      assert.equal(formatDuration(350.4), '350 ms');
      assert.equal(formatDuration(1234), '1.2 s');
      assert.equal(formatDuration(63_000), '63 s');
      assert.equal(formatDuration(-1), '?');
    });
  });

  describe('formatStatusText', () => {
    it('shows tok/s and context used/max while generating', () => {
      const text = formatStatusText({ stats: stats({ tps: 42, ctxUsed: 1234, ctxMax: 8192 }), stale: false, count: 1 });
      assert.equal(text, '$(pulse) 42 tok/s · 1,234/8,192');
    });

    it('shows just the used context when the maximum is unknown', () => {
      assert.equal(formatStatusText({ stats: stats({ tps: 42, ctxUsed: 1234 }), stale: false, count: 1 }), '$(pulse) 42 tok/s · 1,234');
    });

    it('shows … tok/s before the rate can be measured', () => {
      assert.equal(formatStatusText({ stats: stats({ phase: 'waiting' }), stale: false, count: 1 }), '$(pulse) … tok/s');
      assert.equal(
        formatStatusText({ stats: stats({ ctxUsed: 20, ctxMax: 2048 }), stale: false, count: 1 }),
        '$(pulse) … tok/s · 20/2,048',
      );
    });

    it('shows prompt progress in percent during prompt processing', () => {
      assert.equal(formatStatusText({ stats: stats({ phase: 'prompt', promptProgress: 0.424 }), stale: false, count: 1 }), '$(pulse) Prompt 42%');
      assert.equal(formatStatusText({ stats: stats({ phase: 'prompt', promptProgress: 1.7 }), stale: false, count: 1 }), '$(pulse) Prompt 100%');
      assert.equal(formatStatusText({ stats: stats({ phase: 'prompt' }), stale: false, count: 1 }), '$(pulse) Prompt…');
    });

    it('shows a stalled stream differently from a slow one', () => {
      const stalled = formatStatusText({ stats: stats({ tps: 0.5 }), stale: true, silentMs: 63_400, count: 1 });
      assert.equal(stalled, '$(warning) stalled 63 s');
      const slow = formatStatusText({ stats: stats({ tps: 0.5 }), stale: false, count: 1 });
      assert.equal(slow, '$(pulse) 0.5 tok/s');
    });

    it('counts other streaming chats', () => {
      assert.equal(formatStatusText({ stats: stats({ tps: 12 }), stale: false, count: 3 }), '$(pulse) 12 tok/s · 3 chats');
    });
  });

  describe('formatStatusTooltip', () => {
    it('names model, time to first token, prompt speed, cache and server', () => {
      const md = formatStatusTooltip({
        stats: stats({ model: 'qwen_2.5', tps: 40, ttftMs: 350, promptPerSecond: 812.3, cachedTokens: 1200, promptTokens: 1500, ctxUsed: 1540, ctxMax: 4096 }),
        serverUrl: 'http://127.0.0.1:8080',
        stale: false,
        count: 1,
      });
      assert.match(md, /Model: qwen\\_2\\\.5/);
      assert.match(md, /Time to first token: 350 ms/);
      assert.match(md, /Prompt processing: 812 tok\/s/);
      assert.match(md, /Cached tokens: 1,200/);
      assert.match(md, /Context: 1,540 \/ 4,096/);
      assert.match(md, /Server: http:\/\/127\\\.0\\\.0\\\.1:8080/);
    });

    it('says server default when no model is known', () => {
      const md = formatStatusTooltip({ stats: stats(), serverUrl: 'http://x', stale: true, silentMs: 5000, count: 2 });
      assert.match(md, /Model: server default/);
      assert.match(md, /No tokens for 5\.0 s/);
      assert.match(md, /Streaming chats: 2/);
    });
  });

  describe('formatFinalText', () => {
    it('marks the figures as final with the outcome icon', () => {
      assert.equal(
        formatFinalText({ status: 'complete', timings: { predictedPerSecond: 41.6 }, ctxUsed: 1234, ctxMax: 8192, completionTokens: 900 }),
        '$(check) 42 tok/s · 1,234/8,192',
      );
      assert.equal(formatFinalText({ status: 'stopped', completionTokens: 12 }), '$(debug-stop) 12 tokens');
      assert.equal(formatFinalText({ status: 'failed', timings: { predictedPerSecond: 3 }, ctxUsed: 50 }), '$(error) 3.0 tok/s · 50');
    });
  });

  describe('escapeMarkdown', () => {
    it('neutralises link and emphasis syntax', () => {
      assert.equal(escapeMarkdown('[x](http://e)'), '\\[x\\]\\(http://e\\)');
      assert.equal(escapeMarkdown('*a*_b_'), '\\*a\\*\\_b\\_');
    });
  });

  describe('fenceCode', () => {
    it('wraps code in a fence with its language and label', () => {
      assert.equal(fenceCode('const a = 1;', 'typescript', 'a.ts'), 'a.ts\n\n```typescript\nconst a = 1;\n```');
    });

    it('uses a longer fence than any backtick run inside', () => {
      const code = 'text\n```js\nx\n```\n';
      const fenced = fenceCode(code, 'markdown');
      assert.ok(fenced.startsWith('````markdown\n'));
      assert.ok(fenced.endsWith('\n````'));
      assert.ok(fenced.includes(code));
    });

    it('strips characters that would break the info string', () => {
      assert.equal(fenceCode('x', 'c++ `evil`'), '```c++evil\nx\n```');
    });
  });
});

describe('displayModelName', () => {
  it('keeps an alias, shrinks a path to its file name without .gguf (never a full local path)', () => {
    assert.equal(displayModelName('qwen2.5-coder'), 'qwen2.5-coder');
    assert.equal(displayModelName('/home/me/models/Qwen3-8B-Q4_K_M.gguf'), 'Qwen3-8B-Q4_K_M');
    assert.equal(displayModelName('C:\\Users\\me\\m\\llama.GGUF'), 'llama');
    assert.equal(displayModelName('tiny.gguf'), 'tiny');
    assert.equal(displayModelName('org/model'), 'model');
  });
});

describe('reasoningCaps', () => {
  it('offers the thinking switch only for templates with enable_thinking, Skip thinking for reasoning templates', () => {
    assert.deepEqual(reasoningCaps('{% if enable_thinking %}<think>{% endif %}'), { canToggle: true, canSkip: true });
    assert.deepEqual(reasoningCaps('<|user|>{{ m }}<think>'), { canToggle: false, canSkip: true });
    assert.equal(reasoningCaps('<|user|>{{ content }}<|end|>'), undefined);
    assert.equal(reasoningCaps(undefined), undefined);
  });
});

describe('formatStatusText: busy and queued read apart from stale', () => {
  it('says Server busy with the seconds, and Waiting for a free slot with the counts', () => {
    assert.equal(formatStatusText({ stats: stats({ busyMs: 45_200 }), stale: false, count: 1 }), '$(watch) Server busy · 45 s');
    assert.equal(formatStatusText({ stats: stats({ queued: { busy: 4, total: 4 } }), stale: false, count: 1 }), '$(watch) Waiting for a free slot (4 of 4 busy)');
    assert.match(formatStatusText({ stats: stats({ busyMs: 45_200 }), stale: true, silentMs: 61_000, count: 1 }), /stalled 61 s/);
  });
});

describe('formatStatusTooltip: the figures users compare models by', () => {
  it('shows prompt tokens, prompt tok/s, TTFT and the cache reuse share', () => {
    const t = formatStatusTooltip({ stats: stats({ promptTokens: 800, cachedTokens: 600, promptPerSecond: 1234, ttftMs: 230 }), serverUrl: 'http://127.0.0.1:8080', stale: false, count: 1 });
    assert.match(t, /Prompt tokens: 800/);
    assert.match(t, /Cached tokens: 600 \(cache reuse 75 %\)/);
    assert.match(t, /Prompt processing: 1,234 tok\/s/);
    assert.match(t, /Time to first token: 230 ms/);
  });
});

