/**
 * A tiny syntax highlighter: keywords, strings, comments and numbers for common languages. Deliberately light
 * (no grammar, no highlight.js) to keep the webview bundle small; good enough to make code readable.
 */
export type TokenKind = 'plain' | 'keyword' | 'string' | 'comment' | 'number' | 'tag';

export interface HlToken {
  kind: TokenKind;
  text: string;
}

interface LangDef {
  keywords: ReadonlySet<string>;
  lineComments: readonly string[];
  blockComments: readonly (readonly [string, string])[];
  /** String delimiters, longest first (e.g. `"""` before `"`). Multi-line if the delimiter is in `multiline`. */
  quotes: readonly string[];
  multiline?: readonly string[];
  caseInsensitive?: boolean;
  /** Characters allowed inside identifiers besides [A-Za-z0-9_]. */
  identExtra?: string;
  /** `#` starts a comment only at line start or after whitespace (shells). */
  hashNeedsSpace?: boolean;
  /** `'` is a char literal only when it closes right away (Rust lifetimes). */
  charLiteral?: boolean;
  /** `@name` is a keyword (CSS at-rules, decorators). */
  atKeywords?: boolean;
  markup?: boolean;
}

const words = (s: string): ReadonlySet<string> => new Set(s.split(/\s+/).filter(Boolean));

const C_LIKE_COMMENTS = { lineComments: ['//'], blockComments: [['/*', '*/']] as const };

const JS: LangDef = {
  ...C_LIKE_COMMENTS,
  keywords: words(`abstract as async await break case catch class const constructor continue debugger declare default
    delete do else enum export extends false finally for from function get if implements import in instanceof
    interface keyof let module namespace new null of private protected public readonly return satisfies set static
    super switch this throw true try type typeof undefined var void while with yield`),
  quotes: ['`', '"', "'"],
  multiline: ['`'],
  identExtra: '$',
  atKeywords: true,
};

const LANGS: Record<string, LangDef> = {
  js: JS,
  json: { keywords: words('true false null'), lineComments: [], blockComments: [], quotes: ['"'] },
  python: {
    keywords: words(`False None True and as assert async await break class continue def del elif else except finally
      for from global if import in is lambda match case nonlocal not or pass raise return self try while with yield`),
    lineComments: ['#'],
    blockComments: [],
    quotes: ['"""', "'''", '"', "'"],
    multiline: ['"""', "'''"],
    atKeywords: true,
  },
  rust: {
    ...C_LIKE_COMMENTS,
    keywords: words(`as async await break const continue crate dyn else enum extern false fn for if impl in let loop
      match mod move mut pub ref return self Self static struct super trait true type unsafe use where while
      i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool char str String Vec Option Result Some None Ok Err`),
    quotes: ['"', "'"],
    multiline: ['"'],
    charLiteral: true,
  },
  go: {
    ...C_LIKE_COMMENTS,
    keywords: words(`break case chan const continue default defer else fallthrough for func go goto if import interface
      map package range return select struct switch type var true false nil iota int int8 int16 int32 int64 uint
      uint8 uint16 uint32 uint64 float32 float64 string bool byte rune error any`),
    quotes: ['`', '"', "'"],
    multiline: ['`'],
  },
  c: {
    ...C_LIKE_COMMENTS,
    keywords: words(`auto break case char const continue default do double else enum extern float for goto if inline
      int long register restrict return short signed sizeof static struct switch typedef union unsigned void
      volatile while bool true false NULL size_t #include #define #ifdef #ifndef #endif #if #else #pragma`),
    quotes: ['"', "'"],
    identExtra: '#',
  },
  cpp: {
    ...C_LIKE_COMMENTS,
    keywords: words(`auto bool break case catch char class const constexpr const_cast continue decltype default delete
      do double dynamic_cast else enum explicit export extern false float for friend goto if inline int long mutable
      namespace new noexcept nullptr operator private protected public register reinterpret_cast return short signed
      sizeof static static_cast struct switch template this throw true try typedef typename union unsigned using
      virtual void volatile while std #include #define #ifdef #ifndef #endif #if #else #pragma`),
    quotes: ['"', "'"],
    identExtra: '#',
  },
  java: {
    ...C_LIKE_COMMENTS,
    keywords: words(`abstract assert boolean break byte case catch char class const continue default do double else
      enum extends final finally float for goto if implements import instanceof int interface long native new null
      package private protected public record return short static super switch synchronized this throw throws
      transient true false try var void volatile while`),
    quotes: ['"""', '"', "'"],
    multiline: ['"""'],
    atKeywords: true,
  },
  bash: {
    keywords: words(`if then else elif fi for in do done while until case esac function return local export exit
      echo cd set unset source read shift true false`),
    lineComments: ['#'],
    blockComments: [],
    quotes: ['"', "'"],
    multiline: ['"', "'"],
    hashNeedsSpace: true,
    identExtra: '-',
  },
  css: {
    keywords: words('!important inherit initial unset none auto'),
    lineComments: [],
    blockComments: [['/*', '*/']],
    quotes: ['"', "'"],
    identExtra: '-',
    atKeywords: true,
  },
  html: { keywords: words(''), lineComments: [], blockComments: [['<!--', '-->']], quotes: ['"', "'"], identExtra: '-:', markup: true },
  sql: {
    keywords: words(`select from where and or not insert into values update set delete create table drop alter add
      index primary key foreign references join left right inner outer full on as group by order having limit
      offset distinct union all null is in like between case when then else end exists default view begin commit
      rollback transaction int integer text varchar boolean true false count sum avg min max with returning`),
    lineComments: ['--'],
    blockComments: [['/*', '*/']],
    quotes: ["'", '"'],
    caseInsensitive: true,
  },
};

const ALIASES: Record<string, string> = {
  ts: 'js', typescript: 'js', tsx: 'js', jsx: 'js', javascript: 'js', mjs: 'js', cjs: 'js', mts: 'js', jsonc: 'js',
  py: 'python', python3: 'python', rs: 'rust', golang: 'go', h: 'c', 'c++': 'cpp', cc: 'cpp', cxx: 'cpp', hpp: 'cpp',
  sh: 'bash', shell: 'bash', zsh: 'bash', console: 'bash', shellscript: 'bash', scss: 'css', less: 'css',
  xml: 'html', svg: 'html', htm: 'html', vue: 'html', kotlin: 'java', kt: 'java', csharp: 'java', cs: 'java',
};

/** The language definition for a fence info string, or undefined (rendered as plain text). */
export function languageOf(lang: string | undefined): string | undefined {
  if (!lang) return undefined;
  const key = lang.trim().split(/\s+/, 1)[0].toLowerCase();
  const name = ALIASES[key] ?? key;
  return Object.prototype.hasOwnProperty.call(LANGS, name) ? name : undefined;
}

function isIdentStart(ch: string, def: LangDef): boolean {
  return /[A-Za-z_]/.test(ch) || (def.identExtra !== undefined && def.identExtra.includes(ch) && ch !== '-');
}

function isIdentChar(ch: string, def: LangDef): boolean {
  return /[\w]/.test(ch) || (def.identExtra !== undefined && def.identExtra.includes(ch));
}

/** Splits `code` into tokens; concatenating their text gives back `code` exactly. */
export function highlight(code: string, lang: string | undefined): HlToken[] {
  const name = languageOf(lang);
  if (!name) return [{ kind: 'plain', text: code }];
  const def = LANGS[name];
  const out: HlToken[] = [];
  const push = (kind: TokenKind, text: string): void => {
    if (!text) return;
    const last = out[out.length - 1];
    if (last && last.kind === kind && kind === 'plain') last.text += text;
    else out.push({ kind, text });
  };
  let inTag = false;
  let i = 0;
  const n = code.length;
  outer: while (i < n) {
    const ch = code[i];
    const prev = i > 0 ? code[i - 1] : '\n';

    for (const [open, close] of def.blockComments) {
      if (code.startsWith(open, i)) {
        const end = code.indexOf(close, i + open.length);
        const stop = end < 0 ? n : end + close.length;
        push('comment', code.slice(i, stop));
        i = stop;
        continue outer;
      }
    }
    for (const lc of def.lineComments) {
      if (code.startsWith(lc, i) && (!def.hashNeedsSpace || /\s/.test(prev))) {
        const end = code.indexOf('\n', i);
        const stop = end < 0 ? n : end;
        push('comment', code.slice(i, stop));
        i = stop;
        continue outer;
      }
    }
    if (def.markup) {
      if (ch === '<') {
        const m = /^<\/?[A-Za-z][\w:-]*/.exec(code.slice(i, i + 64));
        if (m) {
          push('tag', m[0]);
          i += m[0].length;
          inTag = true;
          continue;
        }
      }
      if (ch === '>' && inTag) inTag = false;
    }
    if (!def.markup || inTag) {
      for (const q of def.quotes) {
        if (!code.startsWith(q, i)) continue;
        if (def.charLiteral && q === "'") {
          const m = /^'(?:\\.[^'\n]{0,8}|[^'\\\n])'/.exec(code.slice(i, i + 12));
          if (!m) break;
          push('string', m[0]);
          i += m[0].length;
          continue outer;
        }
        const multi = def.multiline?.includes(q) ?? false;
        let j = i + q.length;
        while (j < n) {
          if (code[j] === '\\') {
            j += 2;
            continue;
          }
          if (code.startsWith(q, j)) {
            j += q.length;
            break;
          }
          if (code[j] === '\n' && !multi) break;
          j++;
        }
        const stop = Math.min(j, n);
        push('string', code.slice(i, stop));
        i = stop;
        continue outer;
      }
    }
    if (/[0-9]/.test(ch) && !isIdentChar(prev, def)) {
      const m = /^(?:0[xXbBoO][0-9a-fA-F_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)/.exec(code.slice(i, i + 64));
      if (m) {
        push('number', m[0]);
        i += m[0].length;
        continue;
      }
    }
    if (def.atKeywords && ch === '@' && i + 1 < n && /[A-Za-z_]/.test(code[i + 1])) {
      let j = i + 1;
      while (j < n && isIdentChar(code[j], def)) j++;
      push('keyword', code.slice(i, j));
      i = j;
      continue;
    }
    if (isIdentStart(ch, def) || (ch === '!' && def.keywords.has('!important') && code.startsWith('!important', i))) {
      let j = i + 1;
      while (j < n && isIdentChar(code[j], def)) j++;
      const word = code.slice(i, j);
      const key = def.caseInsensitive ? word.toLowerCase() : word;
      push(def.keywords.has(key) ? 'keyword' : 'plain', word);
      i = j;
      continue;
    }
    push('plain', ch);
    i++;
  }
  return out;
}
