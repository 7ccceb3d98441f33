// The PUBSUB panel: the broker's counters, the tree of subscribed topic
// filters and channels (patterns listed apart) with their subscriber
// counts, and the retained values with their age and a payload preview.
import { bytesNode, el, fill, formatBytes, formatMillis, formatNumber } from '../ui.js';

/** The level separator of topics and filters. */
const LEVEL_SEPARATOR = '/';

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
  fill(
    ui.stats,
    stat('Subscribers', formatNumber(s.subscribers), 'subscribers', `${formatNumber(s.subscriptions)} subscriptions`),
    stat('Filters', formatNumber(s.filters), 'filters', `${formatNumber(s.channels)} channels · ${formatNumber(s.patterns)} patterns`),
    stat('Published', formatNumber(s.published), 'published'),
    stat('Delivered', formatNumber(s.delivered), 'delivered', `${formatNumber(s.refused)} refused`),
    stat('Slow consumers', formatNumber(s.slow_consumers), 'slow', 'disconnected over their output limit'),
    stat('Retained', formatNumber(s.retained), 'retained', formatBytes(s.retained_bytes)),
    stat('Persistence', s.read_only ? 'READ-ONLY' : 'logged', 'persistence', s.read_only ? s.last_error : s.persistence),
  );
}

/** A tree node: { children: Map(level -> node), subs: [{ kind, subscribers }] }. */
function newNode() {
  return { children: new Map(), subs: [] };
}

function buildTree(list) {
  const root = newNode();
  for (const s of list) {
    let node = root;
    for (const level of s.name.text.split(LEVEL_SEPARATOR)) {
      if (!node.children.has(level)) node.children.set(level, newNode());
      node = node.children.get(level);
    }
    node.subs.push(s);
  }
  return root;
}

function subBadge(s) {
  const who = `${formatNumber(s.subscribers)} subscriber${s.subscribers === 1 ? '' : 's'}`;
  return el('span', { class: 'sub', dataset: { kind: s.kind } }, el('span', { class: `type-badge ${s.kind}`, text: s.kind }), el('span', { class: 'muted count', text: who }));
}

function treeList(node, path) {
  const items = [];
  for (const [level, child] of node.children) {
    const full = path === undefined ? level : `${path}${LEVEL_SEPARATOR}${level}`;
    const label = el('span', { class: 'bytes level', title: full, text: level === '' ? '(empty level)' : level });
    const item = el('li', { dataset: { topic: full } }, label, ...child.subs.map(subBadge));
    if (child.children.size > 0) item.append(treeList(child, full));
    items.push(item);
  }
  return el('ul', { class: 'tree' }, ...items);
}

function renderTopics(topics) {
  const tree = topics.list.filter((s) => s.kind !== 'pattern' && !s.name.binary);
  const flat = topics.list.filter((s) => s.kind === 'pattern' || s.name.binary);
  const parts = [];
  if (topics.list.length === 0) parts.push(el('p', { class: 'muted', text: 'No subscription.' }));
  if (tree.length > 0) parts.push(treeList(buildTree(tree)));
  if (flat.length > 0) {
    parts.push(el('ul', { class: 'tree flat' }, ...flat.map((s) => el('li', {}, bytesNode(s.name), subBadge(s)))));
  }
  if (topics.list.length < topics.total) parts.push(el('p', { class: 'muted', text: `Showing ${formatNumber(topics.list.length)} of ${formatNumber(topics.total)} subscriptions.` }));
  fill(ui.topics, ...parts);
}

function renderRetained(retained) {
  const rows = retained.list.map((r) =>
    el(
      'tr',
      { dataset: { topic: r.topic.text } },
      el('th', { scope: 'row', class: 'key' }, bytesNode(r.topic)),
      el('td', { class: 'num age', text: formatMillis(r.age_ms) }),
      el('td', { class: 'num', text: formatBytes(r.payload.len) }),
      el('td', { class: 'preview' }, bytesNode(r.payload)),
    ),
  );
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: 'No retained value.' })));
  fill(ui.retained.tBodies[0], ...rows);
  ui.retainedInfo.textContent =
    retained.list.length < retained.total ? `Showing ${formatNumber(retained.list.length)} of ${formatNumber(retained.total)} retained values.` : '';
}

function mount(section) {
  const stats = el('dl', { class: 'cards' });
  const topics = el('div', { class: 'topics', id: 'pubsub-topics' });
  const retained = el(
    'table',
    { class: 'keys retained' },
    el('caption', { class: 'visually-hidden', text: 'Retained values' }),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { scope: 'col', text: 'Topic' }),
        el('th', { scope: 'col', class: 'num', text: 'Age' }),
        el('th', { scope: 'col', class: 'num', text: 'Size' }),
        el('th', { scope: 'col', text: 'Payload' }),
      ),
    ),
    el('tbody'),
  );
  const retainedInfo = el('p', { class: 'muted' });
  section.append(stats, el('h3', { text: 'Topic tree' }), topics, el('h3', { text: 'Retained values' }), el('div', { class: 'scroll' }, retained), retainedInfo);
  ui = { stats, topics, retained, retainedInfo };
}

function update(data) {
  renderStats(data);
  renderTopics(data.topics);
  renderRetained(data.retained_values);
}

export default { title: 'Pub/Sub', mount, update };
