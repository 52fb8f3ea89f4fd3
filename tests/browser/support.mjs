// Shared pieces of the browser tests: a real Docent server, a real Chromium,
// a second-origin host for embedding pages, a mock OpenAI-compatible LLM,
// axe-core, and helpers to look inside the widget's (open) shadow root.
//
// Nothing here sleeps to synchronise: every wait is on a condition (a line on
// stdout, an HTTP answer, a DOM state) with a deadline.

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ADMIN_PASSWORD = 'browser-tests-admin-password';

// Generous limits: every request of every test comes from 127.0.0.1.
const TEST_ENV = {
  DOCENT_ADMIN_PASSWORD: ADMIN_PASSWORD,
  DOCENT_EMBEDDINGS_PROVIDER: 'none',
  DOCENT_LOG_LEVEL: 'warn',
  DOCENT_WIDGET_REQUESTS_PER_ADDRESS_PER_MINUTE: '100000',
  DOCENT_WIDGET_SESSIONS_PER_ADDRESS_PER_HOUR: '100000',
  DOCENT_WIDGET_MESSAGES_PER_SESSION_PER_MINUTE: '1000',
};

// DOCENT_WIDGET_JS=path serves that file as every /static/widget.js (through
// Playwright's routing) instead of the copy embedded in the binary: to try a
// change to assets/widget/widget.js without rebuilding the server. Off by
// default; the tests then say when the binary's copy differs from the tree's.
export const WIDGET_JS = process.env.DOCENT_WIDGET_JS ? path.resolve(process.env.DOCENT_WIDGET_JS) : null;
// DOCENT_ADMIN_DIR=assets/admin does the same for the admin console: every
// /admin/<name> is served from that folder, with the CSP the server sends, so
// that a change to the console needs no rebuild (and CSP violations still show).
export const ADMIN_DIR = process.env.DOCENT_ADMIN_DIR ? path.resolve(process.env.DOCENT_ADMIN_DIR) : null;
/** The Content-Security-Policy the server sends with every console file (src/http/assets.rs). */
export const ADMIN_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
  "connect-src 'self'; frame-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; " +
  "form-action 'none'; frame-ancestors 'self'";
const ADMIN_TYPES = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };
let warnedStale = false;

export function docentBin() {
  return process.env.DOCENT_BIN || path.join(REPO, 'target/debug/docent');
}

/** Polls `check` (async, returns a truthy value when done) until it succeeds or `timeout` ms pass. */
export async function until(what, check, { timeout = 20000, every = 50 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}` + (last ? `: ${last.message}` : ''));
    await new Promise(r => setTimeout(r, every));
  }
}

/** The claims of a JWT (no verification). */
export function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

// PostgreSQL for `startDocent({postgres: true})`: the server scripts/test uses.
const PG = process.env.DOCENT_TEST_PG || 'postgres://postgres@127.0.0.1:5432/postgres';

function psql(sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [PG, '-qAtc', sql], (err, out, errOut) =>
      err ? reject(new Error(`psql ${sql}: ${errOut || err.message}`)) : resolve(out));
  });
}

/**
 * A fresh PostgreSQL database for one server: its URL, and `drop()`. Named
 * like the Rust tests' (docent_test_<run>_*), so scripts/test drops it even
 * if this process dies first.
 */
async function createDatabase() {
  const run = (process.env.DOCENT_TEST_RUN || 'browser').toLowerCase().replace(/[^a-z0-9]/g, '');
  const name = `docent_test_${run}_web${randomBytes(6).toString('hex')}`;
  await psql(`CREATE DATABASE "${name}"`);
  const url = new URL(PG);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => psql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

/**
 * Starts `docent serve --sample` on port 0 with a fresh data folder, signs in as
 * the admin and waits until the sample documents are ready.
 * `env` adds to (or, with `null` values, removes from) the server's environment.
 * `postgres`: on a database of its own on PostgreSQL (dropped by `stop()`), not SQLite.
 */
export async function startDocent({ env = {}, timeout = 30000, postgres = false } = {}) {
  const database = postgres ? await createDatabase() : null;
  if (database) env = { ...env, DOCENT_DATABASE_URL: database.url };
  const dataDir = await mkdtemp(path.join(tmpdir(), 'docent-browser-'));
  const childEnv = {};
  // Only what this helper and the caller choose: a DOCENT_* setting of the
  // developer's shell must not change what the tests see.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOCENT_')) childEnv[k] = v;
  for (const [k, v] of Object.entries({ ...TEST_ENV, ...env })) {
    if (v == null) delete childEnv[k];
    else childEnv[k] = String(v);
  }
  const bin = docentBin();
  const child = spawn(bin, ['serve', '--sample', '--bind', '127.0.0.1:0', '--data-dir', dataDir], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '', stderr = '';
  child.stderr.setEncoding('utf8').on('data', d => { stderr += d; });
  // (Not events.once: it would reject on 'error', e.g. a missing binary, unhandled.)
  const exited = new Promise(resolve => child.once('exit', (code, signal) => resolve([code, signal])));
  let spawnError = null;
  child.once('error', e => { spawnError = e; });
  // Should this test process end without its `after` hooks (a crash, a
  // cancelled run), the server must not outlive it.
  const orphan = () => child.kill('SIGKILL');
  process.once('exit', orphan);
  exited.then(() => process.off('exit', orphan));
  const stop = async () => {
    if (child.pid && !spawnError && child.exitCode == null && child.signalCode == null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dataDir, { recursive: true, force: true });
    await database?.drop();
  };
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${bin} did not say where it listens within ${timeout} ms`)), timeout);
      const cannot = e => { clearTimeout(timer); reject(new Error(`cannot start ${bin}: ${e.message} (build it, or set DOCENT_BIN)`)); };
      if (spawnError) cannot(spawnError);
      child.on('error', cannot);
      child.stdout.setEncoding('utf8').on('data', d => {
        stdout += d;
        const m = /Docent is listening on (http:\/\/\S+?) \(/.exec(stdout);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      exited.then(([code, signal]) => {
        clearTimeout(timer);
        reject(spawnError ? new Error(`cannot start ${bin}: ${spawnError.message} (build it, or set DOCENT_BIN)`)
          : new Error(`${bin} exited (${code ?? signal}) before listening:\n${stdout}${stderr}`));
      });
    });
    const server = { url, dataDir, stop, log: () => stdout + stderr };
    const login = await request(url, 'POST', '/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
    server.adminToken = login.access_token;
    server.api = (method, p, body) => request(url, method, p, body, server.adminToken);
    const [workspace] = await server.api('GET', '/workspaces');
    server.workspaceId = workspace.id;
    await waitForDocuments(server, workspace.id, 3);
    const [bot] = await server.api('GET', '/widget/bots');
    server.sampleBot = bot;
    const served = await (await fetch(url + '/static/widget.js')).text();
    const tree = await readFile(path.join(REPO, 'assets/widget/widget.js'), 'utf8');
    if (served !== tree && !WIDGET_JS && !warnedStale) {
      warnedStale = true;
      console.warn(`warning: ${bin} serves a widget.js that differs from assets/widget/widget.js; ` +
        'rebuild it, or set DOCENT_WIDGET_JS=assets/widget/widget.js to test the tree\'s');
    }
    const demo = await (await fetch(url + '/static/widget-demo.html')).text();
    server.demoToken = /<meta name="docent-demo-token" content="([^"]+)">/.exec(demo)[1];
    return server;
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Waits until the workspace has `count` documents (at least), all `ready`. */
export async function waitForDocuments(server, workspaceId, count = 1) {
  return until(`${count} ready documents in workspace ${workspaceId}`, async () => {
    const docs = await server.api('GET', `/workspaces/${workspaceId}/documents`);
    const failed = docs.find(d => d.status === 'failed');
    if (failed) throw new Error(`document ${failed.title} failed: ${failed.error}`);
    return docs.length >= count && docs.every(d => d.status === 'ready') && docs;
  });
}

/** One JSON request to the API; throws with the status and body unless 2xx. */
export async function request(base, method, p, body, token, headers = {}) {
  const r = await fetch(base + p, {
    method,
    headers: {
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(token ? { Authorization: 'Bearer ' + token } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p} answered ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Creates a bot in the sample workspace (or `workspace_id`) and a widget token for it. */
export async function makeBot(server, fields = {}, { expiresInDays = 30 } = {}) {
  const bot = await server.api('POST', '/widget/bots', { workspace_id: server.workspaceId, ...fields });
  const { token } = await server.api('POST', '/widget/generate', { bot_id: bot.id, expires_in_days: expiresInDays });
  return { bot, token };
}

// ---------------------------------------------------------------- Chromium

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}

/**
 * A context with animations off (`prefers-reduced-motion`, which the widget
 * honours) so that screenshots and contrast checks never catch a fade halfway.
 */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext({ reducedMotion: 'reduce', viewport: { width: 1000, height: 800 }, ...options });
  context.setDefaultTimeout(15000);
  if (WIDGET_JS) {
    const body = await readFile(WIDGET_JS);
    await context.route(u => u.pathname === '/static/widget.js', route => route.fulfill({
      body, contentType: 'text/javascript; charset=utf-8', headers: { 'Cache-Control': 'no-cache' },
    }));
  }
  if (ADMIN_DIR) {
    await context.route(u => u.pathname === '/admin/' || /^\/admin\/[^/]+$/.test(u.pathname), async route => {
      const name = new URL(route.request().url()).pathname.slice('/admin/'.length) || 'index.html';
      let body;
      try {
        body = await readFile(path.join(ADMIN_DIR, path.basename(name)));
      } catch {
        return route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found","message":"There is no such file."}}' });
      }
      return route.fulfill({
        body, contentType: ADMIN_TYPES[name.split('.').pop()] || 'application/octet-stream',
        headers: { 'Cache-Control': 'no-cache', 'Content-Security-Policy': ADMIN_CSP, 'X-Content-Type-Options': 'nosniff' },
      });
    });
  }
  return context;
}

// Chromium itself logs every 4xx/5xx answer to fetch() as a console error
// ("Failed to load resource: the server responded with a status of 403
// (Forbidden)"); no script can prevent it. Only exactly that message is let
// through when checking that the widget logs nothing.
const RESOURCE_STATUS = /^Failed to load resource: the server responded with a status of (\d{3}) \(.*\)$/;
// Likewise when the network is off (context.setOffline(true)) or a test
// aborts a request (route.abort('failed')).
const RESOURCE_OFFLINE = /^Failed to load resource: net::ERR_INTERNET_DISCONNECTED$/;
const RESOURCE_FAILED = /^Failed to load resource: net::ERR_FAILED$/;
// And the browser asks every origin for /favicon.ico, which neither Docent nor
// the test host has: a 404 of Chromium's own, not of any page script.
const FAVICON = /\/favicon\.ico$/;

/**
 * Records console errors and warnings and uncaught page errors. `unexpected()`
 * lists them, less Chromium's own per-request "Failed to load resource" lines
 * for the statuses (or offline) explicitly allowed.
 */
export function watchErrors(page) {
  const seen = { console: [], page: [] };
  page.on('console', m => {
    if (m.type() === 'error' || m.type() === 'warning') seen.console.push({ type: m.type(), text: m.text(), url: m.location().url });
  });
  page.on('pageerror', e => seen.page.push(String(e && e.stack || e)));
  seen.unexpected = ({ statuses = [], offline = false, failed = false } = {}) => [
    ...seen.page.map(t => 'page error: ' + t),
    ...seen.console.filter(c => {
      const m = RESOURCE_STATUS.exec(c.text);
      if (m && (statuses.includes(+m[1]) || FAVICON.test(c.url))) return false;
      return !(offline && RESOURCE_OFFLINE.test(c.text) || failed && RESOURCE_FAILED.test(c.text));
    }).map(c => `console ${c.type}: ${c.text} (${c.url})`),
  ];
  seen.resourceErrors = () => seen.console.filter(c => RESOURCE_STATUS.test(c.text)).map(c => c.text);
  return seen;
}

/**
 * Records the requests a page makes to the Docent API (everything but /static/).
 * `quiet(ms)` waits until the page has had no request in flight for `ms`
 * (Playwright's `networkidle` is a load state, reached once per navigation:
 * it does not wait for requests that a click starts later).
 */
export function watchApi(page, base) {
  const list = [];
  const inflight = new Set();
  let last = Date.now();
  page.on('request', r => {
    inflight.add(r);
    last = Date.now();
    const u = new URL(r.url());
    if (u.origin === new URL(base).origin && !u.pathname.startsWith('/static/')) {
      list.push({ method: r.method(), path: u.pathname, request: r });
    }
  });
  const done = r => { inflight.delete(r); last = Date.now(); };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  list.lines = () => list.map(r => `${r.method} ${r.path}`);
  list.quiet = (ms = 500) => until(`${ms} ms without network activity`,
    () => inflight.size === 0 && Date.now() - last >= ms, { every: 25 });
  return list;
}

// ---------------------------------------------------------------- axe-core

let axeSource;
/**
 * Runs axe-core on the whole document, open shadow roots included, and gives
 * its violations, the rules that passed on nodes inside the widget's shadow
 * root (proof that axe looked in there) and its `incomplete` results there.
 * The script is evaluated rather than added as a <script> element, so a page's
 * Content-Security-Policy does not have to be bypassed.
 *
 * `inBody`: axe lays out its grid of rendered boxes (used by color-contrast
 * only) by walking document.body, and the widget lives on <html>, outside it:
 * there every contrast check of the widget comes back "incomplete". With
 * `inBody` the <docent-widget> element is moved into <body> for the run (the
 * demo page's body has no transform, so nothing moves on screen) and put back.
 */
export async function runAxe(page, { inBody = false, rules } = {}) {
  axeSource ??= await readFile(path.join(HERE, 'node_modules/axe-core/axe.min.js'), 'utf8');
  // Frames (the console's widget preview) need axe too: the top frame's asks theirs.
  for (const frame of page.frames()) {
    if (!(await frame.evaluate(() => !!window.axe))) await frame.evaluate(axeSource);
  }
  return page.evaluate(async ({ inBody, rules }) => {
    const host = document.querySelector('docent-widget'); // none on the console's pages
    const home = host && host.parentNode, next = host && host.nextSibling;
    if (inBody && host) document.body.append(host);
    let r;
    try {
      r = await window.axe.run(document, rules ? { runOnly: { type: 'rule', values: rules } } : {});
    } finally {
      if (inBody && host) home.insertBefore(host, next);
    }
    const inShadow = n => Array.isArray(n.target[0]) && n.target[0][0] === 'docent-widget';
    const passed = new Set();
    for (const p of r.passes) for (const n of p.nodes) if (inShadow(n)) passed.add(p.id);
    return {
      violations: r.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => ({ target: n.target, summary: n.failureSummary })),
      })),
      rulesPassedInShadow: [...passed].sort(),
      passedNodesInShadow: r.passes.flatMap(p => p.nodes.filter(inShadow).map(n => p.id + ' ' + JSON.stringify(n.target[0][1]))),
      incompleteInShadow: r.incomplete.flatMap(p => p.nodes.filter(inShadow).map(n => `${p.id} ${JSON.stringify(n.target[0][1])}: ` +
        [...n.any, ...n.all, ...n.none].map(c => c.message).join('; '))),
      version: window.axe.version,
    };
  }, { inBody, rules });
}

export function formatViolations(vs) {
  return vs.map(v => `${v.id} (${v.impact}): ${v.help}\n` +
    v.nodes.map(n => `    ${JSON.stringify(n.target)}: ${n.summary}`).join('\n')).join('\n');
}

// ---------------------------------------------------------------- host pages

/**
 * A tiny HTTP server on another port of 127.0.0.1, so another origin than the
 * Docent server's. Pages are registered with `page(path, html, headers)`.
 */
export async function startHost() {
  const pages = new Map();
  const server = http.createServer((req, res) => {
    const p = pages.get(new URL(req.url, 'http://x').pathname);
    if (!p) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'Cache-Control': 'no-store', ...p.headers }).end(p.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    page(p, body, headers = {}) {
      pages.set(p, { body, headers: { 'Content-Type': 'text/html; charset=utf-8', ...headers } });
      return origin + p;
    },
    file(p, body, type) {
      pages.set(p, { body, headers: { 'Content-Type': type } });
      return origin + p;
    },
    stop: () => new Promise(r => { server.closeAllConnections(); server.close(r); }),
  };
}

const escAttr = s => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** A host page embedding the widget with one script tag. */
export function embedPage({ docent, token, attrs = {}, head = '', body = '<p>Host page.</p>' }) {
  const extra = Object.entries(attrs).map(([k, v]) => ` data-${k}="${escAttr(v)}"`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Host page</title>
${head}
</head>
<body>
${body}
<script src="${escAttr(docent.url)}/static/widget.js" data-token="${escAttr(token)}"${extra} async></script>
</body>
</html>`;
}

// ---------------------------------------------------------------- mock LLM

/**
 * An OpenAI-compatible `/v1/chat/completions` that streams scripted replies.
 * `reply({chunks, status, hold})` queues the next answer: `status` other than
 * 200 answers with that status and an error body; `hold: n` sends the first `n`
 * chunks and waits for `release()` before the rest. Without a queued reply it
 * answers "Mock reply.". `requests` holds the JSON bodies received.
 */
export async function startMockLlm() {
  const queue = [], requests = [];
  let releaseHeld = null;
  const held = [];
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += c;
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    try { requests.push(JSON.parse(raw)); } catch { requests.push(raw); }
    const r = queue.shift() || { chunks: ['Mock reply.'] };
    if (r.status && r.status !== 200) {
      res.writeHead(r.status, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ error: { message: 'scripted failure', type: 'server_error' } }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const chunk = text => res.write(`data: ${JSON.stringify({
      id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 0, model: 'x',
      choices: [{ index: 0, delta: { content: text }, finish_reason: null }],
    })}\n\n`);
    const chunks = r.chunks || [];
    const hold = r.hold ?? chunks.length;
    chunks.slice(0, hold).forEach(chunk);
    if (hold < chunks.length) {
      await new Promise(resolve => held.push(resolve));
      chunks.slice(hold).forEach(chunk);
    }
    res.write(`data: ${JSON.stringify({ id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 0, model: 'x',
      choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  releaseHeld = () => { while (held.length) held.shift()(); };
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}/v1`,
    requests,
    reply: r => queue.push(r),
    release: () => releaseHeld(),
    waiting: () => held.length,
    stop: () => new Promise(r => { releaseHeld(); server.closeAllConnections(); server.close(r); }),
  };
}

// ---------------------------------------------------------------- the widget

/** Locators for the widget's parts (Playwright's CSS engine pierces open shadow roots). */
export function widget(page) {
  const w = page.locator('docent-widget');
  return {
    host: w,
    root: w.locator('.root'),
    bubble: w.locator('button.bubble'),
    panel: w.locator('#docent-panel'),
    title: w.locator('#docent-title'),
    input: w.locator('#docent-input'),
    send: w.locator('button.send'),
    note: w.locator('.note'),
    retry: w.locator('button.retry'),
    messages: w.locator('.messages'),
    assistant: w.locator('.msg.assistant'),
    user: w.locator('.msg.user'),
    welcome: w.locator('.msg.welcome'),
    live: w.locator('.live'),
  };
}

/** Waits for the widget's `data-state`. */
export function waitForState(page, state, timeout = 15000) {
  return page.waitForFunction(s => {
    const r = document.querySelector('docent-widget')?.shadowRoot?.querySelector('.root');
    return r && r.dataset.state === s;
  }, state, { timeout });
}

/** The conversation as shown: [{role, text, pending, sources: [{text, href, rel, target}]}]. */
export function transcript(page) {
  return page.evaluate(() => {
    const sh = document.querySelector('docent-widget').shadowRoot;
    return [...sh.querySelectorAll('.msg:not(.typing):not(.welcome)')].map(m => ({
      role: m.dataset.role,
      text: m.querySelector('.body').textContent,
      pending: m.classList.contains('pending'),
      sources: [...m.querySelectorAll('.sources li')].map(li => {
        const a = li.querySelector('a');
        return { text: li.textContent, href: a && a.getAttribute('href'), rel: a && a.rel, target: a && a.target };
      }),
    }));
  });
}

/**
 * Types `text` into the widget and presses Enter, then waits for the reply to
 * finish (state back to idle with one more assistant message).
 */
export async function ask(page, text, { timeout = 15000 } = {}) {
  const w = widget(page);
  const before = await w.assistant.count();
  await w.input.fill(text);
  await w.input.press('Enter');
  await w.assistant.nth(before).waitFor({ timeout });
  await waitForState(page, 'idle', timeout);
  return transcript(page);
}

/** Parses a server-sent event stream into [{event, data}]. */
export function parseSse(text) {
  return text.split(/\r?\n\r?\n/).filter(b => b.trim()).map(block => {
    let event = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      const m = /^([^:]*):? ?(.*)$/.exec(line);
      if (m[1] === 'event') event = m[2];
      else if (m[1] === 'data') data.push(m[2]);
    }
    return { event, data: data.length ? JSON.parse(data.join('\n')) : null };
  }).filter(e => e.data !== null);
}

/** A random session id shaped like the server's: 32 random bytes, base64url (43 characters). */
export function fakeSessionId() {
  return randomBytes(32).toString('base64url');
}

/**
 * An init script (run before any of the page's scripts) that records, with
 * performance.now() times, in window.__docent:
 *  - scriptStart: when widget.js starts running (its first read of window.Docent,
 *    which is its first statement), hostAdded: when <docent-widget> enters the
 *    document, bubbleVisible: the first animation frame with the bubble laid
 *    out and visible;
 *  - log: what happens inside the shadow root: the typing indicator coming and
 *    going, assistant messages appearing, and the length of the last assistant
 *    message's text each time it changes.
 */
export function observeWidget() {
  const d = window.__docent = { log: [] };
  let value;
  Object.defineProperty(window, 'Docent', {
    configurable: true,
    get() { if (d.scriptStart == null) d.scriptStart = performance.now(); return value; },
    set(v) { value = v; },
  });
  const watch = sh => {
    let lastLen = -1;
    new MutationObserver(records => {
      const t = performance.now();
      for (const r of records) {
        for (const n of r.addedNodes) if (n.nodeType === 1 && n.classList.contains('msg')) {
          d.log.push({ t, what: n.classList.contains('typing') ? 'typing+' : n.dataset.role + '+' });
        }
        for (const n of r.removedNodes) if (n.nodeType === 1 && n.classList.contains('typing')) d.log.push({ t, what: 'typing-' });
      }
      const all = sh.querySelectorAll('.msg.assistant .body');
      const len = all.length ? all[all.length - 1].textContent.length : -1;
      if (len !== lastLen) d.log.push({ t, what: 'text', len, n: all.length });
      lastLen = len;
    }).observe(sh, { childList: true, subtree: true, characterData: true });
  };
  new MutationObserver((records, obs) => {
    const host = document.querySelector('docent-widget');
    if (!host) return;
    obs.disconnect();
    d.hostAdded = performance.now();
    if (host.shadowRoot) watch(host.shadowRoot);
    const frame = () => {
      const b = host.shadowRoot && host.shadowRoot.querySelector('.bubble');
      const r = b && b.getBoundingClientRect();
      if (r && r.width > 0 && r.height > 0 && getComputedStyle(b).visibility === 'visible') d.bubbleVisible = performance.now();
      else requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }).observe(document, { childList: true, subtree: true });
}

// ---------------------------------------------------------------- the admin console

/** Opens the console and signs in as the admin through its form; resolves once the first page shows. */
export async function signInConsole(page, docent, route = '') {
  await page.goto(`${docent.url}/admin/${route}`);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('body.signed-in').waitFor({ state: 'attached' });
  await page.locator('#view h1').first().waitFor();
}

/** Goes to a console route (`#/bots/5`) in a new page load and waits for its heading. */
export async function openRoute(page, docent, route, heading) {
  await page.goto(`${docent.url}/admin/${route}`);
  const h1 = heading ? page.getByRole('heading', { level: 1, name: heading }) : page.locator('#view h1');
  await h1.first().waitFor();
}
