// DASHBOARD end to end: the real binary, state written with ioredis, and the
// page loaded in a real headless Chromium (Debian's chromium package driven
// by playwright-core). Screenshots of each panel go to artifacts/;
// UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/dashboard.png.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type BrowserContext, type Dialog, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNexo } from './nexo.js';
import { toObject } from './helpers.js';

/** Debian's chromium package; scripts/install-deps.sh installs it. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const HERE = dirname(fileURLToPath(import.meta.url));
/** Screenshots of the run (gitignored). */
const ARTIFACTS_DIR = join(HERE, 'artifacts');
/** The README's screenshot, rewritten when UPDATE_DOCS_SCREENSHOT is set. */
const DOCS_SCREENSHOT = join(HERE, '..', 'docs', 'dashboard.png');
const VIEWPORT = { width: 1280, height: 900 };
/** How long the page may take to show what a test waits for. */
const UI_TIMEOUT_MS = 10_000;
/** Each test drives a browser: more than the suite's default. */
const BROWSER_TEST_TIMEOUT_MS = 30_000;
/** The shortest refresh interval the page offers, chosen by the pause test. */
const FAST_REFRESH_MS = 1_000;
/** Margin over one refresh interval for a refresh that would have happened. */
const REFRESH_MARGIN_MS = 500;
/** TTL of the key with a TTL: minutes and seconds on the page. */
const SESSION_TTL_SECONDS = 300;

const XSS_KEY = '<img src=x onerror=alert(1)>';
/** The queue of the queue panel's tests, and a delay that keeps a job delayed for the whole run. */
const QUEUE = 'jobs';
/** The queue the purge test empties, so that QUEUE keeps its state for the docs screenshot. */
const OLD_QUEUE = 'old-jobs';
const LONG_DELAY_MS = 600_000;
/** A retained topic that would run a script if the page inserted it as markup. */
const XSS_TOPIC = `sensors/${XSS_KEY}`;
const BINARY_VALUE = Buffer.from([0x00, 0xff, 0x01, 0x41, 0x42]);
const BINARY_ESCAPED = '\\x00\\xff\\x01AB';
/** The stream of the stream panel's test: two partitions, one group with one member. */
const STREAM = 'orders';
const STREAM_GROUP = 'billing';
const STREAM_MEMBER = 'worker-1';

const chromiumPresent = existsSync(CHROMIUM);
/** Without chromium the file is skipped on a developer's machine and fails under CI. */
const mustRun = chromiumPresent || Boolean(process.env.CI);

describe.skipIf(!mustRun)('dashboard in a real browser', { timeout: BROWSER_TEST_TIMEOUT_MS }, () => {
  const nexo = useNexo();
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  /** Every alert the page raised: there must be none. */
  const alerts: string[] = [];
  const pageErrors: string[] = [];
  /** How the next confirm() is answered. */
  let confirmAnswer = true;
  const confirms: string[] = [];

  beforeAll(async () => {
    if (!chromiumPresent) {
      throw new Error(`${CHROMIUM} is missing: install the Debian package chromium (scripts/install-deps.sh does)`);
    }
    const redis = nexo.redis;
    await redis.set('plain', 'hello world');
    await redis.set('session:1', 'token-abc', 'EX', SESSION_TTL_SECONDS);
    await redis.hset('user:1', 'name', 'Ada', 'lang', 'en');
    await redis.set('binary', BINARY_VALUE);
    await redis.set(XSS_KEY, 'markup');
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    userDataDir = await mkdtemp(join(tmpdir(), 'nexo-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: VIEWPORT,
    });
    page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('dialog', (dialog: Dialog) => {
      if (dialog.type() === 'confirm') {
        confirms.push(dialog.message());
        void (confirmAnswer ? dialog.accept() : dialog.dismiss());
        return;
      }
      alerts.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  /** Loads the page and waits for its first snapshot. */
  async function open(): Promise<void> {
    await page.goto(nexo.server.httpUrl!);
    await page.locator('body[data-loaded="true"]').waitFor();
  }

  const store = () => page.locator('#panel-store');
  /** The row of the store's key table whose key reads exactly `key`. */
  const row = (key: string) =>
    store()
      .locator('table.keys tbody tr')
      .filter({ has: page.locator('th.key .text', { hasText: new RegExp(`^${escapeRegExp(key)}$`) }) });
  const cardValue = (scope: ReturnType<Page['locator']>, field: string) => scope.locator(`[data-field="${field}"] .value`);

  it('shows the overview of the running server', async () => {
    await open();
    const overview = page.locator('#overview');
    const info = await nexo.redis.info('server');
    const version = /nexo_version:(\S+)/.exec(info)![1];
    expect(await cardValue(overview, 'version').textContent()).toBe(version);
    // The suite's shared clients: raw ioredis and the SDK.
    const clients = /connected_clients:(\d+)/.exec(await nexo.redis.info('clients'))![1];
    expect(await cardValue(overview, 'clients').textContent()).toBe(clients);
    expect(await cardValue(overview, 'uptime').textContent()).toMatch(/^\d+ s$|^\d+ m \d+ s$/);
    expect(await cardValue(overview, 'memory').textContent()).toMatch(/iB$/);
    expect(await overview.locator('[data-field="persistence"]').textContent()).toContain(nexo.server.dataDir);
    const setRow = overview.locator('#commands tbody tr', { has: page.locator('th', { hasText: /^set$/ }) });
    expect(Number((await setRow.locator('td').first().textContent())!.replace(/,/g, ''))).toBeGreaterThanOrEqual(4);
    // The slow log's table: its entries, or the threshold none reached (10 ms by default).
    const slowRows = overview.locator('#slowlog tbody tr');
    expect(await slowRows.count()).toBeGreaterThanOrEqual(1);
    expect(await slowRows.first().textContent()).toMatch(/^No command took 10\.0 ms or more\.$|\S+ \S/);
    await overview.screenshot({ path: join(ARTIFACTS_DIR, 'overview.png') });
  });

  it("lists the store's keys with type, TTL, size and previews", async () => {
    await open();
    expect(await cardValue(store(), 'keys').textContent()).toBe('5');
    expect(await cardValue(store(), 'expires').textContent()).toBe('1');
    await expect(store().locator('table.keys tbody tr').count()).resolves.toBe(5);

    const plain = row('plain');
    expect(await plain.locator('.type-badge').textContent()).toBe('string');
    expect(await plain.locator('td.ttl').textContent()).toBe('—');
    expect(await plain.locator('td.preview').textContent()).toBe('hello world');

    expect(await row('session:1').locator('td.ttl').textContent()).toMatch(/^[45] m \d+ s$/);

    const hash = row('user:1');
    expect(await hash.locator('.type-badge').textContent()).toBe('hash');
    expect(await hash.locator('td.num').nth(1).textContent()).toBe('2 fields');
    expect(await hash.locator('td.preview').textContent()).toContain('name = Ada');

    const binary = row('binary');
    expect(await binary.locator('td.preview .badge').textContent()).toBe('binary');
    expect(await binary.locator('td.preview .text').textContent()).toBe(BINARY_ESCAPED);

    await store().screenshot({ path: join(ARTIFACTS_DIR, 'store.png') });
  });

  it('shows a key that looks like markup as text and runs nothing', async () => {
    await open();
    const xss = row(XSS_KEY);
    expect(await xss.locator('th.key .text').textContent()).toBe(XSS_KEY);
    await xss.locator('th.key button').click();
    const dialog = page.locator('dialog#store-detail[open]');
    await dialog.waitFor();
    expect(await dialog.locator('.meta dd').first().textContent()).toBe(XSS_KEY);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await page.locator('img').count()).toBe(0);
    expect(alerts).toEqual([]);
  });

  it("opens a key's detail from the keyboard", async () => {
    await open();
    await row('user:1').locator('th.key button').focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog#store-detail[open]');
    await dialog.waitFor();
    const fields = dialog.locator('table.fields-table tbody tr');
    expect(await fields.count()).toBe(2);
    expect(await fields.first().textContent()).toBe('nameAda');
    await dialog.screenshot({ path: join(ARTIFACTS_DIR, 'store-detail.png') });
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    await row('binary').locator('th.key button').click();
    await dialog.waitFor();
    expect(await dialog.locator('pre.value .badge').textContent()).toBe('binary');
    await dialog.locator('summary').click();
    expect(await dialog.locator('pre.hex').textContent()).toContain('00 ff 01 41 42');
    await page.keyboard.press('Escape');
  });

  it('browses keys by pattern', async () => {
    await open();
    await page.getByLabel('Key pattern').fill('user:*');
    await page.getByLabel('Key pattern').press('Enter');
    await store().locator('table.keys tbody tr').nth(1).waitFor({ state: 'detached' });
    expect(await store().locator('table.keys tbody tr').count()).toBe(1);
    expect(await row('user:1').count()).toBe(1);
  });

  it('pauses and resumes the refresh', async () => {
    await open();
    await page.locator('#interval').selectOption(String(FAST_REFRESH_MS));
    // The key works where no form control has the focus.
    await page.locator('#interval').blur();
    await page.keyboard.press('p');
    expect(await page.locator('#pause').getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('#status').textContent()).toMatch(/^paused/);
    await nexo.redis.set('while-paused', 'v');
    await sleep(FAST_REFRESH_MS + REFRESH_MARGIN_MS);
    expect(await row('while-paused').count()).toBe(0);
    await page.locator('#pause').click();
    await row('while-paused').waitFor();
    expect(await page.locator('#pause').getAttribute('aria-pressed')).toBe('false');
  });

  it('deletes a key only after confirmation', async () => {
    await open();
    confirmAnswer = false;
    await row('plain').getByRole('button', { name: 'Delete key plain' }).click();
    expect(confirms).toHaveLength(1);
    expect(await nexo.redis.exists('plain')).toBe(1);

    confirmAnswer = true;
    await row('plain').getByRole('button', { name: 'Delete key plain' }).click();
    await row('plain').waitFor({ state: 'detached' });
    expect(confirms).toHaveLength(2);
    expect(confirms[1]).toContain('plain');
    expect(await nexo.redis.exists('plain')).toBe(0);
    expect(await store().locator('.message').textContent()).toContain('Deleted');
  });

  const queuePanel = () => page.locator('#panel-queue');
  const queueRow = () => queuePanel().locator(`table.queues tbody tr[data-queue="${QUEUE}"]`);
  const stateCount = (state: string) => queueRow().locator(`button[data-state="${state}"]`);
  const jobRows = () => queuePanel().locator('table.jobs tbody tr');

  it('shows each queue with its jobs by state and settings, and lists the jobs of a state', async () => {
    const redis = nexo.redis;
    expect(await redis.call('QCONFIG', 'SET', QUEUE, 'max-attempts', '1')).toBe('OK');
    await redis.call('QPUSH', QUEUE, 'doomed');
    const taken = await redis.call('QPOP', QUEUE);
    const id = fieldOf(taken, 'id');
    await redis.call('QNACK', QUEUE, id, 'ERROR', 'boom');
    await redis.call('QPUSH', QUEUE, 'first', XSS_KEY);
    await redis.call('QPUSH', QUEUE, 'DELAY', String(LONG_DELAY_MS), 'later');
    await redis.call('QPUSH', QUEUE, BINARY_VALUE);

    await open();
    expect(await cardValue(queuePanel(), 'queues').textContent()).toBe('1');
    expect(await stateCount('ready').textContent()).toBe('3');
    expect(await stateCount('delayed').textContent()).toBe('1');
    expect(await stateCount('inflight').textContent()).toBe('0');
    expect(await stateCount('dead').textContent()).toBe('1');
    expect(await stateCount('completed').textContent()).toBe('0');
    expect(await queueRow().locator('td.settings').textContent()).toContain('1 attempt ');

    await stateCount('dead').click();
    await queuePanel().locator('table.jobs tbody tr[data-job]').first().waitFor();
    expect(await jobRows().count()).toBe(1);
    expect(await jobRows().first().locator('td.preview').textContent()).toBe('doomed');
    expect(await jobRows().first().textContent()).toContain('boom');
    await queuePanel().screenshot({ path: join(ARTIFACTS_DIR, 'queue.png') });

    await stateCount('ready').click();
    await jobRows().filter({ hasText: 'first' }).waitFor();
    expect(await jobRows().count()).toBe(3);
    expect(await jobRows().nth(1).locator('td.preview .text').textContent()).toBe(XSS_KEY);
    expect(await jobRows().nth(2).locator('td.preview .badge').textContent()).toBe('binary');
    expect(await jobRows().nth(2).locator('td.preview .text').textContent()).toBe(BINARY_ESCAPED);

    await stateCount('delayed').click();
    await jobRows().filter({ hasText: 'later' }).waitFor();
    expect(await page.locator('img').count()).toBe(0);

    expect(await redis.call('QREPEAT', 'SET', QUEUE, 'digest', 'CRON', '0 9 * * mon-fri', 'weekly')).toBe('OK');
    await queueRow().locator('td.settings button', { hasText: '1 repeating' }).click();
    const schedule = queuePanel().locator('table.repeats tbody tr[data-repeat="digest"]');
    await schedule.waitFor();
    expect(await schedule.locator('td').first().textContent()).toBe('cron 0 9 * * mon-fri (UTC)');
    expect(await schedule.locator('td.preview').textContent()).toBe('weekly');

    expect(await redis.call('QCONFIG', 'SET', QUEUE, 'keep-completed', '5')).toBe('OK');
    await redis.call('QPUSH', QUEUE, 'PRIORITY', '10', 'done');
    const finished = fieldOf(await redis.call('QPOP', QUEUE), 'id');
    expect(await redis.call('QACK', QUEUE, finished, 'RESULT', 'sent')).toBe(1);
    await page.locator('#refresh').click();
    await expect.poll(() => stateCount('completed').textContent()).toBe('1');
    await stateCount('completed').click();
    await jobRows().filter({ hasText: 'result: sent' }).waitFor();
    expect(await jobRows().count()).toBe(1);
  });

  it('requeues the dead letters and purges a queue only after confirmation', async () => {
    await open();
    const asked = confirms.length;
    confirmAnswer = false;
    await queueRow().getByRole('button', { name: `Requeue the dead letters of ${QUEUE}` }).click();
    expect(confirms).toHaveLength(asked + 1);
    expect(toObject(await nexo.redis.call('QLEN', QUEUE))).toMatchObject({ ready: 3, dead: 1 });

    confirmAnswer = true;
    await queueRow().getByRole('button', { name: `Requeue the dead letters of ${QUEUE}` }).click();
    await expect.poll(() => stateCount('dead').textContent()).toBe('0');
    expect(confirms[asked + 1]).toContain(QUEUE);
    expect(toObject(await nexo.redis.call('QLEN', QUEUE))).toMatchObject({ ready: 4, delayed: 1, dead: 0 });
    expect(await queuePanel().locator('.message').textContent()).toContain('Requeued 1 job');

    await nexo.redis.call('QPUSH', OLD_QUEUE, 'stale', 'staler');
    await nexo.redis.call('QPUSH', OLD_QUEUE, 'DELAY', String(LONG_DELAY_MS), 'stalest');
    await page.locator('#refresh').click();
    const old = queuePanel().locator(`table.queues tbody tr[data-queue="${OLD_QUEUE}"]`);
    await old.getByRole('button', { name: `Purge queue ${OLD_QUEUE}` }).click();
    await expect.poll(() => old.locator('button[data-state="delayed"]').textContent()).toBe('0');
    expect(confirms[asked + 2]).toContain('Purge');
    expect(await queuePanel().locator('.message').textContent()).toContain('Purged 3 jobs');
    expect(toObject(await nexo.redis.call('QLEN', OLD_QUEUE))).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0, completed: 0 });
  });

  it('shows the topic tree with subscriber counts and the retained values as text', async () => {
    const redis = nexo.redis;
    await redis.call('PPUB', 'home/kitchen/temp', '21.5', 'RETAIN');
    await redis.call('PPUB', XSS_TOPIC, XSS_KEY, 'RETAIN');
    const sub = await nexo.connect();
    expect(await sub.call('PSUB', 'home/+/temp', 'home/#')).toBe(2);

    await open();
    const pubsub = page.locator('#panel-pubsub');
    expect(await cardValue(pubsub, 'subscribers').textContent()).toBe('1');
    expect(await cardValue(pubsub, 'retained').textContent()).toBe('2');
    const filter = pubsub.locator('li[data-topic="home/+/temp"]');
    expect(await filter.locator('.type-badge').textContent()).toBe('filter');
    expect(await filter.locator('.count').textContent()).toBe('1 subscriber');
    expect(await pubsub.locator('li[data-topic="home"] > .sub .type-badge').count()).toBe(0);
    expect(await pubsub.locator('li[data-topic="home/#"] .type-badge').textContent()).toBe('filter');

    const retained = pubsub.locator('table.retained tbody tr');
    expect(await retained.count()).toBe(2);
    const kitchen = retained.filter({ hasText: 'home/kitchen/temp' });
    expect(await kitchen.locator('td.preview').textContent()).toBe('21.5');
    expect(await kitchen.locator('td.age').textContent()).toMatch(/^\d+(\.\d)? s$/);
    const xss = retained.filter({ has: page.locator('th.key .text', { hasText: XSS_TOPIC }) });
    expect(await xss.locator('th.key .text').textContent()).toBe(XSS_TOPIC);
    expect(await xss.locator('td.preview .text').textContent()).toBe(XSS_KEY);
    expect(await page.locator('img').count()).toBe(0);
    await pubsub.screenshot({ path: join(ARTIFACTS_DIR, 'pubsub.png') });
  });

  it('shows each stream with its partitions and groups, and lists the messages of a partition', async () => {
    const redis = nexo.redis;
    expect(await redis.call('XCREATE', STREAM, 'PARTITIONS', '2', 'MAXMSGS', '1000')).toBe('OK');
    // Appends without a key take the partitions in turn: 0, 1, 0.
    await redis.call('XAPPEND', STREAM, 'first', XSS_KEY);
    await redis.call('XAPPEND', STREAM, BINARY_VALUE);
    await redis.call('XAPPEND', STREAM, 'third');
    expect(await redis.call('XGROUPCREATE', STREAM, STREAM_GROUP, 'FROM', 'EARLIEST')).toBe('OK');
    await redis.call('XCONSUME', STREAM, 'GROUP', STREAM_GROUP, 'MEMBER', STREAM_MEMBER, 'COUNT', '1');
    expect(await redis.call('XCOMMIT', STREAM, 'GROUP', STREAM_GROUP, 'MEMBER', STREAM_MEMBER, 'PARTITION', '0', 'OFFSET', '2')).toBe('OK');

    await open();
    const panel = page.locator('#panel-stream');
    expect(await cardValue(panel, 'streams').textContent()).toBe('1');
    expect(await cardValue(panel, 'messages').textContent()).toBe('4');
    const block = panel.locator(`.stream[data-stream="${STREAM}"]`);
    expect(await block.locator('.settings').textContent()).toContain('messages 1,000');
    const p0 = block.locator('table.partitions tbody tr[data-partition="0"]');
    expect(await p0.locator('td.first').textContent()).toBe('0');
    expect(await p0.locator('td.next').textContent()).toBe('3');
    expect(await block.locator('table.partitions tbody tr[data-partition="1"] td.next').textContent()).toBe('1');

    const groupRow = (partition: number) => block.locator(`table.groups tbody tr[data-group="${STREAM_GROUP}"][data-partition="${partition}"]`);
    expect(await groupRow(0).locator('td.owner').textContent()).toBe(STREAM_MEMBER);
    expect(await groupRow(0).locator('td.committed').textContent()).toBe('2');
    expect(await groupRow(0).locator('td.lag').textContent()).toBe('1');
    expect(await groupRow(1).locator('td.lag').textContent()).toBe('1');
    expect(await block.locator(`ul.members li[data-group="${STREAM_GROUP}"]`).textContent()).toContain(`${STREAM_MEMBER} (partitions 0, 1)`);

    await p0.getByRole('button', { name: `Show the messages of partition 0 of ${STREAM}` }).click();
    const messages = panel.locator('table.messages tbody tr[data-offset]');
    await messages.first().waitFor();
    expect(await messages.count()).toBe(3);
    expect(await messages.nth(0).locator('td.value').textContent()).toBe('first');
    expect(await messages.nth(1).locator('td.value .text').textContent()).toBe(XSS_KEY);
    await panel.screenshot({ path: join(ARTIFACTS_DIR, 'stream.png') });

    await panel.getByLabel('From offset').fill('2');
    await panel.getByLabel('From offset').press('Enter');
    await messages.nth(1).waitFor({ state: 'detached' });
    expect(await messages.first().getAttribute('data-offset')).toBe('2');

    await block.locator('table.partitions tbody tr[data-partition="1"]').getByRole('button').click();
    await expect.poll(() => messages.first().locator('td.value .badge').count()).toBe(1);
    expect(await messages.first().locator('td.value .text').textContent()).toBe(BINARY_ESCAPED);
    expect(await page.locator('img').count()).toBe(0);
    if (process.env.UPDATE_DOCS_SCREENSHOT) {
      // Taken last, with every panel holding state. The header is sticky:
      // from the top, it is drawn where it belongs.
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: DOCS_SCREENSHOT, fullPage: true });
    }
  });

  it('raised no script error and no alert', () => {
    expect(alerts).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

/** One field of a map reply, as a string. */
function fieldOf(reply: unknown, field: string): string {
  return String(toObject(reply)[field]);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
