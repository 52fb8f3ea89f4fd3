// The admin console: the shell (navigation, sign-in, sign-out) and the hash
// router. Every page is a URL (`#/workspaces/3`, `#/bots/5/embed`, …) that
// survives a reload; each page module renders into `#view` and stops its work
// (polling, requests) when the route changes.

import { api, onSignedOut, resume, signIn, signOut, isSignedIn } from './api.js';
import { h, fill, field, alertBox, messageOf, busy, announce } from './dom.js';
import * as workspaces from './page-workspaces.js';
import * as bots from './page-bots.js';
import * as embed from './page-embed.js';
import * as conversations from './page-conversations.js';
import * as analytics from './page-analytics.js';

const ROUTES = [
  [/^\/workspaces$/, workspaces.list],
  [/^\/workspaces\/(\d+)$/, workspaces.detail],
  [/^\/bots$/, bots.list],
  [/^\/bots\/new$/, bots.create],
  [/^\/bots\/(\d+)$/, bots.edit],
  [/^\/bots\/(\d+)\/embed$/, embed.page],
  [/^\/conversations$/, conversations.index],
  [/^\/conversations\/(\d+)$/, conversations.sessions],
  [/^\/conversations\/(\d+)\/([A-Za-z0-9_-]{1,128})$/, conversations.transcript],
  [/^\/analytics$/, analytics.page],
];

const $ = id => document.getElementById(id);
const view = $('view');
const main = $('main');
let leave = null; // aborts the current page's work
let firstRender = true;

/** The route in the hash: `{path, query}`, `#/bots/5?x=1` → `/bots/5`, {x: '1'}. */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, q = ''] = raw.split('?');
  return { path, query: Object.fromEntries(new URLSearchParams(q)) };
}

/** Changes the route; `query` values that are empty are left out. */
export function navigate(path, query = {}, { replace = false } = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '' && v !== false) q.set(k, String(v));
  const hash = `#${path}${q.toString() ? `?${q}` : ''}`;
  if (hash === location.hash) return render();
  if (replace) {
    history.replaceState(null, '', hash);
    render();
  } else location.hash = hash;
}

function setTitle(title) {
  document.title = `${title} · Docent console`;
}

async function render() {
  leave?.abort();
  const controller = new AbortController();
  leave = controller;
  closeMenu();
  if (!isSignedIn()) return showSignIn();
  showShell(true);
  const { path, query } = currentRoute();
  if (path === '/' || !ROUTES.some(([re]) => re.test(path))) {
    if (path !== '/') announce('There is no such page; here are your workspaces.');
    return navigate('/workspaces', {}, { replace: true });
  }
  const section = path.split('/')[1];
  for (const a of document.querySelectorAll('.nav-links a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const [re, page] = ROUTES.find(([r]) => r.test(path));
  const params = re.exec(path).slice(1);
  const container = h('div', { class: 'page' });
  fill(view, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  const ctx = { params, query, signal: controller.signal, setTitle, navigate, view: container };
  try {
    await page(ctx);
    if (controller.signal.aborted) return;
    fill(view, container);
  } catch (err) {
    if (controller.signal.aborted || err.name === 'AbortError') return;
    if (!isSignedIn()) return; // the sign-in page is showing
    setTitle('Error');
    fill(view, h('div', { class: 'page' },
      h('h1', { tabindex: '-1' }, err.status === 404 ? 'Not found' : 'Something went wrong'),
      alertBox(err),
      h('p', {}, h('a', { href: '#/workspaces' }, 'Back to your workspaces'))));
  }
  // After a navigation (not the first load), focus goes to the new page's
  // heading so that a screen reader says where the user is.
  if (!firstRender) view.querySelector('h1')?.focus({ preventScroll: false });
  firstRender = false;
}

// ---------------------------------------------------------------- shell

function showShell(on) {
  $('topbar').hidden = !on;
  $('nav').hidden = !on;
  document.body.classList.toggle('signed-in', on);
}

function closeMenu() {
  document.body.classList.remove('menu-open');
  $('menu-button').setAttribute('aria-expanded', 'false');
}

$('menu-button').addEventListener('click', () => {
  const open = !document.body.classList.contains('menu-open');
  document.body.classList.toggle('menu-open', open);
  $('menu-button').setAttribute('aria-expanded', String(open));
  if (open) $('nav').querySelector('a')?.focus();
});
$('nav').addEventListener('keydown', e => {
  if (e.key === 'Escape' && document.body.classList.contains('menu-open')) {
    closeMenu();
    $('menu-button').focus();
  }
});
$('skip').addEventListener('click', e => {
  e.preventDefault(); // the hash is the route
  (view.querySelector('h1') || main).focus();
});
$('sign-out').addEventListener('click', async e => {
  await busy(e.currentTarget, () => signOut().catch(() => {}));
});

async function whoAmI() {
  try {
    const me = await api('/auth/me');
    $('who').textContent = me.username;
    $('who').title = `Signed in as ${me.username}`;
  } catch { /* the name is a nicety */ }
}

// ---------------------------------------------------------------- sign-in

function showSignIn(message) {
  showShell(false);
  setTitle('Sign in');
  const username = h('input', { type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const error = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary wide' }, 'Sign in');
  const form = h('form', { class: 'signin-form', novalidate: true },
    field('Username', username, { name: 'username' }),
    field('Password', password, { name: 'password' }),
    error, submit);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    error.hidden = true;
    if (!username.value.trim() || !password.value) {
      error.textContent = 'Enter your username and password.';
      error.hidden = false;
      (username.value.trim() ? password : username).focus();
      return;
    }
    try {
      await busy(submit, () => signIn(username.value.trim(), password.value));
    } catch (err) {
      error.textContent = err.status === 401 ? 'Wrong username or password.'
        : err.status === 429 ? `Too many failed attempts. Try again${err.retryAfter ? ` in ${Math.ceil(err.retryAfter / 60)} min` : ' later'}.`
          : messageOf(err);
      error.hidden = false;
      password.select();
      password.focus();
      return;
    }
    password.value = '';
    whoAmI();
    firstRender = true;
    render();
  });
  fill(view, h('div', { class: 'signin' },
    h('div', { class: 'signin-card' },
      h('p', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, 'D'), 'Docent'),
      h('h1', {}, 'Sign in to the console'),
      message ? h('p', { class: 'notice', role: 'status' }, message) : null,
      form)));
  username.focus();
}

onSignedOut(() => {
  leave?.abort();
  for (const d of document.querySelectorAll('dialog')) d.close();
  $('who').textContent = '';
  showSignIn('You are signed out.');
});

window.addEventListener('hashchange', () => render());

// Start: resume the login of an earlier visit (the refresh cookie), if any.
(async () => {
  if (await resume()) whoAmI();
  render();
})();
