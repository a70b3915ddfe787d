/**
 * The windowed message list: the pure window arithmetic (which rows render for a scroll position and heights,
 * spacer sizes, pinned rows) and the list in jsdom (a long chat mounts only a window, the streaming answer is always
 * mounted, scrolling moves the window, short chats render whole).
 */
import * as assert from 'node:assert/strict';
import { act } from 'preact/test-utils';
import type { Chat, ChatMessage } from '../../../src/core/chats/chat';
import type { StreamingInfo } from '../../../src/protocol';
import { sameRow } from '../../../webview/components/messageItem';
import type { MessageRowProps } from '../../../webview/components/messageItem';
import { MessageList } from '../../../webview/components/messageList';
import { DEFAULT_ROW_PX, WINDOW_MIN_ROWS } from '../../../webview/components/useWindow';
import { clampScroll, covers, estimateHeight, heightsOf, offsetsOf, rangeFor, rowAt, segmentsFor } from '../../../webview/components/windowing';
import type { Segment } from '../../../webview/components/windowing';
import { FakeHost, mount, useDom } from './dom';

const rows = (segments: Segment[]): number[] => segments.flatMap((s) => (s.kind === 'row' ? [s.index] : []));
const gaps = (segments: Segment[]): number[] => segments.flatMap((s) => (s.kind === 'gap' ? [s.height] : []));

describe('webview windowing arithmetic', () => {
  const even = offsetsOf(new Array<number>(100).fill(50)); // 100 rows of 50 px: 5,000 px

  it('offsets are the running sum of the heights; negative heights count as 0', () => {
    assert.deepEqual(offsetsOf([10, 20, 30]), [0, 10, 30, 60]);
    assert.deepEqual(offsetsOf([10, -5, 30]), [0, 10, 10, 40]);
    assert.deepEqual(offsetsOf([]), [0]);
  });

  it('rowAt finds the row holding a y, clamped to the first and last rows', () => {
    const o = offsetsOf([10, 20, 30]);
    assert.equal(rowAt(o, -5), 0);
    assert.equal(rowAt(o, 0), 0);
    assert.equal(rowAt(o, 9.9), 0);
    assert.equal(rowAt(o, 10), 1);
    assert.equal(rowAt(o, 29), 1);
    assert.equal(rowAt(o, 30), 2);
    assert.equal(rowAt(o, 1_000), 2);
    assert.equal(rowAt([0], 10), 0);
  });

  it('the range covers the viewport plus the overscan each side', () => {
    // Viewport 1,000..1,500 (rows 20..29), 200 px overscan: rows 16..33.
    assert.deepEqual(rangeFor(even, 1_000, 500, 200), { start: 16, end: 34 });
    assert.deepEqual(rangeFor(even, 1_000, 500, 0), { start: 20, end: 30 });
    // A row cut by the edge is rendered.
    assert.deepEqual(rangeFor(even, 1_010, 500, 0), { start: 20, end: 31 });
  });

  it('at the top and at the bottom (Infinity) the range stops at the ends', () => {
    assert.deepEqual(rangeFor(even, 0, 500, 200), { start: 0, end: 14 });
    assert.deepEqual(rangeFor(even, Infinity, 500, 200), { start: 86, end: 100 });
    assert.equal(clampScroll(even, Infinity, 500), 4_500);
    assert.equal(clampScroll(even, -10, 500), 0);
    // Content shorter than the viewport: everything.
    assert.deepEqual(rangeFor(offsetsOf([50, 50]), Infinity, 500, 0), { start: 0, end: 2 });
    assert.deepEqual(rangeFor([0], 0, 500, 0), { start: 0, end: 0 });
  });

  it('uneven heights: a tall row in view is enough on its own', () => {
    const o = offsetsOf([100, 5_000, 100]);
    assert.deepEqual(rangeFor(o, 1_000, 500, 100), { start: 1, end: 2 });
  });

  it('covers: the window stays while the viewport keeps the margin inside it', () => {
    const range = rangeFor(even, 1_000, 500, 500); // rows 10..40: 500..2,000
    assert.deepEqual(range, { start: 10, end: 40 });
    assert.equal(covers(even, range, 1_000, 500, 100), true);
    assert.equal(covers(even, range, 600, 500, 100), true);
    assert.equal(covers(even, range, 599, 500, 100), false, 'the margin above is gone');
    assert.equal(covers(even, range, 1_400, 500, 100), true);
    assert.equal(covers(even, range, 1_401, 500, 100), false, 'the margin below is gone');
    assert.equal(covers(even, { start: 86, end: 100 }, Infinity, 500, 100), true, 'at the bottom there is nothing below to need');
    assert.equal(covers(even, { start: 0, end: 0 }, 0, 500, 100), false, 'an empty range covers nothing');
  });

  it('segments: one spacer per run of rows left out, sized to those rows', () => {
    const o = offsetsOf([10, 20, 30, 40, 50]);
    const seg = segmentsFor(o, { start: 1, end: 3 });
    assert.deepEqual(seg, [
      { kind: 'gap', from: 0, to: 1, height: 10 },
      { kind: 'row', index: 1 },
      { kind: 'row', index: 2 },
      { kind: 'gap', from: 3, to: 5, height: 90 },
    ]);
    assert.deepEqual(segmentsFor(o, { start: 0, end: 5 }), [0, 1, 2, 3, 4].map((index) => ({ kind: 'row', index })), 'all rows: no spacer');
  });

  it('pinned rows render outside the range, between their own spacers; the heights always add up', () => {
    const seg = segmentsFor(even, { start: 0, end: 10 }, [99, 50, 5, 200, -1]);
    assert.deepEqual(rows(seg), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 99], 'the streaming answer (last) and a focused row (50); out-of-range pins ignored');
    assert.deepEqual(gaps(seg), [40 * 50, 48 * 50]);
    const total = gaps(seg).reduce((a, b) => a + b, 0) + rows(seg).length * 50;
    assert.equal(total, 5_000);
  });

  it('estimates: the mean of measured heights, else the fallback; measured rows keep their own', () => {
    assert.equal(estimateHeight([], 120), 120);
    assert.equal(estimateHeight([100, 300, 0], 120), 200, 'zero (not laid out) does not count');
    const measured = new Map([
      ['a', 40],
      ['c', 60],
    ]);
    assert.deepEqual(heightsOf(['a', 'b', 'c'], measured, 50), [40, 50, 60]);
  });
});

function message(id: string, role: ChatMessage['role'], content: string, over: Partial<ChatMessage> = {}): ChatMessage {
  return { id, role, content, status: 'complete', createdAt: 1, ...over };
}

/** `count` messages, questions and answers alternating, the last one streaming when `streaming`. */
function longChat(count: number, streaming = false): Chat {
  const messages: ChatMessage[] = [];
  for (let i = 0; i < count; i++) {
    const last = i === count - 1;
    messages.push(
      message(`m${i}`, i % 2 === 0 ? 'user' : 'assistant', `text of message ${i}`, {
        ...(i > 0 ? { parentId: `m${i - 1}` } : {}),
        ...(last && streaming ? { status: 'streaming' as const } : {}),
      }),
    );
  }
  return { id: 'c1', title: 'Long', createdAt: 1, updatedAt: 2, messageCount: count, messages, leafId: `m${count - 1}` };
}

const keysIn = (root: HTMLElement): string[] => Array.from(root.querySelectorAll<HTMLElement>('.message-row')).map((r) => r.dataset.key ?? '');
const gapHeights = (root: HTMLElement): number[] => Array.from(root.querySelectorAll<HTMLElement>('.message-gap')).map((g) => parseFloat(g.style.height));

describe('webview message list windowing (jsdom)', () => {
  useDom();

  it(`a chat under ${WINDOW_MIN_ROWS} messages renders every message and no spacer`, () => {
    const m = mount(<MessageList chat={longChat(WINDOW_MIN_ROWS - 1)} streaming={[]} />);
    assert.equal(keysIn(m.container).length, WINDOW_MIN_ROWS - 1);
    assert.equal(m.container.querySelectorAll('.message-gap').length, 0);
  });

  it('a 1,000-message chat mounts only the rows at its bottom, a spacer for the rest sized by the estimate', () => {
    const m = mount(<MessageList chat={longChat(1_000)} streaming={[]} />);
    const keys = keysIn(m.container);
    assert.ok(keys.length > 0 && keys.length < 40, `${keys.length} rows mounted`);
    assert.equal(keys[keys.length - 1], 'm999', 'the newest message is there');
    assert.ok(!keys.includes('m0'));
    const first = Number(keys[0].slice(1));
    assert.deepEqual(keys, Array.from({ length: 1_000 - first }, (_, i) => `m${first + i}`), 'a contiguous run');
    assert.deepEqual(gapHeights(m.container), [first * DEFAULT_ROW_PX], 'no row measured in jsdom: each counts the default height');
    assert.ok(m.container.querySelector('.messages > .message-gap + .message-row'), 'the spacer comes first');
  });

  it('the streaming answer stays mounted when the list shows the top; scrolling moves the window', () => {
    const host = new FakeHost();
    host.state = { drafts: {}, scroll: { c1: 0 } };
    const chat = longChat(1_000, true);
    const streaming: StreamingInfo[] = [{ chatId: 'c1', messageId: 'm999', seq: 0, stale: false, phase: 'generating' }];
    const m = mount(<MessageList chat={chat} streaming={streaming} />, host);
    let keys = keysIn(m.container);
    assert.equal(keys[0], 'm0', 'the saved position (the top) is shown');
    assert.ok(keys.includes('m999'), 'the streaming answer is mounted');
    assert.ok(!keys.includes('m998'), 'but not the rows before it');
    assert.equal(m.container.querySelectorAll('.message-gap').length, 1, 'one spacer between the window and the streaming answer');
    const total = gapHeights(m.container).reduce((a, b) => a + b, 0) + keys.length * DEFAULT_ROW_PX;
    assert.equal(total, 1_000 * DEFAULT_ROW_PX, 'rows and spacers add up to the whole chat');

    // jsdom has no layout: the list's sizes are given. To the bottom, then up to the middle.
    const list = m.container.querySelector<HTMLElement>('.messages')!;
    Object.defineProperty(list, 'clientHeight', { configurable: true, get: () => 600 });
    Object.defineProperty(list, 'scrollHeight', { configurable: true, get: () => 1_000 * DEFAULT_ROW_PX });
    const scrollTo = (top: number): void =>
      void act(() => {
        list.scrollTop = top;
        list.dispatchEvent(new Event('scroll'));
      });
    scrollTo(1_000 * DEFAULT_ROW_PX - 600);
    assert.ok(keysIn(m.container).includes('m998'), 'at the bottom');
    scrollTo(500 * DEFAULT_ROW_PX);
    keys = keysIn(m.container);
    assert.ok(keys.includes('m500') && keys.includes('m504'), `the middle is mounted: ${keys.join(' ')}`);
    assert.ok(!keys.includes('m0'), 'the top is not any more');
    assert.ok(keys.includes('m999'), 'the streaming answer still is');
    assert.equal(m.container.querySelectorAll('.message-gap').length, 2);

    // A delta reaches the streaming answer while it is far from the viewport.
    const grown = { ...chat, messages: chat.messages.map((x) => (x.id === 'm999' ? { ...x, content: 'text of message 999 and more' } : x)) };
    m.rerender(<MessageList chat={grown} streaming={streaming} />);
    assert.match(m.container.querySelector('[data-key="m999"]')?.textContent ?? '', /and more/);
  });

  it('the scroll position is saved when scrolled up, and forgotten at the bottom (the chat comes back at its bottom)', async () => {
    const host = new FakeHost();
    const m = mount(<MessageList chat={longChat(1_000)} streaming={[]} />, host);
    const list = m.container.querySelector<HTMLElement>('.messages')!;
    Object.defineProperty(list, 'clientHeight', { configurable: true, get: () => 600 });
    Object.defineProperty(list, 'scrollHeight', { configurable: true, get: () => 1_000 * DEFAULT_ROW_PX });
    const frame = (): Promise<void> => new Promise((r) => requestAnimationFrame(() => r()));
    const scrollTo = async (top: number): Promise<void> => {
      void act(() => {
        list.scrollTop = top;
        list.dispatchEvent(new Event('scroll'));
      });
      await frame();
      await frame();
    };
    await scrollTo(1_000 * DEFAULT_ROW_PX - 600);
    await scrollTo(300 * DEFAULT_ROW_PX);
    assert.equal(host.state?.scroll.c1, 300 * DEFAULT_ROW_PX);
    await scrollTo(1_000 * DEFAULT_ROW_PX - 600);
    assert.ok(host.state !== undefined && !('c1' in host.state.scroll), JSON.stringify(host.state?.scroll));
  });

  it('rows compare their version lists element by element (every delta rebuilds the tree index)', () => {
    const a = message('a', 'assistant', 'x');
    const b = message('b', 'assistant', 'y');
    const base = { message: a, versions: [a, b], busy: false } as unknown as MessageRowProps;
    assert.equal(sameRow(base, { ...base, versions: [a, b] }), true);
    assert.equal(sameRow(base, { ...base, versions: [a] }), false);
    assert.equal(sameRow(base, { ...base, message: { ...a } }), false, 'a changed message renders');
    assert.equal(sameRow(base, { ...base, busy: true }), false);
  });
});
