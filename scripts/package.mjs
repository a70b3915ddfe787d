// `npm run package`: builds the .vsix with vsce, warns when package.json names no repository (vsce then cannot
// rewrite the README's relative links, so the Marketplace page shows no screenshots), and checks what it ships.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const out = path.join(root, 'dist', `${manifest.name}.vsix`);
const args = ['package', '--no-dependencies', '--skip-license', '-o', out];
if (!manifest.repository) {
  console.warn('warning: package.json has no "repository" field: the .vsix README keeps relative links (no screenshots on the Marketplace page). Add the real repository URL before publishing.');
  args.push('--allow-missing-repository', '--no-rewrite-relative-links');
}
const vsce = path.join(root, 'node_modules', '.bin', 'vsce');
const run = spawnSync(vsce, args, { cwd: root, stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);

// What the package holds: only built files, the two icons and the manifest/docs. A .vsix is a zip; `vsce ls`
// prints the same list vsce just packed.
const ls = spawnSync(vsce, ['ls', '--no-dependencies'], { cwd: root, encoding: 'utf8' });
if (ls.status !== 0) { process.stderr.write(ls.stderr); process.exit(ls.status ?? 1); }
const files = ls.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
const unwanted = files.filter((f) => /\.(map|ts|tsx)$/.test(f) || (/\.png$/.test(f) && f !== 'media/logo.png') || f === 'media/chat.css');
if (unwanted.length) {
  console.error(`The .vsix ships files it should not: ${unwanted.join(', ')}. Fix .vscodeignore.`);
  process.exit(1);
}
const kb = Math.round(fs.statSync(out).size / 1024);
console.log(`${path.relative(root, out)}: ${files.length} files, ${kb} KB`);
