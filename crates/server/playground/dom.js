// DOM helpers. The one rule: user- and model-written text only ever becomes text nodes or
// attribute values, never markup. `h` has no way to parse a string as HTML, and nothing else in
// the playground uses innerHTML, outerHTML, insertAdjacentHTML or document.write.

/**
 * @typedef {string | number | Node | null | undefined | false | Child[]} Child
 */

/**
 * Makes an element. `attrs`: `class`, `for`, any attribute (value as text; `true` sets it empty,
 * `false`/null leaves it out), `on<event>` handler functions, and `dataset`.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new TypeError(`${k} must be a function`);
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' && 'value' in el) {
      /** @type {HTMLInputElement} */ (el).value = String(v);
    } else if (k === 'checked' || k === 'selected') {
      /** @type {any} */ (el)[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

/** Appends children: strings and numbers as text nodes, arrays flattened, falsy skipped.
 * @param {Node} el @param {Child[]} children */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. @param {Node} el @param {...Child} children */
export function replace(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return append(el, children);
}

/** Seconds since the epoch as local time. @param {number | null | undefined} t */
export function when(t) {
  return t ? new Date(t * 1000).toLocaleString() : '';
}

let ids = 0;
/** A unique element id, for label/control pairs. @param {string} prefix */
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled control: label, control, and optional hint. @param {string} label
 * @param {HTMLElement} control @param {string} [hint] */
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  let hintEl = null;
  if (hint) {
    hintEl = h('small', { id: uid('hint'), class: 'hint' }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}
