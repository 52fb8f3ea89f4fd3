// Takes the console's screenshots for the documentation (not a test):
//   DOCENT_BIN=target/debug/docent node tests/browser/screenshots.mjs [out-dir]
// Starts a server with the sample data, adds a little more (a workspace with
// documents, a bot, a token, a few conversations), and saves PNGs of the main
// pages at 1280×800 into docs/ (or out-dir): console-workspace.png,
// console-bot-editor.png, console-embed.png, console-transcript.png,
// console-analytics.png.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { REPO, launchBrowser, newContext, signInConsole, startDocent, waitForDocuments } from './support.mjs';

const out = path.resolve(process.argv[2] || path.join(REPO, 'docs'));
await mkdir(out, { recursive: true });

const docent = await startDocent();
const browser = await launchBrowser();
try {
  const ws = await docent.api('POST', '/workspaces', { name: 'Acme help centre' });
  const docs = [
    ['Shipping and delivery', '# Shipping\n\nOrders leave our warehouse within two working days. Delivery in Europe takes three to five days.\n'],
    ['Returns and refunds', '# Returns\n\nYou can return any item within thirty days. Refunds reach your account five days after we receive it.\n'],
    ['Warranty', '# Warranty\n\nEvery Acme gadget has a two-year warranty covering defects in materials and workmanship.\n'],
    ['Account and passwords', '# Passwords\n\nReset your password from the sign-in page with “Forgot password”. The link is valid for one hour.\n'],
  ];
  for (const [title, text] of docs) await docent.api('POST', `/workspaces/${ws.id}/documents`, { title, text });
  await waitForDocuments(docent, ws.id, docs.length);
  const bot = await docent.api('POST', '/widget/bots', {
    workspace_id: ws.id, name: 'Acme assistant', welcome_message: 'Hi! Ask me about orders, returns and your account.',
    primary_color: '#0f766e', allowed_origins: ['https://acme.example'],
  });
  const { token } = await docent.api('POST', '/widget/generate', { bot_id: bot.id, expires_in_days: 365 });
  const call = async (p, body) => (await fetch(docent.url + p, {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  })).json();
  const questions = [
    ['How long does delivery take?', 'Can I return an item after two weeks?'],
    ['How do I reset my password?'],
    ['Is there a warranty on gadgets?', 'Do you have a shop in Lisbon?'],
    ['When will my refund arrive?'],
    ['Do you ship to Canada?'],
  ];
  let lastSession;
  for (const qs of questions) {
    const { session_id } = await call('/widget/session/start', {});
    for (const message of qs) await call('/widget/chat', { session_id, message });
    lastSession ??= session_id;
  }

  const context = await newContext(browser, { viewport: { width: 1280, height: 800 }, colorScheme: 'light', deviceScaleFactor: 1 });
  const page = await context.newPage();
  await signInConsole(page, docent);
  const shot = async (route, name, ready) => {
    await page.goto(`${docent.url}/admin/${route}`);
    await page.locator('#view .page h1').waitFor();
    if (ready) await ready();
    await page.screenshot({ path: path.join(out, `console-${name}.png`) });
    console.log(`wrote ${path.join(out, `console-${name}.png`)}`);
  };
  await shot(`#/workspaces/${ws.id}`, 'workspace');
  await shot(`#/bots/${bot.id}`, 'bot-editor', () =>
    page.frameLocator('iframe.preview-frame').locator('docent-widget .msg.welcome').waitFor());
  await shot(`#/bots/${bot.id}/embed`, 'embed', async () => {
    await page.getByRole('button', { name: 'Generate token' }).click();
    await page.locator('pre.embed-code').waitFor();
  });
  await shot(`#/conversations/${bot.id}/${lastSession}`, 'transcript');
  await shot(`#/analytics?bot=${bot.id}&interval=hour`, 'analytics');
  await context.close();
} finally {
  await browser.close();
  await docent.stop();
}
