// One script, two targets: the extension host (node, cjs, `vscode` external) and the Preact webview (browser).
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** @type {import('esbuild').Plugin} */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onStart(() => console.log(`[watch] build started (${build.initialOptions.outfile ?? build.initialOptions.outdir})`));
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      console.log(`[watch] build finished (${build.initialOptions.outfile ?? build.initialOptions.outdir})`);
    });
  },
};

/**
 * undici is ~80 % of the host bundle and costs tens of ms just to parse: it goes to its own dist/undici.js, which
 * LlamaClient requires on the first request, so activation does not pay for it.
 * @type {import('esbuild').Plugin}
 */
const undiciAside = {
  name: 'undici-aside',
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, () => ({ path: './undici.js', external: true }));
  },
};

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  minify: production,
  sourcemap: !production,
  sourcesContent: false,
  logLevel: 'silent',
  legalComments: 'none',
  define: { 'process.env.NODE_ENV': JSON.stringify(production ? 'production' : 'development') },
  plugins: watch ? [problemMatcher] : [],
};

const targets = [
  {
    ...common,
    entryPoints: ['src/extension.ts'],
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    plugins: [...common.plugins, undiciAside],
  },
  {
    ...common,
    entryPoints: [createRequire(import.meta.url).resolve('undici')],
    outfile: 'dist/undici.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
  },
  {
    // The webview: dist/webview.js (an ES module) plus chunks in dist/webview/ that it imports on demand (the
    // highlight.js core and one per grammar), so highlighting costs the first paint nothing.
    ...common,
    entryPoints: { webview: 'webview/main.tsx' },
    outdir: 'dist',
    splitting: true,
    chunkNames: 'webview/[name]-[hash]',
    platform: 'browser',
    format: 'esm',
    target: ['chrome120'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
  },
  {
    // Webview styles: dist/webview.css (ours) and dist/codicon.css + dist/codicon.ttf. The codicon sheet stays a
    // separate file because <vscode-icon> re-links it inside each shadow root (the host gives its <link> the id
    // "vscode-codicon-stylesheet").
    ...common,
    sourcemap: false,
    entryPoints: { webview: 'media/chat.css', codicon: 'node_modules/@vscode/codicons/dist/codicon.css' },
    outdir: 'dist',
    loader: { '.ttf': 'file' },
    assetNames: '[name]',
  },
];

// Chunk names carry a content hash: drop the previous build's, so the package ships only the current ones.
rmSync('dist/webview', { recursive: true, force: true });
const contexts = await Promise.all(targets.map((t) => esbuild.context(t)));
if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  try {
    const results = await Promise.all(contexts.map((c) => c.rebuild()));
    const errors = results.flatMap((r) => r.errors);
    if (errors.length) process.exitCode = 1;
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  } finally {
    await Promise.all(contexts.map((c) => c.dispose()));
  }
}
