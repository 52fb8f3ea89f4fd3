// DOM helpers for the console. Every node is made with createElement and
// every text goes in as a text node: nothing from the server or the user is
// ever parsed as HTML. No style attributes either (the CSP forbids them):
// looks come from classes in console.css.

/**
 * `h('button', {class: 'primary', type: 'button', onclick: fn}, 'Save')`.
 * Props: `class`, `dataset` ({key: value}), `on<event>` (a listener), `value`,
 * `checked`, `selected`, `disabled`, `hidden` and `open` as properties; the
 * rest as attributes (`true`: present, `false`/`null`/`undefined`: absent).
 * Children: nodes, strings (as text), arrays of them, and null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (['value', 'checked', 'selected', 'disabled', 'hidden', 'open', 'indeterminate'].includes(k)) el[k] = v;
    else if (k === 'style') throw new Error('no style attributes: the CSP forbids them');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Appends children as `h` does (null and false skipped, strings as text). */
export function append(el, ...children) {
  add(el, children);
  return el;
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

let uid = 0;
/** A fresh id for label/for and aria-describedby pairs. */
export const nextId = prefix => `${prefix}-${++uid}`;

// ---------------------------------------------------------------- formatting

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const number = new Intl.NumberFormat();

export const fmtDateTime = iso => (iso ? dateTime.format(new Date(iso)) : '—');
export const fmtNumber = n => (n === null || n === undefined ? '—' : number.format(n));

/** "3 minutes ago", "in 5 days". */
export function fmtRelative(iso) {
  if (!iso) return 'never';
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [[60, 'second'], [60, 'minute'], [24, 'hour'], [30, 'day'], [12, 'month'], [Infinity, 'year']];
  let v = s;
  for (const [size, unit] of steps) {
    if (Math.abs(v) < size) return rtf.format(Math.round(v), unit);
    v /= size;
  }
  return dateTime.format(new Date(iso));
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A `<time>` element showing `text` for the moment `iso`, with the full moment as its title. */
export const time = (iso, text = fmtDateTime(iso)) =>
  iso ? h('time', { datetime: iso, title: fmtDateTime(iso) }, text) : h('span', { class: 'muted' }, text);

// ---------------------------------------------------------------- status

/** Says `text` in the console's polite live region (and shows it briefly). */
export function announce(text) {
  const region = document.getElementById('status');
  region.textContent = '';
  // A change the screen reader notices even when the same text comes twice.
  requestAnimationFrame(() => { region.textContent = text; });
}

/** An error block (`role=alert`) for `err`, or an empty placeholder to fill later. */
export function alertBox(err) {
  const box = h('p', { class: 'alert', role: 'alert', hidden: !err });
  if (err) box.textContent = messageOf(err);
  return box;
}

export function messageOf(err) {
  if (!err) return '';
  if (err.code === 'rate_limited' && err.retryAfter) return `${err.message} Try again in ${err.retryAfter} s.`;
  return err.message || String(err);
}

// ---------------------------------------------------------------- forms

/**
 * A labelled control with a slot for its error: `field('Name', input, {hint})`.
 * The control gets an id (if it has none), `aria-describedby` for its hint and
 * error, and `data-field` names it for `showFieldErrors`.
 */
export function field(label, control, { hint, name, class: cls } = {}) {
  control.id ||= nextId('f');
  if (name) control.name = name;
  const ids = [];
  const hintEl = hint ? h('p', { class: 'hint', id: nextId('hint') }, hint) : null;
  if (hintEl) ids.push(hintEl.id);
  const error = h('p', { class: 'field-error', id: nextId('err'), hidden: true });
  ids.push(error.id);
  control.setAttribute('aria-describedby', ids.join(' '));
  const wrap = h('div', { class: `field ${cls || ''}`.trim(), dataset: { field: control.name || '' } },
    h('label', { for: control.id }, label), control, hintEl, error);
  wrap.control = control;
  wrap.error = error;
  return wrap;
}

/** Clears the inline errors of a form. */
export function clearFieldErrors(form) {
  for (const e of form.querySelectorAll('.field-error')) { e.hidden = true; e.textContent = ''; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

/**
 * Puts each `err.fields[name]` under the control named `name` (as the API
 * words it, e.g. "Primary colour must be a #rrggbb colour"), focuses the
 * first bad control, and returns the messages of fields the form does not show.
 */
export function showFieldErrors(form, err, labels = {}) {
  clearFieldErrors(form);
  const rest = [];
  let first = null;
  for (const [name, message] of Object.entries(err.fields || {})) {
    // "allowed_origins[1]" or "allowed_origins.1" belongs to the field "allowed_origins".
    const wrap = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`)
      || form.querySelector(`.field[data-field="${CSS.escape(name.replace(/[[.].*$/, ''))}"]`);
    const label = labels[name.replace(/[[.].*$/, '')] || name.replace(/_/g, ' ');
    const text = `${label} ${message}`.replace(/^./, c => c.toUpperCase()).replace(/([^.!?])$/, '$1.');
    if (!wrap) { rest.push(text); continue; }
    wrap.error.textContent = text;
    wrap.error.hidden = false;
    wrap.control.setAttribute('aria-invalid', 'true');
    first ||= wrap.control;
  }
  first?.focus();
  return rest;
}

/**
 * Shows an API error on a form: each field's message under its field (see
 * `showFieldErrors`), the others (or, naming no field, the error's message)
 * in `box`. True when every message went under a field.
 */
export function showFormError(form, box, err, labels) {
  const rest = showFieldErrors(form, err, labels);
  if (rest.length || !Object.keys(err.fields || {}).length) {
    box.textContent = rest.join(' ') || messageOf(err);
    box.hidden = false;
    return false;
  }
  return true;
}

/**
 * Handles `form`'s submit in script (it is never really submitted): hides the
 * last error, runs `action(form)` while `button` is busy, and shows an API
 * error on the form (`showFormError`, with `labels`); `onFieldErrors` runs
 * when every message went under a field.
 */
export function onSubmit(form, { button, error, action, labels, onFieldErrors }) {
  form.addEventListener('submit', async e => {
    e.preventDefault();
    error.hidden = true;
    clearFieldErrors(form);
    try {
      await busy(button, () => action(form));
    } catch (err) {
      if (showFormError(form, error, err, labels)) onFieldErrors?.();
    }
  });
}

/** Runs `action` while `button` shows it is busy (disabled, `aria-busy`). */
export async function busy(button, action) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// ---------------------------------------------------------------- dialogs

/**
 * A modal `<dialog>`: `content` (nodes), buttons Cancel and `confirmLabel`.
 * `onConfirm` may throw an ApiError, which is shown in the dialog (and in its
 * fields), keeping it open. Resolves to `onConfirm`'s result, or `false`.
 */
export function dialog({ title, content = [], confirmLabel = 'OK', danger = false, onConfirm = () => true }) {
  return new Promise(resolve => {
    const titleId = nextId('dlg');
    const error = alertBox();
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, confirmLabel);
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', { id: titleId }, title), content, error,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel'), ok));
    const dlg = h('dialog', { 'aria-labelledby': titleId }, form);
    let result = false;
    onSubmit(form, {
      button: ok, error, action: async () => {
        result = await onConfirm(form);
        dlg.close();
      },
    });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export const confirmDialog = ({ title, message, confirmLabel, danger = true, onConfirm }) =>
  dialog({ title, content: [h('p', {}, message)], confirmLabel, danger, onConfirm });

// ---------------------------------------------------------------- clipboard

/** A "Copy" button for the text `get()` returns; says "Copied" in the live region. */
export function copyButton(get, label = 'Copy') {
  const b = h('button', { type: 'button', class: 'small' }, label);
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(get());
      b.textContent = 'Copied';
      announce('Copied to the clipboard.');
    } catch {
      announce('Copying failed: select the text and copy it yourself.');
    }
  });
  return b;
}

// ---------------------------------------------------------------- Markdown

/** A link target when `url` is http(s) or mailto, else null. */
export function safeUrl(url) {
  try {
    const u = new URL(url);
    return /^(https?|mailto):$/.test(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

const INLINE = /`([^`\n]+)`|\*\*(.+?)\*\*|\*([^\s*](?:[^*\n]*[^\s*])?)\*|\[([^\]\n]+)\]\(([^()\s]+)\)/g;

function inline(text, to) {
  let at = 0;
  for (const m of text.matchAll(INLINE)) {
    to.append(text.slice(at, m.index));
    at = m.index + m[0].length;
    if (m[1]) to.append(h('code', {}, m[1]));
    else if (m[2]) inline(m[2], to.appendChild(h('strong')));
    else if (m[3]) inline(m[3], to.appendChild(h('em')));
    else {
      const href = safeUrl(m[5]);
      inline(m[4], href ? to.appendChild(h('a', { href, target: '_blank', rel: 'noopener noreferrer' })) : to);
    }
  }
  to.append(text.slice(at));
}

/**
 * Replies as the widget shows them: a Markdown subset (paragraphs, lists,
 * headings, fenced code, bold, italic, code, http(s) links) built as DOM
 * nodes; anything else stays text.
 */
export function markdown(src) {
  const out = h('div', { class: 'md' });
  let para = null, list = null, code = null, m;
  for (const line of String(src).split(/\r?\n/)) {
    if (code) {
      if (/^\s*```/.test(line)) code = null;
      else code.append(code.firstChild ? `\n${line}` : line);
    } else if (/^\s*```/.test(line)) {
      out.append(h('pre', {}, code = h('code')));
      para = list = null;
    } else if ((m = /^\s*(?:[-*+]|(\d+)[.)])\s+(.*)/.exec(line))) {
      const tag = m[1] ? 'ol' : 'ul';
      if (!list || list.localName !== tag) out.append(list = h(tag));
      inline(m[2], list.appendChild(h('li')));
      para = null;
    } else if ((m = /^#{1,6}\s+(.*)/.exec(line))) {
      const strong = h('strong');
      inline(m[1], strong);
      out.append(h('p', {}, strong));
      para = list = null;
    } else if (!line.trim()) {
      para = list = null;
    } else {
      if (para) para.append(h('br'));
      else out.append(para = h('p'));
      inline(line, para);
      list = null;
    }
  }
  return out;
}
