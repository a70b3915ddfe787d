/**
 * Syntax highlighting for fenced code with highlight.js (core + a curated set of grammars). Neither the core nor
 * any grammar is in the initial webview bundle: each is its own chunk, imported the first time a fence in that
 * language is rendered. highlight.js never produces HTML here: our emitter collects its scopes as a tree of plain
 * strings, which becomes Preact vnodes (text nodes inside `<span class="tok-…">`).
 */
import { h } from 'preact';
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Emitter, HLJSApi, HighlightResult, LanguageFn } from 'highlight.js';

/** A highlighted piece of code: text, or a highlight.js scope (e.g. `keyword`, `title.function`) around more. */
export type HlNode = string | HlScope;

export interface HlScope {
  scope: string;
  children: HlNode[];
}

type GrammarModule = Promise<{ default: LanguageFn }>;

/**
 * The grammars we ship, each loaded on demand (the literal import() paths are what esbuild splits into chunks).
 * `needs`: grammars it embeds as a sub-language and cannot do without.
 */
const GRAMMARS: Record<string, { load: () => GrammarModule; aliases: readonly string[]; needs?: readonly string[] }> = {
  bash: { load: () => import('highlight.js/lib/languages/bash'), aliases: ['sh', 'zsh', 'shellscript'] },
  c: { load: () => import('highlight.js/lib/languages/c'), aliases: ['h'] },
  cpp: { load: () => import('highlight.js/lib/languages/cpp'), aliases: ['cc', 'c++', 'h++', 'hpp', 'hh', 'hxx', 'cxx'] },
  csharp: { load: () => import('highlight.js/lib/languages/csharp'), aliases: ['cs', 'c#'] },
  css: { load: () => import('highlight.js/lib/languages/css'), aliases: [] },
  diff: { load: () => import('highlight.js/lib/languages/diff'), aliases: ['patch'] },
  dockerfile: { load: () => import('highlight.js/lib/languages/dockerfile'), aliases: ['docker'] },
  go: { load: () => import('highlight.js/lib/languages/go'), aliases: ['golang'] },
  ini: { load: () => import('highlight.js/lib/languages/ini'), aliases: ['toml'] },
  java: { load: () => import('highlight.js/lib/languages/java'), aliases: ['jsp'] },
  javascript: { load: () => import('highlight.js/lib/languages/javascript'), aliases: ['js', 'jsx', 'mjs', 'cjs'] },
  json: { load: () => import('highlight.js/lib/languages/json'), aliases: ['jsonc', 'json5'] },
  kotlin: { load: () => import('highlight.js/lib/languages/kotlin'), aliases: ['kt', 'kts', 'ktm', 'ktx'] },
  lua: { load: () => import('highlight.js/lib/languages/lua'), aliases: [] },
  makefile: { load: () => import('highlight.js/lib/languages/makefile'), aliases: ['mk', 'mak', 'make'] },
  markdown: { load: () => import('highlight.js/lib/languages/markdown'), aliases: ['md', 'mkdown', 'mkd'] },
  php: { load: () => import('highlight.js/lib/languages/php'), aliases: [] },
  powershell: { load: () => import('highlight.js/lib/languages/powershell'), aliases: ['pwsh', 'ps', 'ps1'] },
  python: { load: () => import('highlight.js/lib/languages/python'), aliases: ['py', 'python3', 'gyp', 'ipython'] },
  ruby: { load: () => import('highlight.js/lib/languages/ruby'), aliases: ['rb', 'gemspec', 'podspec'] },
  rust: { load: () => import('highlight.js/lib/languages/rust'), aliases: ['rs'] },
  scss: { load: () => import('highlight.js/lib/languages/scss'), aliases: ['sass'] },
  shell: { load: () => import('highlight.js/lib/languages/shell'), aliases: ['console', 'shellsession'], needs: ['bash'] },
  sql: { load: () => import('highlight.js/lib/languages/sql'), aliases: [] },
  swift: { load: () => import('highlight.js/lib/languages/swift'), aliases: [] },
  typescript: { load: () => import('highlight.js/lib/languages/typescript'), aliases: ['ts', 'tsx', 'mts', 'cts'] },
  xml: {
    load: () => import('highlight.js/lib/languages/xml'),
    aliases: ['html', 'htm', 'xhtml', 'svg', 'vue', 'rss', 'atom', 'xsd', 'xsl', 'plist'],
  },
  yaml: { load: () => import('highlight.js/lib/languages/yaml'), aliases: ['yml'] },
};

const BY_ALIAS: ReadonlyMap<string, string> = new Map(
  Object.entries(GRAMMARS).flatMap(([name, g]) => [[name, name] as const, ...g.aliases.map((a) => [a, name] as const)]),
);

/** The names of the grammars we ship (tests check each one loads). */
export const languageNames: readonly string[] = Object.keys(GRAMMARS);

/** The grammar for a fence info string (`ts`, `Python {.class}`, …), or undefined: rendered as plain text. */
export function languageOf(lang: string | undefined): string | undefined {
  if (!lang) return undefined;
  return BY_ALIAS.get(lang.trim().split(/\s+/, 1)[0].toLowerCase());
}

/**
 * highlight.js's emitter interface, collecting a tree of strings instead of HTML (toHTML is never used). Besides
 * the typed methods highlight.js 11 also calls openNode / closeNode (the version is pinned; tests run every grammar).
 */
class TreeEmitter implements Emitter {
  readonly root: HlScope = { scope: '', children: [] };
  private readonly stack: HlScope[] = [this.root];

  private get top(): HlScope {
    return this.stack[this.stack.length - 1];
  }

  addText(text: string): void {
    if (!text) return;
    const { children } = this.top;
    const last = children[children.length - 1];
    if (typeof last === 'string') children[children.length - 1] = last + text;
    else children.push(text);
  }

  startScope(scope: string): void {
    const node: HlScope = { scope, children: [] };
    this.top.children.push(node);
    this.stack.push(node);
  }

  endScope(): void {
    if (this.stack.length > 1) this.stack.pop();
  }

  openNode(scope: string): void {
    this.startScope(scope);
  }

  closeNode(): void {
    this.endScope();
  }

  __addSublanguage(emitter: Emitter, name: string): void {
    const sub = emitter instanceof TreeEmitter ? emitter.root.children : [];
    this.top.children.push({ scope: name ? `language:${name}` : '', children: sub });
  }

  toHTML(): string {
    return '';
  }

  finalize(): void {
    this.stack.length = 1;
  }
}

let api: HLJSApi | undefined;
let core: Promise<HLJSApi> | undefined;
const loading = new Map<string, Promise<boolean>>();

function loadCore(): Promise<HLJSApi> {
  core ??= import('highlight.js/lib/core').then(
    (m) => {
      const hljs = m.default.newInstance();
      hljs.configure({ __emitter: TreeEmitter });
      api = hljs;
      return hljs;
    },
    (e: unknown) => {
      core = undefined;
      throw e;
    },
  );
  return core;
}

/** Whether `name`'s grammar (and highlight.js) is loaded, so `highlightTree` works synchronously. */
export function isLoaded(name: string): boolean {
  return api?.getLanguage(name) !== undefined && (GRAMMARS[name]?.needs ?? []).every((n) => isLoaded(n));
}

/**
 * Loads highlight.js and the grammar `name` (a name from `languageOf`) with what it needs. Resolves true when
 * `name` can be highlighted; false for an unknown name or a chunk that failed to load (tried again next time).
 */
export function loadLanguage(name: string): Promise<boolean> {
  const grammar = GRAMMARS[name];
  if (!grammar) return Promise.resolve(false);
  let pending = loading.get(name);
  if (!pending) {
    pending = Promise.all([loadCore(), grammar.load(), ...(grammar.needs ?? []).map(loadLanguage)]).then(
      ([hljs, mod, ...deps]) => {
        if (!hljs.getLanguage(name)) hljs.registerLanguage(name, mod.default);
        return deps.every(Boolean);
      },
      () => false,
    );
    loading.set(name, pending);
    void pending.then((ok) => {
      if (!ok) loading.delete(name);
    });
  }
  return pending;
}

/** The text of a tree, in order (always the highlighted code exactly). */
export function treeText(nodes: readonly HlNode[]): string {
  return nodes.map((n) => (typeof n === 'string' ? n : treeText(n.children))).join('');
}

/** `code` highlighted as `name`, or undefined while its grammar is not loaded (or if highlight.js lost text). */
export function highlightTree(code: string, name: string): HlNode[] | undefined {
  if (!api || !isLoaded(name)) return undefined;
  let result: HighlightResult;
  try {
    result = api.highlight(code, { language: name, ignoreIllegals: true });
  } catch {
    return undefined;
  }
  if (result.errorRaised || result.illegal) return undefined;
  const emitter = result._emitter;
  const nodes = emitter instanceof TreeEmitter ? emitter.root.children : undefined;
  return nodes && treeText(nodes) === code ? nodes : undefined;
}

/** `title.function` → `tok-title`, `selector-tag` → `tok-selector-tag`; sub-language roots get no class. */
function scopeClass(scope: string): string | undefined {
  const head = /^[a-z][a-z_-]*/.exec(scope)?.[0];
  return head && !scope.startsWith('language:') ? `tok-${head}` : undefined;
}

/** The tree as vnodes: text children and `<span class="tok-…">` (nothing is ever parsed as HTML). */
export function renderTree(nodes: readonly HlNode[]): ComponentChildren[] {
  return nodes.map((n) => {
    if (typeof n === 'string') return n;
    const cls = scopeClass(n.scope);
    const children = renderTree(n.children);
    return cls ? h('span', { class: cls }, children) : children;
  });
}

/**
 * `code` as highlighted vnodes once `lang`'s grammar is loaded (it starts loading on first use), plain text until
 * then and while `enabled` is false (a fence still streaming). Highlights again only when the code changes.
 */
export function useHighlight(code: string, lang: string | undefined, enabled: boolean): ComponentChildren {
  const name = languageOf(lang);
  const wanted = enabled && name !== undefined;
  const loaded = wanted && isLoaded(name);
  const [, setLoads] = useState(0);
  useEffect(() => {
    if (!wanted || loaded) return undefined;
    let live = true;
    void loadLanguage(name).then((ok) => {
      if (live && ok) setLoads((n) => n + 1);
    });
    return () => {
      live = false;
    };
  }, [name, wanted, loaded]);
  return useMemo(() => {
    const tree = loaded ? highlightTree(code, name) : undefined;
    return tree ? renderTree(tree) : code;
  }, [code, name, loaded]);
}
