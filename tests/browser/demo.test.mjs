// The demo page (/static/widget-demo.html) of `docent serve --sample`, with the
// sample bot answering extractively (no LLM): the widget end to end, as a
// visitor uses it with a mouse, a keyboard or a phone.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ask, formatViolations, launchBrowser, newContext, observeWidget, parseSse, runAxe, startDocent,
  transcript, waitForState, watchApi, watchErrors, widget, WIDGET_JS,
} from './support.mjs';

let docent, browser;
before(async () => {
  docent = await startDocent();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await docent?.stop();
});

const DEMO = () => docent.url + '/static/widget-demo.html';
const REL = 'noopener noreferrer nofollow';

async function openDemo(options = {}) {
  const context = await newContext(browser, options);
  const page = await context.newPage();
  const errors = watchErrors(page);
  const api = watchApi(page, docent.url);
  await page.addInitScript(observeWidget);
  let script;
  page.on('response', r => { if (r.url().endsWith('/static/widget.js')) script = r; });
  await page.goto(DEMO());
  await widget(page).bubble.waitFor({ state: 'visible' });
  return { context, page, errors, api, script: () => script };
}

test('no API request before the first open; opening is one request; a streamed reply with source links', async t => {
  const { context, page, errors, api, script } = await openDemo();
  try {
    const w = widget(page);
    // The page has loaded everything it will load on its own.
    await api.quiet();
    assert.deepEqual(api.lines(), [], 'nothing is asked of the API before the visitor opens the panel');
    assert.equal(await w.bubble.getAttribute('aria-expanded'), 'false');

    // Figures to quote (printed, not asserted).
    const timing = await page.waitForFunction(() => window.__docent.bubbleVisible != null && window.__docent).then(h => h.jsonValue());
    const res = script();
    const sizes = await res.request().sizes();
    const body = await res.body();
    const nav = await page.evaluate(() => {
      const e = performance.getEntriesByName(new URL('/static/widget.js', location.href).href)[0];
      return e && { transferSize: e.transferSize, encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize };
    });
    t.diagnostic(`time from widget.js starting to run to the bubble visible: ${(timing.bubbleVisible - timing.scriptStart).toFixed(1)} ms ` +
      `(script start → <docent-widget> in the document: ${(timing.hostAdded - timing.scriptStart).toFixed(1)} ms; ` +
      `navigation start → bubble visible: ${timing.bubbleVisible.toFixed(1)} ms)`);
    if (WIDGET_JS) t.diagnostic(`widget.js served from ${WIDGET_JS} (DOCENT_WIDGET_JS), uncompressed:`);
    t.diagnostic(`widget.js over the wire: ${sizes.responseBodySize} bytes of body (content-encoding: ` +
      `${res.headers()['content-encoding'] || 'none'}) + ${sizes.responseHeadersSize} bytes of headers; ` +
      `${body.length} bytes decoded; resource timing: ${JSON.stringify(nav)}`);
    assert.ok(timing.scriptStart <= timing.hostAdded && timing.hostAdded <= timing.bubbleVisible);

    // Opening: exactly one request, session/start.
    const started = page.waitForResponse(r => r.url().endsWith('/widget/session/start'));
    await w.bubble.click();
    assert.equal((await started).status(), 201);
    await waitForState(page, 'idle');
    await api.quiet();
    assert.deepEqual(api.lines(), ['POST /widget/session/start']);
    await assert.doesNotReject(w.panel.waitFor({ state: 'visible' }));
    assert.equal(await w.bubble.getAttribute('aria-expanded'), 'true');
    assert.equal(await w.title.textContent(), docent.sampleBot.name);
    assert.equal((await w.welcome.locator('.body').textContent()), docent.sampleBot.welcome_message);
    assert.equal(await page.evaluate(() => document.querySelector('docent-widget').shadowRoot.activeElement?.id), 'docent-input',
      'opening from the bubble puts the focus in the text box');

    // A question about embedding: the reply streams in.
    const chatResponse = page.waitForResponse(r => r.url().endsWith('/widget/chat'));
    await w.input.fill('How do I embed the widget?');
    await w.input.press('Enter');
    const chat = await chatResponse;
    assert.equal(chat.status(), 200);
    assert.match(chat.headers()['content-type'], /^text\/event-stream/);
    assert.equal(chat.request().headers()['accept'], 'text/event-stream');
    await w.assistant.first().waitFor();
    await waitForState(page, 'idle');

    const events = parseSse(await chat.text());
    const deltas = events.filter(e => e.event === 'delta');
    const sources = events.find(e => e.event === 'sources').data;
    const done = events.find(e => e.event === 'done').data;
    t.diagnostic(`the reply came in ${deltas.length} delta events`);
    assert.ok(deltas.length >= 2, `more than one delta event (${deltas.length})`);
    assert.equal(deltas.map(d => d.data.text).join(''), done.reply);
    assert.deepEqual(events.map(e => e.event).filter((e, i, a) => a[i - 1] !== e), ['delta', 'sources', 'done']);

    // What the visitor saw, in order: their message, the typing indicator, then the reply.
    const log = await page.evaluate(() => window.__docent.log);
    const at = what => log.findIndex(e => e.what === what);
    assert.ok(at('user+') >= 0 && at('typing+') > at('user+'), 'the typing indicator follows the question');
    assert.ok(at('assistant+') > at('typing+'), 'the typing indicator shows before the first words of the reply');
    assert.ok(at('typing-') > at('typing+'), 'the typing indicator goes away');
    assert.ok(log.filter(e => e.what === 'text' && e.len > 0).length >= 1);
    assert.equal(await w.host.locator('.msg.typing').count(), 0);

    const shown = await transcript(page);
    assert.equal(shown.length, 2);
    assert.deepEqual(shown[0], { role: 'user', text: 'How do I embed the widget?', pending: false, sources: [] });
    const reply = shown[1];
    assert.equal(reply.role, 'assistant');
    assert.match(reply.text, /Generate a widget token for your bot/);
    // The quoted embed code is shown as text, not run or parsed.
    assert.match(reply.text, /<script src="https:\/\/docent\.example\.com\/static\/widget\.js"/);
    assert.equal(await page.evaluate(() => document.querySelector('docent-widget').shadowRoot.querySelectorAll('script').length), 0);
    assert.equal(await w.assistant.locator('.body strong').first().textContent(), 'Embedding the widget › The script tag',
      'Markdown bold is rendered');

    // Sources: links that open safely.
    assert.ok(reply.sources.length >= 1);
    for (const [i, s] of reply.sources.entries()) {
      assert.equal(s.rel, REL);
      assert.equal(s.target, '_blank');
      assert.equal(s.text, sources[i].title);
      assert.equal(s.href, sources[i].url);
      assert.ok(s.href.startsWith(docent.url + '/static/widget-demo.html#'), s.href);
    }
    // Clicking a source opens it in a new tab that cannot reach back into the page.
    const [popup] = await Promise.all([context.waitForEvent('page'), w.assistant.locator('.sources a').first().click()]);
    await popup.waitForLoadState('domcontentloaded');
    assert.equal(popup.url(), sources[0].url);
    assert.deepEqual(await popup.evaluate(() => [window.opener, document.referrer]), [null, '']);
    await popup.close();
    assert.equal(await w.live.textContent(), await w.assistant.locator('.body').textContent(), 'the finished reply is announced');
    assert.equal(await w.note.textContent(), '');
    assert.deepEqual(api.lines(), ['POST /widget/session/start', 'POST /widget/chat']);
    assert.deepEqual(errors.unexpected(), []);
  } finally {
    await context.close();
  }
});

test('a reload restores the conversation, and opening after it is one request: the history GET', async () => {
  const { context, page, errors, api } = await openDemo();
  try {
    const w = widget(page);
    await w.bubble.click();
    await waitForState(page, 'idle');
    await ask(page, 'How do I embed the widget?');
    const before = await ask(page, 'How do I connect an LLM?');
    assert.equal(before.length, 4);
    const stored = await page.evaluate(bot => JSON.parse(localStorage.getItem('docent.chat.' + bot)), String(docent.sampleBot.id));
    assert.equal(stored.msgs.length, 4);
    assert.ok(stored.sid);

    api.length = 0;
    await page.reload();
    await w.bubble.waitFor({ state: 'visible' });
    await api.quiet();
    assert.deepEqual(api.lines(), [], 'a reload asks the API nothing until the panel opens');
    assert.equal(await w.panel.isVisible(), false);

    const history = page.waitForResponse(r => r.url().includes('/widget/session/'));
    await w.bubble.click();
    // The stored history shows at once, before the server's answer replaces it.
    assert.deepEqual(await transcript(page), before);
    assert.equal((await history).status(), 200);
    await api.quiet();
    assert.deepEqual(api.lines(), [`GET /widget/session/${encodeURIComponent(stored.sid)}/messages`]);
    assert.deepEqual(await transcript(page), before, 'the same messages, with the same sources, after the reload');
    assert.deepEqual(errors.unexpected(), []);
  } finally {
    await context.close();
  }
});

test('keyboard only: Tab reaches the bubble, Enter opens, Enter sends, Escape closes and gives focus back to the bubble', async t => {
  const { context, page, errors } = await openDemo();
  try {
    const w = widget(page);
    const focused = () => page.evaluate(() => {
      const a = document.activeElement;
      if (a && a.localName === 'docent-widget') {
        const e = a.shadowRoot.activeElement;
        return e ? 'widget:' + (e.id || e.className || e.localName) : 'widget';
      }
      return a ? a.localName + (a.id ? '#' + a.id : '') : null;
    });
    const path = [];
    for (let i = 0; i < 40 && (path.length === 0 || path[path.length - 1] !== 'widget:bubble'); i++) {
      await page.keyboard.press('Tab');
      path.push(await focused());
    }
    assert.equal(path[path.length - 1], 'widget:bubble', `Tab order: ${path.join(' → ')}`);
    t.diagnostic(`Tab order to the bubble: ${path.join(' → ')}`);
    assert.equal(await w.bubble.evaluate(b => b.matches(':focus-visible')), true, 'the focused bubble shows a focus ring');
    assert.equal(await w.bubble.getAttribute('aria-label'), 'Open chat', 'before the first open the bubble has a generic name');

    // The host page's own keyboard shortcuts must not see what the visitor types in the widget.
    await page.evaluate(() => {
      window.__keys = 0;
      document.addEventListener('keydown', () => window.__keys++);
    });
    await page.keyboard.press('Enter');
    await w.panel.waitFor({ state: 'visible' });
    await waitForState(page, 'idle');
    assert.equal(await w.bubble.getAttribute('aria-expanded'), 'true');
    assert.equal(await focused(), 'widget:docent-input');

    await page.keyboard.type('What is Docent?');
    await page.keyboard.press('Enter');
    await w.assistant.first().waitFor();
    await waitForState(page, 'idle');
    const shown = await transcript(page);
    assert.equal(shown[0].text, 'What is Docent?');
    assert.ok(shown[1].text.length > 20, shown[1].text);
    assert.equal(await w.input.inputValue(), '', 'the text box is cleared once the message is sent');
    assert.equal(await focused(), 'widget:docent-input', 'the focus stays in the text box');
    assert.equal(await page.evaluate(() => window.__keys), 0, 'key events stop at the widget');

    // Shift+Enter is a new line, not a send.
    await page.keyboard.type('line one');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('line two');
    assert.equal(await w.input.inputValue(), 'line one\nline two');
    assert.equal(await w.user.count(), 1);

    await page.keyboard.press('Escape');
    await w.panel.waitFor({ state: 'hidden' });
    assert.equal(await w.bubble.getAttribute('aria-expanded'), 'false');
    assert.equal(await focused(), 'widget:bubble', 'Escape gives the focus back to the bubble');
    assert.equal(await w.bubble.getAttribute('aria-label'), 'Chat with ' + docent.sampleBot.name);

    // Enter on the bubble opens it again; the unsent text is still there.
    await page.keyboard.press('Enter');
    await w.panel.waitFor({ state: 'visible' });
    assert.equal(await focused(), 'widget:docent-input');
    assert.equal(await w.input.inputValue(), 'line one\nline two');
    // The close button works from the keyboard too: back through the source
    // links and the (focusable, scrollable) message list.
    const back = [];
    for (let i = 0; i < 10 && back[back.length - 1] !== 'widget:close'; i++) {
      await page.keyboard.press('Shift+Tab');
      back.push(await focused());
    }
    assert.equal(back[back.length - 1], 'widget:close', back.join(' → '));
    assert.ok(back.includes('widget:messages'), back.join(' → '));
    await page.keyboard.press('Enter');
    await w.panel.waitFor({ state: 'hidden' });
    assert.equal(await focused(), 'widget:bubble');
    assert.deepEqual(errors.unexpected(), []);
  } finally {
    await context.close();
  }
});

test('a phone (375×667): the open panel fills the viewport', async () => {
  const { context, page, errors } = await openDemo({
    viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
  });
  try {
    const w = widget(page);
    const bubble = await w.bubble.boundingBox();
    assert.ok(bubble.x + bubble.width <= 375 && bubble.y + bubble.height <= 667, 'the bubble is on screen');
    await w.bubble.tap();
    await w.panel.waitFor({ state: 'visible' });
    await waitForState(page, 'idle');
    const box = await w.panel.boundingBox();
    const near = (a, b) => Math.abs(a - b) <= 1;
    assert.ok(near(box.x, 0) && near(box.y, 0) && near(box.width, 375) && near(box.height, 667),
      `the panel covers the viewport: ${JSON.stringify(box)}`);
    assert.equal(await w.bubble.isVisible(), false, 'the bubble hides behind the full-screen panel');
    // The text box, the send button and the close button are on screen and usable.
    for (const part of [w.input, w.send, w.host.locator('button.close')]) {
      const b = await part.boundingBox();
      assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= 375 && b.y + b.height <= 667, JSON.stringify(b));
    }
    await w.input.tap();
    await ask(page, 'What is Docent?');
    await w.host.locator('button.close').tap();
    await w.panel.waitFor({ state: 'hidden' });
    assert.equal(await w.bubble.isVisible(), true);
    assert.deepEqual(errors.unexpected(), []);
  } finally {
    await context.close();
  }
});

for (const theme of ['light', 'dark']) {
  test(`axe-core: no violations with the widget open, ${theme} theme`, async t => {
    const { context, page, errors } = await openDemo({ colorScheme: theme });
    try {
      const w = widget(page);
      await page.evaluate(th => window.Docent.configure({ theme: th }), theme);
      await w.bubble.click();
      await waitForState(page, 'idle');
      await ask(page, 'How do I embed the widget?');
      assert.equal(await w.root.getAttribute('data-theme'), theme);
      const { violations, rulesPassedInShadow, version } = await runAxe(page);
      assert.equal(violations.length, 0, `axe found:\n${formatViolations(violations)}`);
      for (const rule of ['aria-dialog-name', 'button-name', 'label', 'link-name', 'list', 'nested-interactive']) {
        assert.ok(rulesPassedInShadow.includes(rule), `axe checked ${rule} inside the shadow root (${rulesPassedInShadow})`);
      }
      // The error state's parts too: a pending message, the note, "Try again".
      await page.route('**/widget/chat', route => route.abort('failed'));
      await w.input.fill('Is this one going to fail?');
      await w.input.press('Enter');
      await waitForState(page, 'error');
      await w.retry.waitFor({ state: 'visible' });
      assert.equal(await w.note.textContent(), "Couldn't reach the assistant.");
      assert.equal(await w.host.locator('.msg.user.pending').count(), 1);
      const failed = await runAxe(page);
      assert.equal(failed.violations.length, 0, `axe found:\n${formatViolations(failed.violations)}`);
      // Contrast, with the widget moved into <body> where axe can see its boxes
      // (see runAxe), and text in the text box so that it is checked too.
      await w.input.fill('A question being typed');
      const contrast = await runAxe(page, { inBody: true, rules: ['color-contrast'] });
      assert.equal(contrast.violations.length, 0, `axe found:\n${formatViolations(contrast.violations)}`);
      assert.deepEqual(contrast.incompleteInShadow, [], 'axe could tell the contrast of every text in the widget');
      const checked = contrast.passedNodesInShadow;
      for (const part of ['#docent-title', '#docent-input', '.note', '.retry', '.user', '.pending', '.sources', 'a']) {
        assert.ok(checked.some(c => c.includes(part)), `the contrast of ${part} was checked: ${checked.join(', ')}`);
      }
      t.diagnostic(`axe-core ${version}, demo page with the open widget (${theme}): 0 violations; ` +
        `rules passed inside the shadow root: ${rulesPassedInShadow.join(', ')}; contrast checked on ${checked.length} nodes of the widget`);
      // And with the theme following the system (auto).
      await page.evaluate(() => window.Docent.configure({ theme: 'auto' }));
      assert.equal(await w.root.getAttribute('data-theme'), theme, 'auto follows prefers-color-scheme');
      const other = theme === 'light' ? 'dark' : 'light';
      await page.emulateMedia({ colorScheme: other });
      await page.waitForFunction(th => document.querySelector('docent-widget').shadowRoot.querySelector('.root').dataset.theme === th, other);
      assert.deepEqual(errors.unexpected({ failed: true }), []);
    } finally {
      await context.close();
    }
  });
}

test('the demo page\'s controls: "Ask" goes through Docent.send(), the look form restyles the widget at once and rewrites the embed code', async () => {
  const { context, page, errors } = await openDemo();
  try {
    const w = widget(page);
    await page.click('#ask');
    await w.assistant.first().waitFor();
    await waitForState(page, 'idle');
    assert.equal((await transcript(page))[0].text, 'How do I embed the widget?');

    await page.selectOption('#theme', 'dark');
    await page.selectOption('#position', 'top-left');
    await page.fill('#primaryColor', '#ff0000');
    await page.fill('#bubbleIcon', '🤖');
    await page.fill('#title', 'Helper');
    assert.equal(await w.root.getAttribute('data-theme'), 'dark');
    assert.equal(await w.root.getAttribute('data-position'), 'top-left');
    assert.equal(await w.title.textContent(), 'Helper');
    assert.equal(await w.host.locator('.bubble .icon').textContent(), '🤖');
    const bubble = await w.bubble.evaluate(b => {
      const cs = getComputedStyle(b), r = b.getBoundingClientRect();
      return { bg: cs.backgroundColor, fg: cs.color, x: r.x, y: r.y };
    });
    // Near-black text on red: white would be 4.0:1, #111 is 4.7:1.
    assert.deepEqual(bubble, { bg: 'rgb(255, 0, 0)', fg: 'rgb(17, 17, 17)', x: 20, y: 20 });
    const panel = await w.panel.boundingBox();
    assert.deepEqual([panel.x, panel.y], [20, 88]);
    const code = await page.textContent('#embed');
    for (const part of [`src="${docent.url}/static/widget.js"`, `data-token="${docent.demoToken}"`, 'data-theme="dark"',
      'data-position="top-left"', 'data-primary-color="#ff0000"', 'data-bubble-icon="🤖"', 'data-title="Helper"', ' async></script>']) {
      assert.ok(code.includes(part), `${part} in ${code}`);
    }
    assert.deepEqual(errors.unexpected(), []);
  } finally {
    await context.close();
  }
});
