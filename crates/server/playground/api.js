// The playground's only way to the server: the same /v1 API any client uses, as assistants=v2,
// with the key the user typed (kept in sessionStorage: gone with the tab, never in a cookie).

const KEY = 'assistd.apiKey';

export function getKey() {
  return sessionStorage.getItem(KEY) || '';
}

/** @param {string} key */
export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An error the API answered, with OpenAI's envelope fields. */
export class ApiError extends Error {
  /** @param {number} status @param {any} body */
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || e.type || null;
  }
}

/** @param {Record<string, string>} [extra] */
function headers(extra) {
  /** @type {Record<string, string>} */
  const h = { 'OpenAI-Beta': 'assistants=v2', ...extra };
  const key = getKey();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

/**
 * Calls `/v1{path}`; JSON in and out. Throws ApiError on an error status.
 * @param {string} method @param {string} path @param {any} [body]
 */
export async function call(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (body !== undefined) /** @type {any} */ (init).body = JSON.stringify(body);
  const res = await fetch(`/v1${path}`, init);
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/** @param {File} file @param {string} purpose */
export async function upload(file, purpose) {
  const form = new FormData();
  form.append('purpose', purpose);
  form.append('file', file, file.name);
  const res = await fetch('/v1/files', { method: 'POST', headers: headers(), body: form });
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/** A file's bytes as an object URL (images the code interpreter made). @param {string} id */
export async function fileURL(id) {
  const res = await fetch(`/v1/files/${encodeURIComponent(id)}/content`, { headers: headers() });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  return URL.createObjectURL(await res.blob());
}

/**
 * POSTs with `stream: true` and calls `onEvent(event, data)` for each server-sent event, data
 * parsed as JSON (the final `done` gets the string `[DONE]`). EventSource cannot POST, so the
 * SSE framing is parsed here from the body's stream.
 * @param {string} path @param {any} body @param {(event: string, data: any) => void} onEvent
 * @param {AbortSignal} [signal]
 */
export async function stream(path, body, onEvent, signal) {
  const res = await fetch(`/v1${path}`, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  if (!res.ok || !res.body) throw new ApiError(res.status, await res.json().catch(() => null));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let cut;
    while ((cut = frameEnd(buf)) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut).replace(/^(\r?\n){1,2}/, '');
      dispatch(frame, onEvent);
    }
  }
  if (buf.trim()) dispatch(buf, onEvent);
}

/** Where the first complete SSE frame ends (before its blank line), or -1. @param {string} buf */
function frameEnd(buf) {
  const m = /\r?\n\r?\n/.exec(buf);
  return m ? m.index : -1;
}

/** @param {string} frame @param {(event: string, data: any) => void} onEvent */
function dispatch(frame, onEvent) {
  let event = 'message';
  const data = [];
  for (const line of frame.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const name = i < 0 ? line : line.slice(0, i);
    const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (name === 'event') event = val;
    else if (name === 'data') data.push(val);
  }
  if (!data.length) return;
  const text = data.join('\n');
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // `[DONE]` and anything else not JSON is passed on as text.
  }
  onEvent(event, parsed);
}
