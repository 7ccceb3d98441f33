// Helpers shared by the page and the panels' renderers.
//
// Safety rule: user data (keys, values, topics, payloads) only ever enters
// the page as text: el() turns strings into text nodes and sets attributes
// with setAttribute; nothing here or in a renderer parses a string as markup.

/** Header every POST carries; the server refuses actions without it (CSRF). */
const CSRF_HEADER = 'X-Nexo-Dashboard';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
const BYTES_PER_UNIT = 1024;
const MS_PER_SECOND = 1000;
const SECONDS_PER_MINUTE = 60;
const SECONDS_PER_HOUR = 3600;
const SECONDS_PER_DAY = 86400;
const MICROS_PER_MS = 1000;

/**
 * Creates an element. attrs: class, text, on<Event> handlers, dataset
 * (object) and other attributes (set with setAttribute). children: nodes or
 * strings (as text nodes); null and undefined are skipped.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = String(value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on')) {
      if (typeof value !== 'function') throw new TypeError(`${name} must be a function`);
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces the children of node. */
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== undefined && c !== null));
}

export function formatNumber(n) {
  return Number(n).toLocaleString('en-US');
}

export function formatBytes(n) {
  let value = Number(n);
  let unit = 0;
  while (value >= BYTES_PER_UNIT && unit < BYTE_UNITS.length - 1) {
    value /= BYTES_PER_UNIT;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A duration in seconds as "3 d 4 h", "5 m 2 s", "1.5 s". */
export function formatSeconds(total) {
  const s = Number(total);
  if (s < SECONDS_PER_MINUTE) return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  const d = Math.floor(s / SECONDS_PER_DAY);
  const h = Math.floor((s % SECONDS_PER_DAY) / SECONDS_PER_HOUR);
  const m = Math.floor((s % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE);
  const rest = Math.floor(s % SECONDS_PER_MINUTE);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} m`;
  return `${m} m ${rest} s`;
}

export function formatMillis(ms) {
  return formatSeconds(Number(ms) / MS_PER_SECOND);
}

export function formatMicros(us) {
  const v = Number(us);
  return v >= MICROS_PER_MS ? `${(v / MICROS_PER_MS).toFixed(1)} ms` : `${v.toFixed(v < 10 ? 1 : 0)} µs`;
}

/**
 * Renders a bytes view from the API ({text, binary, len, truncated}) as
 * text: binary data shows escaped, with a "binary" badge; a cut value ends
 * with an ellipsis and tells its full length.
 */
export function bytesNode(view, { className = '' } = {}) {
  const node = el('span', { class: `bytes ${className}`.trim() });
  if (view.binary) node.append(el('span', { class: 'badge', text: 'binary', title: 'Not UTF-8 text: shown escaped (\\xNN)' }));
  node.append(el('span', { class: 'text', text: view.text }));
  if (view.truncated) {
    node.append(el('span', { class: 'more', text: '…', title: `${formatNumber(view.len)} bytes in all` }));
  }
  return node;
}

const HEX_BYTES_PER_LINE = 16;
const HEX_OFFSET_DIGITS = 8;

/** A hex dump of base64 data: offset, hex bytes, printable ASCII. */
export function hexDump(base64) {
  const raw = atob(base64);
  const lines = [];
  for (let off = 0; off < raw.length; off += HEX_BYTES_PER_LINE) {
    const chunk = raw.slice(off, off + HEX_BYTES_PER_LINE);
    const hex = Array.from(chunk, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(chunk, (c) => (c >= ' ' && c <= '~' ? c : '.')).join('');
    lines.push(`${off.toString(16).padStart(HEX_OFFSET_DIGITS, '0')}  ${hex.padEnd(HEX_BYTES_PER_LINE * 3 - 1)}  ${ascii}`);
  }
  return lines.join('\n');
}

async function readJSON(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

/** The dashboard's API, relative to the page. */
export const api = {
  async get(path, params = {}) {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ''));
    const url = query.size ? `${path}?${query}` : path;
    return readJSON(await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' }));
  },
  async post(path, body) {
    return readJSON(
      await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', [CSRF_HEADER]: '1' },
        body: JSON.stringify(body),
      }),
    );
  },
};

/**
 * Rebuilds part of the page without losing the keyboard focus: the element
 * focused before, found again by its data-focus attribute, is focused after.
 */
export function keepFocus(container, rebuild) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focus : undefined;
  rebuild();
  if (key === undefined) return;
  const again = Array.from(container.querySelectorAll('[data-focus]')).find((n) => n.dataset.focus === key);
  again?.focus();
}
