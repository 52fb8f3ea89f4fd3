// Tokens and sessions over time, and a network that comes and goes: token
// refresh, an expired or vanished session, offline and back, a revoked token,
// and the server asking the widget to slow down.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ask, embedPage, fakeSessionId, jwtClaims, until, launchBrowser, makeBot, newContext, startDocent, startHost, transcript,
  waitForState, watchApi, watchErrors, widget,
} from './support.mjs';

let docent, browser, host;
before(async () => {
  docent = await startDocent();
  host = await startHost();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await host?.stop();
  await docent?.stop();
});

let pages = 0;
/** A bot allowed on the host, a token for it, and a host page embedding it. */
async function setUp({ expiresInDays = 30 } = {}) {
  const { bot, token } = await makeBot(docent, { name: 'Resilience bot', allowed_origins: [host.origin] }, { expiresInDays });
  const url = host.page(`/page-${++pages}.html`, embedPage({ docent, token }));
  return { bot, token, url, key: name => `docent.${name}.${bot.id}` };
}

async function open(context, url) {
  const page = await context.newPage();
  const errors = watchErrors(page);
  const api = watchApi(page, docent.url);
  await page.goto(url);
  await widget(page).bubble.waitFor({ state: 'visible' });
  return { page, errors, api, w: widget(page) };
}

/** Runs `fn` with a fresh browser context (its own storage), closed afterwards whatever happens. */
async function inContext(fn) {
  const context = await newContext(browser);
  try {
    return await fn(context);
  } finally {
    await context.close();
  }
}

const bearer = r => (r.request.headers().authorization || '').replace(/^Bearer /, '');
const stored = (page, key) => page.evaluate(k => localStorage.getItem(k), key);

test('a token that expires within a day is refreshed once per page load, stored, used, and dropped when revoked', async () => {
  const { bot, token, url, key } = await setUp({ expiresInDays: 1 });
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    // A refreshed token keeps its family's lifetime (here one day) from the time
    // of the refresh; `exp` counts whole seconds, so the refresh must happen in a
    // later second than the page's token was issued for the new one to expire later.
    await until('the clock to pass the token\'s second', () => Date.now() / 1000 >= jwtClaims(token).iat + 1);
    const refreshed = page.waitForResponse(r => r.url().endsWith('/widget/refresh'));
    await w.bubble.click();
    const r = await refreshed;
    assert.equal(r.status(), 200);
    assert.deepEqual(r.request().postDataJSON(), { token }, 'the refresh sends the page\'s token');
    assert.equal(r.request().headers().authorization, undefined, 'and no other credential');
    const fresh = (await r.json()).token;
    await page.waitForFunction(([k, t]) => localStorage.getItem(k) === t, [key('token'), fresh]);
    assert.equal(jwtClaims(fresh).sub, String(bot.id));
    assert.ok(jwtClaims(fresh).exp > jwtClaims(token).exp, 'the new token expires later');

    await waitForState(page, 'idle');
    await ask(page, 'What is Docent?');
    await api.quiet();
    assert.deepEqual(api.lines(), ['POST /widget/session/start', 'POST /widget/refresh', 'POST /widget/chat'],
      'one refresh per page load');
    assert.equal(bearer(api[2]), fresh, 'the next request uses the new token');

    // Next page load: the stored token expires later than the page's, so it is
    // used; it is again within a day of expiry, so it is refreshed again, once.
    api.length = 0;
    const again = page.waitForResponse(r => r.url().endsWith('/widget/refresh'));
    await page.reload();
    await w.bubble.click();
    const newer = (await (await again).json()).token;
    await waitForState(page, 'idle');
    await api.quiet();
    const sid = JSON.parse(await stored(page, key('chat'))).sid;
    assert.deepEqual(api.lines(), [`GET /widget/session/${sid}/messages`, 'POST /widget/refresh']);
    assert.deepEqual(api.map(bearer), [fresh, '']);
    assert.deepEqual(api[1].request.postDataJSON(), { token: fresh });
    await page.waitForFunction(([k, t]) => localStorage.getItem(k) === t, [key('token'), newer]);

    // The stored token is revoked (not the page's): the widget drops it and
    // carries on with the page's own, without a word.
    await docent.api('POST', '/widget/revoke', { token: newer });
    api.length = 0;
    await ask(page, 'How do I embed the widget?');
    await api.quiet();
    assert.deepEqual(api.lines(), ['POST /widget/chat', 'POST /widget/chat']);
    assert.deepEqual(api.map(bearer), [newer, token]);
    assert.equal(await stored(page, key('token')), null, 'the revoked token is forgotten');
    assert.equal(await w.note.textContent(), '');
    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
  });
});

test('a token that is not close to expiry is not refreshed', async () => {
  const { url, key } = await setUp({ expiresInDays: 30 });
  await inContext(async context => {
    const { page, api, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    await ask(page, 'What is Docent?');
    await api.quiet();
    assert.deepEqual(api.lines(), ['POST /widget/session/start', 'POST /widget/chat']);
    assert.equal(await stored(page, key('token')), null);
  });
});

test('401 token_expired: the widget refreshes the token and tries the request once more', async () => {
  const { url, key } = await setUp({ expiresInDays: 30 });
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    // The server cannot be made to issue an expired token, so the first chat
    // request is answered as if the token had just expired.
    let answered = 0;
    await page.route('**/widget/chat', route => answered++ ? route.continue() : route.fulfill({
      status: 401, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'token_expired', message: 'The widget token has expired.' } }),
    }));
    await ask(page, 'What is Docent?');
    assert.deepEqual(api.lines(), ['POST /widget/session/start', 'POST /widget/chat', 'POST /widget/refresh', 'POST /widget/chat']);
    const fresh = await stored(page, key('token'));
    assert.ok(fresh);
    assert.equal(bearer(api[3]), fresh);
    assert.equal(await w.note.textContent(), '');
    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
  });
});

test('401 token_expired after the background refresh failed: the widget still refreshes and carries on', async () => {
  const { url, key } = await setUp({ expiresInDays: 1 });
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    // The background refresh after the first request fails (say, a network
    // hiccup); later the token expires while the page is still open.
    let refreshes = 0, chats = 0;
    await page.route('**/widget/refresh', route => refreshes++ ? route.continue() : route.abort('failed'));
    await page.route('**/widget/chat', route => chats++ ? route.continue() : route.fulfill({
      status: 401, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'token_expired', message: 'The widget token has expired.' } }),
    }));
    await w.bubble.click();
    await waitForState(page, 'idle');
    await api.quiet();
    assert.deepEqual(api.lines(), ['POST /widget/session/start', 'POST /widget/refresh']);
    await ask(page, 'What is Docent?');
    assert.deepEqual(api.lines(), ['POST /widget/session/start', 'POST /widget/refresh',
      'POST /widget/chat', 'POST /widget/refresh', 'POST /widget/chat']);
    assert.equal(bearer(api[4]), await stored(page, key('token')));
    assert.equal(await w.note.textContent(), '');
    assert.deepEqual(errors.unexpected({ statuses: [401], failed: true }), []);
  });
});

test('a stored session the server no longer knows (404): after a reload the history is cleared and the next message is answered', async () => {
  const { url, key } = await setUp();
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    await ask(page, 'What is Docent?');
    // The session ends server-side: here, the stored id is replaced with one the server never issued.
    const fake = fakeSessionId();
    await page.evaluate(([k, sid]) => {
      const s = JSON.parse(localStorage.getItem(k));
      s.sid = sid;
      localStorage.setItem(k, JSON.stringify(s));
    }, [key('chat'), fake]);
    api.length = 0;
    await page.reload();
    const gone = page.waitForResponse(r => r.url().includes('/messages'));
    await w.bubble.click();
    assert.equal((await gone).status(), 404);
    await page.waitForFunction(() => !document.querySelector('docent-widget').shadowRoot.querySelector('.msg.user'));
    assert.deepEqual(await transcript(page), [], 'the old history is cleared');
    assert.equal(await w.welcome.isVisible(), true);
    assert.equal(await w.note.textContent(), '', 'without a word');

    const shown = await ask(page, 'How do I embed the widget?');
    assert.deepEqual(shown.map(m => m.role), ['user', 'assistant']);
    assert.match(shown[1].text, /Generate a widget token/);
    assert.deepEqual(api.lines(), [`GET /widget/session/${fake}/messages`, 'POST /widget/session/start', 'POST /widget/chat']);
    const now = JSON.parse(await stored(page, key('chat')));
    assert.notEqual(now.sid, fake);
    assert.equal(now.msgs.length, 2);
    assert.deepEqual(errors.unexpected({ statuses: [404] }), []);
  });
});

test('a session that ends mid-conversation: the message goes to a new session without a word, and the old messages stay', async () => {
  const { url, key } = await setUp();
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    const first = await ask(page, 'What is Docent?');
    // Another tab of the same site writes a session id the server does not know
    // (as if the session had expired); the widget picks it up from the storage event.
    const other = await context.newPage();
    await other.goto(host.page('/blank.html', '<!doctype html><title>Another tab</title>'));
    await w.welcome.evaluate(e => e.setAttribute('data-before', ''));
    const fake = fakeSessionId();
    await other.evaluate(([k, sid]) => {
      const s = JSON.parse(localStorage.getItem(k));
      s.sid = sid;
      localStorage.setItem(k, JSON.stringify(s));
    }, [key('chat'), fake]);
    await page.waitForFunction(() => !document.querySelector('docent-widget').shadowRoot.querySelector('[data-before]'));

    api.length = 0;
    const shown = await ask(page, 'How do I embed the widget?');
    assert.deepEqual(api.lines(), ['POST /widget/chat', 'POST /widget/session/start', 'POST /widget/chat']);
    assert.equal(api[0].request.postDataJSON().session_id, fake);
    assert.deepEqual(shown.slice(0, 2), first, 'the earlier messages stay on screen');
    assert.deepEqual(shown.slice(2).map(m => [m.role, m.pending]), [['user', false], ['assistant', false]]);
    assert.equal(await w.note.textContent(), '');
    const now = JSON.parse(await stored(page, key('chat')));
    assert.notEqual(now.sid, fake);
    assert.deepEqual([now.old.length, now.msgs.length], [2, 2]);
    assert.deepEqual(errors.unexpected({ statuses: [404] }), []);
  });
});

test('401 session_expired on a message: a new session, the message sent again, without a word', async () => {
  const { url } = await setUp();
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    const first = await ask(page, 'What is Docent?');
    // A session idle past DOCENT_WIDGET_SESSION_TIMEOUT_MINUTES (a minute at
    // least: too slow here) is answered like this; the next chat request gets it.
    let answered = 0;
    await page.route('**/widget/chat', route => answered++ ? route.continue() : route.fulfill({
      status: 401, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'session_expired', message: 'This conversation has ended.' } }),
    }));
    api.length = 0;
    const shown = await ask(page, 'How do I embed the widget?');
    assert.deepEqual(api.lines(), ['POST /widget/chat', 'POST /widget/session/start', 'POST /widget/chat']);
    assert.notEqual(api[2].request.postDataJSON().session_id, api[0].request.postDataJSON().session_id);
    assert.deepEqual(shown.slice(0, 2), first);
    assert.equal(shown.length, 4);
    assert.equal(await w.note.textContent(), '');
    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
  });
});

test('offline, then online: the message waits, the widget says so, and it is delivered when the network is back', async () => {
  const { url } = await setUp();
  await inContext(async context => {
    const { page, errors, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    await context.setOffline(true);
    await w.input.fill('Are you there?');
    await w.input.press('Enter');
    await waitForState(page, 'offline');
    assert.equal(await w.note.textContent(), "You're offline. Your message will be sent once you're back online.");
    assert.deepEqual((await transcript(page)).map(m => [m.role, m.text, m.pending]), [['user', 'Are you there?', true]]);
    assert.equal(await w.input.inputValue(), '');

    const delivered = page.waitForResponse(r => r.url().endsWith('/widget/chat'));
    await context.setOffline(false);
    assert.equal((await delivered).status(), 200);
    await w.assistant.first().waitFor();
    await waitForState(page, 'idle');
    assert.deepEqual((await transcript(page)).map(m => [m.role, m.pending]), [['user', false], ['assistant', false]]);
    assert.equal(await w.note.textContent(), '');
    assert.equal(await w.retry.isVisible(), false);
    assert.deepEqual(errors.unexpected({ offline: true }), []);
  });
});

test('offline before the first open: the widget says so, and starts once the network is back', async () => {
  const { url } = await setUp();
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    await context.setOffline(true);
    await w.bubble.click();
    await waitForState(page, 'offline');
    assert.equal(await w.note.textContent(), "You're offline. Messages will be sent once you're back online.");
    await context.setOffline(false);
    await waitForState(page, 'idle');
    assert.equal(await w.note.textContent(), '');
    const shown = await ask(page, 'What is Docent?');
    assert.deepEqual(shown.map(m => m.role), ['user', 'assistant']);
    assert.deepEqual(api.lines(), ['POST /widget/session/start', 'POST /widget/session/start', 'POST /widget/chat']);
    assert.deepEqual(errors.unexpected({ offline: true }), []);
  });
});

test('a revoked token: the polite unavailable message, the text given back, no more requests, no page errors', async () => {
  const { token, url } = await setUp();
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    await ask(page, 'What is Docent?');
    await docent.api('POST', '/widget/revoke', { token });

    api.length = 0;
    const refused = page.waitForResponse(r => r.url().endsWith('/widget/chat'));
    await w.input.fill('Are you still there?');
    await w.input.press('Enter');
    const r = await refused;
    assert.equal(r.status(), 401);
    assert.equal((await r.json()).error.code, 'token_revoked');
    await waitForState(page, 'unavailable');
    assert.equal(await w.note.textContent(), "This assistant isn't available here right now.");
    assert.equal(await w.input.inputValue(), 'Are you still there?', 'the unsent text goes back into the text box');
    assert.equal(await w.user.count(), 1, 'and out of the conversation');
    assert.equal(await w.send.isDisabled(), true);
    assert.equal(await w.retry.isVisible(), false);
    await w.input.press('Enter');
    await api.quiet();
    assert.deepEqual(api.lines(), ['POST /widget/chat'], 'nothing more is asked');
    assert.equal(await w.bubble.isVisible(), true);

    // The next page load: the stored history shows, opening asks once and is refused politely.
    api.length = 0;
    await page.reload();
    await w.bubble.click();
    await waitForState(page, 'unavailable');
    assert.equal(await w.note.textContent(), "This assistant isn't available here right now.");
    assert.equal((await transcript(page)).length, 2);
    await api.quiet();
    assert.equal(api.length, 1);

    // A visitor who never opened it before: the same.
    const fresh = await open(context, url);
    await fresh.page.evaluate(() => localStorage.clear());
    await fresh.page.reload();
    await fresh.w.bubble.click();
    await waitForState(fresh.page, 'unavailable');
    assert.equal(await fresh.w.note.textContent(), "This assistant isn't available here right now.");
    for (const e of [errors, fresh.errors]) {
      assert.deepEqual(e.page, [], 'no uncaught errors');
      assert.deepEqual(e.unexpected({ statuses: [401] }), []);
    }
  });
});

test('a message the server refuses (422): the text goes back into the text box, and the widget says why', async () => {
  const { url } = await setUp();
  await inContext(async context => {
    const { page, errors, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    const refused = page.waitForResponse(r => r.url().endsWith('/widget/chat'));
    await page.evaluate(() => window.Docent.send('Hello\u0007 there'));
    const r = await refused;
    assert.equal(r.status(), 422);
    assert.deepEqual((await r.json()).error.fields, { message: 'must not contain control characters' });
    await page.waitForFunction(() => document.querySelector('docent-widget').shadowRoot.querySelector('.note').textContent);
    assert.equal(await w.note.textContent(), 'Your message must not contain control characters.');
    assert.equal(await w.input.inputValue(), 'Hello\u0007 there');
    assert.equal(await w.root.getAttribute('data-state'), 'idle');
    assert.deepEqual(await transcript(page), [], 'the refused message is not in the conversation');
    assert.deepEqual(errors.unexpected({ statuses: [422] }), []);
  });
});

test('a deactivated bot: the polite unavailable message on the next open', async () => {
  const { bot, url } = await setUp();
  await inContext(async context => {
    const { page, errors, w } = await open(context, url);
    await docent.api('PUT', `/widget/bots/${bot.id}`, { is_active: false });
    const refused = page.waitForResponse(r => r.url().endsWith('/widget/session/start'));
    await w.bubble.click();
    const r = await refused;
    assert.equal(r.status(), 403);
    assert.equal((await r.json()).error.code, 'bot_inactive');
    await waitForState(page, 'unavailable');
    assert.equal(await w.note.textContent(), "This assistant isn't available here right now.");
    assert.deepEqual(errors.unexpected({ statuses: [403] }), []);
  });
});

test('two tabs: a conversation in one shows up in the other at once', async () => {
  const { url } = await setUp();
  await inContext(async context => {
    const a = await open(context, url);
    const b = await open(context, url);
    await b.w.bubble.click();
    await waitForState(b.page, 'idle');
    await a.w.bubble.click();
    await waitForState(a.page, 'idle');
    const shown = await ask(a.page, 'What is Docent?');
    await b.page.waitForFunction(() => document.querySelector('docent-widget').shadowRoot.querySelectorAll('.msg.assistant').length === 1);
    assert.deepEqual(await transcript(b.page), shown);
    // New conversation in B clears A.
    await b.w.host.locator('button.new').click();
    await a.page.waitForFunction(() => !document.querySelector('docent-widget').shadowRoot.querySelector('.msg.user'));
    assert.deepEqual(await transcript(a.page), []);
    for (const e of [a.errors, b.errors]) assert.deepEqual(e.unexpected(), []);
  });
});

test('429 from the server: the message waits and the widget says when it will try again (Retry-After is readable cross-origin)', async () => {
  // A server of its own, allowing one message per session and minute.
  const strict = await startDocent({ env: { DOCENT_WIDGET_MESSAGES_PER_SESSION_PER_MINUTE: '1' } });
  const context = await newContext(browser);
  try {
    const { token } = await makeBot(strict, { name: 'Strict bot', allowed_origins: [host.origin] });
    const { page, errors, w } = await open(context, host.page('/strict.html', embedPage({ docent: strict, token })));
    await w.bubble.click();
    await waitForState(page, 'idle');
    await ask(page, 'What is Docent?');
    const limited = page.waitForResponse(r => r.url().endsWith('/widget/chat'));
    await w.input.fill('And another thing?');
    await w.input.press('Enter');
    const r = await limited;
    assert.equal(r.status(), 429);
    const wait = +r.headers()['retry-after'];
    assert.ok(wait >= 1 && wait <= 60, `Retry-After: ${wait}`);
    await waitForState(page, 'waiting');
    assert.equal(await w.note.textContent(), `Lots of questions right now. Trying again in ${wait} second${wait > 1 ? 's' : ''}…`);
    assert.deepEqual((await transcript(page)).map(m => [m.role, m.pending]), [['user', false], ['assistant', false], ['user', true]]);
    assert.deepEqual(errors.unexpected({ statuses: [429] }), []);
  } finally {
    await context.close();
    await strict.stop();
  }
});

test('429 with Retry-After: 1: the widget tries again after a second, and the message is answered', async () => {
  const { url } = await setUp();
  await inContext(async context => {
    const { page, errors, api, w } = await open(context, url);
    await w.bubble.click();
    await waitForState(page, 'idle');
    // The first chat request is answered with the server's 429, shortened to one second.
    let answered = 0;
    await page.route('**/widget/chat', async route => {
      if (answered++) return route.continue();
      return route.fulfill({
        status: 429, contentType: 'application/json',
        headers: { 'Retry-After': '1', 'Access-Control-Allow-Origin': host.origin, 'Access-Control-Expose-Headers': 'retry-after' },
        body: JSON.stringify({ error: { code: 'rate_limited', message: 'Too many messages.' } }),
      });
    });
    await w.input.fill('Too fast?');
    await w.input.press('Enter');
    await waitForState(page, 'waiting');
    assert.equal(await w.note.textContent(), 'Lots of questions right now. Trying again in 1 second…');
    assert.deepEqual((await transcript(page)).map(m => [m.role, m.pending]), [['user', true]]);
    await w.assistant.first().waitFor({ timeout: 5000 });
    await waitForState(page, 'idle');
    assert.deepEqual(api.lines(), ['POST /widget/session/start', 'POST /widget/chat', 'POST /widget/chat']);
    assert.deepEqual((await transcript(page)).map(m => [m.role, m.pending]), [['user', false], ['assistant', false]]);
    assert.equal(await w.note.textContent(), '');
    assert.deepEqual(errors.unexpected({ statuses: [429] }), []);
  });
});
