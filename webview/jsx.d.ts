/**
 * JSX typings for the @vscode-elements custom elements we use. They are registered only in main.tsx, so under
 * jsdom tests they stay plain unknown elements.
 */
import type { JSX } from 'preact';

type Base = JSX.HTMLAttributes<HTMLElement>;

declare module 'preact' {
  namespace JSX {
    interface IntrinsicElements {
      'vscode-button': Base & { secondary?: boolean; disabled?: boolean; icon?: string; 'icon-only'?: boolean };
      'vscode-icon': Base & { name: string; 'action-icon'?: boolean; label?: string; spin?: boolean; size?: number };
      'vscode-progress-ring': Base;
    }
  }
}
