/**
 * Reads the sources with the TypeScript compiler API for localization: the messages passed to `t(...)` /
 * `vscode.l10n.t(...)` (the keys of l10n/bundle.l10n.json), and English string literals in places the user sees
 * on the host (notifications, quick picks, input boxes, progress titles, status bar items) that skip them.
 *
 * `npm run l10n` (node out/test/support/l10nScan.js --write) rewrites l10n/bundle.l10n.json from the sources.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { repoRoot } from '../harness/paths';

export interface Finding {
  file: string;
  line: number;
  text: string;
}

function rel(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

function parse(file: string, text = fs.readFileSync(file, 'utf8')): ts.SourceFile {
  const kind = file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  return ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, kind);
}

function walkFiles(dir: string, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walkFiles(p, out);
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every production source that can show text: the host (src/) and the webview. */
export function sourceFiles(root = repoRoot()): string[] {
  return [...walkFiles(path.join(root, 'src')), ...walkFiles(path.join(root, 'webview'))].sort();
}

/** `t(…)` (imported from an l10n module), `vscode.l10n.t(…)` or `l10n.t(…)`. */
export function isTranslateCall(node: ts.Node): node is ts.CallExpression {
  if (!ts.isCallExpression(node)) return false;
  const callee = node.expression;
  if (ts.isIdentifier(callee)) return callee.text === 't';
  return ts.isPropertyAccessExpression(callee) && callee.name.text === 't' && /(^|\.)l10n$/.test(callee.expression.getText());
}

function importsTranslator(source: ts.SourceFile): boolean {
  return source.statements.some(
    (s) =>
      ts.isImportDeclaration(s) &&
      ts.isStringLiteral(s.moduleSpecifier) &&
      /(^|\/)l10n$/.test(s.moduleSpecifier.text) &&
      s.importClause?.namedBindings !== undefined &&
      ts.isNamedImports(s.importClause.namedBindings) &&
      s.importClause.namedBindings.elements.some((e) => e.name.text === 't'),
  );
}

function usesVscodeL10n(node: ts.CallExpression): boolean {
  return ts.isPropertyAccessExpression(node.expression);
}

/** The messages of one source: keys found, and calls whose message is not a literal (cannot be in the bundle). */
export function messagesIn(file: string, text?: string): { keys: string[]; dynamic: Finding[] } {
  const source = parse(file, text);
  const plainT = importsTranslator(source);
  const keys: string[] = [];
  const dynamic: Finding[] = [];
  const visit = (node: ts.Node): void => {
    if (isTranslateCall(node) && (plainT || usesVscodeL10n(node))) {
      const first = node.arguments[0];
      if (first && (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first))) keys.push(first.text);
      else {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart());
        dynamic.push({ file, line: line + 1, text: node.getText() });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { keys, dynamic };
}

/** The English bundle the sources need: every message, keyed by itself, sorted. */
export function expectedBundle(root = repoRoot()): { bundle: Record<string, string>; dynamic: Finding[] } {
  const keys = new Set<string>();
  const dynamic: Finding[] = [];
  for (const file of sourceFiles(root)) {
    const found = messagesIn(file);
    for (const k of found.keys) keys.add(k);
    dynamic.push(...found.dynamic.map((d) => ({ ...d, file: rel(root, d.file) })));
  }
  const bundle: Record<string, string> = {};
  for (const k of [...keys].sort()) bundle[k] = k;
  return { bundle, dynamic };
}

export const BUNDLE_PATH = 'l10n/bundle.l10n.json';

export function writeBundle(root = repoRoot()): number {
  const { bundle } = expectedBundle(root);
  fs.mkdirSync(path.join(root, 'l10n'), { recursive: true });
  fs.writeFileSync(path.join(root, BUNDLE_PATH), `${JSON.stringify(bundle, null, 2)}\n`);
  return Object.keys(bundle).length;
}

// ---------------------------------------------------------------------------------------------------------------
// Host: English literals where the user sees them.

/** Methods whose string arguments are shown (window.show*Message and the Notifier that wraps them). */
const SHOWING_CALLS = new Set(['showInformationMessage', 'showWarningMessage', 'showErrorMessage', 'info', 'warn', 'error', 'confirm']);
/** Receivers whose `info` / `warn` / `error` write the log, which stays English. */
const LOG_RECEIVER = /(^|\.)(logger|log|channel|output|console)$/;
/** Object-literal properties and assigned members that VS Code shows: quick picks, input boxes, progress, status bar. */
const SHOWN_PROPERTIES = new Set(['title', 'placeHolder', 'placeholder', 'prompt', 'label', 'description', 'detail', 'tooltip', 'openLabel', 'message', 'text']);

/** Assigned members that hold shown text: the properties above, also as a suffix (`tooltipText`, `statusLabel`). */
const SHOWN_MEMBER = /(title|place[hH]older|prompt|label|Label|description|Description|detail|tooltip|Tooltip|message|Message|text|Text)$/;

/** Text the user reads: letters left once codicons (`$(name)`) are removed. */
function hasWords(text: string): boolean {
  return /[A-Za-z]{2,}/.test(text.replace(/\$\([A-Za-z0-9~-]+\)/g, ''));
}

/** The English literals an expression yields directly (through conditionals, `??`, `||`, arrays and spreads), not through t(). */
function englishLiterals(node: ts.Expression): ts.Node[] {
  if (isTranslateCall(node)) return [];
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return hasWords(node.text) ? [node] : [];
  if (ts.isTemplateExpression(node)) {
    const own = [node.head.text, ...node.templateSpans.map((s) => s.literal.text)].join(' ');
    const inner = node.templateSpans.flatMap((s) => englishLiterals(s.expression));
    return hasWords(own) ? [node] : inner;
  }
  if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isNonNullExpression(node)) return englishLiterals(node.expression);
  if (ts.isConditionalExpression(node)) return [...englishLiterals(node.whenTrue), ...englishLiterals(node.whenFalse)];
  if (ts.isBinaryExpression(node)) {
    const op = node.operatorToken.kind;
    if (op === ts.SyntaxKind.QuestionQuestionToken || op === ts.SyntaxKind.BarBarToken || op === ts.SyntaxKind.PlusToken) {
      return [...englishLiterals(node.left), ...englishLiterals(node.right)];
    }
    return [];
  }
  if (ts.isArrayLiteralExpression(node)) return node.elements.flatMap((e) => englishLiterals(ts.isSpreadElement(e) ? e.expression : e));
  if (ts.isSpreadElement(node)) return englishLiterals(node.expression);
  if (ts.isObjectLiteralExpression(node)) {
    return node.properties.flatMap((p) => (ts.isPropertyAssignment(p) && SHOWN_PROPERTIES.has(propertyName(p.name)) ? englishLiterals(p.initializer) : []));
  }
  return [];
}

function propertyName(name: ts.PropertyName): string {
  return ts.isIdentifier(name) || ts.isStringLiteral(name) ? name.text : '';
}

/** Literals the user would read in English whatever their language, in one host source. */
export function hardCodedHostStrings(file: string, text?: string): Finding[] {
  const source = parse(file, text);
  const found = new Set<ts.Node>();
  const add = (nodes: ts.Node[]): void => nodes.forEach((n) => found.add(n));
  const visit = (node: ts.Node): void => {
    if (isTranslateCall(node)) return;
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const method = node.expression.name.text;
      const receiver = node.expression.expression.getText(source);
      if (SHOWING_CALLS.has(method) && !LOG_RECEIVER.test(receiver)) for (const a of node.arguments) add(englishLiterals(a));
      // Quick pick items, progress and input box options: their shown properties.
      if (['showQuickPick', 'showInputBox', 'withProgress', 'showOpenDialog', 'showSaveDialog'].includes(method)) {
        for (const a of node.arguments) add(englishLiterals(a));
      }
      // progress.report({ message }): its shown properties (another `report(outcome, 'action')` is no progress).
      if (method === 'report') for (const a of node.arguments) if (ts.isObjectLiteralExpression(a)) add(englishLiterals(a));
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && /Error$/.test(node.expression.text)) {
      for (const a of node.arguments ?? []) add(englishLiterals(a));
    }
    // `pick.title = '…'`, `status.tooltip = '…'`, `item.name = '…'`, `qp.items = [{ label: '…' }]`.
    if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isPropertyAccessExpression(node.left)) {
      const member = node.left.name.text;
      if (SHOWN_MEMBER.test(member) || member === 'name' || member === 'items' || member === 'buttons') add(englishLiterals(node.right));
    }
    // Object literals built for the user: quick pick items and their detail, shown properties in options.
    if (ts.isPropertyAssignment(node) && SHOWN_PROPERTIES.has(propertyName(node.name)) && !ts.isObjectLiteralExpression(node.initializer)) {
      add(englishLiterals(node.initializer));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...found]
    .map((n) => ({ file, line: source.getLineAndCharacterOfPosition(n.getStart(source)).line + 1, text: n.getText(source) }))
    .sort((a, b) => a.line - b.line);
}

if (require.main === module && process.argv.includes('--write')) {
  const n = writeBundle();
  console.log(`${BUNDLE_PATH}: ${n} messages`);
}
