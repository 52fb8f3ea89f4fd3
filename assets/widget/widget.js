/*! Docent chat widget. Embed with one tag (see assets/widget/README.md):
 *   <script src="https://docent.example.com/static/widget.js" data-token="…" async></script>
 *
 * Content-Security-Policy a host page needs, D being the Docent server's origin:
 *   script-src D; connect-src D; img-src https:   (img-src only for an image bubble icon)
 * e.g. default-src 'self'; script-src 'self' https://docent.example.com;
 *      connect-src 'self' https://docent.example.com; img-src 'self' https:
 * Nothing inline and no eval: the styles are a constructed stylesheet (adoptedStyleSheets),
 * which style-src does not govern. Only browsers without constructable stylesheets
 * (Safari before 16.4) fall back to a <style> element, which needs style-src 'unsafe-inline'.
 */
(() => {
  'use strict';
  const W = window, D = document, G = W.Docent;
  if (G && G.version) return; // a second tag or a second load does nothing
  const noop = () => {};
  const safe = f => (...a) => {
    try {
      const r = f(...a);
      if (r && r.catch) r.catch(noop);
      return r;
    } catch (e) {}
  };
  try {
    const cur = D.currentScript;
    const me = cur && (cur.dataset.token || cur.dataset.preview != null) ? cur
      : [...D.querySelectorAll('script[data-token]')].find(s => /widget\.js$/.test(s.src.split(/[?#]/)[0]));
    const cfg = me ? me.dataset : {}, pageTok = cfg.token, pv = cfg.preview != null;
    // data-preview (the admin console's live preview): no token, no request, nothing stored.
    if (!pageTok && !pv) return console.warn('Docent: the widget script needs data-token');
    const base = (cfg.apiUrl || new URL(me.src).origin).replace(/\/+$/, '');

    // Token: the page's, or a newer one refreshed from it, kept per bot (the `sub` claim).
    const claims = t => {
      try { return JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) || {} } catch (e) { return {} }
    };
    const exp = t => +claims(t || '').exp || 0;
    const key = n => 'docent.' + n + '.' + (claims(pageTok).sub || '0');
    const get = n => { try { return pv ? null : localStorage.getItem(key(n)) } catch (e) {} };
    const put = (n, v) => { try { pv || (v == null ? localStorage.removeItem(key(n)) : localStorage.setItem(key(n), v)) } catch (e) {} };
    let tok = get('token');
    if (exp(tok) <= exp(pageTok)) tok = pageTok;
    let vid = get('visitor');

    // The conversation: session id, messages (`old` ones from sessions that ended under
    // the visitor's eyes), and the bot's look from session/start.
    let sid, msgs, old, look;
    const load = () => {
      let s;
      try { s = JSON.parse(get('chat')) } catch (e) {}
      s = s || {};
      const arr = a => Array.isArray(a) ? a : [];
      sid = s.sid; msgs = arr(s.msgs); old = arr(s.old); look = Object(s.look);
    };
    const save = () => put('chat', JSON.stringify({sid, look, msgs: msgs.slice(-60), old: old.slice(-40)}));
    load();

    let isOpen, opened = pv, dead, out, busy, timer, starting, rf, raf, shownIcon, wel;
    let gen = new AbortController();
    const conf = {}, hs = {};
    const emit = (ev, d) => (hs[ev] || []).forEach(f => { try { f(d) } catch (e) {} });

    // DOM, built from nodes only: nothing from the server or the visitor is parsed as HTML.
    const el = (tag, at, ...kids) => {
      const e = D.createElement(tag);
      for (const k in at) e.setAttribute(k, at[k]);
      e.append(...kids);
      return e;
    };
    const NS = 'http://www.w3.org/2000/svg';
    const icon = d => {
      const s = D.createElementNS(NS, 'svg'), p = D.createElementNS(NS, 'path');
      s.setAttribute('viewBox', '0 0 24 24');
      s.setAttribute('aria-hidden', 'true');
      p.setAttribute('d', d);
      s.append(p);
      return s;
    };
    const X = 'M6 6l12 12M18 6L6 18';
    const btn = (cls, label, d) => el('button', {type: 'button', class: cls, 'aria-label': label, title: label}, icon(d));

    const host = D.createElement('docent-widget');
    const sh = host.attachShadow({mode: 'open'});
    // `all` leaves `direction` to the page (an RTL site's would mirror the widget): the frame
    // is left-to-right, and each text (dir=auto) takes the direction of its own words.
    const css = `:host{all:initial!important;direction:ltr!important}
*{box-sizing:border-box}
[hidden]{display:none!important}
.root{--bg:#fff;--fg:#1f2328;--mu:#585e68;--bt:#eff1f4;--ln:#0b57d0;--bd:#d5d9df;--in:#6e747e;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:var(--fg)}
[data-theme=dark]{--bg:#1c1e22;--fg:#e9ebee;--mu:#aab0b9;--bt:#2c3036;--ln:#8ab4f8;--bd:#3b4048;--in:#848b96}
button,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer;background:none;border:0;padding:0}
button:disabled{cursor:default;opacity:.6}
:focus-visible{outline:2px solid var(--ln);outline-offset:2px}
svg{width:22px;height:22px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.bubble,.panel{position:fixed;z-index:var(--z)}
.bubble{width:56px;height:56px;border-radius:50%;background:var(--p);color:var(--pf);box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;font-size:26px;line-height:1;overflow:hidden}
.bubble:focus-visible{outline:0;box-shadow:0 0 0 3px #fff,0 0 0 6px #111}
.bubble img{width:100%;height:100%;object-fit:cover}
.bubble>svg{display:none;width:26px;height:26px}
.open .bubble>svg{display:block}
.open .icon{display:none}
[data-position$=right] :is(.bubble,.panel){right:calc(20px + env(safe-area-inset-right,0px))}
[data-position$=left] :is(.bubble,.panel){left:calc(20px + env(safe-area-inset-left,0px))}
[data-position^=bottom] .bubble{bottom:calc(20px + env(safe-area-inset-bottom,0px))}
[data-position^=top] .bubble{top:calc(20px + env(safe-area-inset-top,0px))}
[data-position^=bottom] .panel{bottom:calc(88px + env(safe-area-inset-bottom,0px))}
[data-position^=top] .panel{top:calc(88px + env(safe-area-inset-top,0px))}
.panel{width:380px;max-width:calc(100vw - 40px);height:600px;max-height:calc(100vh - 108px);max-height:calc(100dvh - 108px);display:flex;flex-direction:column;overflow:hidden;background:var(--bg);color:var(--fg);border:1px solid var(--bd);border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.28);animation:in .15s ease-out}
@keyframes in{from{opacity:0;transform:translateY(8px)}}
.header{display:flex;align-items:center;gap:2px;padding:8px 8px 8px 16px;background:var(--p);color:var(--pf)}
.title{flex:1;font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.header button{width:36px;height:36px;border-radius:8px;display:grid;place-items:center}
.header button:hover{background:rgba(128,128,128,.25)}
.header button:focus-visible{outline-color:currentColor;outline-offset:-3px}
.messages{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:10px}
.messages:focus-visible{outline-offset:-2px}
.msg{max-width:85%;padding:8px 12px;border-radius:14px;overflow-wrap:anywhere}
.user{align-self:flex-end;background:var(--p);color:var(--pf);white-space:pre-wrap;border-bottom-right-radius:4px}
.pending{background:none;color:var(--fg);border:1px dashed var(--in)}
.assistant,.welcome,.typing{align-self:flex-start;background:var(--bt);border-bottom-left-radius:4px}
.body>*{margin:0 0 8px}
.body>:last-child{margin-bottom:0}
.body :is(ul,ol){padding-left:22px}
a{color:var(--ln)}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:rgba(128,128,128,.16);padding:1px 4px;border-radius:4px}
pre{white-space:pre-wrap;background:rgba(128,128,128,.16);padding:8px 10px;border-radius:8px}
pre code{background:none;padding:0}
.sources{margin-top:8px;padding-top:6px;border-top:1px solid var(--bd);font-size:13px;color:var(--mu)}
.sources ul{margin:2px 0 0;padding-left:18px}
.typing{display:flex;gap:5px;padding:13px 14px}
.typing i{width:7px;height:7px;border-radius:50%;background:var(--mu);animation:dot 1s infinite alternate}
.typing i:nth-child(2){animation-delay:.2s}
.typing i:nth-child(3){animation-delay:.4s}
@keyframes dot{to{opacity:.25}}
.note{margin:0;padding:0 16px;font-size:13px;color:var(--mu)}
.note:not(:empty){padding-top:8px}
.retry{align-self:flex-start;margin:6px 16px 0;padding:5px 12px;border:1px solid var(--in);border-radius:8px}
.form{display:flex;gap:8px;align-items:flex-end;padding:12px;border-top:1px solid var(--bd);margin:8px 0 0}
textarea{flex:1;resize:none;height:40px;max-height:120px;padding:8px 12px;border:1px solid var(--in);border-radius:10px;background:var(--bg);line-height:1.45}
textarea::placeholder{color:var(--mu);opacity:1}
.send{flex:none;width:40px;height:40px;border-radius:10px;background:var(--p);color:var(--pf);display:grid;place-items:center}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){
[data-position] .panel{inset:var(--vt,0px) 0 auto;width:auto;max-width:none;height:100vh;height:var(--vh,100dvh);max-height:none;border:0;border-radius:0;padding:env(safe-area-inset-top,0px) env(safe-area-inset-right,0px) env(safe-area-inset-bottom,0px) env(safe-area-inset-left,0px)}
.open .bubble{display:none}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}`;
    try {
      const s = new CSSStyleSheet();
      s.replaceSync(css);
      sh.adoptedStyleSheets = [s];
    } catch (e) {
      sh.append(el('style', {}, css));
    }

    const ic = el('span', {class: 'icon'});
    const bubble = el('button', {type: 'button', class: 'bubble', 'aria-expanded': 'false', 'aria-controls': 'docent-panel'}, ic, icon(X));
    const title = el('div', {class: 'title', id: 'docent-title', dir: 'auto'});
    const newBtn = btn('new', 'New conversation', 'M12 5v14M5 12h14');
    const closeBtn = btn('close', 'Close chat', X);
    const list = el('div', {class: 'messages', role: 'region', 'aria-label': 'Conversation', tabindex: '0'});
    const note = el('p', {class: 'note', role: 'status'});
    const retry = el('button', {type: 'button', class: 'retry', hidden: ''}, 'Try again');
    const input = el('textarea', {id: 'docent-input', dir: 'auto', rows: '1', maxlength: '4000', placeholder: 'Type your message…'});
    const send = el('button', {type: 'submit', class: 'send', 'aria-label': 'Send message', title: 'Send message'}, icon('M4 12h15M13 6l6 6-6 6'));
    const form = el('form', {class: 'form'}, el('label', {class: 'sr', for: 'docent-input'}, 'Your message'), input, send);
    const live = el('div', {class: 'sr live', 'aria-live': 'polite'});
    const panel = el('div', {class: 'panel', id: 'docent-panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'docent-title', hidden: ''},
      el('div', {class: 'header'}, title, newBtn, closeBtn), list, note, retry, form, live);
    const root = el('div', {class: 'root', 'data-state': 'idle'}, bubble, panel);
    sh.append(root);
    const state = s => root.dataset.state = s;
    const near = () => list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const down = () => list.scrollTop = list.scrollHeight;
    const say = (text, again) => {
      const n = near();
      note.textContent = text || '';
      retry.hidden = !again;
      n && down();
    };

    // Look: configure() over data-* attributes over the bot's own look.
    const attrs = {};
    for (const k of ['theme', 'position', 'primaryColor', 'bubbleIcon', 'title', 'zIndex', 'lang']) if (cfg[k]) attrs[k] = cfg[k];
    const mq = W.matchMedia('(prefers-color-scheme: dark)');
    const lum = h => [1, 3, 5].map(i => {
      const c = parseInt(h.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }).reduce((s, c, i) => s + c * [0.2126, 0.7152, 0.0722][i], 0);
    // The text colour on the primary colour: white or (near-)black, whichever contrasts more.
    const onColor = h => {
      const l = lum(h) + 0.05;
      return 1.05 / l >= l / 0.05 ? '#fff' : l / 0.0555 >= 4.5 ? '#111' : '#000';
    };
    const apply = () => {
      const b = look, L = Object.assign({theme: b.theme, position: b.position, primaryColor: b.primary_color, bubbleIcon: b.bubble_icon, title: b.name}, attrs, conf);
      const pos = /^(top|bottom)-(left|right)$/.test(L.position) ? L.position : 'bottom-right';
      let c = String(L.primaryColor || '').trim().replace(/^#([\da-f])([\da-f])([\da-f])$/i, '#$1$1$2$2$3$3');
      if (!/^#[\da-f]{6}$/i.test(c)) c = '#2563eb';
      root.dataset.theme = L.theme == 'dark' || L.theme != 'light' && mq.matches ? 'dark' : 'light';
      root.dataset.position = pos;
      root.style.setProperty('--p', c);
      root.style.setProperty('--pf', onColor(c));
      root.style.setProperty('--z', parseInt(L.zIndex) || 2147483000);
      if (L.lang) root.lang = L.lang;
      title.textContent = L.title || 'Chat';
      bubble.setAttribute('aria-label', L.title ? 'Chat with ' + L.title : 'Open chat');
      const i = String(L.bubbleIcon || '').trim(), chat = () => icon('M4 5h16v11H9l-5 4z');
      if (i !== shownIcon) {
        shownIcon = i;
        ic.textContent = '';
        if (/^https:\/\/\S+$/i.test(i)) {
          const img = el('img', {src: i, alt: ''});
          img.addEventListener('error', () => img.replaceWith(chat())); // a broken image: the default icon
          ic.append(img);
        } else ic.append(i ? [...i].slice(0, 8).join('') : chat());
      }
    };

    // A safe Markdown subset, as DOM nodes.
    const REL = 'noopener noreferrer nofollow';
    const href = u => {
      try {
        const x = new URL(u);
        return /^(https?|mailto):$/.test(x.protocol) && x.href;
      } catch (e) {}
    };
    const link = (h, ...kids) => el('a', {href: h, target: '_blank', rel: REL}, ...kids);
    const INL = /`([^`\n]+)`|\*\*(.+?)\*\*|\*([^\s*](?:[^*\n]*[^\s*])?)\*|\[([^\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)/g;
    const inline = (s, to) => {
      let i = 0;
      for (const m of s.matchAll(INL)) {
        to.append(s.slice(i, m.index));
        i = m.index + m[0].length;
        let e;
        if (m[1]) e = el('code', {}, m[1]);
        else if (m[2]) inline(m[2], e = el('strong'));
        else if (m[3]) inline(m[3], e = el('em'));
        else if (href(m[5])) inline(m[4], e = link(href(m[5])));
        else inline(m[4], to); // a link to anything but http(s) or mailto is plain text
        e && to.append(e);
      }
      to.append(s.slice(i));
    };
    const md = (src, to) => {
      to.textContent = '';
      let p, ls, code, m;
      for (const ln of src.split(/\r?\n/)) {
        if (code) {
          if (/^\s*```/.test(ln)) code = null;
          else code.append((code.firstChild ? '\n' : '') + ln);
        } else if (/^\s*```/.test(ln)) {
          to.append(el('pre', {}, code = el('code')));
          p = ls = null;
        } else if ((m = /^\s*(?:[-*+]|(\d+)[.)])\s+(.*)/.exec(ln))) {
          const tag = m[1] ? 'OL' : 'UL';
          if (!ls || ls.tagName != tag) {
            to.append(ls = el(tag));
            if (m[1] > 1) ls.start = m[1];
          }
          inline(m[2], ls.appendChild(el('li')));
          p = null;
        } else if ((m = /^#{1,6}\s+(.*)/.exec(ln))) {
          to.append(el('p', {}, p = el('strong')));
          inline(m[1], p);
          p = ls = null;
        } else if (!ln.trim()) {
          p = ls = null;
        } else {
          p ? p.append(el('br')) : to.append(p = el('p'));
          inline(ln, p);
          ls = null;
        }
      }
    };

    // Messages.
    const sources = (m, a) => {
      const seen = {}, ul = el('ul');
      for (const s of Array.isArray(a) ? a : []) {
        const t = String(s && (s.title || s.source) || 'Source'), h = /^https?:/i.test(s && s.url) && href(s.url);
        if (seen[t + h]) continue;
        seen[t + h] = 1;
        ul.append(el('li', {}, h ? link(h, t) : t));
      }
      if (ul.firstChild) m.append(el('div', {class: 'sources'}, 'Sources', ul));
    };
    const add = (role, text, src) => {
      const b = el('div', {class: 'body', dir: 'auto'});
      const m = el('div', {class: 'msg ' + role, 'data-role': role}, el('span', {class: 'sr'}, role == 'user' ? 'You: ' : 'Assistant: '), b);
      m.b = b;
      role == 'user' ? b.append(text) : md(text, b);
      sources(m, src);
      list.append(m);
      down();
      return m;
    };
    const welcome = () => {
      const w = String(conf.welcome != null ? conf.welcome : look.welcome_message || '');
      md(w, wel.b);
      wel.hidden = !w;
    };
    const paint = () => {
      list.textContent = '';
      wel = add('welcome', '');
      welcome();
      for (const m of old.concat(msgs)) m && add(m.role == 'user' ? 'user' : 'assistant', String(m.content || ''), m.sources);
    };

    // The API.
    const DEAD = /^(origin_not_allowed|token_revoked|invalid_token|token_expired|bot_inactive|unauthorized|forbidden)$/;
    const failure = async r => {
      let j;
      try { j = await r.json() } catch (e) {}
      const e = j && typeof j.error == 'object' && j.error || j || {};
      return {code: e.code || 'http_' + r.status, message: e.message, fields: e.fields, status: r.status,
        wait: r.status == 429 && Math.max(1, +r.headers.get('Retry-After') || 5)};
    };
    const refresh = again => rf = !again && rf || fetch(base + '/widget/refresh', {method: 'POST', credentials: 'omit',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({token: tok})})
      .then(async r => {
        const j = r.ok && await r.json();
        if (j && j.token) return put('token', tok = j.token), 1;
      }).catch(noop);
    const call = async (path, body, stream) => {
      for (let n = 0; ; n++) {
        let r;
        try {
          r = await fetch(base + path, {method: body ? 'POST' : 'GET', credentials: 'omit', signal: gen.signal,
            headers: {Authorization: 'Bearer ' + tok, 'Content-Type': 'application/json', Accept: stream ? 'text/event-stream' : 'application/json'},
            body: body && JSON.stringify(body)});
        } catch (e) {
          throw {code: e.name == 'AbortError' ? 'aborted' : navigator.onLine === false ? 'offline' : 'network'};
        }
        if (r.ok) {
          if (exp(tok) - Date.now() / 1000 < 86400) refresh(); // expires within a day
          return r;
        }
        const e = await failure(r);
        if (n) throw e;
        if (e.code == 'token_expired') {
          if (!await refresh(1)) throw e; // even if the background refresh failed
        } else if (/^(token_revoked|invalid_token)$/.test(e.code) && tok != pageTok) {
          put('token', null); // a stored token of an older family: try the page's own
          tok = pageTok;
        } else throw e;
      }
    };
    // Reads a server-sent event stream, handing each event to f(name, data).
    const read = async (r, f) => {
      if (!/event-stream/.test(r.headers.get('Content-Type'))) {
        const j = await r.json();
        f('delta', {text: j.reply});
        f('sources', j.sources);
        return f('done', j);
      }
      const rd = r.body.getReader(), dec = new TextDecoder();
      let buf = '', ev = '', data = [];
      for (;;) {
        const {value, done} = await rd.read();
        const lines = (buf += dec.decode(value, {stream: !done})).split(/\r?\n/);
        buf = lines.pop();
        for (const ln of lines) {
          if (!ln) {
            if (data.length) f(ev || 'message', JSON.parse(data.join('\n')));
            ev = '';
            data = [];
          } else {
            const m = /^([^:]*):? ?(.*)/.exec(ln); // a line starting with ':' is a comment
            if (m[1] == 'event') ev = m[2];
            else if (m[1] == 'data') data.push(m[2]);
          }
        }
        if (done) return;
      }
    };

    const start = () => starting = starting || (async () => {
      try {
        const j = await (await call('/widget/session/start', vid ? {visitor_id: vid} : {})).json();
        sid = j.session_id;
        if (j.bot) {
          look = j.bot;
          apply();
          welcome();
        }
        save();
      } finally {
        starting = null;
      }
    })();
    const reset = () => {
      sid = null;
      msgs = [];
      old = [];
      save();
      paint();
    };
    const sync = async () => {
      try {
        const j = await (await call('/widget/session/' + encodeURIComponent(sid) + '/messages')).json();
        if (!out && j.session_id == sid && Array.isArray(j.messages)) {
          msgs = j.messages.map(m => ({role: m.role, content: m.content, sources: m.sources}));
          save();
          paint();
        }
      } catch (e) {
        if (e.code == 'session_expired' || e.status == 404) out || reset();
        else fail(e);
      }
    };
    const die = () => {
      dead = 1;
      send.disabled = true;
      say("This assistant isn't available here right now.");
      state('unavailable');
    };
    // Gives an unsent message back to the input.
    const unsend = o => {
      if (o && !o.ok) {
        o.el.remove();
        input.value = o.text + (input.value.trim() ? '\n' + input.value : '');
        grow();
      }
      out = null;
    };
    const fail = (e, o) => {
      const c = e.code;
      if (c == 'aborted') return;
      emit('error', {code: c, message: e.message || c});
      if (DEAD.test(c)) {
        unsend(o);
        die();
      } else if (!o) {
        if (c == 'offline') say("You're offline. Messages will be sent once you're back online."), state('offline');
      } else if (c == 'validation_failed') {
        unsend(o);
        say(e.fields && e.fields.message ? 'Your message ' + e.fields.message + '.' : e.message || 'Please check your message.');
        state('idle');
      } else if (e.wait) {
        say('Lots of questions right now. Trying again in ' + e.wait + (e.wait > 1 ? ' seconds…' : ' second…'));
        state('waiting');
        timer = setTimeout(safe(deliver), e.wait * 1e3);
      } else if (c == 'offline') {
        say("You're offline. Your message will be sent once you're back online.", 1);
        state('offline');
      } else {
        say(/^llm_/.test(c) ? "The assistant couldn't answer just now." : c == 'network'
          ? "Couldn't reach the assistant." : 'Something went wrong.', 1);
        state('error');
      }
    };

    const deliver = async () => {
      const o = out, g = gen;
      if (!o || busy || dead) return;
      busy = 1;
      clearTimeout(timer);
      timer = 0;
      say();
      state('sending');
      const dots = el('div', {class: 'msg typing', 'aria-hidden': 'true'}, el('i'), el('i'), el('i'));
      list.append(dots);
      down();
      let m;
      try {
        const chat = () => call('/widget/chat', {session_id: sid, message: o.text}, 1);
        if (!sid) await start();
        let r;
        try {
          r = await chat();
        } catch (e) {
          if (e.code != 'session_expired' && e.status != 404) throw e;
          old = old.concat(msgs); // the session ended: carry on in a new one
          msgs = [];
          sid = null;
          await start();
          r = await chat();
        }
        if (!o.ok) {
          o.ok = 1;
          o.el.classList.remove('pending');
          msgs.push({role: 'user', content: o.text, sources: []});
          save();
          emit('message', {role: 'user', content: o.text, sources: []});
        }
        let text = '', src = [], fin;
        await read(r, (ev, d) => {
          if (ev == 'delta') {
            if (!m) dots.remove(), m = add('assistant', '');
            text += d.text || '';
            const stick = near();
            raf = raf || requestAnimationFrame(safe(() => {
              raf = 0;
              md(text, m.b);
              stick && down();
            }));
          } else if (ev == 'sources') src = d;
          else if (ev == 'done') fin = d;
          else if (ev == 'error') throw {code: d.code, message: d.message};
        });
        if (!fin) throw {code: 'network'};
        cancelAnimationFrame(raf);
        raf = 0;
        text = fin.reply != null ? String(fin.reply) : text;
        dots.remove();
        m = m || add('assistant', '');
        md(text, m.b);
        sources(m, src);
        down();
        msgs.push({role: 'assistant', content: text, sources: src});
        save();
        out = null;
        state('idle');
        live.textContent = m.b.textContent;
        emit('message', {role: 'assistant', content: text, sources: src});
      } catch (e) {
        if (g != gen) return;
        cancelAnimationFrame(raf);
        raf = 0;
        dots.remove();
        m && m.remove();
        fail(e && e.code ? e : {code: navigator.onLine === false ? 'offline' : 'network'}, o); // a broken stream
      } finally {
        if (g == gen) busy = 0;
      }
    };
    // Sends text from the visitor: true when it was taken (the input may be cleared).
    const submit = t => {
      t = String(t == null ? '' : t).trim();
      if (dead || busy) return;
      if (pv) return say('This is a preview: messages are not sent.');
      if (out && !out.ok) return deliver(), false; // the unsent message goes first
      if (!t) return;
      say();
      out = {text: t, el: add('user', t)};
      out.el.classList.add('pending');
      deliver();
      return true;
    };

    const fit = () => {
      const v = W.visualViewport;
      if (v) {
        root.style.setProperty('--vh', v.height + 'px');
        root.style.setProperty('--vt', v.offsetTop + 'px');
      }
    };
    const open = focus => {
      if (!isOpen) {
        isOpen = 1;
        panel.hidden = false;
        root.classList.add('open');
        bubble.setAttribute('aria-expanded', 'true');
        fit();
        down();
        if (!opened && !dead) {
          opened = 1;
          (sid ? sync() : start()).catch(e => fail(e));
        }
        emit('open');
      }
      focus !== false && input.focus();
    };
    const close = () => {
      if (!isOpen) return;
      const back = panel.contains(sh.activeElement);
      isOpen = 0;
      panel.hidden = true;
      root.classList.remove('open');
      bubble.setAttribute('aria-expanded', 'false');
      back && bubble.focus();
      emit('close');
    };
    const toggle = () => isOpen ? close() : open();
    const grow = () => {
      input.style.height = '';
      input.style.height = Math.min(input.scrollHeight + 2, 120) + 'px';
    };

    const on = (t, ev, f) => t.addEventListener(ev, safe(f));
    on(bubble, 'click', toggle);
    on(closeBtn, 'click', close);
    on(newBtn, 'click', () => {
      const o = out;
      gen.abort();
      gen = new AbortController();
      clearTimeout(timer);
      busy = 0;
      unsend(o);
      say();
      state('idle');
      dead && die();
      reset();
      input.focus();
    });
    on(retry, 'click', () => {
      deliver();
      input.focus();
    });
    on(form, 'submit', e => {
      e.preventDefault();
      if (submit(input.value)) {
        input.value = '';
        grow();
      }
    });
    on(input, 'keydown', e => {
      if (e.key == 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit ? form.requestSubmit() : send.click();
      }
    });
    on(input, 'input', grow);
    on(root, 'keydown', e => {
      e.stopPropagation(); // the host page's shortcuts should not fire while the visitor types
      if (e.key == 'Escape' && isOpen) {
        close();
        bubble.focus();
      }
    });
    for (const t of ['keyup', 'keypress']) on(root, t, e => e.stopPropagation());
    on(W, 'online', () => {
      if (root.dataset.state == 'offline') out ? deliver() : (say(), state('idle'));
    });
    on(W, 'storage', e => {
      if (e.key == key('chat') && !out && !busy) {
        load();
        apply();
        paint();
      }
    });
    if (W.visualViewport) for (const t of ['resize', 'scroll']) on(W.visualViewport, t, fit);
    try { mq.addEventListener('change', safe(apply)) } catch (e) {}

    apply();
    paint();
    D.documentElement.append(host);

    const api = {
      version: '1',
      open: () => open(),
      close,
      toggle,
      send: t => {
        open();
        submit(t);
      },
      on: (ev, f) => {
        if (typeof f != 'function') return noop;
        (hs[ev] = hs[ev] || []).push(f);
        return () => hs[ev] = hs[ev].filter(g => g != f);
      },
      identify: p => {
        vid = p && p.id != null && p.id !== '' ? String(p.id).slice(0, 200) : null;
        put('visitor', vid);
      },
      configure: o => {
        for (const k in o) o[k] == null || o[k] === '' ? delete conf[k] : conf[k] = o[k]; // empty: back to the default
        apply();
        welcome();
      }
    };
    for (const k in api) if (typeof api[k] == 'function') api[k] = safe(api[k]);
    W.Docent = api;
    for (const c of Array.isArray(G) ? G : G && G.q || []) try { api[c[0]](...c[1] || []) } catch (e) {}
    if (pv || cfg.open != null && cfg.open != 'false') open(false);
  } catch (e) {}
})();
