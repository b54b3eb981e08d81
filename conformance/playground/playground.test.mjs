// The browser playground end to end: the real assistd binary (open mode, a scripted upstream),
// driven in headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM) through playwright-core.
//
// Screenshots of the main views go to $PLAYGROUND_SCREENSHOTS when set (the README's are made
// with PLAYGROUND_SCREENSHOTS=../../docs/playground), else to a temporary directory.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startAssistd, sandboxMissing } from '../node/server.mjs';
import { startUpstream, text, paced, toolCalls } from './upstream.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(process.env.PLAYGROUND_SCREENSHOTS || mkdtempSync(path.join(tmpdir(), 'playground-shots-')));
const XSS = '<img src=x onerror=window.__xss=1><script>window.__xss=1</script>';
const TIMEOUT = 20000;

let up;
let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  up = await startUpstream();
  server = await startAssistd({ upstreamURL: up.baseURL });
  // --no-sandbox: the tests run as root on CI, where Chromium's own sandbox refuses to start.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await up?.close();
});

/** A fresh page that fails the test on script errors and CSP violations. */
async function open(hash = '', viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp = (window.__csp || []).concat(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await page.goto(`${server.rootURL}/${hash}`);
  await page.waitForSelector('html[data-ready="1"]');
  return { page, problems, close: () => context.close() };
}

/** The API, from the test (setup the UI is not under test for). */
async function api(method, p, body) {
  const res = await fetch(`${server.baseURL}${p}`, {
    method,
    headers: { 'content-type': 'application/json', 'openai-beta': 'assistants=v2' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, JSON.stringify(json));
  return json;
}

async function assertClean(page, problems) {
  assert.deepEqual(problems, [], 'no script errors');
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
  assert.equal(await page.evaluate(() => window.__csp), undefined, 'no CSP violation');
}

/** Every form control has a label (its own <label>, or aria-label). */
async function assertLabelled(page) {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map((el) => el.outerHTML.slice(0, 80)));
  assert.deepEqual(unlabelled, []);
}

/** Records the assistant message's text at every change, to see it arrive piece by piece. */
async function watchText(page) {
  await page.evaluate(() => {
    window.__seen = [];
    const log = document.querySelector('.messages');
    new MutationObserver(() => {
      const last = [...log.querySelectorAll('.msg.assistant')].pop();
      if (last) window.__seen.push(last.querySelector('.text')?.textContent ?? '');
    }).observe(log, { childList: true, subtree: true, characterData: true });
  });
}

test('first load: size and time to interactive', async () => {
  const { page, problems, close } = await open();
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    return {
      transferred: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
      decoded: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),
      files: res.length + 1,
      ready: performance.getEntriesByName('playground-ready')[0].startTime,
    };
  });
  console.log(`first load: ${m.files} files, ${m.transferred} bytes transferred (gzip; ${m.decoded} decoded), interactive at ${m.ready.toFixed(0)} ms`);
  assert.ok(m.transferred <= 300 * 1024, `${m.transferred} bytes`);
  assert.ok(m.ready <= 1000, `interactive after ${m.ready} ms`);
  // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await assertLabelled(page);
  await assertClean(page, problems);
  await close();
});

test('create an assistant with a function, chat, answer the function call', async () => {
  const tag = up.newTag();
  const hello = ['Hello', '! ', 'Ask ', 'me ', 'about ', 'the ', 'weather', '.'];
  up.script(tag,
    paced(hello, 40),
    toolCalls(['get_weather', '{"city":"Paris"}']),
    text('It is ', '21 degrees ', 'in Paris.'));
  const { page, problems, close } = await open('#assistants');

  await page.getByRole('button', { name: 'New assistant' }).click();
  await page.getByLabel('Name', { exact: true }).first().fill('Weather bot');
  await page.getByLabel('Model').fill('gpt-4o-mini');
  await page.getByLabel('Instructions').fill(`You tell the weather. ${tag}`);
  await page.getByRole('button', { name: 'Add function' }).click();
  const fn = page.locator('fieldset.function');
  await fn.getByLabel('Name').fill('get_weather');
  await fn.getByLabel('Description').fill('The weather in a city');
  const schema = fn.getByLabel('Parameters (JSON schema)');
  // A broken schema is caught before anything is sent, and said plainly.
  await schema.fill('{"type": "object", ');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByText(/Invalid JSON schema/).first().waitFor();
  await schema.fill(JSON.stringify({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }));
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByText(/Assistant asst_\w+ created/).waitFor();
  await page.getByRole('button', { name: 'Chat with it' }).waitFor();
  await assertLabelled(page);
  await page.screenshot({ path: path.join(SHOTS, 'assistants.png'), fullPage: true });

  const created = (await api('GET', '/assistants?limit=100')).data.find((a) => a.instructions?.includes(tag));
  assert.equal(created.tools[0].type, 'function');
  assert.equal(created.tools[0].function.name, 'get_weather');
  assert.deepEqual(created.tools[0].function.parameters.required, ['city']);

  await page.getByRole('button', { name: 'Chat with it' }).click();
  await page.getByLabel('Message', { exact: true }).waitFor();
  // The view shows first and fills the assistants' list when it arrives: wait for the list.
  const picker = page.getByLabel('Assistant', { exact: true });
  await picker.locator(`option[value="${created.id}"]`).waitFor({ state: 'attached' });
  assert.equal(await picker.inputValue(), created.id);
  await watchText(page);
  await page.getByLabel('Message', { exact: true }).fill('Hi!');
  await page.getByRole('button', { name: 'Send and run' }).click();
  await page.locator('.messages').getByText('Hello! Ask me about the weather.').waitFor();
  await page.locator('[data-status="completed"]').waitFor();
  // The answer streamed in: the user saw it grow, not appear whole.
  const seen = new Set(await page.evaluate(() => window.__seen));
  assert.ok(seen.size >= 3, `the answer appeared in ${seen.size} step(s)`);

  await page.getByLabel('Message', { exact: true }).fill('Weather in Paris?');
  await page.getByLabel('Message', { exact: true }).press('Control+Enter');
  const form = page.getByRole('form', { name: 'Tool outputs' });
  await form.waitFor();
  assert.match(await form.textContent(), /get_weather called with\{"city":"Paris"\}/);
  await page.locator('[data-status="requires_action"]').waitFor();
  await form.getByLabel(/Output of get_weather/).fill('{"celsius": 21}');
  await page.screenshot({ path: path.join(SHOTS, 'requires-action.png') });
  await form.getByRole('button', { name: 'Submit tool outputs' }).click();
  await page.locator('.messages').getByText('It is 21 degrees in Paris.').waitFor();
  await page.locator('[data-status="completed"]').waitFor();
  const runPanel = page.getByRole('region', { name: 'Run' });
  assert.match(await runPanel.locator('.usage').textContent(), /prompt \+ \d+ completion = \d+ tokens/);
  assert.equal(await runPanel.locator('pre.output').first().textContent(), '{"celsius": 21}');
  await page.screenshot({ path: path.join(SHOTS, 'chat.png'), fullPage: true });

  // The tool output reached the model.
  const third = up.requests(tag)[2].body.messages.at(-1);
  assert.equal(third.role, 'tool');
  assert.equal(third.content, '{"celsius": 21}');

  // Opening the thread by id shows the same conversation.
  const threadId = (await page.locator('.panel .hint.mono').first().textContent()).replace('Thread ', '');
  const again = await open('#chat');
  await again.page.getByLabel('Open thread by id').fill(threadId);
  await again.page.getByRole('button', { name: 'Open', exact: true }).click();
  await again.page.locator('.messages').getByText('It is 21 degrees in Paris.').waitFor();
  assert.equal(await again.page.locator('.msg').count(), 4);
  await assertClean(again.page, again.problems);
  await again.close();

  await assertClean(page, problems);
  await close();
});

test('upload a file and see it listed; HTML in a file name is text', async () => {
  const { page, problems, close } = await open('#files');
  const evil = `${XSS}.txt`;
  await page.getByLabel('Files', { exact: true }).setInputFiles([
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('The launch code is 1234.') },
    { name: evil, mimeType: 'text/plain', buffer: Buffer.from('harmless') },
  ]);
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('cell', { name: 'notes.txt', exact: true }).waitFor();
  await page.getByRole('cell', { name: evil, exact: true }).waitFor();
  assert.equal(await page.locator('main img, main script').count(), 0);
  await page.screenshot({ path: path.join(SHOTS, 'files.png') });
  await assertLabelled(page);
  await assertClean(page, problems);
  await close();
});

test('HTML in a message, a model reply and a tool output renders as text', async () => {
  const tag = up.newTag();
  up.script(tag,
    toolCalls(['lookup', JSON.stringify({ q: XSS })]),
    text(`Echo: ${XSS}`));
  const asst = await api('POST', '/assistants', {
    model: 'gpt-4o-mini', name: XSS, instructions: tag,
    tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }],
  });
  const { page, problems, close } = await open(`#chat?assistant=${asst.id}`);
  await page.getByLabel('Message', { exact: true }).fill(XSS);
  await page.getByRole('button', { name: 'Send and run' }).click();
  const form = page.getByRole('form', { name: 'Tool outputs' });
  await form.getByLabel(/Output of lookup/).fill(XSS);
  await form.getByRole('button', { name: 'Submit tool outputs' }).click();
  await page.locator('.messages').getByText(`Echo: ${XSS}`).waitFor();
  await page.locator('[data-status="completed"]').waitFor();
  const texts = await page.locator('.msg .text').allTextContents();
  assert.deepEqual(texts, [XSS, `Echo: ${XSS}`]);
  assert.equal(await page.locator('main img, main script').count(), 0);
  assert.equal(await page.locator('pre.output').first().textContent(), XSS);
  assert.ok((await page.getByLabel('Assistant', { exact: true }).textContent()).includes(XSS));
  await assertClean(page, problems);
  await close();
});

test('file_search: a vector store made in the editor, its results shown in the steps', async () => {
  const tag = up.newTag();
  up.script(tag,
    toolCalls(['file_search', '{"query":"when is the rocket launch"}']),
    text('Tuesday, at dawn.'));
  for (const [name, body] of [['launch.md', 'The rocket launch is scheduled for Tuesday at dawn.'],
    ['weather.md', 'Rain is expected all week in the harbour town.']]) {
    const form = new FormData();
    form.append('purpose', 'assistants');
    form.append('file', new Blob([body]), name);
    const res = await fetch(`${server.baseURL}/files`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
  }
  const { page, problems, close } = await open('#assistants');
  await page.getByRole('button', { name: 'New assistant' }).click();
  await page.getByLabel('Name', { exact: true }).first().fill('Librarian');
  await page.getByLabel('Model').fill('gpt-4o-mini');
  await page.getByLabel('Instructions').fill(`Search the files. ${tag}`);
  await page.getByLabel('File search', { exact: true }).check();
  const newStore = page.locator('input[name="vs_file"]');
  for (const name of ['launch.md', 'weather.md']) {
    await page.locator('label.check', { hasText: name }).filter({ has: newStore }).locator('input').check();
  }
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByText(/Assistant asst_\w+ created/).waitFor();
  const asst = (await api('GET', '/assistants?limit=100')).data.find((a) => a.instructions?.includes(tag));
  const [vsId] = asst.tool_resources.file_search.vector_store_ids;
  assert.ok(vsId, 'the editor made a vector store and attached it');
  for (let i = 0; i < 200; i++) {
    const vs = await api('GET', `/vector_stores/${vsId}`);
    if (vs.file_counts.completed === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.getByRole('button', { name: 'Chat with it' }).click();
  await page.getByLabel('Message', { exact: true }).fill('When is the launch?');
  await page.getByRole('button', { name: 'Send and run' }).click();
  await page.locator('.messages').getByText('Tuesday, at dawn.').waitFor();
  await page.locator('[data-status="completed"]').waitFor();
  const steps = page.getByRole('region', { name: 'Run' });
  await steps.getByText(/File search \d+ result/).waitFor();
  await steps.getByText(/launch\.md \(file-\w+\) score/).first().waitFor();
  await steps.getByText('The rocket launch is scheduled for Tuesday at dawn.').first().waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'file-search.png'), fullPage: true });
  await assertClean(page, problems);
  await close();
});

test('code_interpreter: the code, its output and its chart in the steps and the message', async (t) => {
  const why = sandboxMissing();
  if (why) {
    t.skip(why);
    return;
  }
  const tag = up.newTag();
  const code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n" +
    "plt.plot([1, 2, 3], [1, 4, 9])\nplt.savefig('/mnt/data/squares.png')\nprint('saved <b>3</b> points')";
  up.script(tag, toolCalls(['code_interpreter', JSON.stringify({ code })]), text('Here is the chart.'));
  const asst = await api('POST', '/assistants', {
    model: 'gpt-4o-mini', name: 'Plotter', instructions: tag, tools: [{ type: 'code_interpreter' }],
  });
  const { page, problems, close } = await open(`#chat?assistant=${asst.id}`);
  await page.getByLabel('Message', { exact: true }).fill('Plot the squares.');
  await page.getByRole('button', { name: 'Send and run' }).click();
  await page.locator('.messages').getByText('Here is the chart.').waitFor({ timeout: 60000 });
  await page.locator('[data-status="completed"]').waitFor();
  const run = page.getByRole('region', { name: 'Run' });
  await run.getByText('Code interpreter').waitFor();
  assert.equal(await run.locator('pre').first().textContent(), code);
  await run.getByText('saved <b>3</b> points', { exact: true }).waitFor();
  // The chart, in the step and in the message, fetched with the key and shown from a blob.
  for (const img of [run.locator('img').first(), page.locator('.msg.assistant img').first()]) {
    await img.waitFor();
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
    assert.match(await img.getAttribute('src'), /^blob:/);
  }
  await page.screenshot({ path: path.join(SHOTS, 'code-interpreter.png'), fullPage: true });

  // A key change revokes the images' object URLs and fetches them again; a failed fetch (here
  // a 401, as before a key is typed) is not cached, so the next key change loads them.
  const chart = page.locator('.msg.assistant img').first();
  const first = await chart.getAttribute('src');
  // (Loaded as an image: the policy lets the page fetch blobs only so.)
  const live = (u) => page.evaluate((x) => new Promise((done) => {
    const probe = new Image();
    probe.onload = () => done('live');
    probe.onerror = () => done('revoked');
    probe.src = x;
  }), u);
  assert.equal(await live(first), 'live');
  await page.route('**/v1/files/*/content', (r) => r.fulfill({
    status: 401,
    contentType: 'application/json',
    body: JSON.stringify({ error: { message: 'No key.', type: 'invalid_request_error', param: null, code: null } }),
  }));
  const useKey = () => page.getByRole('button', { name: 'Use', exact: true }).click();
  await useKey();
  await page.waitForFunction(() => /could not be loaded: No key/.test(document.querySelector('.msg.assistant img')?.alt || ''));
  assert.equal(await live(first), 'revoked');
  await page.unroute('**/v1/files/*/content');
  await useKey();
  for (const img of [run.locator('img').first(), chart]) {
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
    assert.match(await img.getAttribute('src'), /^blob:/);
  }
  assert.notEqual(await chart.getAttribute('src'), first);
  // The browser logs each refused fetch and the probe of the revoked URL; those were the point.
  problems.splice(0, problems.length,
    ...problems.filter((p) => !/\b401\b|ERR_FILE_NOT_FOUND/.test(p)));
  await assertClean(page, problems);
  await close();
});

test('cancel a run while it streams; an upstream failure shows as last_error', async () => {
  const tag = up.newTag();
  const slow = Array.from({ length: 300 }, (_, i) => `s${i} `);
  up.script(tag, paced(slow, 20));
  const asst = await api('POST', '/assistants', { model: 'gpt-4o-mini', name: 'Slow', instructions: tag });
  const { page, problems, close } = await open(`#chat?assistant=${asst.id}`);
  await page.getByLabel('Message', { exact: true }).fill('Take your time.');
  await page.getByRole('button', { name: 'Send and run' }).click();
  await page.locator('.msg.assistant .text').waitFor();
  await page.getByRole('button', { name: 'Cancel run' }).click();
  await page.locator('[data-status="cancelled"]').waitFor();

  // Nothing scripted for the next run: the fake upstream answers 400, the run fails, and the
  // panel says why.
  await page.getByLabel('Message', { exact: true }).fill('Again.');
  await page.getByRole('button', { name: 'Send and run' }).click();
  await page.locator('[data-status="failed"]').waitFor();
  assert.match(await page.locator('.last-error').textContent(), /\w+: .+/);
  await assertClean(page, problems);
  await close();
});

test('with API keys: the key typed in the page is sent, kept in session storage only', async () => {
  const keyed = await startAssistd({ upstreamURL: up.baseURL, env: { ASSISTD_API_KEYS: 'sk-playground-e2e' } });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(`${keyed.rootURL}/#assistants`);
    await page.waitForSelector('html[data-ready="1"]');
    // Without the key the API's own error is shown plainly.
    await page.getByRole('alert').getByText(/Error 401: You didn't provide an API key/).waitFor();
    await page.getByLabel('API key').fill('sk-playground-e2e');
    await page.getByRole('button', { name: 'Use', exact: true }).click();
    await page.getByText('No assistants yet.').waitFor();
    assert.ok(await page.locator('#alert').isHidden());
    assert.equal(await page.evaluate(() => sessionStorage.getItem('assistd.apiKey')), 'sk-playground-e2e');
    assert.equal(await page.evaluate(() => localStorage.length + document.cookie.length), 0);
    await context.close();
  } finally {
    await keyed.stop();
  }
});

test('a phone-wide screen gets one column and no sideways scrolling', async () => {
  for (const hash of ['#assistants', '#files', '#chat']) {
    const { page, problems, close } = await open(hash, { width: 375, height: 812 });
    const m = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      columns: getComputedStyle(document.querySelector('.cols, .chat') || document.body).gridTemplateColumns,
    }));
    assert.ok(m.scroll <= 375, `${hash}: page is ${m.scroll}px wide`);
    if (hash !== '#files') assert.equal(m.columns.split(' ').length, 1, `${hash}: ${m.columns}`);
    if (hash === '#chat') {
      await page.getByLabel('Message', { exact: true }).waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'phone.png'), fullPage: true });
    }
    await assertClean(page, problems);
    await close();
  }
});

test('streaming at 100 tokens/s: every token, in order; frame timing reported', async () => {
  const tag = up.newTag();
  const count = 400; // four seconds at 100 tokens/s
  const tokens = Array.from({ length: count }, (_, i) => `w${String(i).padStart(3, '0')} `);
  up.script(tag, paced(tokens, 100));
  const asst = await api('POST', '/assistants', { model: 'gpt-4o-mini', name: 'Streamer', instructions: tag });
  const { page, problems, close } = await open(`#chat?assistant=${asst.id}`);
  await page.getByLabel('Message', { exact: true }).fill('Count.');
  await page.evaluate(() => {
    window.__frames = [];
    window.__recording = true;
    const tick = (t) => {
      window.__frames.push(t);
      if (window.__recording) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await page.getByRole('button', { name: 'Send and run' }).click();
  await page.locator('.msg.assistant').waitFor();
  await watchText(page);
  await page.locator('[data-status="completed"]').waitFor({ timeout: 30000 });
  const r = await page.evaluate(() => {
    window.__recording = false;
    return { frames: window.__frames, seen: window.__seen };
  });
  const expected = tokens.join('');
  const final = await page.locator('.msg.assistant .text').textContent();
  assert.equal(final, expected, 'every token arrived, in order');
  // Each state the user saw was a prefix of the answer: nothing out of order, even for a frame.
  for (const s of r.seen) assert.ok(expected.startsWith(s), `out of order: …${s.slice(-20)}`);
  assert.ok(new Set(r.seen).size > 10, `the answer grew in ${new Set(r.seen).size} steps`);

  const gaps = r.frames.slice(1).map((t, i) => t - r.frames[i]).sort((a, b) => a - b);
  const q = (p) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))];
  const seconds = (r.frames.at(-1) - r.frames[0]) / 1000;
  console.log(`streaming ${count} tokens at 100/s: ${gaps.length} frames in ${seconds.toFixed(2)} s ` +
    `(${(gaps.length / seconds).toFixed(1)} fps); frame gap median ${q(0.5).toFixed(1)} ms, ` +
    `p95 ${q(0.95).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${gaps.at(-1).toFixed(1)} ms; ` +
    `gaps over 33 ms: ${gaps.filter((g) => g > 33.4).length}, over 50 ms: ${gaps.filter((g) => g > 50).length}; ` +
    `${new Set(r.seen).size} distinct renders of the answer`);
  await assertClean(page, problems);
  await close();
});
