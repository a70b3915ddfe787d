/**
 * Reads test/fixtures/llama-server-frames.txt: captured raw HTTP exchanges with a real llama-server. Sections start
 * with `######## TITLE`; a section holds either a full response (status line, CRLF headers, body) or bare SSE lines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface FrameSection {
  title: string;
  /** HTTP status when the section starts with a status line. */
  status?: number;
  statusText?: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** Raw body bytes exactly as captured (Content-Length honoured when present). */
  body: Buffer;
  /** Body starts with an SSE `data:` line. */
  isSse: boolean;
  /** Every `data:` event is separated by a blank line and nothing was elided ("[...]"): replayable as is. */
  isCompleteSse: boolean;
}

const MARK = Buffer.from('######## ');

export function framesPath(): string {
  // Compiled to out/test/support: the fixture stays in the source tree.
  return path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'llama-server-frames.txt');
}

export function parseFrames(file: Buffer = fs.readFileSync(framesPath())): FrameSection[] {
  const starts: number[] = [];
  for (let i = file.indexOf(MARK); i !== -1; i = file.indexOf(MARK, i + 1)) {
    if (i === 0 || file[i - 1] === 0x0a) starts.push(i);
  }
  return starts.map((start, n) => {
    const end = n + 1 < starts.length ? starts[n + 1] : file.length;
    const titleEnd = file.indexOf(0x0a, start);
    const title = file.subarray(start + MARK.length, titleEnd).toString('utf8').trim();
    return parseSection(title, file.subarray(titleEnd + 1, end));
  });
}

function parseSection(title: string, raw: Buffer): FrameSection {
  const section: FrameSection = { title, headers: {}, body: raw, isSse: false, isCompleteSse: false };
  if (raw.subarray(0, 9).toString('latin1') === 'HTTP/1.1 ') {
    const headEnd = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
    const statusLine = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(head[0]);
    if (statusLine) {
      section.status = Number(statusLine[1]);
      section.statusText = statusLine[2];
    }
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) section.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let body = raw.subarray(headEnd + 4);
    const length = section.headers['content-length'];
    if (length !== undefined) body = body.subarray(0, Number(length));
    section.body = body;
  }
  // Trailing blank lines between sections belong to the capture, not to a Content-Length body.
  const text = section.body.toString('utf8');
  section.isSse = text.startsWith('data:');
  if (section.isSse) {
    const lines = text.replace(/\n+$/, '').split('\n');
    // Complete = data lines alternate with blank lines and the stream ends with [DONE].
    section.isCompleteSse =
      !text.includes('[...]') &&
      lines.every((line, i) => (i % 2 === 0 ? line.startsWith('data: ') : line === '')) &&
      lines[lines.length - 1] === 'data: [DONE]';
  }
  return section;
}

export function findFrame(sections: FrameSection[], titleStart: string): FrameSection {
  const found = sections.find((s) => s.title.startsWith(titleStart));
  if (!found) throw new Error(`No fixture section starting with "${titleStart}"`);
  return found;
}
