// Conversations: a bot's visitor sessions (filtered by date and by "has
// unanswered questions"), one session's transcript with the sources each
// answer drew on, and the questions the bot could not answer, grouped and
// counted: what to write documents about.

import { api } from './api.js';
import { h, append, field, alertBox, busy, fmtDateTime, fmtNumber, fmtRelative, markdown, messageOf, safeUrl, time } from './dom.js';
import { badge, botSelect, botTabs, empty, pageHeader, section } from './ui.js';

const PAGE = 50;

export async function index(ctx) {
  ctx.setTitle('Conversations');
  const bots = await api('/widget/bots', { signal: ctx.signal });
  if (bots.length) {
    // The most recently active bot first.
    const recent = [...bots].sort((a, b) => (b.stats.last_activity_at || '').localeCompare(a.stats.last_activity_at || ''))[0];
    ctx.navigate(`/conversations/${recent.id}`, {}, { replace: true });
    throw new DOMException('redirected', 'AbortError');
  }
  append(ctx.view, pageHeader('Conversations'),
    empty('No bots yet: conversations appear here once visitors talk to a bot.',
      h('a', { class: 'button primary', href: '#/bots/new' }, 'Create a bot')));
}

/** A date input's `YYYY-MM-DD` as the start of that local day (or of the next, with `end`), RFC 3339. */
function dayStart(value, end = false) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value || '')) return undefined;
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y, m - 1, d + (end ? 1 : 0)).toISOString();
}

export async function sessions(ctx) {
  const id = Number(ctx.params[0]);
  const q = ctx.query;
  const filters = { from: dayStart(q.from), to: dayStart(q.to, true), unanswered: q.unanswered ? 'true' : undefined };
  const [bots, firstPage, unanswered] = await Promise.all([
    api('/widget/bots', { signal: ctx.signal }),
    api(`/widget/bots/${id}/sessions`, { query: { ...filters, limit: PAGE }, signal: ctx.signal }),
    api(`/widget/bots/${id}/unanswered`, { query: { limit: 50 }, signal: ctx.signal }),
  ]);
  const bot = bots.find(b => b.id === id);
  if (!bot) throw Object.assign(new Error('There is no such bot.'), { status: 404 });
  ctx.setTitle(`Conversations of ${bot.name}`);

  // Filters: the route's query holds them, so a filtered list is a URL too.
  const pick = botSelect(bots, id);
  const from = h('input', { type: 'date', value: q.from || '' });
  const to = h('input', { type: 'date', value: q.to || '' });
  const only = h('input', { type: 'checkbox', checked: !!q.unanswered, id: 'only-unanswered' });
  const apply = h('button', { type: 'submit' }, 'Apply');
  const filterForm = h('form', { class: 'filters', novalidate: true, 'aria-label': 'Filter conversations' },
    field('Bot', pick, { name: 'bot' }),
    field('From', from, { name: 'from' }),
    field('To', to, { name: 'to' }),
    h('div', { class: 'check' }, only, h('label', { for: only.id }, 'Only with unanswered questions')),
    h('div', { class: 'actions' }, apply,
      (q.from || q.to || q.unanswered) ? h('a', { class: 'button', href: `#/conversations/${id}` }, 'Clear') : null));
  const go = () => ctx.navigate(`/conversations/${pick.value}`, { from: from.value, to: to.value, unanswered: only.checked ? 1 : '' });
  filterForm.addEventListener('submit', e => { e.preventDefault(); go(); });
  pick.addEventListener('change', () => ctx.navigate(`/conversations/${pick.value}`));

  const body = h('tbody', {});
  const more = h('button', { type: 'button' }, 'Load more');
  const moreError = alertBox();
  let offset = 0;
  const addRows = list => {
    for (const s of list) {
      body.append(h('tr', { dataset: { sessionId: s.session_id } },
        h('th', { scope: 'row' }, h('a', { href: `#/conversations/${id}/${s.session_id}` }, fmtDateTime(s.started_at)),
          s.first_message ? h('span', { class: 'source first-message' }, s.first_message) : null),
        h('td', {}, time(s.last_activity_at, fmtRelative(s.last_activity_at))),
        h('td', { class: 'num' }, fmtNumber(s.message_count)),
        h('td', { class: 'num' }, s.unanswered_count ? badge(String(s.unanswered_count), 'warning') : '0'),
        h('td', {}, s.visitor_id || h('span', { class: 'muted' }, 'anonymous')),
        h('td', {}, badge(s.status))));
    }
    offset += list.length;
    more.hidden = list.length < PAGE;
  };
  more.addEventListener('click', () => busy(more, async () => {
    moreError.hidden = true;
    try {
      addRows(await api(`/widget/bots/${id}/sessions`, { query: { ...filters, limit: PAGE, offset } }));
    } catch (err) {
      moreError.textContent = messageOf(err);
      moreError.hidden = false;
    }
  }));
  addRows(firstPage);
  const filtered = q.from || q.to || q.unanswered;

  append(ctx.view,
    pageHeader(`Conversations of ${bot.name}`, { crumbs: [['Bots', '#/bots'], [bot.name, `#/bots/${bot.id}`]] }),
    botTabs(bot, 'conversations'),
    filterForm,
    h('div', { class: 'split' },
      h('section', { class: 'card', 'aria-labelledby': 'sessions-h' },
        h('h2', { id: 'sessions-h' }, 'Sessions'),
        firstPage.length
          ? [h('div', { class: 'table-wrap' }, h('table', { class: 'list sessions' },
            h('caption', { class: 'sr-only' }, `Sessions of ${bot.name}, most recently active first`),
            h('thead', {}, h('tr', {}, ['Started', 'Last activity', 'Messages', 'Unanswered', 'Visitor', 'Status'].map(t => h('th', { scope: 'col' }, t)))),
            body)), moreError, h('div', { class: 'actions' }, more)]
          : empty(filtered ? 'No sessions match these filters.' : 'No conversations yet. They appear here as soon as a visitor writes.')),
      unansweredSection(bot, unanswered)));
}

function unansweredSection(bot, list) {
  return section('Unanswered questions',
    h('p', { class: 'hint' }, 'Asked by visitors and answered with the fallback, the same question counted together, most asked first. ',
      'Add documents that answer them to ', h('a', { href: `#/workspaces/${bot.workspace_id}` }, 'the bot’s workspace'), '.'),
    list.length
      ? h('ol', { class: 'unanswered' }, list.map(u => h('li', {},
        h('span', { class: 'question' }, u.question),
        h('span', { class: 'count', 'aria-label': `asked ${u.count} ${u.count === 1 ? 'time' : 'times'}` }, `×${u.count}`),
        h('span', { class: 'muted' }, 'last ', time(u.last_asked_at, fmtRelative(u.last_asked_at))))))
      : empty('None: every question found an answer in the documents.'));
}

export async function transcript(ctx) {
  const [id, sid] = [Number(ctx.params[0]), ctx.params[1]];
  const [bot, s] = await Promise.all([
    api(`/widget/bots/${id}`, { signal: ctx.signal }),
    api(`/widget/bots/${id}/sessions/${encodeURIComponent(sid)}`, { signal: ctx.signal }),
  ]);
  ctx.setTitle(`Conversation of ${fmtDateTime(s.started_at)}`);
  append(ctx.view,
    pageHeader(`Conversation of ${fmtDateTime(s.started_at)}`, {
      crumbs: [['Bots', '#/bots'], [bot.name, `#/bots/${bot.id}`], ['Conversations', `#/conversations/${bot.id}`]],
    }),
    h('dl', { class: 'meta' },
      h('div', {}, h('dt', {}, 'Status'), h('dd', {}, badge(s.status))),
      h('div', {}, h('dt', {}, 'Visitor'), h('dd', {}, s.visitor_id || 'anonymous')),
      h('div', {}, h('dt', {}, 'Messages'), h('dd', {}, fmtNumber(s.message_count))),
      h('div', {}, h('dt', {}, 'Last activity'), h('dd', {}, time(s.last_activity_at))),
      h('div', {}, h('dt', {}, 'Duration'), h('dd', {}, duration(s.duration_seconds)))),
    h('section', { class: 'card', 'aria-labelledby': 'transcript-h' },
      h('h2', { id: 'transcript-h' }, 'Transcript'),
      s.messages.length
        ? h('ol', { class: 'transcript' }, s.messages.map(message))
        : empty('No messages in this session.')));
}

function duration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function message(m) {
  const who = m.role === 'user' ? 'Visitor' : 'Bot';
  const sources = Array.isArray(m.sources) ? m.sources : [];
  return h('li', { class: `turn turn-${m.role === 'user' ? 'user' : 'assistant'}`, dataset: { role: m.role } },
    h('div', { class: 'turn-head' }, h('strong', {}, who), time(m.created_at)),
    m.role === 'user' ? h('div', { class: 'turn-body plain' }, m.content) : h('div', { class: 'turn-body' }, markdown(m.content)),
    m.role === 'user' ? null : sources.length
      ? h('div', { class: 'turn-sources' }, h('h3', {}, 'Sources'),
        h('ul', {}, sources.map(src => h('li', {},
          /^https?:/i.test(src.url || '') && safeUrl(src.url)
            ? h('a', { href: safeUrl(src.url), target: '_blank', rel: 'noopener noreferrer' }, src.title || src.source)
            : h('span', {}, src.title || src.source),
          src.source && src.source !== src.title ? h('span', { class: 'source' }, src.source) : null,
          src.snippet ? h('p', { class: 'snippet' }, src.snippet) : null))))
      : h('p', { class: 'muted turn-sources' }, 'No sources: nothing in the documents matched.'));
}
