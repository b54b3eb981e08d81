// The playground: three views (assistants, files, threads) over the /v1 API, routed by the URL's
// hash. Everything shown that a user or a model wrote goes through `h`/text nodes (dom.js).

import { h, replace, when, field, uid } from './dom.js';
import * as api from './api.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const statusEl = /** @type {HTMLElement} */ (document.getElementById('status'));
const alertEl = /** @type {HTMLElement} */ (document.getElementById('alert'));

/** @param {string} msg */
function say(msg) {
  statusEl.textContent = msg;
}

/** @param {any} e */
function fail(e) {
  const msg = e && e.message ? e.message : String(e);
  replace(alertEl, h('strong', null, e && e.status ? `Error ${e.status}: ` : 'Error: '), msg, ' ',
    h('button', { type: 'button', class: 'secondary', onclick: clearAlert }, 'Dismiss'));
  alertEl.hidden = false;
}

function clearAlert() {
  alertEl.hidden = true;
  replace(alertEl);
}

/** Runs `fn`, showing its failure. @template T @param {() => Promise<T>} fn */
async function guard(fn) {
  try {
    return await fn();
  } catch (e) {
    fail(e);
    return undefined;
  }
}

/** Every item of a list endpoint (up to 100: the playground is for looking, not bulk work).
 * @param {string} path */
async function list(path) {
  const sep = path.includes('?') ? '&' : '?';
  return (await api.call('GET', `${path}${sep}limit=100`)).data;
}

// ---------------------------------------------------------------- routing

const views = { assistants: viewAssistants, files: viewFiles, chat: viewChat };

async function route() {
  const [name, arg] = location.hash.slice(1).split('?')[0].split('/');
  const view = name in views ? name : 'assistants';
  for (const a of document.querySelectorAll('nav a')) {
    if (/** @type {HTMLElement} */ (a).dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  clearAlert();
  await /** @type {any} */ (views)[view](arg ? decodeURIComponent(arg) : '');
}

/** Changes the hash without re-rendering the view (it already shows what the hash names).
 * @param {string} hash */
function setHash(hash) {
  history.replaceState(null, '', hash);
}

// ---------------------------------------------------------------- assistants

/** @param {string} id */
async function viewAssistants(id) {
  const listEl = h('ul', { class: 'list', 'aria-label': 'Assistants' });
  const editor = h('section', { class: 'panel', 'aria-label': 'Assistant editor' });
  replace(main, h('h2', null, 'Assistants'), h('div', { class: 'cols' },
    h('section', { class: 'panel', 'aria-label': 'Assistant list' },
      h('button', { type: 'button', onclick: () => { setHash('#assistants'); edit(null); } }, 'New assistant'),
      listEl),
    editor));

  const refresh = async () => {
    const items = await list('/assistants?order=desc');
    replace(listEl, items.length ? items.map((a) => h('li', null,
      h('button', { type: 'button', class: 'link', onclick: () => { setHash(`#assistants/${a.id}`); edit(a); } },
        a.name || '(unnamed)'),
      h('span', { class: 'hint mono' }, a.model))) : h('li', null, 'No assistants yet.'));
    return items;
  };

  /** @param {any} a */
  const edit = async (a) => {
    replace(editor, h('p', null, 'Loading…'));
    const [files, stores] = await Promise.all([list('/files'), list('/vector_stores')]);
    replace(editor, assistantForm(a, files, stores, async (saved) => {
      await refresh();
      if (saved) {
        setHash(`#assistants/${saved.id}`);
        edit(saved);
      } else {
        setHash('#assistants');
        edit(null);
      }
    }));
  };

  const items = await guard(refresh);
  const current = id && items ? items.find((/** @type {any} */ a) => a.id === id) : null;
  await guard(() => edit(current || null));
}

/**
 * The editor of one assistant (`a`, or a new one when null).
 * @param {any} a @param {any[]} files @param {any[]} stores
 * @param {(saved: any) => Promise<void>} done
 */
function assistantForm(a, files, stores, done) {
  const tools = (a && a.tools) || [];
  const has = (/** @type {string} */ t) => tools.some((/** @type {any} */ x) => x.type === t);
  const res = (a && a.tool_resources) || {};
  const ciFiles = new Set((res.code_interpreter && res.code_interpreter.file_ids) || []);
  const fsStores = new Set((res.file_search && res.file_search.vector_store_ids) || []);

  const name = h('input', { name: 'name', value: (a && a.name) || '' });
  const model = h('input', { name: 'model', required: true, value: (a && a.model) || '', placeholder: 'gpt-4o-mini' });
  const description = h('input', { name: 'description', value: (a && a.description) || '' });
  const instructions = h('textarea', { name: 'instructions', rows: 5 }, (a && a.instructions) || '');
  const temperature = h('input', { type: 'number', name: 'temperature', min: 0, max: 2, step: 0.1,
    value: a && a.temperature != null ? a.temperature : '' });
  const topP = h('input', { type: 'number', name: 'top_p', min: 0, max: 1, step: 0.05,
    value: a && a.top_p != null ? a.top_p : '' });
  const rf = a && a.response_format;
  const rfType = !rf || rf === 'auto' ? 'auto' : rf.type;
  const format = h('select', { name: 'response_format' },
    ['auto', 'text', 'json_object'].map((t) => h('option', { value: t, selected: t === rfType }, t)));
  const ci = h('input', { type: 'checkbox', name: 'code_interpreter', checked: has('code_interpreter') });
  const fs = h('input', { type: 'checkbox', name: 'file_search', checked: has('file_search') });

  const fnList = h('div', { class: 'functions' });
  /** @type {{ el: HTMLElement, read: () => any }[]} */
  const fns = [];
  /** @param {any} f */
  const addFunction = (f) => {
    const fname = h('input', { name: 'function_name', required: true, value: (f && f.name) || '' });
    const fdesc = h('input', { name: 'function_description', value: (f && f.description) || '' });
    const schema = h('textarea', { class: 'code', rows: 6, name: 'function_parameters', spellcheck: 'false' },
      JSON.stringify((f && f.parameters) || { type: 'object', properties: {} }, null, 2));
    const err = h('div', { class: 'error-text', id: uid('err'), 'aria-live': 'polite' });
    schema.setAttribute('aria-describedby', err.id);
    const check = () => {
      try {
        const v = JSON.parse(/** @type {HTMLTextAreaElement} */ (schema).value);
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('the schema must be a JSON object');
        err.textContent = '';
        schema.removeAttribute('aria-invalid');
        return v;
      } catch (e) {
        err.textContent = `Invalid JSON schema: ${/** @type {Error} */ (e).message}`;
        schema.setAttribute('aria-invalid', 'true');
        return undefined;
      }
    };
    schema.addEventListener('input', check);
    const entry = {
      el: h('fieldset', { class: 'function' }, h('legend', null, 'Function'),
        h('div', { class: 'row' }, field('Name', fname), field('Description', fdesc)),
        field('Parameters (JSON schema)', schema), err,
        h('button', { type: 'button', class: 'danger', onclick: () => {
          fns.splice(fns.indexOf(entry), 1);
          entry.el.remove();
        } }, 'Remove function')),
      read: () => {
        const parameters = check();
        if (parameters === undefined) {
          schema.focus();
          throw new Error(err.textContent || 'Invalid JSON schema');
        }
        const n = /** @type {HTMLInputElement} */ (fname).value.trim();
        if (!n) {
          fname.focus();
          throw new Error('A function needs a name');
        }
        const d = /** @type {HTMLInputElement} */ (fdesc).value.trim();
        return { type: 'function', function: { name: n, ...(d ? { description: d } : {}), parameters } };
      },
    };
    fns.push(entry);
    fnList.appendChild(entry.el);
  };
  for (const t of tools) if (t.type === 'function') addFunction(t.function);

  /** @param {string} group @param {any[]} items @param {Set<string>} on @param {(x: any) => string} label */
  const checks = (group, items, on, label) => items.length
    ? items.map((x) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: group, value: x.id, checked: on.has(x.id) }), label(x)))
    : h('p', { class: 'hint' }, 'None yet.');
  const usable = files.filter((f) => f.purpose === 'assistants');
  const fileLabel = (/** @type {any} */ f) => `${f.filename} (${f.id})`;
  const formError = h('div', { class: 'error-text', role: 'alert' });

  const form = h('form', { 'aria-label': a ? `Edit ${a.name || a.id}` : 'New assistant', novalidate: true },
    h('h3', null, a ? `Edit ${a.name || 'assistant'}` : 'New assistant'),
    a ? h('p', { class: 'hint mono' }, a.id) : null,
    h('div', { class: 'row' }, field('Name', name), field('Model', model)),
    field('Description', description),
    field('Instructions', instructions),
    h('div', { class: 'row' }, field('Temperature', temperature, '0 to 2; empty: default'),
      field('Top p', topP, '0 to 1; empty: default'), field('Response format', format)),
    h('fieldset', null, h('legend', null, 'Tools'),
      h('label', { class: 'check' }, ci, 'Code interpreter'),
      h('label', { class: 'check' }, fs, 'File search'),
      fnList,
      h('button', { type: 'button', class: 'secondary', onclick: () => addFunction(null) }, 'Add function')),
    h('fieldset', null, h('legend', null, 'Code interpreter files'),
      checks('ci_file', usable, ciFiles, fileLabel)),
    h('fieldset', null, h('legend', null, 'File search vector stores'),
      checks('vs', stores, fsStores, (s) => `${s.name || '(unnamed)'} (${s.id})`),
      h('p', { class: 'hint' }, 'Or make a new vector store from these files:'),
      checks('vs_file', usable, new Set(), fileLabel)),
    formError,
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, a ? 'Save' : 'Create'),
      a ? h('button', { type: 'button', class: 'secondary', onclick: () => { location.hash = `#chat?assistant=${a.id}`; } }, 'Chat with it') : null,
      a ? h('button', { type: 'button', class: 'danger', onclick: () => guard(async () => {
        if (!confirm(`Delete assistant ${a.name || a.id}?`)) return;
        await api.call('DELETE', `/assistants/${a.id}`);
        say('Assistant deleted.');
        await done(null);
      }) }, 'Delete') : null));

  const picked = (/** @type {string} */ group) => [...form.querySelectorAll(`input[name="${group}"]:checked`)]
    .map((x) => /** @type {HTMLInputElement} */ (x).value);
  const num = (/** @type {HTMLElement} */ el) => {
    const v = /** @type {HTMLInputElement} */ (el).value.trim();
    return v === '' ? null : Number(v);
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    formError.textContent = '';
    guard(async () => {
      let body;
      try {
        const m = /** @type {HTMLInputElement} */ (model).value.trim();
        if (!m) {
          model.focus();
          throw new Error('A model is required');
        }
        /** @type {any[]} */
        const t = [];
        if (/** @type {HTMLInputElement} */ (ci).checked) t.push({ type: 'code_interpreter' });
        if (/** @type {HTMLInputElement} */ (fs).checked) t.push({ type: 'file_search' });
        for (const f of fns) t.push(f.read());
        const fmt = /** @type {HTMLSelectElement} */ (format).value;
        body = {
          model: m,
          name: /** @type {HTMLInputElement} */ (name).value || null,
          description: /** @type {HTMLInputElement} */ (description).value || null,
          instructions: /** @type {HTMLTextAreaElement} */ (instructions).value || null,
          tools: t,
          temperature: num(temperature),
          top_p: num(topP),
          response_format: fmt === 'auto' ? 'auto' : { type: fmt },
        };
      } catch (e) {
        formError.textContent = /** @type {Error} */ (e).message;
        return;
      }
      const storeIds = picked('vs');
      const newFiles = picked('vs_file');
      if (newFiles.length) {
        const vs = await api.call('POST', '/vector_stores', { name: `${body.name || 'assistant'} files`, file_ids: newFiles });
        storeIds.push(vs.id);
      }
      body.tool_resources = {
        code_interpreter: { file_ids: picked('ci_file') },
        file_search: { vector_store_ids: storeIds },
      };
      const saved = await api.call('POST', a ? `/assistants/${a.id}` : '/assistants', body);
      say(a ? 'Assistant saved.' : `Assistant ${saved.id} created.`);
      await done(saved);
    });
  });
  return form;
}

// ---------------------------------------------------------------- files

async function viewFiles() {
  const input = h('input', { type: 'file', name: 'file', multiple: true, required: true });
  const purpose = h('select', { name: 'purpose' },
    ['assistants', 'vision'].map((p) => h('option', { value: p }, p)));
  const tbody = h('tbody');
  const stores = h('ul', { class: 'list', 'aria-label': 'Vector stores' });
  const form = h('form', { class: 'panel', 'aria-label': 'Upload files' },
    h('h3', null, 'Upload'),
    h('div', { class: 'row' }, field('Files', input), field('Purpose', purpose),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Upload'))));
  replace(main, h('h2', null, 'Files'), form,
    h('section', { class: 'panel', 'aria-label': 'Uploaded files' }, h('h3', null, 'Uploaded files'),
      h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, ['Name', 'Id', 'Bytes', 'Purpose', 'Created', ''].map((c) => h('th', { scope: 'col' }, c)))),
        tbody))),
    h('section', { class: 'panel', 'aria-label': 'Vector stores' }, h('h3', null, 'Vector stores'), stores));

  const refresh = async () => {
    const [files, vss] = await Promise.all([list('/files'), list('/vector_stores')]);
    replace(tbody, files.length ? files.map((f) => h('tr', null,
      h('td', null, f.filename), h('td', { class: 'mono' }, f.id), h('td', null, f.bytes),
      h('td', null, f.purpose), h('td', null, when(f.created_at)),
      h('td', null, h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${f.filename}`,
        onclick: () => guard(async () => {
          await api.call('DELETE', `/files/${f.id}`);
          say(`Deleted ${f.filename}.`);
          await refresh();
        }) }, 'Delete'))))
      : h('tr', null, h('td', { colspan: 6 }, 'No files yet.')));
    replace(stores, vss.length ? vss.map((s) => h('li', null,
      h('span', null, `${s.name || '(unnamed)'} `, h('span', { class: 'mono hint' }, s.id), ` ${s.status}, `,
        `${s.file_counts.completed}/${s.file_counts.total} files ready`),
      h('button', { type: 'button', class: 'danger', 'aria-label': `Delete vector store ${s.name || s.id}`,
        onclick: () => guard(async () => {
          await api.call('DELETE', `/vector_stores/${s.id}`);
          await refresh();
        }) }, 'Delete'))) : h('li', null, 'No vector stores yet.'));
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    guard(async () => {
      const chosen = [...(/** @type {HTMLInputElement} */ (input).files || [])];
      if (!chosen.length) {
        input.focus();
        throw new Error('Choose a file first');
      }
      for (const f of chosen) {
        say(`Uploading ${f.name}…`);
        await api.upload(f, /** @type {HTMLSelectElement} */ (purpose).value);
      }
      say(`Uploaded ${chosen.length} file(s).`);
      /** @type {HTMLFormElement} */ (form).reset();
      await refresh();
    });
  });
  await guard(refresh);
}

// ---------------------------------------------------------------- threads and runs

/** What the threads view shows; kept across views so coming back finds the same thread. */
const chat = {
  assistantId: '',
  threadId: '',
  /** @type {any} */ run: null,
  /** @type {Map<string, any>} */ steps: new Map(),
  busy: false,
};

/** Elements of the threads view, and what waits for the next animation frame. */
const ui = {
  /** @type {HTMLElement | null} */ messages: null,
  /** @type {HTMLElement | null} */ runPanel: null,
  /** @type {HTMLElement | null} */ threadLabel: null,
  /** @type {Map<string, HTMLElement>} */ msgEls: new Map(),
  /** @type {Map<string, Text>} */ texts: new Map(),
  /** @type {Map<string, string>} */ pending: new Map(),
  dirty: false,
  frame: 0,
  /** @type {HTMLButtonElement | null} */ send: null,
};

/** @param {string} arg */
async function viewChat(arg) {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  if (q.get('assistant')) chat.assistantId = /** @type {string} */ (q.get('assistant'));
  const asstSel = h('select', { name: 'assistant' });
  const openId = h('input', { name: 'thread_id', placeholder: 'thread_…', class: 'mono' });
  const composer = h('textarea', { name: 'message', rows: 3, placeholder: 'Ctrl+Enter sends' });
  ui.send = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit' }, 'Send and run'));
  ui.messages = h('div', { class: 'messages', role: 'log', 'aria-label': 'Messages', 'aria-live': 'off', tabindex: 0 });
  ui.runPanel = h('section', { class: 'panel', 'aria-label': 'Run' });
  ui.threadLabel = h('p', { class: 'hint mono' });
  ui.msgEls.clear();
  ui.texts.clear();
  ui.pending.clear();

  const openForm = h('form', { class: 'row', 'aria-label': 'Open a thread' },
    field('Open thread by id', openId), h('div', { class: 'field' }, h('button', { type: 'submit', class: 'secondary' }, 'Open')));
  const sendForm = h('form', { class: 'composer', 'aria-label': 'New message' },
    field('Message', composer), h('div', { class: 'actions' }, ui.send));

  replace(main, h('h2', null, 'Threads'),
    h('div', { class: 'row' }, field('Assistant', asstSel),
      h('div', { class: 'field' }, h('button', { type: 'button', class: 'secondary', onclick: () => guard(newThread) }, 'New thread')),
      openForm),
    h('div', { class: 'chat' },
      h('section', { class: 'panel', 'aria-label': 'Thread' }, ui.threadLabel, ui.messages, sendForm),
      ui.runPanel));

  asstSel.addEventListener('change', () => {
    chat.assistantId = /** @type {HTMLSelectElement} */ (asstSel).value;
  });
  openForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = /** @type {HTMLInputElement} */ (openId).value.trim();
    if (id) guard(() => openThread(id));
  });
  const submit = () => {
    const text = /** @type {HTMLTextAreaElement} */ (composer).value;
    if (!text.trim() || chat.busy) return;
    guard(async () => {
      await sendMessage(text);
      /** @type {HTMLTextAreaElement} */ (composer).value = '';
    });
  };
  sendForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit();
  });
  composer.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      submit();
    }
  });

  await guard(async () => {
    const items = await list('/assistants?order=desc');
    if (!chat.assistantId && items.length) chat.assistantId = items[0].id;
    replace(asstSel, items.length ? items.map((a) => h('option', { value: a.id, selected: a.id === chat.assistantId },
      `${a.name || '(unnamed)'} (${a.model})`)) : h('option', { value: '' }, 'No assistants: create one first'));
    chat.assistantId = /** @type {HTMLSelectElement} */ (asstSel).value;
  });
  const id = arg.split('?')[0] || chat.threadId;
  if (id) await guard(() => openThread(id));
  else renderThreadLabel();
  renderRun();
}

function renderThreadLabel() {
  if (ui.threadLabel) ui.threadLabel.textContent = chat.threadId ? `Thread ${chat.threadId}` : 'No thread yet: sending a message starts one.';
}

async function newThread() {
  const t = await api.call('POST', '/threads', {});
  forgetImages();
  chat.threadId = t.id;
  chat.run = null;
  chat.steps.clear();
  setHash(`#chat/${t.id}`);
  if (ui.messages) replace(ui.messages);
  ui.msgEls.clear();
  renderThreadLabel();
  renderRun();
  say(`Thread ${t.id} started.`);
  return t;
}

/** Shows an existing thread: its messages, and its latest run with the run's steps.
 * @param {string} id */
async function openThread(id) {
  await api.call('GET', `/threads/${encodeURIComponent(id)}`);
  forgetImages();
  chat.threadId = id;
  setHash(`#chat/${id}`);
  renderThreadLabel();
  const msgs = await list(`/threads/${id}/messages?order=asc`);
  if (ui.messages) replace(ui.messages);
  ui.msgEls.clear();
  ui.texts.clear();
  for (const m of msgs) showMessage(m);
  const runs = await list(`/threads/${id}/runs?order=desc`);
  chat.run = runs[0] || null;
  chat.steps.clear();
  if (chat.run) await loadSteps();
  renderRun();
}

/** @param {string} text */
async function sendMessage(text) {
  if (!chat.assistantId) throw new Error('Pick an assistant first (or create one in Assistants).');
  if (!chat.threadId) await newThread();
  const m = await api.call('POST', `/threads/${chat.threadId}/messages`, { role: 'user', content: text });
  showMessage(m);
  await runStream(`/threads/${chat.threadId}/runs`, { assistant_id: chat.assistantId });
}

/** Streams a run (a new one, or one continued by tool outputs) into the view.
 * @param {string} path @param {any} body */
async function runStream(path, body) {
  chat.busy = true;
  if (ui.send) ui.send.disabled = true;
  say('Running…');
  try {
    await api.stream(path, body, onEvent);
  } finally {
    chat.busy = false;
    if (ui.send) ui.send.disabled = false;
    flush();
  }
  if (chat.run && chat.run.status !== 'requires_action') {
    // The stream's steps lack file_search results (they come only when asked for): fetch them.
    await guard(loadSteps);
  }
  renderRun();
  say(chat.run ? `Run ${chat.run.status}.` : 'Stream ended.');
}

async function loadSteps() {
  if (!chat.run) return;
  const inc = 'include[]=step_details.tool_calls[*].file_search.results[*].content';
  const steps = await list(`/threads/${chat.threadId}/runs/${chat.run.id}/steps?order=asc&${inc}`);
  chat.steps.clear();
  for (const s of steps) chat.steps.set(s.id, s);
  ui.dirty = true;
}

/** One server-sent event of a run's stream. @param {string} event @param {any} data */
function onEvent(event, data) {
  if (event === 'thread.run.step.delta') mergeStepDelta(data);
  else if (event.startsWith('thread.run.step.')) chat.steps.set(data.id, data);
  else if (event.startsWith('thread.run.')) {
    if (!chat.run || chat.run.id !== data.id) chat.steps.clear();
    chat.run = data;
  } else if (event === 'thread.message.created') showMessage(data);
  else if (event === 'thread.message.delta') {
    for (const part of (data.delta && data.delta.content) || []) {
      if (part.type === 'text' && part.text && part.text.value) {
        const key = `${data.id}:${part.index}`;
        ui.pending.set(key, (ui.pending.get(key) || '') + part.text.value);
      } else if (part.type === 'image_file') {
        const el = ui.msgEls.get(data.id);
        if (el) el.appendChild(image(part.image_file.file_id));
      }
    }
  } else if (event === 'error') fail(data && data.error ? data.error : data);
  else if (event !== 'done') return;
  if (!event.startsWith('thread.message.')) ui.dirty = true;
  schedule();
}

/** Deltas wait for the next frame, so a fast stream costs one layout per frame, not per token. */
function schedule() {
  if (!ui.frame) ui.frame = requestAnimationFrame(flush);
}

function flush() {
  ui.frame = 0;
  for (const [key, text] of ui.pending) {
    let node = ui.texts.get(key);
    if (!node) {
      const [id, index] = key.split(':');
      const el = ui.msgEls.get(id);
      if (!el) continue;
      node = document.createTextNode('');
      el.appendChild(h('div', { class: 'text', dataset: { index } }, node));
      ui.texts.set(key, node);
    }
    node.appendData(text);
  }
  const stick = ui.messages && ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  if (ui.pending.size && stick && ui.messages) ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.pending.clear();
  if (ui.dirty) {
    ui.dirty = false;
    renderRun();
  }
}

/** @param {any} d */
function mergeStepDelta(d) {
  const s = chat.steps.get(d.id);
  const calls = d.delta && d.delta.step_details && d.delta.step_details.tool_calls;
  if (!s || !calls) return;
  if (!s.step_details.tool_calls) s.step_details.tool_calls = [];
  for (const c of calls) {
    const t = s.step_details.tool_calls[c.index] || (s.step_details.tool_calls[c.index] = { type: c.type });
    if (c.id) t.id = c.id;
    if (c.type) t.type = c.type;
    if (c.function) {
      t.function = t.function || { name: '', arguments: '', output: null };
      if (c.function.name) t.function.name = c.function.name;
      t.function.arguments = (t.function.arguments || '') + (c.function.arguments || '');
      if (c.function.output != null) t.function.output = c.function.output;
    }
    if (c.code_interpreter) {
      t.code_interpreter = t.code_interpreter || { input: '', outputs: [] };
      t.code_interpreter.input += c.code_interpreter.input || '';
      if (c.code_interpreter.outputs) t.code_interpreter.outputs.push(...c.code_interpreter.outputs);
    }
    if (c.file_search) t.file_search = c.file_search;
  }
}

/** Adds a message (or fills one created empty by the stream). @param {any} m */
function showMessage(m) {
  if (!ui.messages || ui.msgEls.has(m.id)) return;
  const el = h('article', { class: `msg ${m.role}`, 'aria-label': `${m.role} message` },
    h('div', { class: 'role' }, m.role === 'user' ? 'You' : 'Assistant'));
  ui.msgEls.set(m.id, el);
  (m.content || []).forEach((/** @type {any} */ part, /** @type {number} */ i) => {
    if (part.type === 'text') {
      const node = document.createTextNode(part.text.value);
      ui.texts.set(`${m.id}:${i}`, node);
      el.appendChild(h('div', { class: 'text', dataset: { index: String(i) } }, node));
    } else if (part.type === 'image_file') el.appendChild(image(part.image_file.file_id));
    else if (part.type === 'image_url') el.appendChild(h('p', { class: 'hint' }, `Image: ${part.image_url.url}`));
  });
  const files = (m.attachments || []).map((/** @type {any} */ x) => x.file_id);
  if (files.length) el.appendChild(h('p', { class: 'hint' }, `Attachments: ${files.join(', ')}`));
  ui.messages.appendChild(el);
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

/** Object URLs of the images the API holds, by file id, for the current thread and key only:
 * a failed fetch is dropped (it is tried again, e.g. once the key is typed), and switching thread
 * or key revokes them all.
 * @type {Map<string, Promise<string>>} */
const imageURLs = new Map();

/** Revokes every image's object URL (a pending one once it arrives) and empties the cache. */
function forgetImages() {
  for (const url of imageURLs.values()) url.then((u) => URL.revokeObjectURL(u), () => {});
  imageURLs.clear();
}

/** An image the API holds: fetched with the key (once per thread and key), shown from an
 * object URL.
 * @param {string} id */
function image(id) {
  const img = /** @type {HTMLImageElement} */ (h('img', { alt: `Image file ${id}` }));
  let url = imageURLs.get(id);
  if (!url) {
    const fetched = api.fileURL(id);
    imageURLs.set(id, fetched);
    fetched.catch(() => { if (imageURLs.get(id) === fetched) imageURLs.delete(id); });
    url = fetched;
  }
  const mine = url;
  // A URL forgotten meanwhile is revoked (and its view gone): it is not shown.
  mine.then((u) => { if (imageURLs.get(id) === mine) img.src = u; },
    (e) => { img.alt = `Image ${id} could not be loaded: ${e.message}`; });
  return img;
}

function renderRun() {
  const panel = ui.runPanel;
  if (!panel) return;
  const r = chat.run;
  if (!r) {
    replace(panel, h('h3', null, 'Run'), h('p', { class: 'hint' }, 'No run yet.'));
    return;
  }
  const active = ACTIVE.includes(r.status);
  const u = r.usage;
  replace(panel,
    h('h3', null, 'Run ', h('span', { class: `badge ${r.status}`, dataset: { status: r.status } }, r.status)),
    h('dl', { class: 'kv' },
      h('dt', null, 'Id'), h('dd', { class: 'mono' }, r.id),
      h('dt', null, 'Model'), h('dd', null, r.model),
      h('dt', null, 'Usage'), h('dd', { class: 'usage' }, u
        ? `${u.prompt_tokens} prompt + ${u.completion_tokens} completion = ${u.total_tokens} tokens` : '—')),
    r.last_error ? h('div', { class: 'alert last-error', role: 'alert' },
      h('strong', null, `${r.last_error.code}: `), r.last_error.message) : null,
    r.incomplete_details ? h('p', { class: 'error-text' }, `Incomplete: ${r.incomplete_details.reason}`) : null,
    active ? h('button', { type: 'button', class: 'danger', onclick: () => guard(() => cancel(r.id)) }, 'Cancel run') : null,
    r.status === 'requires_action' && !chat.busy ? toolOutputsForm(r) : null,
    h('h3', null, 'Steps'),
    chat.steps.size ? [...chat.steps.values()].map(renderStep) : h('p', { class: 'hint' }, 'No steps yet.'));
}

const ACTIVE = ['queued', 'in_progress', 'requires_action', 'cancelling'];

/** Cancels a run. A streaming run's own events say when it ends (they may even beat the
 * cancel's response, which must then not overwrite them); a run not streaming here (waiting
 * for tool outputs, or opened by id) is polled until it ends.
 * @param {string} runId */
async function cancel(runId) {
  const path = `/threads/${chat.threadId}/runs/${runId}`;
  const res = await api.call('POST', `${path}/cancel`);
  say('Cancel requested.');
  const current = () => chat.run && chat.run.id === runId;
  if (current() && ACTIVE.includes(chat.run.status)) chat.run = res;
  renderRun();
  for (let i = 0; i < 60 && !chat.busy && current() && ACTIVE.includes(chat.run.status); i++) {
    await new Promise((r) => setTimeout(r, 500));
    if (chat.busy || !current()) return;
    chat.run = await api.call('GET', path);
    renderRun();
  }
  if (current() && !chat.busy) {
    await loadSteps();
    renderRun();
    say(`Run ${chat.run.status}.`);
  }
}

/** The form that answers a run's function calls. @param {any} r */
function toolOutputsForm(r) {
  const calls = (r.required_action && r.required_action.submit_tool_outputs.tool_calls) || [];
  const inputs = calls.map((/** @type {any} */ c) => ({ c,
    el: h('textarea', { class: 'code', rows: 3, name: `output_${c.id}` }) }));
  const form = h('form', { class: 'tool-outputs', 'aria-label': 'Tool outputs' },
    h('h3', null, 'The run waits for tool outputs'),
    inputs.map(({ c, el }) => h('div', null,
      h('p', null, h('strong', null, c.function.name), ' called with'),
      h('pre', null, c.function.arguments),
      field(`Output of ${c.function.name} (${c.id})`, el))),
    h('button', { type: 'submit' }, 'Submit tool outputs'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const tool_outputs = inputs.map(({ c, el }) => ({ tool_call_id: c.id, output: /** @type {HTMLTextAreaElement} */ (el).value }));
    guard(() => runStream(`/threads/${chat.threadId}/runs/${r.id}/submit_tool_outputs`, { tool_outputs }));
  });
  return form;
}

/** @param {any} s */
function renderStep(s) {
  const d = s.step_details || {};
  const body = d.type === 'message_creation'
    ? h('p', { class: 'hint' }, `Wrote message ${d.message_creation.message_id}`)
    : (d.tool_calls || []).map(renderCall);
  return h('div', { class: 'step', dataset: { step: s.id } },
    h('div', null, h('strong', null, d.type === 'tool_calls' ? 'Tool calls' : 'Message'), ' ',
      h('span', { class: `badge ${s.status}` }, s.status)),
    s.last_error ? h('p', { class: 'error-text' }, `${s.last_error.code}: ${s.last_error.message}`) : null,
    body);
}

/** @param {any} c */
function renderCall(c) {
  if (c.type === 'function') {
    return h('div', { class: 'call' }, h('div', null, 'Function ', h('strong', null, c.function.name)),
      h('div', { class: 'hint' }, 'Arguments'), h('pre', null, c.function.arguments),
      h('div', { class: 'hint' }, 'Output'), h('pre', { class: 'output' }, c.function.output == null ? '(waiting)' : c.function.output));
  }
  if (c.type === 'code_interpreter') {
    const ci = c.code_interpreter || { input: '', outputs: [] };
    return h('div', { class: 'call' }, h('div', null, h('strong', null, 'Code interpreter')),
      h('div', { class: 'hint' }, 'Code'), h('pre', null, ci.input),
      (ci.outputs || []).map((/** @type {any} */ o) => o.type === 'logs'
        ? [h('div', { class: 'hint' }, 'Output'), h('pre', null, o.logs)]
        : image(o.image.file_id)));
  }
  if (c.type === 'file_search') {
    const results = (c.file_search && c.file_search.results) || [];
    return h('div', { class: 'call' }, h('div', null, h('strong', null, 'File search'), ` ${results.length} result(s)`),
      results.map((/** @type {any} */ r) => h('div', null,
        h('div', null, `${r.file_name} (${r.file_id}) score ${Number(r.score).toFixed(3)}`),
        (r.content || []).map((/** @type {any} */ x) => h('pre', null, x.text)))));
  }
  return h('pre', null, JSON.stringify(c, null, 2));
}

// ---------------------------------------------------------------- start

function start() {
  const form = /** @type {HTMLFormElement} */ (document.getElementById('key-form'));
  const input = /** @type {HTMLInputElement} */ (document.getElementById('api-key'));
  input.value = api.getKey();
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    api.setKey(input.value.trim());
    forgetImages();
    say(input.value.trim() ? 'Key set for this tab.' : 'Key cleared.');
    route();
  });
  window.addEventListener('hashchange', () => {
    route();
    main.focus({ preventScroll: true });
  });
  route().finally(() => {
    performance.mark('playground-ready');
    document.documentElement.dataset.ready = '1';
  });
}

start();
