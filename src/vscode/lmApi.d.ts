/**
 * The Language Model Chat Provider API (stable since VS Code 1.104, microsoft/vscode#263415), declared here because
 * the `@types/vscode` matching `engines.vscode` (^1.100.0) lacks it. Everything that may be missing at run time is
 * declared optional, so the code must check before using it: on VS Code 1.100–1.103 none of it exists.
 */
import 'vscode';

declare module 'vscode' {
  export interface LanguageModelChatCapabilities {
    readonly imageInput?: boolean;
    readonly toolCalling?: boolean | number;
  }

  export interface LanguageModelChatInformation {
    readonly id: string;
    readonly name: string;
    readonly family: string;
    readonly version: string;
    readonly tooltip?: string;
    readonly detail?: string;
    readonly maxInputTokens: number;
    readonly maxOutputTokens: number;
    readonly capabilities: LanguageModelChatCapabilities;
  }

  export interface PrepareLanguageModelChatModelOptions {
    /** True when the provider must not prompt the user (no sign-in dialogs). */
    readonly silent: boolean;
  }

  export interface ProvideLanguageModelChatResponseOptions {
    readonly modelOptions?: { readonly [name: string]: unknown };
    readonly tools?: readonly LanguageModelChatTool[];
    readonly toolMode: LanguageModelChatToolMode;
  }

  /** A message as the provider receives it; parts it does not know stay `unknown`. */
  export interface LanguageModelChatRequestMessage {
    readonly role: LanguageModelChatMessageRole;
    readonly content: ReadonlyArray<unknown>;
    readonly name: string | undefined;
  }

  /** Binary or JSON data in a message or a response (e.g. an image, or usage figures with the mime `usage`). */
  export interface LanguageModelDataPartLike {
    readonly mimeType: string;
    readonly data: Uint8Array;
  }

  export interface LanguageModelDataPartStatic {
    new (data: Uint8Array, mimeType: string): LanguageModelDataPartLike;
    json(value: unknown, mime?: string): LanguageModelDataPartLike;
  }

  /** Undefined before VS Code 1.104. */
  export const LanguageModelDataPart: LanguageModelDataPartStatic | undefined;

  export type LanguageModelResponsePart2 = LanguageModelTextPart | LanguageModelToolCallPart | LanguageModelDataPartLike;

  export interface LanguageModelChatProvider<T extends LanguageModelChatInformation = LanguageModelChatInformation> {
    readonly onDidChangeLanguageModelChatInformation?: Event<void>;
    provideLanguageModelChatInformation(options: PrepareLanguageModelChatModelOptions, token: CancellationToken): ProviderResult<T[]>;
    provideLanguageModelChatResponse(
      model: T,
      messages: readonly LanguageModelChatRequestMessage[],
      options: ProvideLanguageModelChatResponseOptions,
      progress: Progress<LanguageModelResponsePart2>,
      token: CancellationToken,
    ): Thenable<void>;
    provideTokenCount(model: T, text: string | LanguageModelChatRequestMessage, token: CancellationToken): Thenable<number>;
  }

  export namespace lm {
    /** Undefined before VS Code 1.104. */
    export const registerLanguageModelChatProvider:
      | (<T extends LanguageModelChatInformation>(vendor: string, provider: LanguageModelChatProvider<T>) => Disposable)
      | undefined;
  }
}
