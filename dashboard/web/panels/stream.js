// The STREAM panel: the broker's totals, per stream its partitions
// (offsets, messages, bytes) and retention settings, its consumer groups
// (members, assignment, committed offset and lag per partition), and a
// message list of one partition from a chosen offset with key and value
// previews.
import { api, bytesNode, el, fill, formatBytes, formatMillis, formatNumber, keepFocus } from '../ui.js';

/** Messages a list shows. */
const MESSAGE_LIST_SIZE = 50;

let ui;
/** The message list shown: { id, label, partition, from } or null; from null = the earliest. */
let selected = null;
/** Counts message list loads, so that a late answer never replaces a newer list. */
let seq = 0;

function stat(label, value, field, detail) {
  return el(
    'div',
    { class: 'card', dataset: { field } },
    el('dt', { text: label }),
    el('dd', {}, el('span', { class: 'value', text: value }), detail && el('small', { class: 'muted', text: detail })),
  );
}

function renderStats(s) {
  fill(
    ui.stats,
    stat('Streams', formatNumber(s.streams), 'streams', `${formatNumber(s.partitions)} partition${s.partitions === 1 ? '' : 's'}`),
    stat('Messages', formatNumber(s.messages), 'messages', `${formatBytes(s.bytes)} retained`),
    stat('Groups', formatNumber(s.groups), 'groups'),
    stat('Persistence', 'logged', 'persistence', s.persistence),
  );
}

function say(text, kind = 'info') {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
}

function limitText(n, format) {
  return n === 0 ? 'none' : format(n);
}

function settingsText(s) {
  return `retention per partition: age ${limitText(s.max_age_ms, formatMillis)} · bytes ${limitText(s.max_bytes, formatBytes)} · messages ${limitText(s.max_messages, formatNumber)}`;
}

/** Class of header cells read by screen readers only. */
const HIDDEN = 'visually-hidden';

function head(...cells) {
  const th = ([text, cls]) => (cls === HIDDEN ? el('th', { scope: 'col' }, el('span', { class: HIDDEN, text })) : el('th', { scope: 'col', class: cls, text }));
  return el('thead', {}, el('tr', {}, ...cells.map(th)));
}

function partitionRow(s, p) {
  const label = s.name.text;
  return el(
    'tr',
    { dataset: { partition: String(p.partition) } },
    el('th', { scope: 'row', class: 'num', text: String(p.partition) }),
    el('td', { class: 'num first', text: formatNumber(p.first) }),
    el('td', { class: 'num next', text: formatNumber(p.next) }),
    el('td', { class: 'num messages', text: formatNumber(p.messages) }),
    el('td', { class: 'num', text: formatBytes(p.bytes) }),
    el('td', { class: 'num muted', text: formatBytes(p.disk_bytes) }),
    el(
      'td',
      { class: 'actions' },
      el('button', {
        type: 'button',
        class: 'small',
        dataset: { focus: `messages:${s.id}:${p.partition}` },
        'aria-label': `Show the messages of partition ${p.partition} of ${label}`,
        disabled: p.messages === 0,
        onclick: () => showMessages({ id: s.id, label, partition: p.partition, from: null }),
        text: 'Messages',
      }),
    ),
  );
}

function groupRows(g) {
  return g.partitions.map((p) =>
    el(
      'tr',
      { dataset: { group: g.name.text, partition: String(p.partition) } },
      el('th', { scope: 'row', class: 'key' }, bytesNode(g.name)),
      el('td', { class: 'num', text: String(p.partition) }),
      el('td', { class: 'owner' }, p.owner.len === 0 ? el('span', { class: 'muted', text: 'unassigned' }) : bytesNode(p.owner)),
      el('td', { class: 'num committed', text: formatNumber(p.committed) }),
      el('td', { class: 'num lag', text: formatNumber(p.lag) }),
    ),
  );
}

function membersLine(g) {
  const line = el('li', { dataset: { group: g.name.text } }, bytesNode(g.name), `: ${formatNumber(g.members.length)} member${g.members.length === 1 ? '' : 's'}`);
  for (const m of g.members) {
    const parts = m.partitions.length === 0 ? 'no partition' : `partition${m.partitions.length === 1 ? '' : 's'} ${m.partitions.join(', ')}`;
    line.append(' · ', bytesNode(m.id), ` (${parts}${m.blocked ? ', waiting' : ''})`);
  }
  return line;
}

function streamBlock(s) {
  const partitions = el(
    'table',
    { class: 'keys partitions' },
    el('caption', { class: 'visually-hidden', text: `Partitions of ${s.name.text}` }),
    head(['Partition', 'num'], ['First offset', 'num'], ['Next offset', 'num'], ['Messages', 'num'], ['Bytes', 'num'], ['On disk', 'num'], ['Actions', HIDDEN]),
    el('tbody', {}, ...s.partitions.map((p) => partitionRow(s, p))),
  );
  const groupBodies = s.groups.flatMap(groupRows);
  if (groupBodies.length === 0) groupBodies.push(el('tr', {}, el('td', { colspan: 5, class: 'muted', text: 'No consumer group.' })));
  const groups = el(
    'table',
    { class: 'keys groups' },
    el('caption', { class: 'visually-hidden', text: `Consumer groups of ${s.name.text}` }),
    head(['Group'], ['Partition', 'num'], ['Owner'], ['Committed', 'num'], ['Lag', 'num']),
    el('tbody', {}, ...groupBodies),
  );
  const more = s.group_count > s.groups.length ? el('p', { class: 'muted', text: `${s.groups.length} of ${formatNumber(s.group_count)} groups shown.` }) : null;
  return el(
    'div',
    { class: 'stream', dataset: { stream: s.name.text } },
    el('h4', {}, bytesNode(s.name), el('small', { class: 'muted settings', text: ` ${settingsText(s.settings)}` })),
    el('div', { class: 'scroll' }, partitions),
    el('div', { class: 'scroll' }, groups),
    s.groups.length ? el('ul', { class: 'members muted' }, ...s.groups.map(membersLine)) : null,
    more,
  );
}

function renderStreams(list) {
  keepFocus(ui.streams, () => {
    const blocks = list.map(streamBlock);
    if (blocks.length === 0) blocks.push(el('p', { class: 'muted', text: 'No stream yet.' }));
    fill(ui.streams, ...blocks);
  });
}

function messageRow(m) {
  return el(
    'tr',
    { dataset: { offset: String(m.offset) } },
    el('th', { scope: 'row', class: 'num', text: formatNumber(m.offset) }),
    el('td', { text: new Date(m.time).toLocaleTimeString('en-GB') }),
    el('td', { class: 'preview key' }, m.key.len === 0 ? el('span', { class: 'muted', text: '—' }) : bytesNode(m.key)),
    el('td', { class: 'preview value' }, bytesNode(m.value)),
  );
}

async function loadMessages() {
  if (!selected) return;
  const mine = ++seq;
  const { id, label, partition, from } = selected;
  try {
    const list = await api.get('api/stream/messages', { id, partition, from: from ?? undefined, count: MESSAGE_LIST_SIZE });
    if (mine !== seq) return;
    ui.messagesTitle.textContent = `Messages of “${label}” partition ${partition} · offsets ${formatNumber(list.first)} to ${formatNumber(list.next - 1)} retained`;
    const rows = list.messages.map(messageRow);
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: 'No message from this offset.' })));
    keepFocus(ui.messages, () => fill(ui.messages.tBodies[0], ...rows));
    if (document.activeElement !== ui.from) ui.from.value = String(list.messages.length ? list.messages[0].offset : list.next_from);
    ui.nextPage.disabled = list.next_from >= list.next;
    ui.nextPage.onclick = () => showMessages({ ...selected, from: list.next_from });
    ui.messagesBox.hidden = false;
  } catch (err) {
    if (mine === seq) say(`Cannot load the messages: ${err.message}`, 'error');
  }
}

function showMessages(sel) {
  selected = sel;
  say('');
  loadMessages();
}

function mount(section, ctx) {
  const stats = el('dl', { class: 'cards' });
  const message = el('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const streams = el('div', { class: 'streams' });
  const messagesTitle = el('h3', { id: 'stream-messages-title' });
  const messages = el(
    'table',
    { class: 'keys messages', 'aria-labelledby': 'stream-messages-title' },
    head(['Offset', 'num'], ['Appended'], ['Key'], ['Value']),
    el('tbody'),
  );
  const from = el('input', { type: 'number', min: '0', step: '1', id: 'stream-from', class: 'from' });
  const go = el('button', { type: 'submit', class: 'small', text: 'Show' });
  const nextPage = el('button', { type: 'button', class: 'small', text: 'Next page' });
  const form = el(
    'form',
    {
      class: 'controls',
      onsubmit: (e) => {
        e.preventDefault();
        if (selected) showMessages({ ...selected, from: from.value === '' ? null : from.value });
      },
    },
    el('label', { for: 'stream-from', text: 'From offset ' }),
    from,
    ' ',
    go,
    ' ',
    nextPage,
  );
  const messagesBox = el('div', { class: 'stream-messages', hidden: true }, messagesTitle, form, el('div', { class: 'scroll' }, messages));
  section.append(stats, el('h3', { text: 'Streams' }), message, streams, messagesBox);
  ui = { ctx, stats, message, streams, messages, messagesTitle, messagesBox, from, nextPage };
}

async function update(data) {
  renderStats(data);
  renderStreams(data.list);
  if (selected && !ui.ctx.isPaused()) await loadMessages();
}

export default { title: 'Stream', mount, update };
