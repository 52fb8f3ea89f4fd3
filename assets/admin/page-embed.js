// Embedding a bot: generate a widget token (30, 90, 365 days or a custom
// life), show it and its embed code once with copy buttons, list the bot's
// tokens, revoke one or all (confirmed in a dialog), and warn about a token in
// use that expires within a week.

import { api } from './api.js';
import {
  h, append, fill, field, alertBox, announce, confirmDialog, copyButton, fmtDateTime, fmtRelative, nextId,
  time, onSubmit,
} from './dom.js';
import { badge, botTabs, empty, pageHeader, section, table } from './ui.js';

const DAY = 86_400_000;
const SOON = 7 * DAY;

export async function page(ctx) {
  const id = Number(ctx.params[0]);
  const [bot, tokens] = await Promise.all([
    api(`/widget/bots/${id}`, { signal: ctx.signal }),
    api('/widget/tokens', { query: { bot_id: id }, signal: ctx.signal }),
  ]);
  ctx.setTitle(`Embed ${bot.name}`);
  const reveal = h('div', { class: 'reveal-slot' });
  const warning = h('div', { class: 'warning-slot' });
  const list = h('div', { class: 'tokens' });
  const revokeAll = h('button', { type: 'button', class: 'danger' }, 'Revoke all');

  const refresh = async () => draw(await api('/widget/tokens', { query: { bot_id: id } }));
  const draw = all => {
    const now = Date.now();
    const expiring = all.filter(t => expiresSoon(t, now));
    fill(warning, expiring.length ? h('div', { class: 'notice warning', role: 'status' },
      h('strong', {}, expiring.length === 1 ? 'A token in use expires soon. ' : `${expiring.length} tokens in use expire soon. `),
      'Widgets renew their own token while they are used, but the embed code in your pages keeps the old one: generate a new token and update your pages before ',
      fmtDateTime(expiring.map(t => t.expires_at).sort()[0]), '.') : null);
    const live = all.filter(t => !t.revoked && Date.parse(t.expires_at) > now);
    revokeAll.disabled = !live.length;
    if (!all.length) {
      fill(list, empty('No tokens yet. Generate one to embed this bot.'));
      return;
    }
    const rows = all.map(t => {
      const expired = Date.parse(t.expires_at) <= now;
      const status = t.revoked ? badge('revoked') : expired ? badge('expired') : badge('active');
      return h('tr', { dataset: { tokenId: String(t.token_id), state: t.revoked ? 'revoked' : expired ? 'expired' : 'active' } },
        h('th', { scope: 'row' }, `#${t.token_id}`,
          t.refreshed_from ? h('span', { class: 'source' }, `renewed by a widget from #${t.refreshed_from}`) : null),
        h('td', {}, time(t.created_at)),
        h('td', {}, time(t.expires_at, `${fmtDateTime(t.expires_at)} (${fmtRelative(t.expires_at)})`)),
        h('td', {}, t.last_used_at ? time(t.last_used_at, fmtRelative(t.last_used_at)) : h('span', { class: 'muted' }, 'never')),
        h('td', {}, status, expiresSoon(t, now) ? badge('expires soon', 'warning') : null),
        h('td', {}, t.revoked || expired ? null : h('button', {
          type: 'button', class: 'small danger', 'aria-label': `Revoke token #${t.token_id}`,
          onclick: () => revoke({ token_id: t.token_id }, `Revoke token #${t.token_id}?`,
            'Pages embedding this token (and widgets that renewed it) stop answering at once.'),
        }, 'Revoke')));
    });
    fill(list, table(`Widget tokens of ${bot.name}`, ['Token', 'Created', 'Expires', 'Last used', 'Status', ''], rows, { cls: 'list' }));
  };
  const revoke = async (body, title, message) => {
    const n = await confirmDialog({
      title, message, confirmLabel: 'Revoke',
      onConfirm: () => api('/widget/revoke', { method: 'POST', body }).then(r => ({ n: r.revoked })),
    });
    if (n) {
      announce(n.n === 1 ? 'Token revoked.' : `${n.n} tokens revoked.`);
      await refresh();
    }
  };
  revokeAll.addEventListener('click', () => revoke({ bot_id: id }, 'Revoke every token?',
    `Every page embedding ${bot.name} stops answering at once, until you embed a new token.`));

  append(ctx.view,
    pageHeader(`Embed ${bot.name}`, { crumbs: [['Bots', '#/bots'], [bot.name, `#/bots/${bot.id}`]] }),
    botTabs(bot, 'embed'),
    bot.is_active ? null : h('p', { class: 'notice warning' }, 'This bot is inactive: embedded widgets say it is unavailable until you activate it.'),
    bot.allowed_origins.length ? null : h('p', { class: 'notice warning' },
      'No site is allowed to embed this bot yet: add your site’s address under ',
      h('a', { href: `#/bots/${bot.id}` }, 'Settings → Allowed sites'), '.'),
    section('New token', generator(bot, reveal, refresh), reveal),
    warning,
    h('section', { class: 'card', 'aria-labelledby': 'tokens-h' },
      h('div', { class: 'title-row' }, h('h2', { id: 'tokens-h' }, 'Tokens'), revokeAll),
      list));
  draw(tokens);
}

/** Used within the last 7 days and expiring within the next 7 (and still valid). */
function expiresSoon(t, now) {
  const exp = Date.parse(t.expires_at);
  return !t.revoked && exp > now && exp - now <= SOON && t.last_used_at && now - Date.parse(t.last_used_at) <= SOON;
}

function generator(bot, reveal, refresh) {
  const group = nextId('expiry');
  const choices = [['30', '30 days'], ['90', '90 days'], ['365', '1 year'], ['custom', 'Custom']];
  const radios = choices.map(([value, label], i) => {
    const input = h('input', { type: 'radio', name: group, value, id: `${group}-${value}`, checked: i === 2 });
    return h('div', { class: 'choice' }, input, h('label', { for: input.id }, label));
  });
  const days = h('input', { type: 'number', min: '1', max: '3650', value: '180', class: 'short' });
  const custom = field('Number of days', days, { name: 'expires_in_days', hint: '1 to 3,650.' });
  custom.hidden = true;
  const error = alertBox();
  const button = h('button', { type: 'submit', class: 'primary' }, 'Generate token');
  const form = h('form', { class: 'stack', novalidate: true },
    h('fieldset', { class: 'segmented' }, h('legend', {}, 'Valid for'), radios),
    custom, error, h('div', { class: 'actions' }, button));
  form.addEventListener('change', () => {
    custom.hidden = form.elements[group].value !== 'custom';
  });
  onSubmit(form, {
    button, error, action: async () => {
      const choice = form.elements[group].value;
      const n = choice === 'custom' ? Number(days.value) : Number(choice);
      const answer = await api('/widget/generate', { method: 'POST', body: { bot_id: bot.id, expires_in_days: n } });
      show(reveal, answer);
      announce('Token generated. Copy the embed code now: it is shown only this once.');
      await refresh();
    },
  });
  return form;
}

/** The new token and its embed code, shown once; "Done" forgets them. */
function show(slot, answer) {
  const tokenId = nextId('tok');
  const codeId = nextId('code');
  const done = h('button', { type: 'button' }, 'Done, I copied it');
  done.addEventListener('click', () => {
    slot.replaceChildren();
    announce('The token is no longer shown.');
  });
  fill(slot, h('div', { class: 'reveal', dataset: { tokenId: String(answer.token_id) } },
    h('p', { class: 'notice warning' }, h('strong', {}, 'Copy it now. '),
      `Token #${answer.token_id} is shown only this once (the server keeps a hash of it). It expires ${fmtDateTime(answer.expires_at)}.`),
    h('div', { class: 'copy-block' },
      h('div', { class: 'copy-head' }, h('h3', { id: codeId }, 'Embed code'), copyButton(() => answer.embed_code, 'Copy embed code')),
      h('pre', { class: 'code embed-code', tabindex: '0', 'aria-labelledby': codeId }, h('code', {}, answer.embed_code)),
      h('p', { class: 'hint' }, 'Paste it into every page that should show the chat bubble, before </body>.')),
    h('div', { class: 'copy-block' },
      h('div', { class: 'copy-head' }, h('h3', { id: tokenId }, 'Token'), copyButton(() => answer.token, 'Copy token')),
      h('pre', { class: 'code token', tabindex: '0', 'aria-labelledby': tokenId }, h('code', {}, answer.token))),
    h('div', { class: 'actions' }, done)));
  slot.querySelector('.copy-head button')?.focus();
}
