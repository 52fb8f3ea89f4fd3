// Building blocks shared by the console's pages: page headers, tabs, empty
// states, status badges, bot pickers.

import { h } from './dom.js';

/** The page's `<h1>` (focusable, so navigation can move focus to it) with actions beside it. */
export function pageHeader(title, { crumbs = [], actions = [], sub } = {}) {
  return h('header', { class: 'page-header' },
    crumbs.length ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {}, crumbs.map(([label, href]) => h('li', {}, h('a', { href }, label))))) : null,
    h('div', { class: 'title-row' },
      h('h1', { tabindex: '-1' }, title),
      actions.length ? h('div', { class: 'actions' }, actions) : null),
    sub ? h('p', { class: 'sub' }, sub) : null);
}

/** Links between a bot's pages, the current one marked. */
export function botTabs(bot, current) {
  const tabs = [
    ['settings', 'Settings', `#/bots/${bot.id}`],
    ['embed', 'Embed', `#/bots/${bot.id}/embed`],
    ['conversations', 'Conversations', `#/conversations/${bot.id}`],
    ['analytics', 'Analytics', `#/analytics?bot=${bot.id}`],
  ];
  return h('nav', { class: 'tabs', 'aria-label': 'Bot pages' },
    tabs.map(([key, label, href]) => h('a', { href, 'aria-current': key === current ? 'page' : null }, label)));
}

export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

export const empty = (text, ...more) => h('div', { class: 'empty' }, h('p', {}, text), more);

/** A status badge: `pending`, `processing`, `ready`, `failed`, `active`, … */
export const badge = (text, kind = text) => h('span', { class: `badge badge-${kind}` }, text);

/** A table with a caption (visually hidden when `hideCaption`). */
export function table(caption, headers, rows, { hideCaption = true, cls = '' } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: cls },
      h('caption', { class: hideCaption ? 'sr-only' : null }, caption),
      h('thead', {}, h('tr', {}, headers.map(t => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', {}, rows)));
}

/** A `<select>` of bots, with `allLabel` as an extra first option (value ""). */
export function botSelect(bots, selected, { allLabel } = {}) {
  return h('select', {},
    allLabel ? h('option', { value: '', selected: !selected }, allLabel) : null,
    bots.map(b => h('option', { value: String(b.id), selected: String(b.id) === String(selected) }, b.name)));
}
