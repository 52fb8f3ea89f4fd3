// The console's only way to the server: JSON requests with the access token,
// uploads with progress, and the console login (access token in memory, refresh
// token in an HttpOnly cookie the page's script never sees).
//
// The access token lives in this module's variable only: not in localStorage,
// not in a URL. A reload asks /auth/console/refresh for a new one (the cookie
// goes along by itself); a 401 from any request is refreshed once and the
// request tried again; when refreshing fails, the console shows the sign-in page.

const CONSOLE = { 'X-Docent-Console': '1' };
/** Renew this long before the access token expires. */
const EARLY_MS = 60_000;

let access = null;
let renewing = null;
let renewTimer = 0;
let signedOut = () => {};

/** An error answer of the API: `code`, `message`, `fields` ({name: message}) and `status`. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const e = body && typeof body.error === 'object' && body.error ? body.error : {};
    super(e.message || `The server answered ${status}.`);
    this.status = status;
    this.code = e.code || `http_${status}`;
    this.fields = e.fields && typeof e.fields === 'object' ? e.fields : {};
    this.retryAfter = retryAfter;
  }
}

/** A request that never reached the server (offline, connection refused). */
export class NetworkError extends Error {
  constructor() {
    super("Couldn't reach the server. Check your connection and try again.");
    this.code = 'network';
    this.fields = {};
  }
}

async function failure(r) {
  let body = null;
  try { body = await r.json(); } catch { /* not JSON: the status says enough */ }
  return new ApiError(r.status, body, Number(r.headers.get('Retry-After')) || 0);
}

/** Called (once per sign-out) when the login has ended: show the sign-in page. */
export function onSignedOut(fn) {
  signedOut = fn;
}

export function isSignedIn() {
  return access !== null;
}

function keep(answer) {
  access = answer.access_token;
  clearTimeout(renewTimer);
  const ms = Math.max(5_000, Number(answer.expires_in) * 1000 - EARLY_MS);
  // A background renewal that fails is dealt with by the next request's 401.
  renewTimer = setTimeout(() => renew().catch(() => {}), ms);
}

function forget() {
  const was = access !== null;
  access = null;
  clearTimeout(renewTimer);
  if (was) signedOut();
}

async function consolePost(path, body) {
  let r;
  try {
    r = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: body ? { ...CONSOLE, 'Content-Type': 'application/json' } : CONSOLE,
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new NetworkError();
  }
  if (!r.ok) throw await failure(r);
  return r.status === 204 ? null : r.json();
}

/** Signs in; throws ApiError (401 wrong credentials, 429 locked out, 422). */
export async function signIn(username, password) {
  keep(await consolePost('/auth/console/login', { username, password }));
}

/**
 * Trades the refresh cookie for a new access token, one request at a time in
 * this tab and, through a Web Lock, across the console's tabs: a refresh token
 * works once, and two tabs presenting the same one would end the login.
 */
export function renew() {
  renewing ??= (async () => {
    const run = () => consolePost('/auth/console/refresh');
    try {
      keep(navigator.locks ? await navigator.locks.request('docent-console-refresh', run) : await run());
      return true;
    } catch (e) {
      if (e instanceof ApiError) {
        forget();
        return false;
      }
      throw e;
    } finally {
      renewing = null;
    }
  })();
  return renewing;
}

/** On page load: is there a login to resume? */
export async function resume() {
  try {
    return await renew();
  } catch {
    return false;
  }
}

export async function signOut() {
  try {
    await consolePost('/auth/console/logout');
  } finally {
    forget();
  }
}

function url(path, query) {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * One JSON request. Resolves to the parsed answer (null for 204); throws
 * ApiError or NetworkError. `signal` aborts it (an AbortError).
 */
export async function api(path, { method = 'GET', body, query, signal } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json' };
    if (access) headers.Authorization = `Bearer ${access}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let r;
    try {
      r = await fetch(url(path, query), {
        method, headers, signal, credentials: 'omit',
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new NetworkError();
    }
    if (r.status === 401 && attempt === 0 && await renew()) continue;
    if (r.status === 401) forget();
    if (!r.ok) throw await failure(r);
    return r.status === 204 ? null : r.json();
  }
}

/**
 * Uploads one file as multipart field `file` with XMLHttpRequest, whose upload
 * events report progress: `onProgress(fraction)`. Returns `{done, abort}`,
 * `done` resolving to the JSON answer or rejecting like `api()`.
 */
export function upload(path, file, onProgress) {
  let xhr;
  let aborted = false;
  const once = () => new Promise((resolve, reject) => {
    xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    if (access) xhr.setRequestHeader('Authorization', `Bearer ${access}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', e => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => resolve(xhr));
    xhr.addEventListener('error', () => reject(new NetworkError()));
    xhr.addEventListener('abort', () => reject(new DOMException('Upload cancelled', 'AbortError')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  const done = (async () => {
    for (let attempt = 0; ; attempt++) {
      const x = await once();
      if (x.status === 401 && attempt === 0 && !aborted && await renew()) {
        onProgress(0);
        continue;
      }
      if (x.status === 401) forget();
      if (x.status >= 200 && x.status < 300) return x.response;
      const retry = Number(x.getResponseHeader('Retry-After')) || 0;
      throw new ApiError(x.status, x.response, retry);
    }
  })();
  return { done, abort: () => { aborted = true; xhr?.abort(); } };
}
