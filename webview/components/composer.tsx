/**
 * The composer: Enter sends, Shift+Enter is a newline, Escape stops the stream. Keeps a draft (text and chips)
 * per chat in the persisted view state, and shows the current model and a meter of the next request's size. A
 * sent draft stays until the host's `result` says the message was taken; a refusal keeps it and shows why.
 *
 * Every change of the draft is posted as `draft` (a fresh `draftId` each); the host answers with `promptSize`,
 * shown only when it answers the latest draft.
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Attachment } from '../../src/core/chats/chat';
import { LIMITS } from '../../src/protocol';
import type { PromptSize, StreamingInfo } from '../../src/protocol';
import { imageFiles, LONG_PASTE, noVision, pasteAttachment, readImage, tooMany } from '../attachments';
import { formatInt, modelLabel } from '../format';
import { t } from '../l10n';
import { updatePersisted, useHost } from '../hostApi';
import { newDraftId, tooLongReason, usePendingRequest } from '../requests';
import type { Results } from '../requests';
import type { AttachRequest } from '../state';
import { ChipList } from './attachments';
import { draftKey, persistDraft, savedChips, withPaste } from './composerDraft';
import type { PasteOffer } from './composerDraft';
import { ContextMeter, ThinkingToggle } from './composerParts';

export interface ComposerProps {
  chatId: string | undefined;
  stream: StreamingInfo | undefined;
  model: string | undefined;
  /** Fallback meter figures until the host counts the draft: the last answer's, else the server's n_ctx. */
  ctxUsed: number | undefined;
  ctxMax: number | undefined;
  /** The last message of the active path is an assistant answer that can be regenerated. */
  canRegenerate: boolean;
  /** That answer's id (what the Regenerate button targets). */
  regenerateId?: string;
  focusRequest: number;
  /** The host's request results (ViewModel.results). */
  results?: Results;
  /** Set when the chat cannot be changed: the composer is disabled, the draft kept. */
  readOnly?: string;
  /** The host's last count of a draft (ViewModel.promptSize); ignored unless it answers our latest draft. */
  promptSize?: PromptSize;
  /** Chips the host asks us to add (ViewModel.attachQueue). */
  attachQueue?: readonly AttachRequest[];
  /** The model takes images. */
  vision?: boolean;
  /** Changes whenever the request the draft would send changes without the draft (an answer done, a version shown). */
  pathRevision?: string;
  /** The server's template can turn thinking on and off (ViewState.reasoning.canToggle): show the toggle. */
  canToggleThinking?: boolean;
  /** Thinking is on for this chat (Chat.thinking !== false). */
  thinking?: boolean;
  /** Called with the new choice after `setThinking` is posted (the app shows it at once). */
  onThinking?: (enabled: boolean) => void;
}

const NO_RESULTS: Results = {};
const NO_CHIPS: readonly Attachment[] = [];
const NO_ATTACHES: readonly AttachRequest[] = [];

interface SentDraft {
  key: string;
  text: string;
  attachments: readonly Attachment[];
}

interface PostedDraft {
  draftId: string;
  key: string;
  text: string;
  attachments: readonly Attachment[];
  revision: string | undefined;
}

export function Composer(props: ComposerProps): JSX.Element {
  const { chatId, stream, model, ctxUsed, ctxMax, canRegenerate, regenerateId, focusRequest, readOnly, vision } = props;
  const attachQueue = props.attachQueue ?? NO_ATTACHES;
  const host = useHost();
  const area = useRef<HTMLTextAreaElement>(null);
  const key = draftKey(chatId);
  const [text, setText] = useState(() => host.getState()?.drafts[key] ?? '');
  const [chips, setChips] = useState<readonly Attachment[]>(() => savedChips(host, key));
  /** Why the last send or attach was refused (by us or the host); cleared on the next edit. */
  const [refusal, setRefusal] = useState<string | undefined>(undefined);
  const [offer, setOffer] = useState<PasteOffer | undefined>(undefined);
  /** The chat whose draft `text` and `chips` hold (behind `key` for the one render after a chat switch). */
  const [loaded, setLoaded] = useState(key);
  const busy = stream !== undefined;
  const textRef = useRef(text);
  textRef.current = text;
  const chipsRef = useRef(chips);
  chipsRef.current = chips;
  const offerRef = useRef(offer);
  offerRef.current = offer;
  const keyRef = useRef(key);
  keyRef.current = key;
  /** Where a typed `@` waits for the picked file's chip (it is removed when the chip comes). */
  const pendingAt = useRef<number | undefined>(undefined);
  const taken = useRef(0);
  const offerButton = useRef<HTMLElement>(null);

  // ---- draft counting -------------------------------------------------------------------------------------
  const posted = useRef<PostedDraft | undefined>(undefined);
  /** Attachments of the last few drafts posted, to map a promptSize's attachmentTokens onto chips. */
  const postedChips = useRef(new Map<string, readonly Attachment[]>());
  const counted = useRef(new WeakMap<Attachment, number>());
  const accepted = useRef<PromptSize | undefined>(undefined);
  const size = props.promptSize;
  if (size && size !== accepted.current && size.draftId === posted.current?.draftId) {
    accepted.current = size;
    const sentChips = postedChips.current.get(size.draftId) ?? [];
    size.attachmentTokens?.forEach((n, i) => {
      const a = sentChips[i];
      if (a && n !== undefined) counted.current.set(a, n);
    });
  }
  // A count of another chat's draft (the render right after a switch) is not shown.
  const shownSize = loaded === key ? accepted.current : undefined;
  const last = posted.current;
  /** The shown count answers exactly what is in the box now. */
  const current = shownSize !== undefined && last !== undefined && shownSize.draftId === last.draftId && last.key === key && last.text === text && last.attachments === chips;

  useEffect(() => {
    if (readOnly !== undefined || loaded !== key) return;
    const prev = posted.current;
    if (prev && prev.key === key && prev.text === text && prev.attachments === chips && prev.revision === props.pathRevision) return;
    const draftId = newDraftId();
    posted.current = { draftId, key, text, attachments: chips, revision: props.pathRevision };
    const map = postedChips.current;
    map.set(draftId, chips);
    if (map.size > 16) map.delete(map.keys().next().value as string);
    host.post({
      type: 'draft',
      draftId,
      ...(chatId !== undefined ? { chatId } : {}),
      text,
      ...(chips.length ? { attachments: chips.slice() } : {}),
    });
  }, [key, loaded, text, chips, props.pathRevision, readOnly]);

  // ---- sending ----------------------------------------------------------------------------------------------
  const request = usePendingRequest<SentDraft>(props.results ?? NO_RESULTS, (result, sent) => {
    if (!result.ok) {
      setRefusal(result.detail);
      return;
    }
    // Taken: the draft goes, unless it was edited since (then it is a new draft).
    const shownKey = keyRef.current;
    const unchanged = textRef.current === sent.text && chipsRef.current === sent.attachments;
    if (unchanged && (shownKey === sent.key || shownKey === draftKey(result.chatId))) {
      setText('');
      setChips(NO_CHIPS);
      persistDraft(host, shownKey, '', NO_CHIPS);
    }
    updatePersisted(host, (s) => {
      if ((s.drafts[sent.key] ?? '') !== sent.text) return;
      delete s.drafts[sent.key];
      if ((s.attachments?.[sent.key]?.length ?? 0) === sent.attachments.length) delete s.attachments?.[sent.key];
    });
  });
  const sending = request.pending !== undefined;

  // Switching chats swaps in that chat's draft; a paste still waiting for a choice is kept as text in the old one.
  const shownChat = useRef(chatId);
  useEffect(() => {
    if (shownChat.current === chatId) return;
    const oldKey = draftKey(shownChat.current);
    shownChat.current = chatId;
    const waiting = offerRef.current;
    if (waiting) persistDraft(host, oldKey, withPaste(textRef.current, waiting).text, chipsRef.current);
    setText(host.getState()?.drafts[key] ?? '');
    setChips(savedChips(host, key));
    setLoaded(key);
    setRefusal(undefined);
    setOffer(undefined);
    pendingAt.current = undefined;
    accepted.current = undefined;
  }, [chatId]);

  useEffect(() => {
    if (focusRequest > 0) area.current?.focus();
  }, [focusRequest]);

  // Chips from the host (`attach`): the `@` picker, Add File to Chat, Ask About Selection.
  useEffect(() => {
    const fresh = attachQueue.filter((r) => r.seq > taken.current);
    if (fresh.length === 0) return;
    taken.current = fresh[fresh.length - 1].seq;
    const at = pendingAt.current;
    pendingAt.current = undefined;
    let nextText = textRef.current;
    if (at !== undefined && nextText[at] === '@') {
      nextText = nextText.slice(0, at) + nextText.slice(at + 1);
      setText(nextText);
      requestAnimationFrame(() => area.current?.setSelectionRange(at, at));
    }
    addChips(
      fresh.map((r) => r.attachment),
      nextText,
    );
    area.current?.focus();
  }, [attachQueue]);

  useEffect(() => {
    if (offer) offerButton.current?.focus();
  }, [offer !== undefined]);

  function setDraft(value: string): void {
    setText(value);
    persistDraft(host, key, value, chipsRef.current);
  }

  function setDraftChips(next: readonly Attachment[], nextText = textRef.current): void {
    chipsRef.current = next;
    setChips(next);
    persistDraft(host, key, nextText, next);
  }

  function addChips(add: readonly Attachment[], nextText = textRef.current): void {
    const room = LIMITS.maxAttachments - chipsRef.current.length;
    if (add.length > room) setRefusal(tooMany());
    else setRefusal(undefined);
    if (room <= 0) {
      if (nextText !== textRef.current) setDraft(nextText);
      return;
    }
    setDraftChips([...chipsRef.current, ...add.slice(0, room)], nextText);
  }

  const removeChip = (index: number): void => {
    setRefusal(undefined);
    setDraftChips(chipsRef.current.filter((_, i) => i !== index));
    area.current?.focus();
  };

  const addImages = async (files: File[]): Promise<void> => {
    if (!vision) {
      setRefusal(noVision());
      return;
    }
    const read = await Promise.all(files.map(readImage));
    const images = read.filter((r): r is Attachment => typeof r !== 'string');
    const problems = read.filter((r): r is string => typeof r === 'string');
    if (images.length) addChips(images);
    if (problems.length) setRefusal(problems.join(' '));
  };

  const send = (): void => {
    if (busy || sending || readOnly !== undefined) return;
    if (!text.trim() && chips.length === 0) return;
    if (offer) {
      setRefusal(t('Choose “Attach as file” or “Keep as text” for the pasted text first.'));
      return;
    }
    const tooLong = tooLongReason(text);
    if (tooLong) {
      setRefusal(tooLong);
      return;
    }
    if (current && shownSize?.tooLarge) {
      setRefusal(shownSize.tooLarge);
      return;
    }
    setRefusal(undefined);
    const requestId = request.start({ key, text, attachments: chips });
    host.post({
      type: 'send',
      requestId,
      ...(chatId !== undefined ? { chatId } : {}),
      text,
      ...(chips.length ? { attachments: chips.slice() } : {}),
    });
  };

  const stop = (): void => {
    if (stream) host.post({ type: 'stop', chatId: stream.chatId, messageId: stream.messageId });
  };

  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape' && busy) {
      e.preventDefault();
      stop();
    }
  };

  const onInput = (e: JSX.TargetedEvent<HTMLTextAreaElement>): void => {
    const el = e.currentTarget;
    const value = el.value;
    const prev = textRef.current;
    const caret = el.selectionStart ?? value.length;
    pendingAt.current = undefined;
    // `@` typed at the start or after whitespace: pick a workspace file (the host answers with `attach`).
    const typedAt =
      value.length === prev.length + 1 &&
      caret >= 1 &&
      value[caret - 1] === '@' &&
      value.slice(0, caret - 1) + value.slice(caret) === prev &&
      (caret === 1 || /\s/.test(value[caret - 2] ?? ''));
    if (typedAt) {
      pendingAt.current = caret - 1;
      host.post(chatId !== undefined ? { type: 'pickFile', chatId } : { type: 'pickFile' });
    }
    setRefusal(undefined);
    setDraft(value);
  };

  const onPaste = (e: ClipboardEvent): void => {
    const data = e.clipboardData;
    if (!data) return;
    const pasted = data.getData('text/plain');
    if (!pasted) {
      const images = imageFiles(data);
      if (images.length) {
        e.preventDefault();
        void addImages(images);
      }
      return;
    }
    if (pasted.length <= LONG_PASTE) return;
    e.preventDefault();
    const el = area.current;
    const start = el?.selectionStart ?? textRef.current.length;
    setOffer({ text: pasted, start, end: el?.selectionEnd ?? start });
  };

  const keepPaste = (): void => {
    if (!offer) return;
    const { text: next, caret } = withPaste(textRef.current, offer);
    setOffer(undefined);
    setRefusal(undefined);
    setDraft(next);
    const el = area.current;
    if (el) {
      el.value = next;
      el.focus();
      el.setSelectionRange(caret, caret);
    }
  };

  const attachPaste = (): void => {
    if (!offer) return;
    setOffer(undefined);
    addChips([pasteAttachment(offer.text)]);
    area.current?.focus();
  };

  const onDragOver = (e: DragEvent): void => {
    if (readOnly === undefined && e.dataTransfer?.types.includes('Files')) e.preventDefault();
  };

  const onDrop = (e: DragEvent): void => {
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length === 0 || readOnly !== undefined) return;
    e.preventDefault();
    const images = imageFiles(e.dataTransfer);
    if (images.length === 0) {
      setRefusal(t('Only images can be dropped here; type @ to attach a workspace file.'));
      return;
    }
    void addImages(images);
  };

  const alert = refusal ?? shownSize?.tooLarge;

  return (
    <div class="composer" onDragOver={onDragOver} onDrop={onDrop}>
      <ChipList attachments={chips} tokens={(a) => counted.current.get(a)} onRemove={removeChip} disabled={readOnly !== undefined} />
      <textarea
        ref={area}
        class="composer-input"
        aria-label={t('Message')}
        placeholder={t('Ask llama-server… (Enter to send, Shift+Enter for a new line, @ to attach a file)')}
        rows={3}
        value={text}
        disabled={readOnly !== undefined}
        aria-describedby={alert !== undefined ? 'composer-refusal' : undefined}
        onInput={onInput}
        onKeyDown={onKeyDown}
        onPaste={onPaste}
      />
      {offer ? (
        <div
          class="paste-offer"
          role="group"
          aria-label={t('Long paste')}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.preventDefault();
              keepPaste();
            }
          }}
        >
          <span class="paste-offer-text">{t('Pasted {0} characters.', formatInt(offer.text.length))}</span>
          <vscode-button ref={offerButton} class="paste-attach" onClick={attachPaste}>
            {t('Attach as file')}
          </vscode-button>
          <vscode-button secondary class="paste-keep" onClick={keepPaste}>
            {t('Keep as text')}
          </vscode-button>
        </div>
      ) : null}
      {alert !== undefined ? (
        <div id="composer-refusal" class={`composer-refusal${refusal === undefined ? ' composer-too-large' : ''}`} role="alert">
          <span class="codicon codicon-error" aria-hidden="true" /> {alert}
        </div>
      ) : null}
      <div class="composer-bar">
        <button type="button" class="model-name" title={model ? t('{0}: select model', modelLabel(model)) : t('Select model')} onClick={() => host.post({ type: 'selectModel' })}>
          <span class="codicon codicon-hubot" aria-hidden="true" />
          <span class="model-name-text">{model ? modelLabel(model) : t('No model')}</span>
        </button>
        {props.canToggleThinking && chatId !== undefined ? (
          <ThinkingToggle
            on={props.thinking !== false}
            disabled={readOnly !== undefined}
            onToggle={(enabled) => {
              host.post({ type: 'setThinking', chatId, enabled });
              props.onThinking?.(enabled);
            }}
          />
        ) : null}
        <ContextMeter size={shownSize} ctxUsed={ctxUsed} ctxMax={ctxMax} />
        <span class="composer-actions">
          {canRegenerate && !busy && readOnly === undefined && chatId !== undefined ? (
            <vscode-button
              secondary
              icon="refresh"
              title={t('Regenerate the last answer')}
              onClick={() => host.post(regenerateId !== undefined ? { type: 'regenerate', chatId, messageId: regenerateId } : { type: 'regenerate', chatId })}
            >
              {t('Regenerate')}
            </vscode-button>
          ) : null}
          {busy ? (
            <vscode-button class="stop-button" icon="debug-stop" aria-label={t('Stop generating (Escape)')} onClick={stop}>
              {t('Stop')}
            </vscode-button>
          ) : (
            <vscode-button
              class="send-button"
              icon="send"
              aria-label={t('Send (Enter)')}
              aria-busy={sending}
              disabled={(!text.trim() && chips.length === 0) || sending || readOnly !== undefined}
              onClick={send}
            >
              {t('Send')}
            </vscode-button>
          )}
        </span>
      </div>
    </div>
  );
}
