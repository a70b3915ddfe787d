/**
 * Debian's Chromium driven by playwright-core (Playwright's own browser downloads cannot work offline). We start
 * Chromium ourselves and attach over CDP, so we own its PID and can always kill it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext } from 'playwright-core';
import { runDir, runStamp } from './paths';
import { killGroup, spawnProcess } from './process';
import type { SpawnedProcess } from './process';

export const CHROMIUM_PATH = process.env.LLAMA_CHAT_CHROMIUM ?? '/usr/bin/chromium';

/** Without the networking flags Chromium floods the closed network with refused connections. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--disable-features=Translate,MediaRouter,OptimizationHints',
  '--password-store=basic',
  '--use-mock-keychain',
  '--mute-audio',
];

export interface LaunchBrowserOptions {
  /** Fresh folder by default (`.run/chromium/<stamp>`): a new IndexedDB, so no workspaceState from other runs. */
  profileDir?: string;
  /** Window size, default 1400x900. */
  width?: number;
  height?: number;
  extraArgs?: string[];
}

export interface BrowserHandle {
  browser: Browser;
  /** The default context of the profile (the one CDP attaches to). */
  context: BrowserContext;
  pid: number;
  profileDir: string;
  logFile: string;
  process: SpawnedProcess;
  /** Kills Chromium's whole process group by PID (which also ends the CDP connection). */
  close(): Promise<void>;
}

export async function launchBrowser(options: LaunchBrowserOptions = {}): Promise<BrowserHandle> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: run scripts/ensure-system.sh (apt-get install chromium)`);
  }
  const profileDir = options.profileDir ?? runDir('chromium', runStamp() + '-' + Math.random().toString(36).slice(2, 8));
  fs.mkdirSync(profileDir, { recursive: true });
  const logFile = path.join(profileDir, '..', `${path.basename(profileDir)}.log`);
  const args = [
    ...CHROMIUM_ARGS,
    `--user-data-dir=${profileDir}`,
    `--window-size=${options.width ?? 1400},${options.height ?? 900}`,
    '--remote-debugging-address=127.0.0.1',
    '--remote-debugging-port=0',
    ...(options.extraArgs ?? []),
    'about:blank',
  ];
  const proc = spawnProcess(CHROMIUM_PATH, args, { pipe: true, detached: true });
  let wsUrl: string;
  try {
    wsUrl = await devToolsUrl(proc, logFile);
  } catch (err) {
    await proc.stop({ graceMs: 500 });
    throw err;
  }
  let browser: Browser;
  try {
    browser = await chromium.connectOverCDP(wsUrl, { timeout: 20_000 });
  } catch (err) {
    await proc.stop({ graceMs: 500 });
    throw err;
  }
  const context = browser.contexts()[0] ?? (await browser.newContext());
  return {
    browser,
    context,
    pid: proc.pid,
    profileDir,
    logFile,
    process: proc,
    async close(): Promise<void> {
      // Killing the process is quicker than a CDP close and also ends the connection.
      await proc.stop({ graceMs: 1000 });
      await killGroup(proc.pid, 500);
    },
  };
}

/** Reads Chromium's stderr until it prints its DevTools endpoint; everything goes on to the log file. */
function devToolsUrl(proc: SpawnedProcess, logFile: string): Promise<string> {
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const out = proc.child.stdout;
  const err = proc.child.stderr;
  if (!out || !err) throw new Error('chromium was spawned without pipes');
  out.pipe(log);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium printed no DevTools URL within 30 s (log: ${logFile})`)), 30_000);
    void proc.exit.then((info) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited early (${JSON.stringify(info)}); log: ${logFile}`));
    });
    readline.createInterface({ input: err, crlfDelay: Infinity }).on('line', (line) => {
      log.write(line + '\n');
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
}
