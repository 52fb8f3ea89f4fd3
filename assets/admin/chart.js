// Hand-written SVG charts: bars or lines over time buckets, with axes, grid,
// labels, a tooltip (<title>) per bar or point, and a text alternative (an
// accessible name that sums the chart up, and the numbers in a table under
// "Show data"). Colours come from console.css classes.

import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 480, H = 200;
const PAD = { top: 12, right: 10, bottom: 26, left: 46 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Round steps (1, 2, 5 × 10^n) so that `count` of them cover `max`. */
function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map(m => m * mag).find(v => v >= raw);
  const out = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(v);
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

const DAY = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const hour = d => `${String(d.getUTCHours()).padStart(2, '0')}:00`;

/**
 * Bucket labels (in UTC, as the buckets): "Mar 3" for days, "Mar 3 14:00" for
 * hours; `short`: only "14:00" (axis labels of a single day).
 */
export function bucketLabel(iso, interval, short = false) {
  const d = new Date(iso);
  if (interval !== 'hour') return DAY.format(d);
  return short ? hour(d) : `${DAY.format(d)} ${hour(d)}`;
}

/**
 * A chart of `series` ([{name, cls, values: [number|null]}]) over `buckets`
 * (ISO starts). `kind`: `bar` (one series; bars) or `line`. `format` turns a
 * value into text. Returns a `<figure>` whose `data-total`, `data-max` and
 * `data-points` (buckets with a value above 0) expose what it shows.
 */
export function chart({ title, kind = 'bar', buckets, series, interval, format = String, summary }) {
  const n = buckets.length;
  const all = series.flatMap(x => x.values).filter(v => v !== null && v !== undefined);
  const max = Math.max(0, ...all);
  const ys = ticks(max);
  const top = ys[ys.length - 1] || 1;
  const iw = W - PAD.left - PAD.right, ih = H - PAD.top - PAD.bottom;
  const x = i => PAD.left + (n ? (i + 0.5) * iw / n : 0);
  const y = v => PAD.top + ih - (v / top) * ih;
  const titleId = `c-${Math.random().toString(36).slice(2, 9)}`;

  const grid = s('g', { class: 'grid', 'aria-hidden': 'true' },
    ...ys.map(v => s('g', {},
      s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      s('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, format(v)))));
  // Up to 5 x labels, evenly spread.
  const every = Math.max(1, Math.ceil(n / 5));
  const xlabels = s('g', { class: 'x-labels', 'aria-hidden': 'true' },
    ...buckets.map((b, i) => (i % every === 0
      ? s('text', { x: x(i), y: H - 8, 'text-anchor': 'middle', class: 'tick' }, bucketLabel(b, interval, n <= 24))
      : null)));
  const marks = s('g', { class: 'marks' });
  if (kind === 'bar') {
    const bw = Math.max(1, iw / Math.max(n, 1) * 0.7);
    const [one] = series;
    one.values.forEach((v, i) => {
      if (!v) return;
      marks.append(s('rect', {
        x: x(i) - bw / 2, y: y(v), width: bw, height: Math.max(1, y(0) - y(v)), rx: Math.min(3, bw / 4), class: `bar ${one.cls}`,
      }, s('title', {}, `${bucketLabel(buckets[i], interval)}: ${format(v)}`)));
    });
  } else {
    for (const line of series) {
      // A gap where a bucket has no value (e.g. no replies, so no latency).
      let d = '';
      let pen = false;
      line.values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      if (d) marks.append(s('path', { d, class: `line ${line.cls}` }));
      line.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        marks.append(s('circle', { cx: x(i), cy: y(v), r: n > 60 ? 1.5 : 3, class: `dot ${line.cls}` },
          s('title', {}, `${bucketLabel(buckets[i], interval)} · ${line.name}: ${format(v)}`)));
      });
    }
  }
  const axis = s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: 'axis', 'aria-hidden': 'true' });
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-labelledby': titleId, focusable: 'false' },
    grid, axis, marks, xlabels);

  const main = series[0].values;
  const total = main.reduce((a, v) => a + (v || 0), 0);
  const points = main.filter(v => v > 0).length;
  const label = `${title}. ${summary || `Total ${format(total)}; highest ${format(max)}.`}`;
  const legend = series.length > 1
    ? h('ul', { class: 'legend' }, series.map(l => h('li', {}, h('span', { class: `key ${l.cls}`, 'aria-hidden': 'true' }), l.name)))
    : null;
  const data = h('details', { class: 'chart-data' }, h('summary', {}, 'Show data'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'sr-only' }, title),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, interval === 'hour' ? 'Hour (UTC)' : 'Day (UTC)'),
        series.map(l => h('th', { scope: 'col' }, l.name)))),
      h('tbody', {}, buckets.map((b, i) => h('tr', {}, h('th', { scope: 'row' }, bucketLabel(b, interval)),
        series.map(l => h('td', { class: 'num' }, l.values[i] === null || l.values[i] === undefined ? '—' : format(l.values[i])))))))));
  return h('figure', {
    class: 'chart', dataset: { total: String(total), max: String(max), points: String(points), kind },
  },
  h('figcaption', { id: titleId }, h('span', { class: 'chart-title' }, title), h('span', { class: 'sr-only' }, label.slice(title.length))),
  legend, svg, data);
}
