// Bots: the list, and the editor (create or edit every field, the API's
// validation messages under each field) beside a live preview of the real
// widget (`preview.html`, which loads /static/widget.js with `data-preview`)
// that follows every change through `Docent.configure()`.

import { api } from './api.js';
import {
  h, append, field, alertBox, announce, busy, confirmDialog, fmtNumber, fmtRelative, messageOf, onSubmit,
} from './dom.js';
import { badge, botTabs, empty, pageHeader } from './ui.js';

const THEMES = [['auto', 'Auto (the visitor’s)'], ['light', 'Light'], ['dark', 'Dark']];
const POSITIONS = [['bottom-right', 'Bottom right'], ['bottom-left', 'Bottom left'], ['top-right', 'Top right'], ['top-left', 'Top left']];
const COLOR = /^#[0-9a-f]{6}$/i;
/** The API's field names as the form's labels word them, for messages. */
const LABELS = {
  name: 'Name', workspace_id: 'Workspace', welcome_message: 'Welcome message', system_prompt: 'Instructions',
  fallback_message: 'Fallback message', theme: 'Theme', position: 'Position', primary_color: 'Colour',
  bubble_icon: 'Bubble icon', allowed_origins: 'Allowed sites', model: 'Model', temperature: 'Temperature',
  answer_threshold: 'Answer threshold', is_active: 'Active',
};

// ---------------------------------------------------------------- the list

export async function list(ctx) {
  ctx.setTitle('Bots');
  const [bots, workspaces] = await Promise.all([
    api('/widget/bots', { signal: ctx.signal }),
    api('/workspaces', { signal: ctx.signal }),
  ]);
  const wsName = id => workspaces.find(w => w.id === id)?.name ?? `Workspace ${id}`;
  const cards = bots.map(bot => h('li', { class: 'bot-card' },
    h('div', { class: 'bot-card-head' },
      swatch(bot.primary_color),
      h('h2', {}, h('a', { href: `#/bots/${bot.id}` }, bot.name)),
      bot.is_active ? badge('active') : badge('inactive')),
    h('p', { class: 'muted' }, wsName(bot.workspace_id)),
    h('dl', { class: 'stats' },
      h('div', {}, h('dt', {}, 'Sessions'), h('dd', {}, fmtNumber(bot.stats.total_sessions))),
      h('div', {}, h('dt', {}, 'Messages'), h('dd', {}, fmtNumber(bot.stats.total_messages))),
      h('div', {}, h('dt', {}, 'Active tokens'), h('dd', {}, fmtNumber(bot.stats.active_tokens))),
      h('div', {}, h('dt', {}, 'Last activity'), h('dd', {}, fmtRelative(bot.stats.last_activity_at)))),
    h('p', { class: 'card-links' },
      h('a', { href: `#/bots/${bot.id}/embed`, 'aria-label': `Embed ${bot.name}` }, 'Embed'),
      h('a', { href: `#/conversations/${bot.id}`, 'aria-label': `Conversations of ${bot.name}` }, 'Conversations'))));
  append(ctx.view,
    pageHeader('Bots', {
      sub: 'A bot answers visitors from one workspace’s documents, on the sites you allow.',
      actions: [h('a', { class: 'button primary', href: '#/bots/new' }, 'New bot')],
    }),
    bots.length ? h('ul', { class: 'bot-grid' }, cards)
      : empty(workspaces.length ? 'No bots yet.' : 'Create a workspace first: a bot answers from its documents.',
        h('a', { class: 'button primary', href: workspaces.length ? '#/bots/new' : '#/workspaces' },
          workspaces.length ? 'Create a bot' : 'Go to workspaces')));
}

/** A small square of the bot's colour (set through CSSOM, which the CSP allows). */
function swatch(color) {
  const s = h('span', { class: 'swatch', 'aria-hidden': 'true' });
  if (COLOR.test(color)) s.style.setProperty('--swatch', color);
  return s;
}

// ---------------------------------------------------------------- the editor

export async function create(ctx) {
  ctx.setTitle('New bot');
  const workspaces = await api('/workspaces', { signal: ctx.signal });
  if (!workspaces.length) {
    append(ctx.view, pageHeader('New bot', { crumbs: [['Bots', '#/bots']] }),
      empty('A bot answers from a workspace’s documents: create a workspace first.',
        h('a', { class: 'button primary', href: '#/workspaces' }, 'Go to workspaces')));
    return;
  }
  const wanted = Number(ctx.query.workspace) || workspaces[0].id;
  const blank = {
    name: '', workspace_id: wanted, system_prompt: '', welcome_message: 'Hi! How can I help?', is_active: true,
    allowed_origins: [], theme: 'auto', position: 'bottom-right', primary_color: '#2563eb', bubble_icon: '💬',
    fallback_message: '', model: null, temperature: null, answer_threshold: null,
  };
  append(ctx.view, pageHeader('New bot', { crumbs: [['Bots', '#/bots']] }),
    editor(blank, workspaces, async body => {
      const bot = await api('/widget/bots', { method: 'POST', body });
      announce(`Bot ${bot.name} created.`);
      ctx.navigate(`/bots/${bot.id}`);
    }));
}

export async function edit(ctx) {
  const id = Number(ctx.params[0]);
  const [bot, workspaces] = await Promise.all([
    api(`/widget/bots/${id}`, { signal: ctx.signal }),
    api('/workspaces', { signal: ctx.signal }),
  ]);
  ctx.setTitle(bot.name);
  const slot = h('span', { class: 'state-slot' }, badge(bot.is_active ? 'active' : 'inactive'));
  const toggle = h('button', { type: 'button' }, bot.is_active ? 'Deactivate' : 'Activate');
  toggle.addEventListener('click', () => busy(toggle, async () => {
    try {
      const updated = await api(`/widget/bots/${id}`, { method: 'PUT', body: { is_active: !bot.is_active } });
      bot.is_active = updated.is_active;
      slot.replaceChildren(badge(bot.is_active ? 'active' : 'inactive'));
      toggle.textContent = bot.is_active ? 'Deactivate' : 'Activate';
      announce(bot.is_active ? 'Bot activated: its widgets answer again.' : 'Bot deactivated: its widgets stop answering.');
    } catch (err) {
      announce(messageOf(err));
    }
  }));
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
  remove.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: 'Delete bot?',
      message: `“${bot.name}”, its widget tokens and its conversations will be deleted; its widgets stop at once.`,
      confirmLabel: 'Delete bot',
      onConfirm: () => api(`/widget/bots/${id}`, { method: 'DELETE' }).then(() => true),
    });
    if (ok) {
      announce('Bot deleted.');
      ctx.navigate('/bots');
    }
  });
  const header = pageHeader(bot.name, {
    crumbs: [['Bots', '#/bots']],
    actions: [slot, toggle, remove],
  });
  append(ctx.view, header, botTabs(bot, 'settings'),
    editor(bot, workspaces, async body => {
      const updated = await api(`/widget/bots/${id}`, { method: 'PUT', body });
      Object.assign(bot, updated);
      header.querySelector('h1').textContent = updated.name;
      document.title = `${updated.name} · Docent console`;
      announce('Saved.');
    }));
}

/**
 * The bot form beside its live preview. `save(body)` sends every field; an
 * ApiError it throws is shown under the fields it names.
 */
function editor(bot, workspaces, save) {
  const opt = (value, label, selected) => h('option', { value, selected: value === selected }, label);
  const c = {
    name: h('input', { type: 'text', maxlength: '100', value: bot.name, autocomplete: 'off' }),
    workspace_id: h('select', {}, workspaces.map(w => opt(String(w.id), w.name, String(bot.workspace_id)))),
    welcome_message: h('textarea', { rows: '2', maxlength: '1000', value: bot.welcome_message }),
    theme: h('select', {}, THEMES.map(([v, l]) => opt(v, l, bot.theme))),
    position: h('select', {}, POSITIONS.map(([v, l]) => opt(v, l, bot.position))),
    primary_color: h('input', { type: 'text', value: bot.primary_color, spellcheck: 'false', autocomplete: 'off', class: 'mono short' }),
    bubble_icon: h('input', { type: 'text', value: bot.bubble_icon, autocomplete: 'off' }),
    allowed_origins: h('textarea', { rows: '3', value: bot.allowed_origins.join('\n'), spellcheck: 'false', class: 'mono' }),
    system_prompt: h('textarea', { rows: '5', maxlength: '8000', value: bot.system_prompt }),
    fallback_message: h('textarea', { rows: '2', maxlength: '1000', value: bot.fallback_message }),
    model: h('input', { type: 'text', maxlength: '200', value: bot.model ?? '', autocomplete: 'off' }),
    temperature: h('input', { type: 'number', min: '0', max: '2', step: '0.1', value: bot.temperature ?? '', class: 'short' }),
    answer_threshold: h('input', { type: 'number', min: '0', max: '1', step: '0.05', value: bot.answer_threshold ?? '', class: 'short' }),
  };
  const picker = h('input', { type: 'color', value: COLOR.test(bot.primary_color) ? bot.primary_color : '#2563eb', class: 'color-picker' });
  const active = h('input', { type: 'checkbox', checked: bot.is_active });

  const error = alertBox();
  const saveButton = h('button', { type: 'submit', class: 'primary' }, bot.id ? 'Save changes' : 'Create bot');
  const form = h('form', { class: 'bot-form', novalidate: true },
    h('fieldset', {}, h('legend', {}, 'Basics'),
      field('Name', c.name, { name: 'name', hint: 'Also the title of the chat panel.' }),
      field('Workspace', c.workspace_id, { name: 'workspace_id', hint: 'The documents it answers from.' }),
      bot.id ? null : h('div', { class: 'check' }, active, h('label', { for: active.id ||= 'bot-active' }, 'Active'))),
    h('fieldset', {}, h('legend', {}, 'Look'),
      field('Welcome message', c.welcome_message, { name: 'welcome_message', hint: 'Shown when a visitor opens the chat.' }),
      h('div', { class: 'row' },
        field('Theme', c.theme, { name: 'theme' }),
        field('Position', c.position, { name: 'position' })),
      h('div', { class: 'row' },
        h('div', { class: 'color-row' },
          field('Colour', c.primary_color, { name: 'primary_color', hint: 'As #rrggbb.' }),
          h('label', { class: 'picker-label' }, h('span', { class: 'sr-only' }, 'Pick the colour'), picker)),
        field('Bubble icon', c.bubble_icon, { name: 'bubble_icon', hint: 'Up to 8 characters or emoji, or an https:// image.' }))),
    h('fieldset', {}, h('legend', {}, 'Where it may run'),
      field('Allowed sites', c.allowed_origins, {
        name: 'allowed_origins',
        hint: 'One origin per line, like https://www.example.com; https://*.example.com allows its subdomains.',
      })),
    h('fieldset', {}, h('legend', {}, 'Answers'),
      field('Instructions', c.system_prompt, { name: 'system_prompt', hint: 'The system prompt: tone, scope, what to avoid.' }),
      field('Fallback message', c.fallback_message, { name: 'fallback_message', hint: 'Said when the documents hold nothing relevant. Empty: Docent’s default.' }),
      h('div', { class: 'row' },
        field('Model', c.model, { name: 'model', hint: 'Empty: the server’s model.' }),
        field('Temperature', c.temperature, { name: 'temperature', hint: '0–2. Empty: the server’s.' })),
      field('Answer threshold', c.answer_threshold, {
        name: 'answer_threshold',
        hint: '0–1: how sure the bot must be that its documents answer before it answers. Higher says “I don’t know” more often. Empty: Docent’s default.',
      })),
    error,
    h('div', { class: 'actions sticky-actions' }, saveButton));

  const body = () => ({
    name: c.name.value,
    workspace_id: Number(c.workspace_id.value),
    welcome_message: c.welcome_message.value,
    theme: c.theme.value,
    position: c.position.value,
    primary_color: c.primary_color.value.trim(),
    bubble_icon: c.bubble_icon.value.trim(),
    allowed_origins: c.allowed_origins.value.split(/[\n,]+/).map(s => s.trim()).filter(Boolean),
    system_prompt: c.system_prompt.value,
    fallback_message: c.fallback_message.value,
    model: c.model.value.trim(),
    temperature: c.temperature.value === '' ? null : Number(c.temperature.value),
    answer_threshold: c.answer_threshold.value === '' ? null : Number(c.answer_threshold.value),
    ...(bot.id ? {} : { is_active: active.checked }),
  });

  onSubmit(form, {
    button: saveButton, error, labels: LABELS, action: () => save(body()),
    onFieldErrors: () => announce('Some fields need a change; see the messages under them.'),
  });

  // Colour: the text field is the value; the picker is a convenience.
  picker.addEventListener('input', () => {
    c.primary_color.value = picker.value;
    c.primary_color.dispatchEvent(new Event('input', { bubbles: true }));
  });
  c.primary_color.addEventListener('input', () => {
    if (COLOR.test(c.primary_color.value.trim())) picker.value = c.primary_color.value.trim().toLowerCase();
  });

  const frame = h('iframe', { src: 'preview.html', title: 'Widget preview', class: 'preview-frame' });
  const look = () => ({
    title: c.name.value.trim() || 'Chat',
    theme: c.theme.value,
    position: c.position.value,
    primaryColor: c.primary_color.value.trim(),
    bubbleIcon: c.bubble_icon.value.trim(),
    welcome: c.welcome_message.value,
  });
  const update = () => {
    const docent = frame.contentWindow?.Docent;
    if (docent && docent.configure) {
      const l = look();
      docent.configure(l); // an empty value: the widget's default
      frame.dataset.look = JSON.stringify(l);
    }
  };
  frame.addEventListener('load', update);
  form.addEventListener('input', update);
  form.addEventListener('change', update);

  return h('div', { class: 'editor' }, form,
    h('aside', { class: 'preview', 'aria-label': 'Live preview' },
      h('h2', {}, 'Preview'),
      h('p', { class: 'hint' }, 'The real widget, following your changes before you save. Messages are not sent.'),
      frame));
}
