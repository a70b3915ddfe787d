/** Renders (possibly still streaming) Markdown incrementally: only the open last block is lexed per update. */
import type { JSX } from 'preact';
import { useMemo, useRef } from 'preact/hooks';
import { allBlocks, emptyBlocks, updateBlocks } from './blocks';
import type { BlockState } from './blocks';
import { MarkdownBlock } from './render';

export function Markdown({ text, streaming }: { text: string; streaming: boolean }): JSX.Element {
  const prev = useRef<BlockState>(emptyBlocks);
  const state = useMemo(() => updateBlocks(prev.current, text, !streaming), [text, streaming]);
  prev.current = state;
  return (
    <div class="markdown">
      {allBlocks(state).map((b) => (
        <MarkdownBlock key={b.offset} block={b} />
      ))}
    </div>
  );
}
