/** Renders (possibly still streaming) Markdown incrementally: only the open last block is lexed per update. */
import { Component } from 'preact';
import type { JSX } from 'preact';
import { useMemo, useRef } from 'preact/hooks';
import { GROUP_SIZE, emptyBlocks, updateBlocks } from './blocks';
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

/**
 * All blocks in groups by index (block i in group i / GROUP_SIZE), so a block stays in its group, and keeps its
 * DOM, when it goes from open to finished. Full finished groups are the state's own arrays; the rest is new.
 */
function renderGroups(state: BlockState): (readonly Block[])[] {
  const { groups, open } = state;
  const last = groups[groups.length - 1];
  const full = last !== undefined && last.length < GROUP_SIZE ? groups.length - 1 : groups.length;
  const out = groups.slice(0, full);
  const rest = full < groups.length ? groups[full].concat(open) : open;
  for (let i = 0; i < rest.length; i += GROUP_SIZE) out.push(rest.slice(i, i + GROUP_SIZE));
  return out;
}

export function Markdown({ text, streaming }: { text: string; streaming: boolean }): JSX.Element {
  const prev = useRef<BlockState>(emptyBlocks);
  const state = useMemo(() => updateBlocks(prev.current, text, !streaming), [text, streaming]);
  prev.current = state;
  return (
    <div class="markdown">
      {renderGroups(state).map((g, i) => (
        <BlockGroup key={i} blocks={g} />
      ))}
    </div>
  );
}
