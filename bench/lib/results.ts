/**
 * The shape of bench/results.json and the per-part files each benchmark process writes to bench/.tmp/, which
 * bench/report.ts merges into results.json and RESULTS.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../test/harness/paths';
import { round } from './stats';

export interface Goal {
  op: '<=' | '>=';
  value: number;
}

export interface Metric {
  name: string;
  value: number;
  unit: string;
  /** The goal from the issue, e.g. "<= 1.5". */
  goal?: string;
  pass?: boolean;
  /** What `value` is compared with in the same run (the floor, the naive variant, the small case). */
  baseline?: { name: string; value: number };
  /** value / baseline.value. */
  ratio?: number;
  /** Which number the goal applies to when it is the ratio. */
  goalOn?: 'value' | 'ratio';
  note?: string;
}

export interface PartResult {
  part: string;
  title: string;
  metrics: Metric[];
  /** Method and findings, as Markdown lines, for RESULTS.md. */
  notes: string[];
  /** Set when the part could not run (the reason goes into RESULTS.md). */
  error?: string;
  durationMs?: number;
}

export function tmpDir(): string {
  const dir = path.join(repoRoot(), 'bench', '.tmp');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export function partFile(part: string): string {
  return path.join(tmpDir(), `${part}.json`);
}

function check(value: number, goal: Goal): boolean {
  return goal.op === '<=' ? value <= goal.value : value >= goal.value;
}

export function goalText(goal: Goal): string {
  return `${goal.op} ${goal.value}`;
}

/** A plain measurement with an optional goal on its value. */
export function metric(name: string, value: number, unit: string, goal?: Goal, note?: string): Metric {
  const m: Metric = { name, value: round(value, 4), unit };
  if (goal) {
    m.goal = goalText(goal);
    m.goalOn = 'value';
    m.pass = check(value, goal);
  }
  if (note) m.note = note;
  return m;
}

/** A measurement compared with a baseline from the same run; the goal (if any) applies to the ratio. */
export function ratioMetric(
  name: string,
  value: number,
  unit: string,
  baseline: { name: string; value: number },
  goal?: Goal,
  note?: string,
): Metric {
  const ratio = value / baseline.value;
  const m: Metric = {
    name,
    value: round(value, 4),
    unit,
    baseline: { name: baseline.name, value: round(baseline.value, 4) },
    ratio: round(ratio, 4),
  };
  if (goal) {
    m.goal = `ratio ${goalText(goal)}`;
    m.goalOn = 'ratio';
    m.pass = check(ratio, goal);
  }
  if (note) m.note = note;
  return m;
}

/**
 * Runs one benchmark part and writes its result file; an exception becomes `error` (the report says why the part
 * has no numbers) instead of failing the whole run.
 */
export async function runPart(part: string, title: string, body: (notes: string[]) => Promise<Metric[]>): Promise<void> {
  const notes: string[] = [];
  const started = Date.now();
  const result: PartResult = { part, title, metrics: [], notes };
  try {
    result.metrics = await body(notes);
  } catch (err) {
    result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.exitCode = 1;
  }
  result.durationMs = Date.now() - started;
  fs.writeFileSync(partFile(part), `${JSON.stringify(result, null, 2)}\n`);
  for (const m of result.metrics) {
    const extra = m.ratio !== undefined ? ` (ratio ${m.ratio} vs ${m.baseline?.name})` : '';
    const verdict = m.pass === undefined ? '' : m.pass ? '  PASS' : '  MISS';
    console.log(`  ${m.name}: ${m.value} ${m.unit}${extra}${m.goal ? `  goal ${m.goal}` : ''}${verdict}`);
  }
  if (result.error) console.error(`  ${part} failed: ${result.error}`);
}
