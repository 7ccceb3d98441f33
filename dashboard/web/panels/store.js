// The STORE panel: the store's counters, a key browser (pattern, pages by
// cursor as SCAN pages), a detail view of one key and its deletion.
import { api, bytesNode, el, fill, formatBytes, formatMillis, formatNumber, hexDump, keepFocus } from '../ui.js';

/** Keys per page; equal to the snapshot's limit, so the first page comes with the snapshot. */
const PAGE_SIZE = 50;
const ALL_KEYS = '*';
const FIRST_CURSOR = '0';

const view = {
  match: ALL_KEYS,
  cursor: FIRST_CURSOR,
  /** The cursor of the next page; FIRST_CURSOR when this page is the last. */
  next: FIRST_CURSOR,
  /** Start cursors of the pages before this one. */
  history: [],
  /** Counts renders, so that a late answer never replaces a newer page. */
  seq: 0,
};

let ui;

function stat(label, value, field, detail) {
  return el(
    'div',
    { class: 'card', dataset: { field } },
    el('dt', { text: label }),
    el('dd', {}, el('span', { class: 'value', text: value }), detail && el('small', { class: 'muted', text: detail })),
  );
}

function renderStats(s) {
  const reads = s.hits + s.misses;
  fill(
    ui.stats,
    stat('Keys', formatNumber(s.keys), 'keys'),
    stat('With TTL', formatNumber(s.expires), 'expires'),
    stat('Memory', formatBytes(s.used_memory_bytes), 'memory', s.max_memory_bytes > 0 ? `of ${formatBytes(s.max_memory_bytes)}` : 'no limit'),
    stat('Eviction policy', s.policy, 'policy'),
    stat('Hit rate', reads > 0 ? `${((100 * s.hits) / reads).toFixed(1)} %` : '—', 'hits', `${formatNumber(s.hits)} hits · ${formatNumber(s.misses)} misses`),
    stat('Expired', formatNumber(s.expired_keys), 'expired'),
    stat('Evicted', formatNumber(s.evicted_keys), 'evicted'),
    stat('Persistence', 'memory only', 'persistence', s.persistence),
  );
  ui.total = s.keys;
}

function ttlText(ms) {
  return ms < 0 ? '—' : formatMillis(ms);
}

function sizeText(k) {
  return k.type === 'hash' ? `${formatNumber(k.len)} field${k.len === 1 ? '' : 's'}` : formatBytes(k.len);
}

function previewNode(k) {
  if (k.value) return bytesNode(k.value);
  const list = el('span', { class: 'fields' });
  for (const f of k.fields ?? []) {
    list.append(el('span', { class: 'field' }, bytesNode(f.name, { className: 'name' }), ' = ', bytesNode(f.value)));
  }
  if ((k.fields?.length ?? 0) < k.len) list.append(el('span', { class: 'muted', text: '…' }));
  return list;
}

function keyRow(k) {
  const label = k.key.text;
  const keyCell = k.id
    ? el('button', { type: 'button', class: 'link', dataset: { focus: `key:${k.id}` }, title: 'Show this key', onclick: () => openDetail(k.id) }, bytesNode(k.key))
    : bytesNode(k.key);
  const actions = k.id
    ? el('button', { type: 'button', class: 'danger small', dataset: { focus: `del:${k.id}` }, 'aria-label': `Delete key ${label}`, onclick: () => deleteKey(k.id, label) }, 'Delete')
    : null;
  return el(
    'tr',
    { dataset: { type: k.type } },
    el('th', { scope: 'row', class: 'key' }, keyCell),
    el('td', { class: 'type' }, el('span', { class: `type-badge ${k.type}`, text: k.type })),
    el('td', { class: 'num ttl', text: ttlText(k.ttl_ms) }),
    el('td', { class: 'num', text: sizeText(k) }),
    el('td', { class: 'num', text: formatBytes(k.memory_bytes) }),
    el('td', { class: 'preview' }, previewNode(k)),
    el('td', { class: 'actions' }, actions),
  );
}

function renderPage(page) {
  view.next = page.cursor;
  keepFocus(ui.table, () => {
    const rows = page.keys.map(keyRow);
    if (rows.length === 0) {
      const text = view.match === ALL_KEYS && view.cursor === FIRST_CURSOR ? 'The store is empty.' : 'No matching key on this page.';
      rows.push(el('tr', {}, el('td', { colspan: 7, class: 'muted', text })));
    }
    fill(ui.table.tBodies[0], ...rows);
  });
  const pageNo = view.history.length + 1;
  const more = view.next !== FIRST_CURSOR;
  ui.pageInfo.textContent = `Page ${pageNo} · ${page.keys.length} key${page.keys.length === 1 ? '' : 's'} shown · ${formatNumber(ui.total ?? 0)} in the store${more ? '' : ' · end of the walk'}`;
  ui.first.disabled = view.history.length === 0;
  ui.prev.disabled = view.history.length === 0;
  ui.next.disabled = !more;
}

function isSnapshotPage() {
  return view.match === ALL_KEYS && view.cursor === FIRST_CURSOR;
}

async function loadPage() {
  const seq = ++view.seq;
  try {
    const page = await api.get('api/store/keys', { match: view.match, cursor: view.cursor, count: PAGE_SIZE });
    if (seq === view.seq) renderPage(page);
  } catch (err) {
    if (seq === view.seq) say(`Cannot load keys: ${err.message}`, 'error');
  }
}

function say(text, kind = 'info') {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
}

function go(cursor, history) {
  view.cursor = cursor;
  view.history = history;
  loadPage();
}

async function deleteKey(id, label) {
  if (!window.confirm(`Delete the key “${label}”? This cannot be undone.`)) return;
  try {
    const result = await api.post('api/store/delete', { id });
    say(result.deleted ? `Deleted “${label}”.` : `“${label}” was already gone.`);
    if (ui.dialog.open) ui.dialog.close();
  } catch (err) {
    say(`Cannot delete “${label}”: ${err.message}`, 'error');
  }
  await loadPage();
  ui.ctx.refresh();
}

function meta(label, value) {
  return [el('dt', { text: label }), el('dd', {}, value)];
}

async function openDetail(id) {
  let k;
  try {
    k = await api.get('api/store/key', { id });
  } catch (err) {
    say(`Cannot show the key: ${err.message}`, 'error');
    return;
  }
  const body = [];
  body.push(
    el(
      'dl',
      { class: 'meta' },
      ...meta('Key', bytesNode(k.key)),
      ...meta('Type', k.type),
      ...meta('TTL', ttlText(k.ttl_ms)),
      ...meta('Size', sizeText(k)),
      ...meta('Memory', formatBytes(k.memory_bytes)),
    ),
  );
  if (k.value) {
    body.push(el('h4', { text: 'Value' }), el('pre', { class: 'value' }, bytesNode(k.value)));
    if (k.value.binary) {
      body.push(el('details', {}, el('summary', { text: 'Hex dump' }), el('pre', { class: 'hex', text: hexDump(k.value.base64) })));
    }
    if (k.value.truncated) body.push(el('p', { class: 'muted', text: `Showing the first ${formatBytes(k.value.base64 ? atob(k.value.base64).length : 0)} of ${formatBytes(k.value.len)}.` }));
  } else {
    const rows = k.fields.map((f) => el('tr', {}, el('th', { scope: 'row' }, bytesNode(f.name)), el('td', {}, bytesNode(f.value))));
    body.push(
      el('h4', { text: 'Fields' }),
      el(
        'div',
        { class: 'scroll' },
        el('table', { class: 'fields-table' }, el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Field' }), el('th', { scope: 'col', text: 'Value' }))), el('tbody', {}, ...rows)),
      ),
    );
    if (k.fields.length < k.len) body.push(el('p', { class: 'muted', text: `Showing ${formatNumber(k.fields.length)} of ${formatNumber(k.len)} fields.` }));
  }
  fill(ui.detailBody, ...body);
  ui.detailDelete.onclick = () => deleteKey(k.id, k.key.text);
  ui.detailDelete.hidden = !k.id;
  if (!ui.dialog.open) ui.dialog.showModal();
}

function mount(section, ctx) {
  const input = el('input', { id: 'store-match', type: 'search', value: ALL_KEYS, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'store-match-help' });
  const form = el(
    'form',
    { class: 'browse', role: 'search', 'aria-label': 'Browse keys' },
    el('label', { for: 'store-match', text: 'Key pattern' }),
    input,
    el('button', { type: 'submit', text: 'Browse' }),
    el('small', { id: 'store-match-help', class: 'muted', text: 'Redis glob: * any, ? one character, [abc] a set, \\ escapes.' }),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    view.match = input.value === '' ? ALL_KEYS : input.value;
    go(FIRST_CURSOR, []);
  });
  const first = el('button', { type: 'button', text: 'First page', disabled: true, onclick: () => go(FIRST_CURSOR, []) });
  const prev = el('button', { type: 'button', text: 'Previous page', disabled: true, onclick: () => go(view.history.at(-1), view.history.slice(0, -1)) });
  const next = el('button', { type: 'button', text: 'Next page', disabled: true, onclick: () => go(view.next, [...view.history, view.cursor]) });
  const pageInfo = el('span', { class: 'muted page-info', 'aria-live': 'polite' });
  const table = el(
    'table',
    { class: 'keys' },
    el('caption', { class: 'visually-hidden', text: 'Keys of the store' }),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { scope: 'col', text: 'Key' }),
        el('th', { scope: 'col', text: 'Type' }),
        el('th', { scope: 'col', class: 'num', text: 'TTL' }),
        el('th', { scope: 'col', class: 'num', text: 'Size' }),
        el('th', { scope: 'col', class: 'num', text: 'Memory' }),
        el('th', { scope: 'col', text: 'Value' }),
        el('th', { scope: 'col' }, el('span', { class: 'visually-hidden', text: 'Actions' })),
      ),
    ),
    el('tbody'),
  );
  const detailBody = el('div', { class: 'detail-body' });
  const detailDelete = el('button', { type: 'button', class: 'danger', text: 'Delete key' });
  const dialog = el(
    'dialog',
    { id: 'store-detail', 'aria-labelledby': 'store-detail-title' },
    el('h3', { id: 'store-detail-title', text: 'Key' }),
    detailBody,
    el('form', { method: 'dialog', class: 'dialog-actions' }, detailDelete, el('button', { type: 'submit', text: 'Close', autofocus: true })),
  );
  const stats = el('dl', { class: 'cards' });
  const message = el('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  section.append(stats, el('h3', { text: 'Keys' }), form, el('div', { class: 'pager' }, first, prev, next, pageInfo), message, el('div', { class: 'scroll' }, table), dialog);
  ui = { ctx, stats, table, pageInfo, first, prev, next, message, dialog, detailBody, detailDelete, total: 0 };
}

async function update(data) {
  renderStats(data);
  if (isSnapshotPage()) {
    ++view.seq;
    renderPage(data.page);
  } else {
    await loadPage();
  }
}

export default { title: 'Store', mount, update };
