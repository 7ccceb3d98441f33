// The QUEUE panel: the broker's counters, one row per queue (jobs by state,
// settings, pause) with its purge and dead-letter requeue actions, a job
// list of one queue and state with payload previews, and the schedules of
// repeatable jobs of one queue.
import { api, bytesNode, el, fill, formatMillis, formatNumber, keepFocus } from '../ui.js';

/** Jobs a list shows. */
const JOB_LIST_SIZE = 50;
const STATES = ['ready', 'delayed', 'inflight', 'dead', 'completed'];
/** Class of header cells read by screen readers only. */
const HIDDEN = 'visually-hidden';
const STATE_LABELS = { ready: 'Ready', delayed: 'Delayed', inflight: 'In flight', dead: 'Dead', completed: 'Completed' };

let ui;
/** The job list shown: { id, label, state } of a queue, or null. */
let selected = null;
/** Counts job list loads, so that a late answer never replaces a newer list. */
let seq = 0;
/** The schedule list shown: { id, label } of a queue, or null. */
let repeatsOf = null;
/** Counts schedule list loads, as seq does job list loads. */
let repeatSeq = 0;

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
    stat('Queues', formatNumber(s.queues), 'queues', `${formatNumber(s.blocked)} consumer${s.blocked === 1 ? '' : 's'} waiting`),
    stat('Ready', formatNumber(s.ready), 'ready'),
    stat('Delayed', formatNumber(s.delayed), 'delayed'),
    stat('In flight', formatNumber(s.inflight), 'inflight'),
    stat('Dead letters', formatNumber(s.dead), 'dead', `${formatNumber(s.requeued)} requeued`),
    stat('Pushed', formatNumber(s.pushed), 'pushed', `${formatNumber(s.delivered)} delivered`),
    stat('Acked', formatNumber(s.acked), 'acked', `${formatNumber(s.failed)} failed · ${formatNumber(s.completed)} kept`),
    stat('Persistence', s.read_only ? 'READ-ONLY' : 'logged', 'persistence', s.read_only ? s.last_error : s.persistence),
  );
}

function say(text, kind = 'info') {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
}

function settingsText(s) {
  const attempts = s.max_attempts === 0 ? 'unlimited attempts' : `${s.max_attempts} attempt${s.max_attempts === 1 ? '' : 's'}`;
  const rate = s.rate_limit > 0 ? ` · at most ${formatNumber(s.rate_limit)} per ${formatMillis(s.rate_window_ms)}` : '';
  const inflight = s.max_in_flight > 0 ? ` · at most ${formatNumber(s.max_in_flight)} in flight` : '';
  const keptFor = s.keep_completed_age_ms > 0 ? ` for ${formatMillis(s.keep_completed_age_ms)}` : '';
  const kept = s.keep_completed > 0 ? ` · keeps ${formatNumber(s.keep_completed)} completed${keptFor}` : '';
  return `${attempts} · visibility ${formatMillis(s.visibility_ms)} · ${s.backoff} backoff ${formatMillis(s.backoff_delay_ms)}${rate}${inflight}${kept}`;
}

function countCell(q, state) {
  const n = q[state];
  return el(
    'td',
    { class: 'num' },
    el('button', {
      type: 'button',
      class: 'link',
      dataset: { focus: `jobs:${q.id}:${state}`, state },
      title: `Show the ${STATE_LABELS[state].toLowerCase()} jobs`,
      'aria-label': `${formatNumber(n)} ${STATE_LABELS[state].toLowerCase()} jobs of ${q.name.text}`,
      onclick: () => showJobs({ id: q.id, label: q.name.text, state }),
      text: formatNumber(n),
    }),
  );
}

function queueRow(q) {
  const label = q.name.text;
  return el(
    'tr',
    { dataset: { queue: label } },
    el('th', { scope: 'row', class: 'key' }, bytesNode(q.name), q.paused ? el('span', { class: 'type-badge paused', text: 'paused' }) : null),
    ...STATES.map((state) => countCell(q, state)),
    el('td', { class: 'num', text: formatNumber(q.consumers) }),
    el(
      'td',
      { class: 'settings muted' },
      settingsText(q.settings),
      q.repeats > 0 ? ' · ' : null,
      q.repeats > 0
        ? el('button', {
            type: 'button',
            class: 'link',
            dataset: { focus: `repeats:${q.id}` },
            title: 'Show the schedules of repeatable jobs',
            onclick: () => showRepeats({ id: q.id, label }),
            text: `${formatNumber(q.repeats)} repeating`,
          })
        : null,
    ),
    el('td', { class: 'num', text: `${formatNumber(q.pushed)} / ${formatNumber(q.acked)} / ${formatNumber(q.failed)}` }),
    el(
      'td',
      { class: 'actions' },
      el('button', { type: 'button', class: 'danger small', dataset: { focus: `purge:${q.id}` }, 'aria-label': `Purge queue ${label}`, disabled: q.ready + q.delayed === 0, onclick: () => purge(q.id, label) }, 'Purge'),
      ' ',
      el('button', { type: 'button', class: 'small', dataset: { focus: `requeue:${q.id}` }, 'aria-label': `Requeue the dead letters of ${label}`, disabled: q.dead === 0, onclick: () => requeue(q.id, label) }, 'Requeue dead'),
    ),
  );
}

function renderQueues(list) {
  keepFocus(ui.table, () => {
    const rows = list.map(queueRow);
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 10, class: 'muted', text: 'No queue yet.' })));
    fill(ui.table.tBodies[0], ...rows);
  });
}

function timeText(iso) {
  return iso ? new Date(iso).toLocaleTimeString('en-GB') : '—';
}

function jobRow(j) {
  const when = ['delayed', 'dead', 'completed'].includes(j.state) ? timeText(j.due) : j.state === 'inflight' ? timeText(j.deadline) : timeText(j.enqueued);
  const outcome = j.result ? el('span', {}, 'result: ', bytesNode(j.result)) : j.last_error ? `${j.last_error} (${formatNumber(j.failure_count)} failure${j.failure_count === 1 ? '' : 's'})` : '';
  return el(
    'tr',
    { dataset: { job: j.id } },
    el('th', { scope: 'row', class: 'num', text: j.id }),
    el('td', { class: 'num', text: formatNumber(j.attempt) }),
    el('td', { class: 'num', text: formatNumber(j.priority) }),
    el('td', { text: when }),
    el('td', { class: 'preview' }, bytesNode(j.payload)),
    el('td', { class: 'muted' }, outcome),
    el(
      'td',
      { class: 'actions' },
      j.state === 'dead'
        ? el('button', { type: 'button', class: 'small', dataset: { focus: `requeue-job:${j.id}` }, 'aria-label': `Requeue job ${j.id}`, onclick: () => requeue(selected.id, selected.label, j.id) }, 'Requeue')
        : null,
    ),
  );
}

async function loadJobs() {
  if (!selected) return;
  const mine = ++seq;
  const { id, label, state } = selected;
  try {
    const list = await api.get('api/queue/jobs', { id, state, count: JOB_LIST_SIZE });
    if (mine !== seq) return;
    ui.jobsTitle.textContent = `${STATE_LABELS[state]} jobs of “${label}” · ${list.jobs.length} of ${formatNumber(list.total)} shown`;
    const rows = list.jobs.map(jobRow);
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 7, class: 'muted', text: 'No job in this state.' })));
    keepFocus(ui.jobs, () => fill(ui.jobs.tBodies[0], ...rows));
    ui.jobsBox.hidden = false;
  } catch (err) {
    if (mine === seq) say(`Cannot load the jobs: ${err.message}`, 'error');
  }
}

function repeatRow(r) {
  const schedule = r.cron ? `cron ${r.cron} (${r.tz || 'UTC'})` : `every ${formatMillis(r.every_ms)}`;
  return el(
    'tr',
    { dataset: { repeat: r.name.text } },
    el('th', { scope: 'row', class: 'key' }, bytesNode(r.name)),
    el('td', { text: schedule }),
    el('td', { class: 'num', text: formatNumber(r.priority) }),
    el('td', { text: r.next ? new Date(r.next).toLocaleString('en-GB') : '—' }),
    el('td', { class: 'preview' }, bytesNode(r.payload)),
  );
}

async function loadRepeats() {
  if (!repeatsOf) return;
  const mine = ++repeatSeq;
  const { id, label } = repeatsOf;
  try {
    const list = await api.get('api/queue/repeats', { id });
    if (mine !== repeatSeq) return;
    ui.repeatsTitle.textContent = `Schedules of “${label}” · ${formatNumber(list.repeats.length)}`;
    const rows = list.repeats.map(repeatRow);
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'muted', text: 'No schedule.' })));
    keepFocus(ui.repeats, () => fill(ui.repeats.tBodies[0], ...rows));
    ui.repeatsBox.hidden = false;
  } catch (err) {
    if (mine === repeatSeq) say(`Cannot load the schedules: ${err.message}`, 'error');
  }
}

function showRepeats(sel) {
  repeatsOf = sel;
  loadRepeats();
}

function showJobs(sel) {
  selected = sel;
  loadJobs();
}

async function act(path, body, done) {
  try {
    done(await api.post(path, body));
  } catch (err) {
    say(err.message, 'error');
  }
  await loadJobs();
  ui.ctx.refresh();
}

async function purge(id, label) {
  if (!window.confirm(`Purge the ready and delayed jobs of “${label}”? This cannot be undone.`)) return;
  await act('api/queue/purge', { id }, (r) => say(`Purged ${formatNumber(r.purged)} job${r.purged === 1 ? '' : 's'} of “${label}”.`));
}

async function requeue(id, label, job) {
  const what = job ? `dead job ${job}` : 'every dead letter';
  if (!window.confirm(`Requeue ${what} of “${label}”?`)) return;
  const body = job ? { id, job } : { id };
  await act('api/queue/requeue', body, (r) => say(`Requeued ${formatNumber(r.requeued)} job${r.requeued === 1 ? '' : 's'} of “${label}”.`));
}

function head(...cells) {
  const th = ([text, cls]) => (cls === HIDDEN ? el('th', { scope: 'col' }, el('span', { class: HIDDEN, text })) : el('th', { scope: 'col', class: cls, text }));
  return el('thead', {}, el('tr', {}, ...cells.map(th)));
}

function mount(section, ctx) {
  const stats = el('dl', { class: 'cards' });
  const message = el('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const table = el(
    'table',
    { class: 'keys queues' },
    el('caption', { class: 'visually-hidden', text: 'Queues' }),
    head(['Queue'], ['Ready', 'num'], ['Delayed', 'num'], ['In flight', 'num'], ['Dead', 'num'], ['Completed', 'num'], ['Consumers', 'num'], ['Settings'], ['Pushed / acked / failed', 'num'], ['Actions', HIDDEN]),
    el('tbody'),
  );
  const jobsTitle = el('h3', { id: 'queue-jobs-title' });
  const jobs = el(
    'table',
    { class: 'keys jobs', 'aria-labelledby': 'queue-jobs-title' },
    head(['Job', 'num'], ['Attempt', 'num'], ['Priority', 'num'], ['When'], ['Payload'], ['Last error or result'], ['Actions', HIDDEN]),
    el('tbody'),
  );
  const jobsBox = el('div', { class: 'queue-jobs', hidden: true }, jobsTitle, el('div', { class: 'scroll' }, jobs));
  const repeatsTitle = el('h3', { id: 'queue-repeats-title' });
  const repeats = el(
    'table',
    { class: 'keys repeats', 'aria-labelledby': 'queue-repeats-title' },
    head(['Schedule'], ['Fires'], ['Priority', 'num'], ['Next'], ['Payload']),
    el('tbody'),
  );
  const repeatsBox = el('div', { class: 'queue-repeats', hidden: true }, repeatsTitle, el('div', { class: 'scroll' }, repeats));
  section.append(stats, el('h3', { text: 'Queues' }), message, el('div', { class: 'scroll' }, table), jobsBox, repeatsBox);
  ui = { ctx, stats, message, table, jobs, jobsTitle, jobsBox, repeats, repeatsTitle, repeatsBox };
}

async function update(data) {
  renderStats(data);
  renderQueues(data.list);
  if (selected && !ui.ctx.isPaused()) await loadJobs();
  if (repeatsOf && !ui.ctx.isPaused()) await loadRepeats();
}

export default { title: 'Queue', mount, update };
