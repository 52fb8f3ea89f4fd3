// Every page of the admin console under axe-core (light, dark, and a phone),
// and XSS payloads in every field a user controls (workspace, document, bot,
// welcome and fallback messages, visitor id and messages) shown as text.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  formatViolations, launchBrowser, newContext, runAxe, signInConsole, startDocent, until, waitForDocuments, watchErrors,
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

/** A visitor's session through the API: `messages` asked in turn; resolves to the session id. */
async function converse(token, messages, visitorId) {
  const call = async (p, body) => {
    const r = await fetch(docent.url + p, {
      method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.ok, `${p}: ${r.status} ${text}`);
    return JSON.parse(text);
  };
  const { session_id } = await call('/widget/session/start', visitorId ? { visitor_id: visitorId } : {});
  for (const message of messages) await call('/widget/chat', { session_id, message });
  return session_id;
}

/** A workspace with a ready document, a bot with a token and a conversation; the routes of every page. */
async function seed({ workspace, title, text, bot: botFields, messages, visitorId }) {
  const ws = await docent.api('POST', '/workspaces', { name: workspace });
  await docent.api('POST', `/workspaces/${ws.id}/documents`, { title, text });
  await waitForDocuments(docent, ws.id, 1);
  const bot = await docent.api('POST', '/widget/bots', { workspace_id: ws.id, allowed_origins: ['https://example.com'], ...botFields });
  const { token } = await docent.api('POST', '/widget/generate', { bot_id: bot.id, expires_in_days: 90 });
  const sid = await converse(token, messages, visitorId);
  return {
    ws, bot, sid,
    routes: {
      workspaces: '#/workspaces',
      workspace: `#/workspaces/${ws.id}`,
      bots: '#/bots',
      'new bot': '#/bots/new',
      'bot editor': `#/bots/${bot.id}`,
      embed: `#/bots/${bot.id}/embed`,
      'conversations (any bot)': '#/conversations',
      conversations: `#/conversations/${bot.id}`,
      transcript: `#/conversations/${bot.id}/${sid}`,
      analytics: '#/analytics',
      'bot analytics': `#/analytics?bot=${bot.id}`,
    },
  };
}

/** Goes to a route in the signed-in page and waits until it has rendered (and the preview, if any, has its widget). */
async function visit(page, route) {
  await page.goto(`${docent.url}/admin/${route}`);
  await page.locator('#view .page h1').waitFor();
  if (await page.locator('iframe.preview-frame').count()) {
    await page.frameLocator('iframe.preview-frame').locator('docent-widget .msg.welcome').waitFor({ state: 'attached' });
  }
}

let handbook;
async function theHandbook() {
  handbook ??= seed({
    workspace: 'Handbook',
    title: 'Returns',
    text: '# Returns\n\nItems can be returned within thirty days with the receipt.\n',
    bot: { name: 'Helper', welcome_message: 'Hello!' },
    messages: ['Can items be returned?', 'Do you ship to Mars?'],
  });
  return handbook; // one seed (a promise) for every mode
}

for (const mode of [
  { name: 'light', options: {} },
  { name: 'dark', options: { colorScheme: 'dark' } },
  { name: 'phone', options: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } },
]) {
  test(`axe finds nothing on any page (${mode.name})`, async () => {
    const { routes } = await theHandbook();
    const context = await newContext(browser, { colorScheme: 'light', ...mode.options });
    const page = await context.newPage();
    const errors = watchErrors(page);
    try {
      const problems = [];
      const check = async what => {
        const { violations } = await runAxe(page);
        if (violations.length) problems.push(`${what}:\n${formatViolations(violations)}`);
      };
      await page.goto(`${docent.url}/admin/`);
      await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
      await check('sign-in');
      await signInConsole(page, docent);
      for (const [what, route] of Object.entries(routes)) {
        await visit(page, route);
        await check(what);
      }
      // A dialog, a freshly generated token, and (on a phone) the open menu.
      await visit(page, routes.embed);
      await page.getByRole('button', { name: 'Generate token' }).click();
      await page.locator('pre.embed-code').waitFor();
      await check('embed with a new token');
      await page.getByRole('button', { name: 'Revoke all' }).click();
      await page.getByRole('dialog').waitFor();
      await check('revoke dialog');
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      if (mode.name === 'phone') {
        await page.getByRole('button', { name: 'Menu' }).click();
        await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Bots' }).waitFor();
        await check('open menu');
      }
      assert.equal(problems.length, 0, problems.join('\n\n'));
      assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
    } finally {
      await context.close();
    }
  });
}

test('XSS payloads in every user-controlled field render as text', async () => {
  const P = '<img src=x onerror=alert(1)>"><script>alert(2)</script>';
  const Q = '<iframe srcdoc=zqxj></iframe> wvbn?';
  const { routes, bot } = await seed({
    workspace: P,
    title: P,
    text: `# Refunds\n\nRefunds take five days. ${P}\n`,
    bot: { name: P, welcome_message: P, fallback_message: P, system_prompt: P },
    messages: [`Refunds ${P}`, Q],
    visitorId: P,
  });
  const context = await newContext(browser);
  const page = await context.newPage();
  const errors = watchErrors(page);
  const dialogs = [];
  page.on('dialog', d => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const injected = () => page.evaluate(() => {
    const bad = 'img[src="x"], iframe[srcdoc], script:not([src]), [onerror], [onload]';
    const frames = [...document.querySelectorAll('iframe.preview-frame')].map(f => f.contentDocument);
    return [document, ...frames].reduce((n, d) => n + d.querySelectorAll(bad).length +
      [...d.querySelectorAll('docent-widget')].reduce((m, w) => m + w.shadowRoot.querySelectorAll(bad).length, 0), 0);
  });
  const shows = async (locator, text, what) => {
    await until(`${what} shows the payload`, async () => (await locator.first().textContent()) === text);
    assert.equal(await locator.first().isVisible(), true, `${what} is visible`);
  };
  try {
    await signInConsole(page, docent);
    await visit(page, routes.workspaces);
    await shows(page.getByRole('link', { name: P, exact: true }), P, 'the workspace list');

    await visit(page, routes.workspace);
    await shows(page.locator('h1'), P, 'the workspace heading');
    await shows(page.locator('tr[data-document-id] th'), P, 'the document title');
    await page.getByLabel('Search this workspace').fill('refunds');
    await page.getByRole('button', { name: 'Search' }).click();
    await shows(page.locator('.passage strong'), P, 'a search result title');
    assert.ok((await page.locator('.passage-text').first().textContent()).includes(P));

    await visit(page, routes.bots);
    await shows(page.locator('.bot-card h2').filter({ hasText: 'onerror' }), P, 'the bot list');

    await visit(page, routes['bot editor']);
    await shows(page.locator('h1'), P, 'the bot heading');
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), P);
    assert.equal(await page.getByLabel('Fallback message').inputValue(), P);
    const preview = page.frameLocator('iframe.preview-frame');
    await shows(preview.locator('#docent-title'), P, 'the preview title');
    await shows(preview.locator('.msg.welcome .body'), P, 'the preview welcome');

    await visit(page, routes.embed);
    await shows(page.locator('h1'), `Embed ${P}`, 'the embed heading');

    await visit(page, routes.conversations);
    await shows(page.locator('tr[data-session-id] td').filter({ hasText: 'onerror' }), P, 'the visitor id');
    await shows(page.locator('.unanswered .question'), Q, 'the unanswered question');

    await visit(page, routes.transcript);
    await shows(page.locator('.turn-user .turn-body'), `Refunds ${P}`, 'the visitor message');
    await shows(page.locator('.turn-assistant .turn-sources li :is(a, span)').first(), P, 'the source title');
    await shows(page.locator('.turn-assistant .turn-body').nth(1), P, 'the fallback answer');

    await visit(page, `#/analytics?bot=${bot.id}`);
    await shows(page.locator('h1'), `Analytics of ${P}`, 'the analytics heading');
    assert.equal(await page.locator(`select option[value="${bot.id}"]`).textContent(), P);

    assert.equal(await injected(), 0, 'no element came from a payload');
    assert.deepEqual(dialogs, [], 'no script ran');
    assert.deepEqual(errors.unexpected({ statuses: [401] }), [], 'nothing blocked by the CSP either');
  } finally {
    await context.close();
  }
});
