// Replies written by a language model: Docent talks to a mock OpenAI-compatible
// server (node:http, in support.mjs) whose replies each test scripts. What the
// bot's owner, the documents, the model and the visitor write must reach the
// page as text, never as markup or script.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ask, embedPage, launchBrowser, parseSse, until, makeBot, newContext, observeWidget, startDocent, startHost, startMockLlm, transcript,
  waitForDocuments, waitForState, watchErrors, widget,
} from './support.mjs';

const IMG = '<img src=x onerror=window.__pwned=1>';
const SCRIPT = '<script>window.__pwned=1</script>';
const JS_LINK = '[click me](javascript:window.__pwned=1)';
const MORE = [
  '<svg onload=window.__pwned=1>',
  '<a href="javascript:window.__pwned=1">anchor</a>',
  '<iframe src="javascript:window.__pwned=1"></iframe>',
  '[upper](JaVaScRiPt:window.__pwned=1)',
  '[data](data:text/html,<script>window.__pwned=1</script>)',
  '[vb](vbscript:window.__pwned=1)',
  '![image](x" onerror="window.__pwned=1)',
  '<style>*{display:none!important}</style>',
  '`<img src=x onerror=window.__pwned=1>`',
  '**<b onmouseover=window.__pwned=1>bold</b>**',
];
const TITLE = `${IMG} ${SCRIPT}`;
const NAME = `${IMG}"'>`;
const WELCOME = `Welcome ${IMG} ${SCRIPT} ${JS_LINK}`;
const ICON = '"><svg>';
const REPLY = ['Here: ', IMG.slice(0, 9), IMG.slice(9) + '\n\n', SCRIPT + '\n\n', JS_LINK + '\n\n', MORE.join('\n\n')];

let docent, browser, host, mock, bot, token, page, context, errors;
before(async () => {
  mock = await startMockLlm();
  docent = await startDocent({
    env: { DOCENT_LLM_PROVIDER: 'openai', DOCENT_LLM_BASE_URL: mock.baseUrl, DOCENT_LLM_MODEL: 'x' },
  });
  host = await startHost();
  browser = await launchBrowser();
  const ws = await docent.api('POST', '/workspaces', { name: 'Payloads' });
  await docent.api('POST', `/workspaces/${ws.id}/documents`, {
    title: TITLE,
    text: 'The xylophone zebra plays every morning. Zebras that play the xylophone are rare.',
    url: 'https://docs.example.com/zebra?q="><img src=x onerror=window.__pwned=1>',
  });
  await waitForDocuments(docent, ws.id, 1);
  ({ bot, token } = await makeBot(docent, {
    workspace_id: ws.id, name: NAME, welcome_message: WELCOME, bubble_icon: ICON,
    allowed_origins: [host.origin], theme: 'light',
  }));
});
after(async () => {
  await context?.close();
  await browser?.close();
  await host?.stop();
  await docent?.stop();
  await mock?.stop();
});

/** A fresh page on the host with the payload bot's widget, open and idle. */
async function openWidget() {
  await context?.close();
  context = await newContext(browser);
  page = await context.newPage();
  errors = watchErrors(page);
  await page.addInitScript(observeWidget);
  await page.addInitScript(() => {
    window.alert = window.confirm = window.prompt = () => { window.__pwned = 'dialog'; };
  });
  await page.goto(host.page('/payloads.html', embedPage({ docent, token })));
  const w = widget(page);
  await w.bubble.click();
  await waitForState(page, 'idle');
  await w.title.filter({ hasText: NAME }).waitFor();
  return w;
}

/** Everything that would betray markup built from text, checked in the page. */
function inspect() {
  return page.evaluate(() => {
    const sh = document.querySelector('docent-widget').shadowRoot;
    const all = [...sh.querySelectorAll('*')];
    const allowed = new Set(['div', 'span', 'p', 'br', 'strong', 'em', 'code', 'pre', 'ul', 'ol', 'li', 'a']);
    return {
      pwned: window.__pwned,
      dangerous: all.filter(e => /^(img|script|iframe|object|embed|style|link|meta|base|frame|image)$/.test(e.localName))
        .map(e => e.outerHTML),
      handlers: all.flatMap(e => [...e.attributes].filter(a => /^on/i.test(a.name)).map(a => `${e.localName}[${a.name}]`)),
      // Inside message bodies, only the Markdown subset's elements.
      foreign: [...sh.querySelectorAll('.body *')].filter(e => !allowed.has(e.localName)).map(e => e.outerHTML),
      // The widget's own icons: svg > path, nothing else of SVG.
      svgs: [...sh.querySelectorAll('svg')].map(s => [s.getAttribute('viewBox'), [...s.children].map(c => c.localName).join()]),
      links: [...sh.querySelectorAll('a')].map(a => ({ href: a.getAttribute('href'), text: a.textContent, rel: a.rel, target: a.target })),
      lightImgs: document.querySelectorAll('img, iframe').length,
      scripts: [...document.scripts].map(s => s.src),
    };
  });
}

function assertClean(r) {
  assert.equal(r.pwned, undefined, 'no payload ran');
  assert.deepEqual(r.dangerous, []);
  assert.deepEqual(r.handlers, []);
  assert.deepEqual(r.foreign, []);
  for (const [box, kids] of r.svgs) assert.deepEqual([box, kids], ['0 0 24 24', 'path']);
  for (const l of r.links) {
    assert.match(l.href, /^https:\/\//, `a link may only go to http(s) or mailto: ${JSON.stringify(l)}`);
    assert.equal(l.rel, 'noopener noreferrer nofollow');
    assert.equal(l.target, '_blank');
  }
  assert.equal(r.lightImgs, 0);
  assert.equal(r.scripts.length, 1, 'the page still has only the embed script');
}

test('XSS: payloads in the bot name, welcome message, bubble icon, reply, source title and the visitor\'s message stay text', async () => {
  const w = await openWidget();
  // The bot's look, from session/start.
  assert.equal(await w.title.textContent(), NAME);
  assert.equal(await w.bubble.getAttribute('aria-label'), 'Chat with ' + NAME);
  assert.equal(await w.host.locator('.bubble .icon').evaluate(i => [i.textContent, i.children.length].join('|')), ICON + '|0');
  const welcome = await w.welcome.locator('.body').textContent();
  assert.ok(welcome.includes(IMG) && welcome.includes(SCRIPT), welcome);
  // A javascript: link keeps its words and loses its target.
  assert.ok(welcome.includes('click me') && !welcome.includes('javascript:'), welcome);
  assertClean(await inspect());

  // The visitor asks with a payload of their own; the model answers with payloads.
  mock.reply({ chunks: REPLY });
  const question = `xylophone zebra ${IMG}`;
  await w.input.fill(question);
  await w.input.press('Enter');
  await w.assistant.first().waitFor();
  await waitForState(page, 'idle');
  const [mine, reply] = await transcript(page);
  assert.equal(mine.text, question);
  for (const p of [IMG, SCRIPT, '<svg onload=window.__pwned=1>', '<iframe src="javascript:window.__pwned=1"></iframe>',
    '<style>*{display:none!important}</style>', '<b onmouseover=window.__pwned=1>bold</b>']) {
    assert.ok(reply.text.includes(p), `the reply shows ${p} as text: ${reply.text}`);
  }
  for (const label of ['click me', 'upper', 'data', 'vb']) assert.ok(reply.text.includes(label), label);
  assert.ok(!/javascript:|vbscript:|data:text/i.test(reply.text.replace('<a href="javascript:window.__pwned=1">anchor</a>', '')
    .replace('<iframe src="javascript:window.__pwned=1"></iframe>', '')), 'no link target in the text either');
  assert.equal(await w.assistant.locator('code').first().textContent(), IMG, 'code spans are text');
  // The source: its title is text, its link an https URL, percent-encoded by the server.
  assert.equal(reply.sources.length, 1);
  assert.equal(reply.sources[0].text, TITLE);
  assert.match(reply.sources[0].href, /^https:\/\/docs\.example\.com\/zebra\?q=/);
  assert.ok(!/[<>"]/.test(reply.sources[0].href), reply.sources[0].href);
  assert.equal(await w.live.textContent(), await w.assistant.locator('.body').textContent());
  // Hover and click over everything the reply shows, as a visitor might.
  for (const m of await w.host.locator('.msg .body').all()) {
    await m.hover();
    await m.click({ position: { x: 5, y: 5 } });
  }
  assertClean(await inspect());

  // The same, rendered again from the server's history after a reload.
  const historyShown = page.waitForResponse(r => r.url().includes('/messages'));
  await page.reload();
  await w.bubble.click();
  await historyShown;
  await waitForState(page, 'idle');
  const again = await transcript(page);
  assert.equal(again.length, 2);
  assert.equal(again[1].text, reply.text);
  assert.deepEqual(again[1].sources, reply.sources);
  assertClean(await inspect());
  assert.deepEqual(errors.unexpected(), []);
});

test('a reply streams in: typing indicator, then growing text, then the finished Markdown (bold, lists, code, links)', async () => {
  const w = await openWidget();
  const md = [
    '# Steps\n\n**Step one**: open the ',
    'panel.\n\n- first item\n- second *item*\n\n1. one\n2. two\n\n`inline code` and [the docs](https://example.com/docs) ' +
    'or [mail us](mailto:help@example.com).\n\n```\ncode <b>block</b>\nline 2\n```\nLast line',
  ];
  mock.reply({ chunks: md, hold: 1 });
  await w.input.fill('xylophone zebra steps');
  await w.input.press('Enter');
  // The model has sent its first words and holds the rest: the widget shows them, still sending.
  await page.waitForFunction(() => {
    const b = document.querySelector('docent-widget').shadowRoot.querySelector('.msg.assistant .body');
    return b && b.textContent.includes('Step one');
  });
  assert.equal(mock.waiting(), 1, 'the model is still holding the rest of the reply');
  assert.equal(await w.root.getAttribute('data-state'), 'sending');
  const partial = await w.assistant.locator('.body').textContent();
  assert.equal(partial, 'StepsStep one: open the ');
  assert.equal(await w.live.textContent(), '', 'only the finished reply is announced');
  assert.equal(await w.send.isDisabled(), false);
  mock.release();
  await waitForState(page, 'idle');

  const log = await page.evaluate(() => window.__docent.log);
  const at = what => log.findIndex(e => e.what === what);
  assert.ok(at('typing+') >= 0 && at('typing+') < at('assistant+') && at('typing-') >= at('typing+'), JSON.stringify(log));
  const lengths = log.filter(e => e.what === 'text' && e.len >= 0).map(e => e.len);
  assert.ok(lengths.length >= 2 && lengths.every((l, i) => i === 0 || l >= lengths[i - 1]), `the text grew: ${lengths}`);
  assert.ok(lengths[lengths.length - 1] > partial.length);

  const body = w.assistant.locator('.body');
  assert.equal(await body.locator('p > strong').first().textContent(), 'Steps', 'a heading shows bold');
  assert.equal(await body.locator('p strong').nth(1).textContent(), 'Step one');
  assert.deepEqual(await body.locator('ul > li').allTextContents(), ['first item', 'second item']);
  assert.equal(await body.locator('ul em').textContent(), 'item');
  assert.deepEqual(await body.locator('ol > li').allTextContents(), ['one', 'two']);
  assert.equal(await body.locator(':scope > p > code').textContent(), 'inline code');
  assert.equal(await body.locator('pre > code').textContent(), 'code <b>block</b>\nline 2');
  assert.equal(await body.locator('pre b').count(), 0);
  const links = await body.locator('a').evaluateAll(as => as.map(a => [a.getAttribute('href'), a.textContent, a.rel, a.target]));
  assert.deepEqual(links, [
    ['https://example.com/docs', 'the docs', 'noopener noreferrer nofollow', '_blank'],
    ['mailto:help@example.com', 'mail us', 'noopener noreferrer nofollow', '_blank'],
  ]);
  assert.equal(await body.locator(':scope > p').last().textContent(), 'Last line');
  assert.deepEqual(errors.unexpected(), []);
});

test('"New conversation" while a reply streams: the reply is dropped quietly and the next message starts a new session', async () => {
  const w = await openWidget();
  const key = `docent.chat.${bot.id}`;
  const firstSid = await page.evaluate(k => JSON.parse(localStorage.getItem(k)).sid, key);
  mock.reply({ chunks: ['A long answer ', 'that never shows.'], hold: 1 });
  await w.input.fill('xylophone zebra, at length');
  await w.input.press('Enter');
  await w.assistant.filter({ hasText: 'A long answer' }).waitFor();
  await w.host.locator('button.new').click();
  assert.deepEqual(await transcript(page), []);
  assert.equal(await w.root.getAttribute('data-state'), 'idle');
  assert.equal(await w.note.textContent(), '');
  assert.equal(await w.welcome.isVisible(), true);
  assert.deepEqual(await page.evaluate(k => JSON.parse(localStorage.getItem(k)), key).then(s => [s.sid, s.msgs, s.old]),
    [null, [], []]);
  assert.equal(await page.evaluate(() => document.querySelector('docent-widget').shadowRoot.activeElement?.id), 'docent-input');
  mock.release();
  await until('the model to finish the abandoned reply', () => mock.waiting() === 0);

  mock.reply({ chunks: ['A fresh start.'] });
  const shown = await ask(page, 'xylophone zebra, again');
  assert.deepEqual(shown.map(m => [m.role, m.text]), [['user', 'xylophone zebra, again'], ['assistant', 'A fresh start.']]);
  const sid = await page.evaluate(k => JSON.parse(localStorage.getItem(k)).sid, key);
  assert.ok(sid && sid !== firstSid, 'a new session');
  assert.deepEqual(errors.unexpected(), []);
});

test('right-to-left text: a reply in Arabic reads right to left inside a left-to-right frame', async () => {
  const w = await openWidget();
  mock.reply({ chunks: ['مرحبا! ', 'كيف يمكنني مساعدتك؟'] });
  await w.input.fill('xylophone zebra in Arabic?');
  await w.input.press('Enter');
  await w.assistant.first().waitFor();
  await waitForState(page, 'idle');
  const dirs = await page.evaluate(() => {
    const sh = document.querySelector('docent-widget').shadowRoot;
    const q = s => sh.querySelector(s);
    return {
      reply: q('.msg.assistant .body').matches(':dir(rtl)'),
      question: q('.msg.user .body').matches(':dir(ltr)'),
      frame: getComputedStyle(q('.header')).direction,
      input: q('#docent-input').getAttribute('dir'),
    };
  });
  assert.deepEqual(dirs, { reply: true, question: true, frame: 'ltr', input: 'auto' });
  assert.deepEqual(errors.unexpected(), []);
});

test('the model fails (HTTP 500 → llm_unavailable): "Try again" sends the message again and it is answered once', async () => {
  const w = await openWidget();
  await page.evaluate(() => {
    window.__errors = [];
    window.Docent.on('error', e => window.__errors.push(e.code));
  });
  mock.reply({ status: 500 });
  const failed = page.waitForResponse(r => r.url().endsWith('/widget/chat'));
  await w.input.fill('xylophone zebra again');
  await w.input.press('Enter');
  // The model's failure comes after the stream started: HTTP 200 and an `error` event.
  const r = await failed;
  assert.equal(r.status(), 200);
  assert.deepEqual(parseSse(await r.text()).map(e => [e.event, e.data.code]), [['error', 'llm_unavailable']]);
  await waitForState(page, 'error');
  assert.equal(await w.note.textContent(), "The assistant couldn't answer just now.");
  await w.retry.waitFor({ state: 'visible' });
  assert.deepEqual(await page.evaluate(() => window.__errors), ['llm_unavailable']);
  assert.equal(await w.user.count(), 1, 'the question stays in the conversation');
  assert.equal(await w.assistant.count(), 0);

  mock.reply({ chunks: ['Second time lucky.'] });
  await w.retry.click();
  await w.assistant.first().waitFor();
  await waitForState(page, 'idle');
  const shown = await transcript(page);
  assert.deepEqual(shown.map(m => [m.role, m.text, m.pending]), [
    ['user', 'xylophone zebra again', false],
    ['assistant', 'Second time lucky.', false],
  ]);
  assert.equal(await w.retry.isVisible(), false);
  assert.equal(await w.note.textContent(), '');
  assert.deepEqual(errors.unexpected(), []);
});

/** Has the model fail once, then answers through "Try again"; gives the transcript shown. */
async function failThenRetry(w, question) {
  mock.reply({ status: 500 });
  await w.input.fill(question);
  await w.input.press('Enter');
  await waitForState(page, 'error');
  mock.reply({ chunks: ['Second time lucky.'] });
  await w.retry.click();
  await w.assistant.first().waitFor();
  await waitForState(page, 'idle');
  return transcript(page);
}

// The retry of a question whose reply failed answers the stored question: the
// history after a reload has it once.
test('after "Try again", a reload shows the question once', async () => {
  const w = await openWidget();
  const shown = await failThenRetry(w, 'xylophone zebra twice?');
  const history = page.waitForResponse(r => r.url().includes('/messages'));
  await page.reload();
  await w.bubble.click();
  await history;
  await waitForState(page, 'idle');
  assert.deepEqual(await transcript(page), shown);
});
