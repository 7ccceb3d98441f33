// The page: fetches /api/snapshot on a timer (with a pause control), fills
// the overview, and gives each broker of the snapshot a section drawn by its
// renderer, panels/<name>.js. A broker without a renderer is shown as JSON.
import { api, el, fill, formatBytes, formatMicros, formatNumber, formatSeconds } from './ui.js';

/** How many items each list of the snapshot holds (the API's limit). */
const SNAPSHOT_LIMIT = 50;
/** How many commands the overview's table shows. */
const TOP_COMMANDS = 10;
/** Panel names are plain words; anything else is not loaded as a module. */
const PANEL_NAME = /^[a-z][a-z0-9_-]*$/;

const state = {
  paused: false,
  intervalMs: 0,
  timer: undefined,
  inFlight: false,
  /** name -> { section, renderer } */
  panels: new Map(),
};

const $ = (id) => document.getElementById(id);

function setStatus(text, kind) {
  const status = $('status');
  status.textContent = text;
  status.dataset.kind = kind;
}

function card(label, value, field, detail) {
  return el(
    'div',
    { class: 'card', dataset: { field } },
    el('dt', { text: label }),
    el('dd', {}, el('span', { class: 'value', text: value }), detail && el('small', { class: 'muted', text: detail })),
  );
}

function renderOverview(ov) {
  $('version').textContent = ov.version;
  const cmds = ov.commands;
  fill(
    $('overview-cards'),
    card('Version', ov.version, 'version', ov.go_version),
    card('Uptime', formatSeconds(ov.uptime_seconds), 'uptime', `${ov.threads} thread${ov.threads === 1 ? '' : 's'}`),
    card('Clients', formatNumber(ov.clients.connected), 'clients', `of ${formatNumber(ov.clients.max)} · ${formatNumber(ov.clients.total_connections)} accepted`),
    card('Memory', formatBytes(ov.memory.heap_bytes), 'memory', `heap · RSS ${formatBytes(ov.memory.rss_bytes)}`),
    card('Commands/s', formatNumber(cmds.per_second), 'ops', `${formatNumber(cmds.total)} in all`),
    card('Errors', formatNumber(cmds.errors), 'errors', `${formatNumber(cmds.protocol_errors)} protocol`),
    card('Network', formatBytes(ov.network.input_bytes), 'network', `in · out ${formatBytes(ov.network.output_bytes)}`),
    card('Persistence', `fsync ${ov.persistence.fsync}`, 'persistence', ov.persistence.data_dir),
  );
  const rows = cmds.top.slice(0, TOP_COMMANDS).map((c) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row', text: c.name }),
      el('td', { class: 'num', text: formatNumber(c.calls) }),
      el('td', { class: 'num', text: formatNumber(c.errors) }),
      el('td', { class: 'num', text: formatMicros(c.avg_us) }),
      el('td', { class: 'num', text: formatMicros(c.p50_us) }),
      el('td', { class: 'num', text: formatMicros(c.p99_us) }),
    ),
  );
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'No command run yet.' })));
  fill($('commands').tBodies[0], ...rows);
  renderSlowlog(ov.slowlog);
}

/** The slow log's latest entries, newest first (SLOWLOG GET). */
function renderSlowlog(slowlog) {
  const rows = slowlog.entries.map((e) =>
    el(
      'tr',
      {},
      el('td', { text: new Date(e.time).toLocaleTimeString() }),
      el('td', { class: 'num', text: formatMicros(e.duration_us) }),
      el('td', { class: 'command', text: e.args.join(' ') }),
      el('td', { text: e.name ? `${e.name} (${e.client})` : e.client }),
    ),
  );
  if (rows.length === 0) {
    const text =
      slowlog.threshold_us < 0
        ? 'The slow log is off (slowlog-log-slower-than is negative).'
        : `No command took ${formatMicros(slowlog.threshold_us)} or more.`;
    rows.push(el('tr', {}, el('td', { colspan: 4, class: 'muted', text })));
  }
  fill($('slowlog').tBodies[0], ...rows);
}

/** The renderer of panels without one: the broker's state as JSON text. */
function jsonRenderer(name) {
  let pre;
  return {
    title: name,
    mount(section) {
      pre = el('pre', { class: 'json' });
      section.append(pre);
    },
    update(data) {
      pre.textContent = JSON.stringify(data, null, 2);
    },
  };
}

async function loadRenderer(name) {
  if (!PANEL_NAME.test(name)) return jsonRenderer(name);
  try {
    const module = await import(`./panels/${name}.js`);
    return module.default;
  } catch {
    return jsonRenderer(name);
  }
}

const panelContext = {
  api,
  refresh: () => refresh(),
  isPaused: () => state.paused,
};

async function renderPanels(snapshot) {
  const container = $('panels');
  for (const name of snapshot.panels) {
    let panel = state.panels.get(name);
    if (!panel) {
      const renderer = await loadRenderer(name);
      const titleId = `panel-${name}-title`;
      const section = el(
        'section',
        { id: `panel-${name}`, class: 'panel', 'aria-labelledby': titleId, dataset: { panel: name } },
        el('h2', { id: titleId, text: renderer.title ?? name }),
      );
      container.append(section);
      renderer.mount(section, panelContext);
      panel = { section, renderer };
      state.panels.set(name, panel);
    }
    await panel.renderer.update(snapshot.brokers[name], panelContext);
  }
}

async function refresh() {
  if (state.inFlight) return;
  state.inFlight = true;
  clearTimeout(state.timer);
  try {
    const snapshot = await api.get('api/snapshot', { limit: SNAPSHOT_LIMIT });
    renderOverview(snapshot.overview);
    await renderPanels(snapshot);
    const at = new Date(snapshot.time).toLocaleTimeString('en-GB');
    setStatus(state.paused ? `paused · ${at}` : `live · ${at}`, state.paused ? 'paused' : 'live');
    document.body.dataset.loaded = 'true';
  } catch (err) {
    setStatus(`error: ${err.message}`, 'error');
  } finally {
    state.inFlight = false;
    schedule();
  }
}

function schedule() {
  clearTimeout(state.timer);
  if (!state.paused) state.timer = setTimeout(refresh, state.intervalMs);
}

function setPaused(paused) {
  state.paused = paused;
  const button = $('pause');
  button.textContent = paused ? 'Resume' : 'Pause';
  button.setAttribute('aria-pressed', String(paused));
  const status = $('status');
  if (paused) setStatus(status.textContent.replace(/^live/, 'paused'), 'paused');
  if (paused) clearTimeout(state.timer);
  else refresh();
}

function typingInto(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

function start() {
  const interval = $('interval');
  state.intervalMs = Number(interval.value);
  interval.addEventListener('change', () => {
    state.intervalMs = Number(interval.value);
    schedule();
  });
  $('pause').addEventListener('click', () => setPaused(!state.paused));
  $('refresh').addEventListener('click', () => refresh());
  document.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typingInto(event.target)) return;
    if (document.querySelector('dialog[open]')) return;
    if (event.key === 'p' || event.key === 'P') setPaused(!state.paused);
    else if (event.key === 'r' || event.key === 'R') refresh();
    else return;
    event.preventDefault();
  });
  refresh();
}

start();
