/**
 * Markdown tokens (from marked's lexer) to Preact VNodes. Nothing here produces HTML strings: raw HTML renders
 * as text, only http(s) links become clickable (and open through the host), images never load.
 */
import { Component } from 'preact';
import type { ComponentChildren, JSX } from 'preact';
import { Lexer } from 'marked';
import type { MarkedToken, Token, Tokens } from 'marked';
import { useHost } from '../hostApi';
import { CodeBlock } from '../components/codeBlock';
import { LEX_OPTIONS } from './blocks';
import type { Block } from './blocks';
import { closeOpenInline } from './optimistic';
import { t } from '../l10n';

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', copy: '©', reg: '®', trade: '™',
  hellip: '…', mdash: '—', ndash: '–', laquo: '«', raquo: '»', middot: '·', times: '×', divide: '÷',
  larr: '←', rarr: '→', uarr: '↑', darr: '↓', deg: '°', plusmn: '±', euro: '€', pound: '£', yen: '¥',
};

/** Decodes HTML character references to plain text (the result is only ever used as a text node). */
export function decodeEntities(text: string): string {
  if (text.indexOf('&') < 0) return text;
  return text.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z]{2,8});/g, (whole, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(code);
    }
    return NAMED_ENTITIES[body] ?? whole;
  });
}

/** The href if it is a plain http(s) URL, else undefined (rendered as text). */
export function safeHref(href: string | undefined): string | undefined {
  if (!href) return undefined;
  try {
    const url = new URL(href.trim());
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function Link({ href, title, children }: { href: string; title?: string | null | undefined; children: ComponentChildren }): JSX.Element {
  const host = useHost();
  const open = (): void => host.post({ type: 'openLink', href });
  return (
    <a
      class="md-link"
      role="link"
      tabIndex={0}
      title={title ? `${title}\n${href}` : href}
      onClick={(e) => {
        e.preventDefault();
        open();
      }}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          open();
        }
      }}
    >
      {children}
    </a>
  );
}

/** What stands in for an image (never loaded): its alt text, as a link to it when it is a web address. */
function imageLabel(alt: string): string {
  return alt ? t('[image: {0}]', alt) : t('[image: untitled]');
}

export function renderInline(tokens: readonly Token[] | undefined): ComponentChildren[] {
  return (tokens ?? []).map((t) => renderInlineToken(t));
}

function renderInlineToken(token: Token): ComponentChildren {
  const t = token as MarkedToken;
  switch (t.type) {
    case 'text':
      return t.tokens ? renderInline(t.tokens) : decodeEntities(t.text);
    case 'escape':
      return t.text;
    case 'strong':
      return <strong>{renderInline(t.tokens)}</strong>;
    case 'em':
      return <em>{renderInline(t.tokens)}</em>;
    case 'del':
      return <del>{renderInline(t.tokens)}</del>;
    case 'codespan':
      return <code class="md-code">{t.text}</code>;
    case 'br':
      return <br />;
    case 'link': {
      const href = safeHref(t.href);
      const children = renderInline(t.tokens);
      return href ? (
        <Link href={href} title={t.title}>
          {children}
        </Link>
      ) : (
        <span class="md-unsafe-link">{children}</span>
      );
    }
    case 'image': {
      const href = safeHref(t.href);
      const label = imageLabel(decodeEntities(t.text));
      return href ? <Link href={href}>{label}</Link> : label;
    }
    case 'html':
      return t.raw;
    default:
      return token.raw;
  }
}

/** Whether a fenced code token's raw source has its closing fence (an indented block never counts as closed). */
export function fenceClosed(raw: string): boolean {
  const lines = raw.replace(/\n+$/, '').split('\n');
  const open = /^\s*(`{3,}|~{3,})/.exec(lines[0]);
  if (!open || lines.length < 2) return false;
  const close = /^\s*(`{3,}|~{3,})\s*$/.exec(lines[lines.length - 1]);
  return close !== null && close[1][0] === open[1][0] && close[1].length >= open[1].length;
}

function renderListItem(item: Tokens.ListItem, loose: boolean, open: boolean): JSX.Element {
  const body = item.tokens.map((child) =>
    child.type === 'text' && !loose ? renderInline((child as Tokens.Text).tokens ?? [child]) : renderBlockToken(child, open),
  );
  return (
    <li class={item.task ? 'task' : undefined}>
      {item.task ? <input type="checkbox" checked={item.checked === true} disabled aria-label={item.checked ? t('done') : t('not done')} /> : null}
      {body}
    </li>
  );
}

/** One block-level token; `open`: it is the block still streaming (an unclosed fence in it is not highlighted). */
export function renderBlockToken(token: Token, open = false): ComponentChildren {
  const t = token as MarkedToken;
  switch (t.type) {
    case 'space':
    case 'def':
      return null;
    case 'paragraph':
      return <p>{renderInline(t.tokens)}</p>;
    case 'text':
      return <p>{t.tokens ? renderInline(t.tokens) : decodeEntities(t.text)}</p>;
    case 'heading': {
      const Tag = `h${Math.min(Math.max(t.depth, 1), 6)}` as 'h1';
      return <Tag>{renderInline(t.tokens)}</Tag>;
    }
    case 'hr':
      return <hr />;
    case 'code':
      return <CodeBlock code={t.text} lang={t.lang} streaming={open && !fenceClosed(t.raw)} />;
    case 'blockquote':
      return <blockquote>{t.tokens.map((child) => renderBlockToken(child, open))}</blockquote>;
    case 'list': {
      const items = t.items.map((item) => renderListItem(item, t.loose, open));
      if (!t.ordered) return <ul>{items}</ul>;
      return <ol start={typeof t.start === 'number' && t.start !== 1 ? t.start : undefined}>{items}</ol>;
    }
    case 'table': {
      const align = (i: number): string | undefined => {
        const a = t.align[i];
        return a ? `align-${a}` : undefined;
      };
      return (
        <div class="md-table-wrap">
          <table>
            <thead>
              <tr>
                {t.header.map((cell, i) => (
                  <th class={align(i)}>{renderInline(cell.tokens)}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {t.rows.map((row) => (
                <tr>
                  {row.map((cell, i) => (
                    <td class={align(i)}>{renderInline(cell.tokens)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    }
    case 'html':
      return <p class="md-html">{t.raw}</p>;
    default:
      return <p>{token.raw}</p>;
  }
}

/** Block types whose inline Markdown may be closed optimistically while streaming. */
const INLINE_BLOCKS = new Set(['paragraph', 'heading', 'list', 'blockquote', 'table', 'text']);

/**
 * The tokens to show for the block still streaming: its source with open inline constructs closed (see
 * optimistic.ts), lexed on its own. Finished blocks show their own token.
 */
function streamingTokens(block: Block): Token[] {
  if (!INLINE_BLOCKS.has(block.token.type)) return [block.token];
  const shown = closeOpenInline(block.raw);
  return shown === block.raw ? [block.token] : new Lexer(LEX_OPTIONS).lex(shown);
}

export interface MarkdownBlockProps {
  block: Block;
  /** The last block of a streaming answer: still growing. */
  open?: boolean;
}

/** One top-level block; skips re-rendering while its source is unchanged, so finished blocks render once. */
export class MarkdownBlock extends Component<MarkdownBlockProps> {
  override shouldComponentUpdate(next: MarkdownBlockProps): boolean {
    return next.block.raw !== this.props.block.raw || next.block.offset !== this.props.block.offset || next.open !== this.props.open;
  }

  override render(): JSX.Element {
    const { block, open = false } = this.props;
    const tokens = open ? streamingTokens(block) : [block.token];
    return <div class="md-block">{tokens.map((t) => renderBlockToken(t, open))}</div>;
  }
}
