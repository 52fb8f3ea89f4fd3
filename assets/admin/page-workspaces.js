// Workspaces and their knowledge: the list (create, rename, delete) and one
// workspace: upload files (drag and drop, one request per file with its own
// progress bar), add text or a page/sitemap by URL, the documents with their
// live status, and a search box to try retrieval.

import { api, upload } from './api.js';
import {
  h, append, fill, field, alertBox, announce, confirmDialog, dialog, fmtBytes, fmtNumber, messageOf, time,
  onSubmit,
} from './dom.js';
import { badge, empty, pageHeader, section, table } from './ui.js';

/** How often the document list is read again while a document is being processed. */
const POLL_MS = 1500;

// ---------------------------------------------------------------- the list

export async function list(ctx) {
  ctx.setTitle('Workspaces');
  const [workspaces, bots] = await Promise.all([
    api('/workspaces', { signal: ctx.signal }),
    api('/widget/bots', { signal: ctx.signal }),
  ]);
  const name = h('input', { type: 'text', maxlength: '200', autocomplete: 'off' });
  const error = alertBox();
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create workspace');
  const form = h('form', { class: 'inline-form', novalidate: true },
    field('New workspace name', name, { name: 'name' }), create);
  onSubmit(form, {
    button: create, error, action: async () => {
      const ws = await api('/workspaces', { method: 'POST', body: { name: name.value } });
      announce(`Workspace ${ws.name} created.`);
      ctx.navigate(`/workspaces/${ws.id}`);
    },
  });

  const botCount = id => bots.filter(b => b.workspace_id === id).length;
  const rows = workspaces.map(ws => h('tr', {},
    h('th', { scope: 'row' }, h('a', { href: `#/workspaces/${ws.id}` }, ws.name)),
    h('td', {}, fmtNumber(botCount(ws.id))),
    h('td', {}, ws.role),
    h('td', {}, time(ws.created_at))));

  append(ctx.view,
    pageHeader('Workspaces', { sub: 'A workspace holds the documents your bots answer from.' }),
    section('New workspace', form, error),
    workspaces.length
      ? table('Your workspaces', ['Name', 'Bots', 'Your role', 'Created'], rows, { cls: 'list' })
      : empty('No workspaces yet. Create one above, then add documents to it.'));
}

// ---------------------------------------------------------------- one workspace

export async function detail(ctx) {
  const id = Number(ctx.params[0]);
  const base = `/workspaces/${id}`;
  const [ws, docs] = await Promise.all([
    api(base, { signal: ctx.signal }),
    api(`${base}/documents`, { signal: ctx.signal }),
  ]);
  ctx.setTitle(ws.name);

  const title = pageHeader(ws.name, {
    crumbs: [['Workspaces', '#/workspaces']],
    actions: [
      h('button', { type: 'button', onclick: () => rename(ws, title) }, 'Rename'),
      h('button', { type: 'button', class: 'danger', onclick: () => remove(ws, ctx) }, 'Delete'),
    ],
  });

  const docList = documentList(base, docs, ctx.signal);
  append(ctx.view,
    title,
    section('Documents', docList.el),
    h('div', { class: 'grid-2' },
      section('Upload files', uploader(base, docList.refresh)),
      section('Add text or a web page', textForm(base, docList.refresh), urlForm(base, docList.refresh))),
    section('Try retrieval', searchBox(base)));
}

async function rename(ws, header) {
  const input = h('input', { type: 'text', maxlength: '200', value: ws.name });
  const updated = await dialog({
    title: 'Rename workspace',
    content: [field('Name', input, { name: 'name' })],
    confirmLabel: 'Rename',
    onConfirm: () => api(`/workspaces/${ws.id}`, { method: 'PUT', body: { name: input.value } }),
  });
  if (updated) {
    ws.name = updated.name;
    header.querySelector('h1').textContent = updated.name;
    document.title = `${updated.name} · Docent console`;
    announce('Workspace renamed.');
  }
}

async function remove(ws, ctx) {
  const done = await confirmDialog({
    title: 'Delete workspace?',
    message: `“${ws.name}”, its documents and its bots will be deleted. Embedded widgets of those bots stop working. This cannot be undone.`,
    confirmLabel: 'Delete workspace',
    onConfirm: () => api(`/workspaces/${ws.id}`, { method: 'DELETE' }).then(() => true),
  });
  if (done) {
    announce('Workspace deleted.');
    ctx.navigate('/workspaces');
  }
}

// ---------------------------------------------------------------- documents

function statusCell(doc) {
  const cell = h('td', { class: 'status-cell' }, badge(doc.status));
  if (doc.status === 'failed' && doc.error) cell.append(h('p', { class: 'doc-error' }, doc.error));
  return cell;
}

/** The document table; reads the list again every POLL_MS while one is pending or processing. */
function documentList(base, initial, signal) {
  const el = h('div', { class: 'documents' });
  const live = h('p', { class: 'sr-only', role: 'status' });
  let timer = 0;
  let docs = initial;
  const statuses = new Map(initial.map(d => [d.id, d.status]));

  const draw = () => {
    if (!docs.length) {
      fill(el, empty('No documents yet. Upload files or add text above.'), live);
      return;
    }
    const rows = docs.map(doc => h('tr', { dataset: { documentId: String(doc.id), status: doc.status } },
      h('th', { scope: 'row' },
        doc.url && /^https?:/i.test(doc.url)
          ? h('a', { href: doc.url, target: '_blank', rel: 'noopener noreferrer' }, doc.title)
          : doc.title,
        doc.source && doc.source !== doc.title ? h('span', { class: 'source' }, doc.source) : null),
      statusCell(doc),
      h('td', { class: 'num' }, fmtNumber(doc.chunk_count)),
      h('td', { class: 'num' }, fmtBytes(doc.size_bytes)),
      h('td', {}, time(doc.created_at)),
      h('td', {}, h('button', {
        type: 'button', class: 'small danger', 'aria-label': `Delete ${doc.title}`,
        onclick: e => del(doc, e.currentTarget),
      }, 'Delete'))));
    fill(el, table('Documents', ['Title', 'Status', 'Chunks', 'Size', 'Added', ''], rows, { cls: 'list' }), live);
  };

  const del = async doc => {
    const ok = await confirmDialog({
      title: 'Delete document?',
      message: `“${doc.title}” will be deleted; bots stop citing it at once.`,
      confirmLabel: 'Delete document',
      onConfirm: () => api(`${base}/documents/${doc.id}`, { method: 'DELETE' }).then(() => true),
    });
    if (ok) {
      announce(`${doc.title} deleted.`);
      await refresh();
    }
  };

  const schedule = () => {
    clearTimeout(timer);
    if (!signal.aborted && docs.some(d => d.status === 'pending' || d.status === 'processing')) {
      timer = setTimeout(refresh, POLL_MS);
    }
  };

  async function refresh() {
    try {
      docs = await api(`${base}/documents`, { signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      // Try again at the next tick; the table keeps what it had.
      timer = setTimeout(refresh, POLL_MS * 2);
      return;
    }
    // Say what finished: "Guide.md is ready (12 chunks)."
    const news = [];
    for (const d of docs) {
      const was = statuses.get(d.id);
      if (was && was !== d.status && (d.status === 'ready' || d.status === 'failed')) {
        news.push(d.status === 'ready' ? `${d.title} is ready (${d.chunk_count} chunks).` : `${d.title} failed: ${d.error || 'unknown error'}.`);
      }
      statuses.set(d.id, d.status);
    }
    if (news.length) live.textContent = news.join(' ');
    draw();
    schedule();
  }

  signal.addEventListener('abort', () => clearTimeout(timer));
  draw();
  schedule();
  return { el, refresh };
}

// ---------------------------------------------------------------- adding knowledge

const ACCEPT = '.txt,.md,.markdown,.html,.htm,.pdf,.docx';

function uploader(base, refresh) {
  const input = h('input', { type: 'file', multiple: true, accept: ACCEPT, class: 'file-input' });
  const zone = h('div', { class: 'dropzone' },
    h('p', { class: 'drop-title' }, 'Drop files here'),
    h('p', { class: 'hint' }, 'Text, Markdown, HTML, PDF or Word (.docx).'),
    field('Or choose files', input, { name: 'file' }));
  const uploads = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });

  const send = files => {
    for (const file of files) {
      const bar = h('progress', { max: '100', value: 0, 'aria-label': `Uploading ${file.name}` });
      const state = h('span', { class: 'upload-state' }, 'Uploading…');
      const item = h('li', { class: 'upload', dataset: { name: file.name } },
        h('span', { class: 'upload-name' }, file.name), h('span', { class: 'muted' }, fmtBytes(file.size)), bar, state);
      uploads.prepend(item);
      const { done } = upload(`${base}/documents`, file, f => { bar.value = Math.round(f * 100); });
      done.then(answer => {
        bar.value = 100;
        const dup = answer?.documents?.some(d => d.duplicate);
        state.textContent = dup ? 'Already in this workspace' : 'Uploaded, processing…';
        item.dataset.state = 'done';
        announce(`${file.name} uploaded.`);
        refresh();
      }, err => {
        bar.remove();
        state.textContent = messageOf(err);
        state.classList.add('error-text');
        item.dataset.state = 'failed';
        announce(`${file.name} was not uploaded: ${messageOf(err)}`);
      });
    }
  };

  input.addEventListener('change', () => {
    send([...input.files]);
    input.value = '';
  });
  zone.addEventListener('dragover', e => {
    if (![...e.dataTransfer.types].includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', e => {
    if (!zone.contains(e.relatedTarget)) zone.classList.remove('over');
  });
  zone.addEventListener('drop', e => {
    e.preventDefault();
    zone.classList.remove('over');
    send([...e.dataTransfer.files]);
  });
  return [zone, uploads];
}

function formWith(fields, label, submit) {
  const error = alertBox();
  const button = h('button', { type: 'submit' }, label);
  const form = h('form', { class: 'stack', novalidate: true }, fields, error, h('div', { class: 'actions' }, button));
  onSubmit(form, { button, error, action: submit });
  return form;
}

function textForm(base, refresh) {
  const title = h('input', { type: 'text', maxlength: '200' });
  const text = h('textarea', { rows: '5' });
  const url = h('input', { type: 'url', placeholder: 'https://…' });
  return formWith([
    field('Title', title, { name: 'title' }),
    field('Text', text, { name: 'text', hint: 'Markdown headings (#) become sections.' }),
    field('Link (optional)', url, { name: 'url', hint: 'Where readers can see this text; answers link to it.' }),
  ], 'Add text', async form => {
    const body = { title: title.value, text: text.value };
    if (url.value.trim()) body.url = url.value.trim();
    await api(`${base}/documents`, { method: 'POST', body });
    form.reset();
    announce('Text added; processing…');
    await refresh();
  });
}

function urlForm(base, refresh) {
  const url = h('input', { type: 'url', placeholder: 'https://example.com/docs or …/sitemap.xml' });
  return formWith([
    field('Page or sitemap address', url, { name: 'url', hint: 'A sitemap adds every page of its site that it lists.' }),
  ], 'Add from the web', async form => {
    const answer = await api(`${base}/documents`, { method: 'POST', body: { url: url.value.trim() } });
    form.reset();
    const n = answer.documents.length;
    announce(n === 1 ? 'Page added; fetching…' : `${n} pages added; fetching…`);
    await refresh();
  });
}

// ---------------------------------------------------------------- search

function searchBox(base) {
  const query = h('input', { type: 'search', maxlength: '1000', placeholder: 'A question a visitor might ask' });
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const error = alertBox();
  const button = h('button', { type: 'submit' }, 'Search');
  const form = h('form', { class: 'inline-form', role: 'search', novalidate: true },
    field('Search this workspace', query, { name: 'query' }), button);
  onSubmit(form, {
    button, error, action: async () => {
      const answer = await api(`${base}/search`, { method: 'POST', body: { query: query.value, limit: 8 } });
      const max = Math.max(...answer.results.map(r => r.score), 0) || 1;
      fill(results, answer.results.length
        ? [h('p', { class: 'muted' }, `${answer.results.length} passages, best first.`),
          h('ol', { class: 'passages' }, answer.results.map(r => h('li', { class: 'passage' },
            h('div', { class: 'passage-head' },
              h('strong', {}, r.title),
              r.heading_path ? h('span', { class: 'muted' }, r.heading_path) : null,
              h('span', { class: 'score', title: r.similarity != null ? `cosine similarity ${r.similarity.toFixed(3)}` : null },
                `score ${r.score.toFixed(3)}`),
              h('meter', { min: '0', max: '1', value: String(r.score / max), 'aria-label': `Relative score of ${r.title}` })),
            h('p', { class: 'passage-text' }, r.text))))]
        : empty('Nothing in this workspace matches. A bot would answer with its fallback message.'));
    },
  });
  return [form, error, results];
}
