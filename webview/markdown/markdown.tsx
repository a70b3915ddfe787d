/** Renders (possibly still streaming) Markdown incrementally: only the open last block is lexed per update. */
import { Component } from 'preact';
import type { JSX } from 'preact';
import { useMemo, useRef } from 'preact/hooks';
import { emptyBlocks, updateBlocks } from './blocks';
import type { Block, BlockState } from './blocks';
import { MarkdownBlock } from './render';

/** A group of finished blocks: its array never changes once full, so a delta skips it with one identity check. */
class BlockGroup extends Component<{ blocks: readonly Block[] }> {
  override shouldComponentUpdate(next: { blocks: readonly Block[] }): boolean {
    return next.blocks !== this.props.blocks;
  }

  override render(): JSX.Element {
    return (
      <>
        {this.props.blocks.map((b) => (
          <MarkdownBlock key={b.offset} block={b} />
        ))}
      </>
    );
  }
}

export function Markdown({ text, streaming }: { text: string; streaming: boolean }): JSX.Element {
  const prev = useRef<BlockState>(emptyBlocks);
  const state = useMemo(() => updateBlocks(prev.current, text, !streaming), [text, streaming]);
  prev.current = state;
  return (
    <div class="markdown">
      {state.groups.map((g) => (
        <BlockGroup key={`g${g[0].offset}`} blocks={g} />
      ))}
      {state.open.map((b) => (
        <MarkdownBlock key={b.offset} block={b} />
      ))}
    </div>
  );
}
