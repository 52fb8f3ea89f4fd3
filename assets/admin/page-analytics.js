// Analytics: one bot's or every bot's use over a date range, by day or by
// hour: sessions, messages, the unanswered rate, reply latency (mean, p95)
// and tokens, as charts. The choices live in the route's query, so a view is
// a URL (`#/analytics?bot=5&from=2026-03-01&to=2026-03-31&interval=day`).

import { api } from './api.js';
import { h, append, field, alertBox, fmtNumber } from './dom.js';
import { botSelect, botTabs, pageHeader } from './ui.js';
import { chart } from './chart.js';

const DAY = 86_400_000;
const iso = d => d.toISOString().slice(0, 10);
const validDay = v => /^\d{4}-\d{2}-\d{2}$/.test(v || '') && !Number.isNaN(Date.parse(`${v}T00:00:00Z`));
/** RFC 3339 without milliseconds. */
const rfc3339 = ms => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const ms = v => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)} s` : `${Math.round(v)} ms`);
const pct = v => `${Math.round(v * 100)} %`;
const int = v => fmtNumber(Math.round(v));

/** The range the query asks for (UTC days, `to` included), with defaults. */
function range(q) {
  const interval = q.interval === 'hour' ? 'hour' : 'day';
  const today = iso(new Date());
  const to = validDay(q.to) ? q.to : today;
  const from = validDay(q.from) ? q.from
    : iso(new Date(Date.parse(`${to}T00:00:00Z`) - (interval === 'hour' ? 1 : 29) * DAY));
  return { interval, from, to };
}

export async function page(ctx) {
  const q = ctx.query;
  const r = range(q);
  const botId = q.bot ? Number(q.bot) : null;
  const start = Date.parse(`${r.from}T00:00:00Z`);
  // `to` is a whole day, included; not beyond now (no empty future buckets),
  // rounded up to the minute (`to` is excluded: what happened this second counts).
  const end = Math.min(Date.parse(`${r.to}T00:00:00Z`) + DAY, Math.ceil(Date.now() / 60_000) * 60_000);
  const bots = await api('/widget/bots', { signal: ctx.signal });
  const bot = botId ? bots.find(b => b.id === botId) : null;
  ctx.setTitle(bot ? `Analytics of ${bot.name}` : 'Analytics');

  const pick = botSelect(bots, botId, { allLabel: 'All bots' });
  const from = h('input', { type: 'date', value: r.from, max: iso(new Date()) });
  const to = h('input', { type: 'date', value: r.to, max: iso(new Date()) });
  const byDay = h('input', { type: 'radio', name: 'interval', value: 'day', id: 'interval-day', checked: r.interval === 'day' });
  const byHour = h('input', { type: 'radio', name: 'interval', value: 'hour', id: 'interval-hour', checked: r.interval === 'hour' });
  const form = h('form', { class: 'filters', novalidate: true, 'aria-label': 'Analytics range' },
    field('Bot', pick, { name: 'bot' }),
    field('From', from, { name: 'from' }),
    field('To', to, { name: 'to' }),
    h('fieldset', { class: 'segmented' }, h('legend', {}, 'By'),
      h('div', { class: 'choice' }, byDay, h('label', { for: byDay.id }, 'Day')),
      h('div', { class: 'choice' }, byHour, h('label', { for: byHour.id }, 'Hour'))),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')),
    h('p', { class: 'hint filters-note' }, 'Days and hours are in UTC.'));
  const go = () => ctx.navigate('/analytics', {
    bot: pick.value, from: from.value, to: to.value, interval: byHour.checked ? 'hour' : 'day',
  });
  form.addEventListener('submit', e => { e.preventDefault(); go(); });
  // Bot and interval apply at once; dates on "Show" (typing a date fires change midway).
  pick.addEventListener('change', go);
  byDay.addEventListener('change', go);
  byHour.addEventListener('change', go);

  const header = pageHeader(bot ? `Analytics of ${bot.name}` : 'Analytics', {
    crumbs: bot ? [['Bots', '#/bots'], [bot.name, `#/bots/${bot.id}`]] : [],
    sub: bot ? null : 'Every bot of your workspaces together. Choose a bot to see one.',
  });
  append(ctx.view, header, bot ? botTabs(bot, 'analytics') : null, form);

  let data;
  try {
    data = await api(bot ? `/widget/bots/${bot.id}/analytics` : '/widget/analytics', {
      query: { from: rfc3339(start), to: rfc3339(end), interval: r.interval }, signal: ctx.signal,
    });
  } catch (err) {
    if (err.name === 'AbortError' || !err.status || err.status !== 422) throw err;
    // A range the server refuses (e.g. more than 1,000 hours): say why, keep the form.
    append(ctx.view, alertBox(err));
    return;
  }
  append(ctx.view, charts(data));
}

function charts(data) {
  const buckets = data.series.map(b => b.start);
  const col = key => data.series.map(b => b[key]);
  const t = data.totals;
  const rate = data.series.map(b => (b.messages ? b.unanswered / b.messages : null));
  const per = data.interval === 'hour' ? 'hour' : 'day';
  const tile = (label, value, key) => h('div', { class: 'tile', dataset: { metric: key } }, h('dt', {}, label), h('dd', {}, value));
  return h('div', { class: 'analytics' },
    h('dl', { class: 'tiles', 'aria-label': 'Totals for the range' },
      tile('Sessions', int(t.sessions), 'sessions'),
      tile('Messages', int(t.messages), 'messages'),
      tile('Unanswered', t.messages ? pct(t.unanswered / t.messages) : '—', 'unanswered'),
      tile('Reply latency', t.latency_ms_mean != null ? ms(t.latency_ms_mean) : '—', 'latency'),
      tile('p95 latency', t.latency_ms_p95 != null ? ms(t.latency_ms_p95) : '—', 'p95'),
      tile('Tokens', int(t.tokens), 'tokens')),
    h('div', { class: 'chart-grid' },
      chart({ title: `Sessions per ${per}`, buckets, interval: data.interval, format: int,
        series: [{ name: 'Sessions', cls: 's1', values: col('sessions') }] }),
      chart({ title: `Visitor messages per ${per}`, buckets, interval: data.interval, format: int,
        series: [{ name: 'Messages', cls: 's2', values: col('messages') }] }),
      chart({ title: 'Unanswered rate', kind: 'line', buckets, interval: data.interval, format: pct,
        summary: t.messages ? `${pct(t.unanswered / t.messages)} of ${int(t.messages)} questions unanswered over the range.` : 'No questions in the range.',
        series: [{ name: 'Unanswered', cls: 's3', values: rate }] }),
      chart({ title: 'Reply latency', kind: 'line', buckets, interval: data.interval, format: ms,
        summary: t.latency_ms_mean != null ? `Mean ${ms(t.latency_ms_mean)}, p95 ${ms(t.latency_ms_p95)} over the range.` : 'No replies in the range.',
        series: [
          { name: 'Mean', cls: 's1', values: col('latency_ms_mean') },
          { name: 'p95', cls: 's4', values: col('latency_ms_p95') },
        ] }),
      chart({ title: `Tokens per ${per}`, buckets, interval: data.interval, format: int,
        series: [{ name: 'Tokens', cls: 's5', values: col('tokens') }] })));
}
