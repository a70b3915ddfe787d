/** Renders (possibly still streaming) Markdown incrementally: only the open last block is lexed per update. */
import { Component } from 'preact';
import type { JSX } from 'preact';
import { useMemo, useRef } from 'preact/hooks';
import { GROUP_SIZE, emptyBlocks, updateBlocks } from './blocks';
import type { Block, BlockState } from './blocks';
import { MarkdownBlock } from './render';

interface GroupProps {
  blocks: readonly Block[];
  /** Index of the first block still open (streaming); `blocks.length` when all are finished. */
  openAt: number;
}

/** A group of finished blocks: its array never changes once full, so a delta skips it with one identity check. */
class BlockGroup extends Component<GroupProps> {
  override shouldComponentUpdate(next: GroupProps): boolean {
    return next.blocks !== this.props.blocks || next.openAt !== this.props.openAt;
  }

  override render(): JSX.Element {
    const { blocks, openAt } = this.props;
    return (
      <>
        {blocks.map((b, i) => (
          <MarkdownBlock key={b.offset} block={b} open={i >= openAt} />
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
  const done = state.groups.reduce((n, g) => n + g.length, 0);
  return (
    <div class="markdown">
      {renderGroups(state).map((g, i) => (
        <BlockGroup key={i} blocks={g} openAt={Math.min(Math.max(done - i * GROUP_SIZE, 0), g.length)} />
      ))}
    </div>
  );
}
