// The widget on someone else's site: a host page on a second origin (another
// port of 127.0.0.1), under the Content-Security-Policy the README documents,
// with and without hostile CSS; and a site the bot does not allow.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ask, embedPage, launchBrowser, makeBot, newContext, startDocent, startHost, waitForState, watchApi,
  watchErrors, widget,
} from './support.mjs';

let docent, browser, host, bot, token;
before(async () => {
  docent = await startDocent();
  host = await startHost();
  browser = await launchBrowser();
  ({ bot, token } = await makeBot(docent, {
    name: 'Site helper',
    welcome_message: 'Hello! Ask me about **Docent**.',
    allowed_origins: [host.origin],
    theme: 'light',
    primary_color: '#0f766e',
  }));
});
after(async () => {
  await browser?.close();
  await host?.stop();
  await docent?.stop();
});

// The host CSP of assets/widget/README.md, with D the Docent server's origin
// (style-src 'self' only for the hostile page's external stylesheet).
const csp = () => `default-src 'none'; script-src ${docent.url}; connect-src ${docent.url}; img-src https:; ` +
  `style-src 'self'; base-uri 'none'; form-action 'none'`;

// A page's CSS at its worst: a reset of everything, huge inherited text
// settings, right-to-left text (which `all` does not reset), a transformed body (which would break position: fixed inside it),
// the widget's own custom property names, and rules aimed at the widget's
// element itself.
const HOSTILE_CSS = `
*, *::before, *::after { all: unset !important; unicode-bidi: bidi-override !important; }
html { direction: rtl !important; font-size: 48px !important; line-height: 4 !important; font-family: "Comic Sans MS", cursive, serif !important;
  color: #f0f !important; letter-spacing: 4px !important; word-spacing: 12px !important; text-transform: uppercase !important;
  font-weight: 900 !important; font-style: italic !important; text-shadow: 2px 2px red !important; cursor: wait !important;
  visibility: visible; white-space: pre !important; }
body { display: block !important; transform: translate(30px, 40px) scale(0.8) rotate(2deg) !important; filter: saturate(3) !important; }
:root { --p: #f00; --pf: #ff0; --bg: #000; --fg: #0f0; --bd: #f0f; --z: 1; --vh: 10px; --vt: 300px; }
div, p, button, textarea, a, ul, li, span, svg, path, form, label, strong {
  all: revert !important; box-sizing: content-box !important; font-size: 30px !important; margin: 20px !important;
  padding: 20px !important; border: 5px dotted red !important; background: yellow !important; display: inline !important; }
docent-widget { position: absolute !important; top: -50px !important; left: 10px !important; width: 10px !important;
  height: 10px !important; overflow: hidden !important; transform: scale(0.5) !important; opacity: 0.2 !important;
  filter: blur(3px) !important; clip-path: inset(50%) !important; contain: strict !important; zoom: 1 !important;
  direction: rtl !important; writing-mode: vertical-rl !important; }
`;

const PARTS = ['.root', '.bubble', '.bubble svg', '.panel', '.header', '.title', 'button.close', '.messages', '.msg.welcome',
  '.msg.welcome p', '.msg.user', '.msg.assistant', '.msg.assistant strong', '.sources', '.sources a', '.note', 'textarea', 'button.send'];
const PROPS = ['display', 'position', 'box-sizing', 'width', 'height', 'top', 'right', 'bottom', 'left', 'margin', 'padding',
  'border', 'border-radius', 'font-family', 'font-size', 'font-weight', 'font-style', 'line-height', 'letter-spacing',
  'word-spacing', 'text-transform', 'text-align', 'text-shadow', 'white-space', 'color', 'background-color', 'opacity',
  'transform', 'filter', 'visibility', 'z-index', 'cursor', 'direction', 'unicode-bidi', 'writing-mode'];

/** Opens the widget on `url`, has one exchange, and returns what it looks like. */
async function lookAt(url) {
  const context = await newContext(browser);
  try {
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.goto(url);
    const w = widget(page);
    await w.bubble.waitFor({ state: 'visible' });
    const closedBubble = await w.bubble.boundingBox();
    const bubbleShot = await page.screenshot({ clip: closedBubble, animations: 'disabled', caret: 'hide' });
    await w.bubble.click();
    await waitForState(page, 'idle');
    await ask(page, 'How do I embed the widget?');
    await page.mouse.move(0, 0); // no hover effects in the pictures
    const panel = await w.panel.boundingBox();
    const bubble = await w.bubble.boundingBox();
    const styles = await page.evaluate(({ parts, props }) => {
      const sh = document.querySelector('docent-widget').shadowRoot;
      const out = {};
      for (const sel of parts) {
        const e = sh.querySelector(sel);
        if (!e) { out[sel] = null; continue; }
        const cs = getComputedStyle(e), r = e.getBoundingClientRect();
        // .root is an empty block in the page's flow (its children are fixed): where
        // it sits depends on the page; every other part's box must not.
        out[sel] = sel === '.root' ? {} : { box: [r.x, r.y, r.width, r.height].map(v => Math.round(v * 100) / 100) };
        for (const p of props) out[sel][p] = cs.getPropertyValue(p);
      }
      return out;
    }, { parts: PARTS, props: PROPS });
    const panelShot = await page.screenshot({ clip: panel, animations: 'disabled', caret: 'hide' });
    const openBubbleShot = await page.screenshot({ clip: bubble, animations: 'disabled', caret: 'hide' });
    return {
      panel, bubble, closedBubble, styles, bubbleShot, panelShot, openBubbleShot,
      csp: await page.evaluate(() => window.__csp),
      errors: errors.unexpected(),
    };
  } finally {
    await context.close();
  }
}

/** Compares two PNG screenshots pixel by pixel, in the browser (no image library needed). */
async function pixelDiff(a, b) {
  if (a.equals(b)) return { identical: true, differing: 0 };
  const context = await newContext(browser);
  try {
    const page = await context.newPage();
    return await page.evaluate(async ([a, b]) => {
      const load = src => new Promise((ok, ko) => { const i = new Image(); i.onload = () => ok(i); i.onerror = ko; i.src = src; });
      const [ia, ib] = await Promise.all([load(a), load(b)]);
      if (ia.width !== ib.width || ia.height !== ib.height) return { identical: false, sizes: [ia.width, ia.height, ib.width, ib.height] };
      const data = img => {
        const c = document.createElement('canvas');
        c.width = img.width; c.height = img.height;
        const x = c.getContext('2d');
        x.drawImage(img, 0, 0);
        return x.getImageData(0, 0, c.width, c.height).data;
      };
      const da = data(ia), db = data(ib);
      let differing = 0, maxDelta = 0;
      for (let i = 0; i < da.length; i += 4) {
        const d = Math.max(Math.abs(da[i] - db[i]), Math.abs(da[i + 1] - db[i + 1]), Math.abs(da[i + 2] - db[i + 2]));
        if (d > 0) differing++;
        maxDelta = Math.max(maxDelta, d);
      }
      return { identical: false, differing, maxDelta, pixels: da.length / 4 };
    }, ['data:image/png;base64,' + a.toString('base64'), 'data:image/png;base64,' + b.toString('base64')]);
  } finally {
    await context.close();
  }
}

test('hostile CSS on the host page changes nothing in the widget: same boxes, computed styles and pixels', async t => {
  const plainUrl = host.page('/plain.html', embedPage({ docent, token, body: '<p>Plain host.</p>' }),
    { 'Content-Security-Policy': csp() });
  host.file('/hostile.css', HOSTILE_CSS, 'text/css');
  const hostileUrl = host.page('/hostile.html', embedPage({
    docent, token, head: '<link rel="stylesheet" href="/hostile.css">', body: '<p>Plain host.</p>',
  }), { 'Content-Security-Policy': csp() });

  const plain = await lookAt(plainUrl);
  const hostile = await lookAt(hostileUrl);
  for (const r of [plain, hostile]) {
    assert.deepEqual(r.csp, [], 'the widget runs under the documented host CSP, without violations');
    assert.deepEqual(r.errors, []);
  }

  assert.deepEqual(hostile.closedBubble, plain.closedBubble);
  assert.deepEqual(hostile.bubble, plain.bubble);
  assert.deepEqual(hostile.panel, plain.panel);
  // Bottom right, 20 px from the edges of the 1000×800 viewport; the panel above the bubble.
  assert.deepEqual(plain.closedBubble, { x: 1000 - 20 - 56, y: 800 - 20 - 56, width: 56, height: 56 });
  assert.deepEqual({ x: plain.panel.x + plain.panel.width, y: plain.panel.y + plain.panel.height, w: plain.panel.width },
    { x: 980, y: 800 - 88, w: 380 });
  for (const part of PARTS) assert.deepEqual(hostile.styles[part], plain.styles[part], `computed style of ${part}`);

  // Pixels: asserted equal, exactly (same browser, same fonts, animations off, caret hidden).
  for (const shot of ['bubbleShot', 'panelShot', 'openBubbleShot']) {
    const diff = await pixelDiff(plain[shot], hostile[shot]);
    t.diagnostic(`${shot}: ${diff.identical ? 'byte-identical PNGs' : JSON.stringify(diff)}`);
    assert.equal(diff.differing, 0, `${shot} differs: ${JSON.stringify(diff)}`);
  }
});

test('hostile CSS really is hostile: it changes the host page', async () => {
  const context = await newContext(browser);
  try {
    const page = await context.newPage();
    await page.goto(host.origin + '/hostile.html');
    const look = await page.evaluate(() => {
      const cs = getComputedStyle(document.querySelector('p'));
      return { font: cs.fontSize, transform: getComputedStyle(document.body).transform,
        p: getComputedStyle(document.documentElement).getPropertyValue('--p').trim() };
    });
    assert.equal(look.font, '30px');
    assert.notEqual(look.transform, 'none');
    assert.equal(look.p, '#f00');
  } finally {
    await context.close();
  }
});

test('a site the bot does not allow: the polite refusal, no further requests, nothing in the console but Chromium\'s own 403 line', async () => {
  // The sample bot allows only the server's own origin; this page is on another.
  const url = host.page('/not-allowed.html', embedPage({ docent, token: docent.demoToken }), { 'Content-Security-Policy': csp() });
  const context = await newContext(browser);
  try {
    const page = await context.newPage();
    const errors = watchErrors(page);
    const api = watchApi(page, docent.url);
    await page.goto(url);
    const w = widget(page);
    await w.bubble.waitFor({ state: 'visible' });
    await page.evaluate(() => {
      window.__errors = [];
      window.Docent.on('error', e => window.__errors.push(e));
    });
    const refused = page.waitForResponse(r => r.url().endsWith('/widget/session/start'));
    await w.bubble.click();
    const r = await refused;
    assert.equal(r.status(), 403);
    assert.equal((await r.json()).error.code, 'origin_not_allowed');
    await waitForState(page, 'unavailable');
    assert.equal(await w.note.textContent(), "This assistant isn't available here right now.");
    assert.equal(await w.note.getAttribute('role'), 'status');
    assert.equal(await w.retry.isVisible(), false, 'no "Try again": trying again cannot help');
    assert.equal(await w.send.isDisabled(), true);
    assert.deepEqual(await page.evaluate(() => window.__errors.map(e => e.code)), ['origin_not_allowed']);

    // Typing and pressing Enter sends nothing and loses nothing.
    await w.input.fill('Hello?');
    await w.input.press('Enter');
    await api.quiet();
    assert.equal(await w.input.inputValue(), 'Hello?');
    assert.equal(await w.user.count(), 0);
    // Closing and opening again does not ask again either.
    await page.keyboard.press('Escape');
    await w.bubble.click();
    await api.quiet();
    assert.deepEqual(api.lines(), ['POST /widget/session/start']);
    assert.equal(await w.bubble.isVisible(), true, 'the bubble stays');

    // Chromium logs "Failed to load resource: the server responded with a
    // status of 403 (Forbidden)" for the refused request by itself: no page
    // script can prevent that line, so exactly that one is allowed. Nothing
    // else, from the widget or the page, reaches the console.
    assert.deepEqual(errors.resourceErrors(), ['Failed to load resource: the server responded with a status of 403 (Forbidden)']);
    assert.deepEqual(errors.unexpected({ statuses: [403] }), []);
  } finally {
    await context.close();
  }
});

test('calls queued before the script loads, identify(), data-open, and a second copy of the script', async () => {
  // The README's queue snippet, inline (so this page has no CSP).
  const queue = `<script>
window.Docent = window.Docent || {q: []};
['open', 'close', 'toggle', 'send', 'on', 'identify', 'configure'].forEach(function (m) {
  Docent[m] = Docent[m] || function () { Docent.q.push([m, [].slice.call(arguments)]); };
});
Docent.identify({id: 'visitor-42', name: 'Ann', email: 'ann@example.com'});
Docent.configure({title: 'Queued title', position: 'bottom-left'});
Docent.on('open', function () { window.__opened = (window.__opened || 0) + 1; });
</script>`;
  const page1 = embedPage({ docent, token, attrs: { open: '' }, head: queue });
  // The same tag twice: the second load must do nothing.
  const twice = page1.replace(/(<script src=[^\n]*<\/script>)/, '$1\n$1');
  assert.equal(twice.split('/static/widget.js').length, 3);
  const context = await newContext(browser);
  try {
    const page = await context.newPage();
    const errors = watchErrors(page);
    const started = page.waitForRequest(r => r.url().endsWith('/widget/session/start'));
    await page.goto(host.page('/queued.html', twice));
    const w = widget(page);
    const request = await started;
    assert.deepEqual(request.postDataJSON(), { visitor_id: 'visitor-42' }, 'only the id is sent, never the name or email');
    await w.panel.waitFor({ state: 'visible' });
    await waitForState(page, 'idle');
    assert.equal(await page.locator('docent-widget').count(), 1, 'one widget, however many tags');
    assert.equal(await page.evaluate(() => window.Docent.version), '1');
    assert.equal(await w.title.textContent(), 'Queued title', 'configure() beats the bot\'s name');
    assert.equal(await w.root.getAttribute('data-position'), 'bottom-left');
    assert.equal(await page.evaluate(() => window.__opened), 1);
    assert.equal(await page.evaluate(() => document.activeElement === document.body), true, 'data-open does not take the focus');
    assert.equal(await page.evaluate(k => localStorage.getItem(k), `docent.visitor.${bot.id}`), 'visitor-42');
    assert.ok(!JSON.stringify(await page.evaluate(() => ({ ...localStorage }))).includes('ann@example.com'));
    assert.deepEqual(errors.unexpected(), []);
  } finally {
    await context.close();
  }
});
