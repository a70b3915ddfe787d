/**
 * The parts of the `vscode` module the VS Code chat provider uses, added to the fake module before the adapter is
 * loaded (its `import * as vscode` sees only the names that exist then). `fakeLm` is `vscode.lm`.
 */
import { fakeVscode } from '../security/fakeVscode';

export const fakeLm: { registerLanguageModelChatProvider?: (vendor: string, provider: unknown) => { dispose(): void } } = {};

export class TextPart {
  constructor(readonly value: string) {}
}
export class ToolCallPart {
  constructor(
    readonly callId: string,
    readonly name: string,
    readonly input: object,
  ) {}
}
export class ToolResultPart {
  constructor(
    readonly callId: string,
    readonly content: unknown[],
  ) {}
}
export class CancellationError extends Error {}
class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  readonly event = (fn: (e: T) => void) => {
    this.listeners.push(fn);
    return { dispose: () => undefined };
  };
  fire(e: T): void {
    for (const l of this.listeners) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}
Object.assign(fakeVscode, {
  LanguageModelTextPart: TextPart,
  LanguageModelToolCallPart: ToolCallPart,
  LanguageModelToolResultPart: ToolResultPart,
  LanguageModelChatMessageRole: { User: 1, Assistant: 2 },
  LanguageModelChatToolMode: { Auto: 1, Required: 2 },
  LanguageModelDataPart: { json: (value: unknown, mime = 'application/json') => ({ mimeType: mime, data: new TextEncoder().encode(JSON.stringify(value)) }) },
  CancellationError,
  EventEmitter,
  lm: fakeLm,
});

