// The admin console (assets/admin/) in real Chromium against a real server:
// the whole journey of an owner (sign in → workspace → upload → bot → preview
// → token → a widget on another site answers → the conversation and the chart
// in the console → revoke → the widget stops), signing in and out, a console
// whose access token expires, the API's validation messages, and tokens.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  ADMIN_PASSWORD, ask, launchBrowser, newContext, openRoute, signInConsole, startDocent, startHost, until,
  waitForState, watchApi, watchErrors, widget,
} from './support.mjs';

let docent, browser, host, tmp;
before(async () => {
  docent = await startDocent();
  host = await startHost();
  browser = await launchBrowser();
  tmp = await mkdtemp(path.join(tmpdir(), 'docent-console-'));
});
after(async () => {
  await browser?.close();
  await host?.stop();
  await docent?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function consolePage(options, server = docent) {
  const context = await newContext(browser, options);
  const page = await context.newPage();
  return { context, page, errors: watchErrors(page), api: watchApi(page, server.url) };
}

const nav = (page, name) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name });
const h1 = (page, name) => page.getByRole('heading', { level: 1, name, exact: true });

test('sign-in: a wrong password is refused; the session survives a reload, keeps its tokens out of reach, and ends with sign-out', async () => {
  const { context, page, errors, api } = await consolePage();
  try {
    await page.goto(`${docent.url}/admin/#/bots`);
    await h1(page, 'Sign in to the console').waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false, 'no navigation before signing in');

    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
    assert.equal(await page.getByLabel('Password').evaluate(el => el === document.activeElement), true, 'focus back on the password');

    // The keyboard alone: type the password, press Enter.
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByLabel('Password').press('Enter');
    await h1(page, 'Bots').waitFor(); // the page asked for before signing in
    await until('the user name', async () => (await page.locator('#who').textContent()) === 'admin');

    // The access token is in no URL, no storage; the refresh token is an HttpOnly cookie.
    const cookies = await context.cookies(docent.url + '/auth/console');
    const refresh = cookies.find(c => c.name === 'docent_refresh');
    assert.ok(refresh, 'a refresh cookie');
    assert.equal(refresh.httpOnly, true);
    assert.equal(refresh.sameSite, 'Strict');
    assert.equal(refresh.path, '/auth/console');
    const exposed = await page.evaluate(() => ({
      cookie: document.cookie, local: JSON.stringify({ ...localStorage }), session: JSON.stringify({ ...sessionStorage }), url: location.href,
    }));
    assert.ok(!exposed.cookie.includes('docent_refresh'), 'script cannot read the refresh cookie');
    assert.ok(!exposed.cookie.includes(refresh.value) && !exposed.local.includes(refresh.value) && !exposed.session.includes(refresh.value));
    assert.ok(!/eyJ|token/i.test(exposed.url) && !/eyJ/.test(exposed.local + exposed.session), 'no token in the URL or in storage');
    for (const r of api) assert.ok(!/eyJ/.test(r.request.url()), `no token in ${r.request.url()}`);

    // A reload resumes the login through the cookie.
    const before = api.length;
    await page.reload();
    await h1(page, 'Bots').waitFor();
    assert.ok(api.slice(before).some(r => r.path === '/auth/console/refresh'), 'the reload refreshed');
    assert.equal(await page.getByLabel('Password').count(), 0);

    // Sign out: the sign-in page, and a reload stays there.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await h1(page, 'Sign in to the console').waitFor();
    assert.ok(api.some(r => r.path === '/auth/console/logout'));
    await page.reload();
    await h1(page, 'Sign in to the console').waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false);
    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
  } finally {
    await context.close();
  }
});

test('an expired access token is renewed silently; a login that ended shows the sign-in page', async () => {
  const { context, page, errors, api } = await consolePage();
  try {
    await signInConsole(page, docent);
    // Spoil the token of the next GET /workspaces, as if it had expired.
    let spoil = 1;
    await page.route(u => u.pathname === '/workspaces', (route, request) => {
      if (spoil && request.method() === 'GET') {
        spoil--;
        return route.continue({ headers: { ...request.headers(), authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.expired' } });
      }
      return route.continue();
    });
    const before = api.length;
    await nav(page, 'Bots').click();
    await h1(page, 'Bots').waitFor();
    await nav(page, 'Workspaces').click();
    await h1(page, 'Workspaces').waitFor();
    const after = api.slice(before).map(r => `${r.method} ${r.path}`);
    assert.equal(spoil, 0, 'the spoiled request was made');
    const i = after.indexOf('POST /auth/console/refresh');
    assert.ok(i >= 0, `refreshed: ${after.join(', ')}`);
    assert.ok(after.slice(i).includes('GET /workspaces'), 'and asked again');
    assert.equal(await page.getByLabel('Password').count(), 0, 'still signed in');

    // The next action works with the new token.
    await page.getByLabel('New workspace name').fill('After renewal');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await h1(page, 'After renewal').waitFor();

    // The login ends (the cookie is gone): the next 401 leads to the sign-in page.
    await context.clearCookies();
    spoil = 1;
    await nav(page, 'Workspaces').click();
    await h1(page, 'Sign in to the console').waitFor();
    await page.getByText('You are signed out.').waitFor();
    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
  } finally {
    await context.close();
  }
});

test('validation messages from the API show under their fields', async () => {
  const { context, page, errors } = await consolePage();
  try {
    await signInConsole(page, docent);
    // An empty workspace name.
    await page.getByRole('button', { name: 'Create workspace' }).click();
    const wsName = page.getByLabel('New workspace name');
    await until('the name flagged', async () => (await wsName.getAttribute('aria-invalid')) === 'true');
    const wsError = page.locator('.field[data-field="name"] .field-error');
    assert.match(await wsError.textContent(), /^Name must not be empty/i);
    assert.equal(await wsName.evaluate(el => el === document.activeElement), true, 'focus on the bad field');

    // A bot with no name, a bad colour and a bad site.
    await page.goto(`${docent.url}/admin/#/bots/new`);
    await h1(page, 'New bot').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('');
    await page.getByLabel('Colour', { exact: true }).fill('blue');
    await page.getByLabel('Allowed sites').fill('ftp://example.com');
    await page.getByLabel('Temperature').fill('7');
    await page.getByRole('button', { name: 'Create bot' }).click();
    const err = name => page.locator(`.field[data-field="${name}"] .field-error`);
    await err('primary_color').waitFor();
    for (const name of ['name', 'primary_color', 'allowed_origins', 'temperature']) {
      assert.equal(await err(name).isVisible(), true, `${name} has a message`);
      assert.equal(await page.locator(`.field[data-field="${name}"] :is(input, textarea)`).getAttribute('aria-invalid'), 'true');
    }
    assert.match(await err('primary_color').textContent(), /^Colour /);
    assert.match(await err('allowed_origins').textContent(), /^Allowed sites /);
    // The message is tied to its control for assistive technology.
    const described = await page.getByLabel('Colour', { exact: true }).getAttribute('aria-describedby');
    assert.ok(described.split(' ').includes(await err('primary_color').getAttribute('id')));
    // Fixed, the form goes through.
    await page.getByLabel('Name', { exact: true }).fill('Valid bot');
    await page.getByLabel('Colour', { exact: true }).fill('#123456');
    await page.getByLabel('Allowed sites').fill('https://example.com');
    await page.getByLabel('Temperature').fill('0.5');
    await page.getByRole('button', { name: 'Create bot' }).click();
    await h1(page, 'Valid bot').waitFor();
    const botId = Number(/#\/bots\/(\d+)$/.exec(page.url())[1]);

    // Deactivate and activate again, from the editor's header.
    await page.getByRole('button', { name: 'Deactivate' }).click();
    await page.locator('.state-slot .badge-inactive').waitFor();
    assert.equal((await docent.api('GET', `/widget/bots/${botId}`)).is_active, false);
    await page.getByRole('button', { name: 'Activate' }).click();
    await page.locator('.state-slot .badge-active').waitFor();
    assert.equal((await docent.api('GET', `/widget/bots/${botId}`)).is_active, true);
    assert.deepEqual(errors.unexpected({ statuses: [401, 422] }), []);
  } finally {
    await context.close();
  }
});

test('embed: a custom expiry, the token shown once with copy buttons, the expiring-soon warning, revoke all', async () => {
  const { context, page, errors } = await consolePage();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: docent.url });
  try {
    const bot = await docent.api('POST', '/widget/bots', { name: 'Embed bot', workspace_id: docent.workspaceId, allowed_origins: [host.origin] });
    await signInConsole(page, docent, `#/bots/${bot.id}/embed`);
    await h1(page, 'Embed Embed bot').waitFor();
    await page.getByText('No tokens yet.').waitFor();

    await page.getByText('Custom', { exact: true }).click();
    await page.getByLabel('Number of days').fill('3');
    await page.getByRole('button', { name: 'Generate token' }).click();
    const code = page.locator('pre.embed-code');
    await code.waitFor();
    const embed = await code.textContent();
    assert.match(embed, /^<script src="http:\/\/127\.0\.0\.1:\d+\/static\/widget\.js" data-token="eyJ[^"]+"/);
    await page.getByRole('button', { name: 'Copy embed code' }).click();
    await page.getByRole('button', { name: 'Copied', exact: true }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), embed);
    const token = (await page.locator('pre.token').textContent()).trim();
    assert.ok(embed.includes(token));
    const rows = page.locator('tr[data-token-id]');
    await until('one token row', async () => (await rows.count()) === 1);
    assert.equal(await rows.first().getAttribute('data-state'), 'active');
    assert.equal(await rows.getByText('expires soon').count(), 0, 'not used yet: no warning');

    // Shown once: "Done" forgets it, and a reload does not bring it back.
    await page.getByRole('button', { name: 'Done, I copied it' }).click();
    assert.equal(await code.count(), 0);

    // Used now and expiring in 3 days: a warning.
    const r = await fetch(`${docent.url}/widget/session/start`, {
      method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.equal(r.status, 201);
    await until('last_used_at recorded', async () =>
      (await docent.api('GET', `/widget/tokens?bot_id=${bot.id}`))[0].last_used_at);
    await page.reload();
    await h1(page, 'Embed Embed bot').waitFor();
    assert.equal(await page.locator('pre.token').count(), 0, 'the token is not shown again');
    await rows.first().getByText('expires soon').waitFor();
    await page.getByText('A token in use expires soon.').waitFor();

    // A second token (one year), then revoke all, confirmed in a dialog.
    await page.getByText('1 year', { exact: true }).click();
    await page.getByRole('button', { name: 'Generate token' }).click();
    await until('two rows', async () => (await rows.count()) === 2);
    await page.getByRole('button', { name: 'Revoke all' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke every token?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await docent.api('GET', `/widget/tokens?bot_id=${bot.id}`)).filter(t => t.revoked).length, 0, 'cancel revokes nothing');
    await page.getByRole('button', { name: 'Revoke all' }).click();
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await until('both revoked', async () =>
      (await rows.evaluateAll(trs => trs.map(tr => tr.dataset.state))).every(s => s === 'revoked'));
    assert.equal((await docent.api('GET', `/widget/tokens?bot_id=${bot.id}`)).filter(t => t.revoked).length, 2);
    assert.equal(await page.getByText('A token in use expires soon.').count(), 0, 'no warning for revoked tokens');
    assert.equal(await page.getByRole('button', { name: 'Revoke all' }).isDisabled(), true);
    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
  } finally {
    await context.close();
  }
});

/** The owner's whole journey, on `server`. */
async function journey(server) {
  const { context, page, errors } = await consolePage(undefined, server);
  const visitor = await newContext(browser);
  const site = await visitor.newPage();
  const siteErrors = watchErrors(site);
  try {
    await signInConsole(page, server);

    // A workspace.
    await page.getByLabel('New workspace name').fill('Gizmo manuals');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await h1(page, 'Gizmo manuals').waitFor();
    const workspaceId = Number(/#\/workspaces\/(\d+)$/.exec(page.url())[1]);

    // A real file through the file input, and one dropped on the drop zone.
    const file = path.join(tmp, 'zephyr-gizmo.md');
    await writeFile(file, '# Zephyr gizmo\n\nThe Zephyr gizmo needs the blue braided cable to reach its charging dock.\n\n' +
      '## Cleaning\n\nWipe the Zephyr gizmo with a dry cloth once a month.\n');
    await page.getByLabel('Or choose files').setInputFiles(file);
    const dropped = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['%PDF-1.4 this is not really a PDF'], 'broken.pdf', { type: 'application/pdf' }));
      return dt;
    });
    await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: dropped });
    const upload = name => page.locator(`.upload[data-name="${name}"]`);
    await until('both uploads done', async () =>
      (await upload('zephyr-gizmo.md').getAttribute('data-state')) === 'done' && (await upload('broken.pdf').getAttribute('data-state')) === 'done');
    assert.equal(await upload('zephyr-gizmo.md').locator('progress').evaluate(p => p.value), 100);

    // The list follows processing by itself: ready with chunks, or failed with the error.
    const row = title => page.locator('tr[data-document-id]').filter({ hasText: title });
    await until('the Markdown file ready', async () => (await row('zephyr-gizmo.md').getAttribute('data-status')) === 'ready', { timeout: 30000 });
    assert.ok(Number(await row('zephyr-gizmo.md').locator('td.num').first().textContent()) >= 1, 'it has chunks');
    await until('the broken PDF failed', async () => (await row('broken.pdf').getAttribute('data-status')) === 'failed', { timeout: 30000 });
    assert.ok((await row('broken.pdf').locator('.doc-error').textContent()).length > 0, 'with its error');
    const doc = (await server.api('GET', `/workspaces/${workspaceId}/documents`)).find(d => d.status === 'ready');

    // Retrieval, tried from the console.
    await page.getByLabel('Search this workspace').fill('charging cable');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('.passage').first().waitFor();
    assert.match(await page.locator('.passage').first().textContent(), /blue braided cable/);
    assert.match(await page.locator('.passage .score').first().textContent(), /^score \d/);

    // A bot, allowed on the test site.
    await nav(page, 'Bots').click();
    await h1(page, 'Bots').waitFor();
    await page.getByRole('link', { name: 'New bot' }).click();
    await h1(page, 'New bot').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Gizmo helper');
    await page.getByLabel('Workspace').selectOption({ label: 'Gizmo manuals' });
    await page.getByLabel('Allowed sites').fill(host.origin);
    await page.getByLabel('Welcome message').fill('Ask me about gizmos.');
    await page.getByRole('button', { name: 'Create bot' }).click();
    await h1(page, 'Gizmo helper').waitFor();
    const botId = Number(/#\/bots\/(\d+)$/.exec(page.url())[1]);

    // The live preview is the real widget and follows the form.
    const preview = page.frameLocator('iframe[title="Widget preview"]');
    const previewRoot = preview.locator('docent-widget .root');
    await preview.locator('docent-widget .msg.welcome').filter({ hasText: 'Ask me about gizmos.' }).waitFor();
    assert.equal(await preview.locator('#docent-title').textContent(), 'Gizmo helper');
    await page.getByLabel('Colour', { exact: true }).fill('#0f766e');
    await until('the preview in teal', async () => (await previewRoot.evaluate(r => r.style.getPropertyValue('--p'))) === '#0f766e');
    await page.getByLabel('Position').selectOption('top-left');
    await until('the preview top left', async () => (await previewRoot.getAttribute('data-position')) === 'top-left');
    await page.getByLabel('Theme').selectOption('dark');
    await until('the preview dark', async () => (await previewRoot.getAttribute('data-theme')) === 'dark');
    await page.getByLabel('Welcome message').fill('Hello! Ask me about the Zephyr.');
    await preview.locator('docent-widget .msg.welcome').filter({ hasText: 'Hello! Ask me about the Zephyr.' }).waitFor();
    await page.getByLabel('Theme').selectOption('light');
    await page.getByLabel('Position').selectOption('bottom-right');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await until('saved', async () => (await server.api('GET', `/widget/bots/${botId}`)).primary_color === '#0f766e');
    const saved = await server.api('GET', `/widget/bots/${botId}`);
    assert.equal(saved.welcome_message, 'Hello! Ask me about the Zephyr.');
    assert.deepEqual(saved.allowed_origins, [host.origin]);

    // A token; its embed code on a page of another origin.
    await page.getByRole('navigation', { name: 'Bot pages' }).getByRole('link', { name: 'Embed' }).click();
    await h1(page, 'Embed Gizmo helper').waitFor();
    await page.getByText('30 days', { exact: true }).click();
    await page.getByRole('button', { name: 'Generate token' }).click();
    const embed = await page.locator('pre.embed-code').textContent();
    const siteUrl = host.page('/gizmo.html', `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gizmo shop</title></head>
<body><main><h1>Gizmo shop</h1></main>
${embed}
</body></html>`);
    await site.goto(siteUrl);
    const w = widget(site);
    await w.bubble.click();
    const said = await ask(site, 'Which cable does the Zephyr gizmo need?');
    const answer = said.find(m => m.role === 'assistant');
    assert.match(answer.text, /blue braided cable/);
    assert.ok(answer.sources.some(s => s.text.includes(doc.title)), `sources: ${JSON.stringify(answer.sources)}`);

    // The conversation in the console, with its sources.
    await page.getByRole('navigation', { name: 'Bot pages' }).getByRole('link', { name: 'Conversations' }).click();
    await h1(page, 'Conversations of Gizmo helper').waitFor();
    const sessions = page.locator('tr[data-session-id]');
    await until('one session', async () => (await sessions.count()) === 1);
    await sessions.first().getByRole('link').click();
    await page.locator('.transcript').waitFor();
    const turns = page.locator('.turn');
    assert.equal(await turns.count(), 2);
    assert.equal(await turns.nth(0).locator('.turn-body').textContent(), 'Which cable does the Zephyr gizmo need?');
    assert.match(await turns.nth(1).locator('.turn-body').textContent(), /blue braided cable/);
    assert.match(await turns.nth(1).locator('.turn-sources').textContent(), new RegExp(doc.title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

    // The chart shows the message.
    await page.goto(`${server.url}/admin/#/analytics?bot=${botId}`);
    await h1(page, 'Analytics of Gizmo helper').waitFor();
    const messages = page.locator('figure.chart').filter({ hasText: 'Visitor messages per day' });
    assert.equal(await messages.getAttribute('data-total'), '1');
    assert.equal(await messages.locator('rect.bar').count(), 1, 'one bar');
    assert.match(await messages.locator('rect.bar title').textContent(), /: 1$/);
    assert.match(await messages.getByRole('img').getAttribute('aria-labelledby'), /^c-/);
    assert.equal(await page.locator('.tile[data-metric="messages"] dd').textContent(), '1');
    // The overall view counts it too.
    await page.getByLabel('Bot', { exact: true }).selectOption('');
    await h1(page, 'Analytics').waitFor();
    assert.ok(Number(await page.locator('figure.chart').filter({ hasText: 'Visitor messages per day' }).getAttribute('data-total')) >= 1);

    // Revoke the token: the site's widget says it is unavailable.
    await page.goto(`${server.url}/admin/#/bots/${botId}/embed`);
    await h1(page, 'Embed Gizmo helper').waitFor();
    const tokenRow = page.locator('tr[data-token-id]').first();
    await tokenRow.getByRole('button', { name: /^Revoke token #/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await until('revoked', async () => (await tokenRow.getAttribute('data-state')) === 'revoked');
    await w.input.fill('And how do I clean it?');
    await w.input.press('Enter');
    await waitForState(site, 'unavailable');
    assert.equal(await w.note.textContent(), "This assistant isn't available here right now.");

    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
    assert.deepEqual(siteErrors.unexpected({ statuses: [401] }), []);
  } finally {
    await visitor.close();
    await context.close();
  }
}

test('the journey: workspace, upload, bot, preview, token, a widget that answers, its conversation and chart, revoke', () =>
  journey(docent));

test('the same journey on PostgreSQL', async () => {
  const server = await startDocent({ postgres: true });
  try {
    assert.match(server.log(), /listening on \S+ \(bound to \S+\), on PostgreSQL/);
    await journey(server);
  } finally {
    await server.stop();
  }
});

test('conversations: filters by date and by unanswered questions; the unanswered questions grouped', async () => {
  const { context, page, errors } = await consolePage();
  try {
    const bot = await docent.api('POST', '/widget/bots', { name: 'Filter bot', workspace_id: docent.workspaceId });
    const { token } = await docent.api('POST', '/widget/generate', { bot_id: bot.id });
    const visit = async questions => {
      const call = async (p, body) => (await fetch(docent.url + p, {
        method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      })).json();
      const { session_id } = await call('/widget/session/start', {});
      for (const message of questions) await call('/widget/chat', { session_id, message });
      return session_id;
    };
    const answered = await visit(['What is Docent?']);
    const unanswered = await visit(['Qwertzuiop flurbs?', ' qwertzuiop FLURBS? ']);

    await signInConsole(page, docent, `#/conversations/${bot.id}`);
    await h1(page, 'Conversations of Filter bot').waitFor();
    const ids = () => page.locator('tr[data-session-id]').evaluateAll(trs => trs.map(t => t.dataset.sessionId).sort());
    assert.deepEqual(await ids(), [answered, unanswered].sort());
    // Grouped: the same question twice counts as one with ×2.
    const group = page.locator('.unanswered li').filter({ hasText: /qwertzuiop flurbs/i });
    assert.equal(await group.count(), 1);
    assert.equal(await group.locator('.count').textContent(), '×2');

    await page.getByLabel('Only with unanswered questions').check();
    await page.getByRole('button', { name: 'Apply' }).click();
    await until('only the unanswered session', async () => JSON.stringify(await ids()) === JSON.stringify([unanswered]));
    assert.match(page.url(), /unanswered=1/);
    assert.equal(await page.locator(`tr[data-session-id="${unanswered}"] .badge-warning`).textContent(), '2');

    // A date range in the past has none (and the filter is in the URL: reload keeps it).
    await page.getByLabel('From').fill('2020-01-01');
    await page.getByLabel('To').fill('2020-01-31');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('No sessions match these filters.').waitFor();
    await page.reload();
    await page.getByText('No sessions match these filters.').waitFor();
    assert.equal(await page.getByLabel('From').inputValue(), '2020-01-01');
    await page.getByRole('link', { name: 'Clear' }).click();
    await until('both again', async () => (await ids()).length === 2);
    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
  } finally {
    await context.close();
  }
});

test('workspaces: rename and delete in dialogs; phone layout with the menu', async () => {
  const { context, page, errors } = await consolePage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    const ws = await docent.api('POST', '/workspaces', { name: 'Short-lived' });
    await signInConsole(page, docent, `#/workspaces/${ws.id}`);
    await h1(page, 'Short-lived').waitFor();
    // Phone: the navigation hides behind "Menu".
    assert.equal(await page.getByRole('link', { name: 'Analytics' }).isVisible(), false);
    await page.getByRole('button', { name: 'Menu' }).click();
    assert.equal(await page.getByRole('button', { name: 'Menu' }).getAttribute('aria-expanded'), 'true');
    await page.getByRole('link', { name: 'Analytics' }).waitFor();
    await page.keyboard.press('Escape');
    assert.equal(await page.getByRole('link', { name: 'Analytics' }).isVisible(), false);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow} px too wide)`);

    await page.getByRole('button', { name: 'Rename' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rename workspace' });
    await dialog.getByLabel('Name').fill('');
    await dialog.getByRole('button', { name: 'Rename' }).click();
    await dialog.locator('.field-error').filter({ hasText: /must not be empty/ }).waitFor();
    await dialog.getByLabel('Name').fill('Renamed space');
    await dialog.getByRole('button', { name: 'Rename' }).click();
    await h1(page, 'Renamed space').waitFor();
    assert.equal((await docent.api('GET', `/workspaces/${ws.id}`)).name, 'Renamed space');

    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete workspace' }).click();
    await h1(page, 'Workspaces').waitFor();
    await assert.rejects(docent.api('GET', `/workspaces/${ws.id}`), /404/);
    assert.deepEqual(errors.unexpected({ statuses: [401, 422] }), []);
  } finally {
    await context.close();
  }
});

/**
 * Presses Tab until the focused element matches the CSS `selector` and, when
 * given, has the text `text` (at most `max` presses); returns the presses.
 */
async function tabTo(page, selector, { text, max = 40 } = {}) {
  for (let n = 1; n <= max; n++) {
    await page.keyboard.press('Tab');
    const here = await page.evaluate(([s, t]) => {
      const e = document.activeElement;
      return !!e && e.matches(s) && (t == null || e.textContent.trim() === t);
    }, [selector, text ?? null]);
    if (here) return n;
  }
  throw new Error(`${selector} ${text ?? ''} was not reached with ${max} presses of Tab`);
}

test('the keyboard alone: skip link, navigation, a form, a dialog, with focus where it should be', async () => {
  const { context, page, errors } = await consolePage();
  try {
    await signInConsole(page, docent);
    await h1(page, 'Workspaces').waitFor();
    // After a load, the first Tab reaches the skip link; it takes focus to the page.
    await page.reload();
    await h1(page, 'Workspaces').waitFor();
    assert.equal(await tabTo(page, '#skip', { max: 1 }), 1);
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.closest('#main') !== null), true);

    // The navigation by keyboard: focus goes to the new page's heading.
    await tabTo(page, 'nav a[data-section="bots"]');
    await page.keyboard.press('Enter');
    await h1(page, 'Bots').waitFor();
    await until('the heading focused', () => page.evaluate(() => document.activeElement?.localName === 'h1'));
    await tabTo(page, 'nav a[data-section="workspaces"]');
    await page.keyboard.press('Enter');
    await h1(page, 'Workspaces').waitFor();

    // A workspace made with the keyboard: its name typed, Enter submits.
    await tabTo(page, `#${await page.getByLabel('New workspace name').getAttribute('id')}`);
    await page.keyboard.type('Typed space');
    await page.keyboard.press('Enter');
    await h1(page, 'Typed space').waitFor();

    // Rename in a dialog: focus is in it, Escape leaves it unchanged, Enter renames.
    await tabTo(page, 'button', { text: 'Rename' });
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Rename workspace' });
    await dialog.waitFor();
    assert.equal(await dialog.evaluate(d => d.contains(document.activeElement)), true, 'focus is in the dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.keyboard.press('Enter'); // focus went back to "Rename"
    await dialog.waitFor();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('Typed and renamed');
    await page.keyboard.press('Enter');
    await h1(page, 'Typed and renamed').waitFor();
    assert.deepEqual(errors.unexpected({ statuses: [401] }), []);
  } finally {
    await context.close();
  }
});

test('every console file comes with the CSP, an ETag and compression', async () => {
  for (const name of ['', 'preview.html', 'console.js', 'console.css', 'api.js']) {
    const r = await fetch(`${docent.url}/admin/${name}`, { headers: { 'Accept-Encoding': 'br, gzip' } });
    assert.equal(r.status, 200, name);
    assert.match(r.headers.get('content-security-policy'), /script-src 'self'; style-src 'self'/);
    assert.match(r.headers.get('content-security-policy'), /form-action 'none'/);
    assert.ok(r.headers.get('etag'), `${name} has an ETag`);
    assert.equal(r.headers.get('content-encoding'), 'br');
    const again = await fetch(`${docent.url}/admin/${name}`, { headers: { 'Accept-Encoding': 'br, gzip', 'If-None-Match': r.headers.get('etag') } });
    assert.equal(again.status, 304);
  }
  const index = await (await fetch(`${docent.url}/admin/`)).text();
  assert.doesNotMatch(index, /<script>|<script(?![^>]*\ssrc=)[^>]*>|\sstyle=|\son[a-z]+=/i, 'nothing inline in index.html');
});
