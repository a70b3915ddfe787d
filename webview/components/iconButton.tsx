/** A codicon action button (`vscode-icon action-icon`): keyboard-focusable, labelled for screen readers. */
import type { JSX } from 'preact';

export interface IconButtonProps {
  icon: string;
  label: string;
  onClick: () => void;
  class?: string;
  spin?: boolean;
}

export function IconButton({ icon, label, onClick, class: cls, spin }: IconButtonProps): JSX.Element {
  return (
    <vscode-icon
      class={cls ? `icon-button ${cls}` : 'icon-button'}
      name={icon}
      action-icon
      label={label}
      title={label}
      spin={spin}
      onClick={(e: MouseEvent) => {
        e.stopPropagation();
        onClick();
      }}
    />
  );
}
