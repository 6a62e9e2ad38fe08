// Small DOM helpers: elements, forms that show the API's field errors, paged tables, confirmation.

import { ApiError } from './api.js';

/** Creates an element: `h('a', { href: '#/' }, 'text', child, …)`; `on…` props become listeners. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      element.className = value;
    } else if (key === 'value') {
      element.value = value;
    } else if (key === 'checked') {
      element.checked = Boolean(value);
    } else if (value === true) {
      element.setAttribute(key, '');
    } else {
      element.setAttribute(key, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const main = () => document.getElementById('main');

/** Replaces the page's content, titles it and moves the focus to the heading. */
export function render(title, ...content) {
  const heading = h('h1', { tabindex: '-1' }, title);
  main().replaceChildren(heading, ...content.flat().filter(Boolean));
  document.title = `${title} · Warden console`;
  heading.focus();
}

/** Shows a message in the status line (announced to screen readers). */
export function notify(message, kind = 'ok') {
  const status = document.getElementById('status');
  status.replaceChildren(h('p', { class: kind }, message));
}

/** Clears the status line. */
export function clearNotice() {
  document.getElementById('status').replaceChildren();
}

/** The text of an error for a person. */
export function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 403) return `Not allowed: ${error.message}`;
    if (error.status === 404) return `Not found (or not visible to you): ${error.message}`;
    const violations = error.violations.map((v) => v.message).join('; ');
    return violations ? `${error.message}: ${violations}` : error.message;
  }
  return error?.message || String(error);
}

/** Asks for confirmation in a modal dialog; resolves to true when confirmed. */
export function confirmAction(text, action = 'Confirm') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = action;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

let fieldCounter = 0;

/**
 * A form whose inputs are described by `fields`:
 * `{ name, label, type: 'text'|'password'|'email'|'number'|'checkbox'|'select'|'textarea'|'lines'|'file',
 *    options: [[value, label]], value, required, hint, wide }`.
 * `onSubmit(values)` runs on submit; an ApiError it throws is shown at the field it names (or violations'
 * fields), otherwise above the button.
 */
export function form({ fields, submit = 'Save', onSubmit, label, className = 'grid' }) {
  const inputs = new Map();
  const errors = new Map();
  const formError = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const element = h('form', { class: className, 'aria-label': label, novalidate: true });
  for (const field of fields) {
    const id = `f${++fieldCounter}-${field.name.replace(/[^a-z0-9_-]/gi, '')}`;
    const errorId = `${id}-error`;
    const hintId = field.hint ? `${id}-hint` : null;
    const describedBy = [hintId, errorId].filter(Boolean).join(' ');
    let input;
    if (field.type === 'select') {
      input = h('select', { id, name: field.name, required: field.required, 'aria-describedby': describedBy },
        (field.options || []).map(([value, text]) => h('option', { value }, text)));
      if (field.value !== undefined) input.value = field.value;
    } else if (field.type === 'textarea' || field.type === 'lines') {
      input = h('textarea', { id, name: field.name, required: field.required, 'aria-describedby': describedBy, spellcheck: 'false', rows: field.rows });
      input.value = Array.isArray(field.value) ? field.value.join('\n') : (field.value ?? '');
    } else if (field.type === 'checkbox') {
      input = h('input', { id, name: field.name, type: 'checkbox', checked: field.value, 'aria-describedby': describedBy });
    } else {
      input = h('input', {
        id, name: field.name, type: field.type || 'text', value: field.value ?? '', required: field.required,
        autocomplete: field.autocomplete || (field.type === 'password' ? 'new-password' : 'off'),
        'aria-describedby': describedBy, min: field.min, max: field.max, accept: field.accept,
      });
    }
    const error = h('span', { class: 'field-error', id: errorId });
    inputs.set(field.name, { input, field });
    errors.set(field.name, error);
    const labelElement = h('label', { for: id }, field.label, field.required ? ' (required)' : '');
    const wrapper = field.type === 'checkbox'
      ? h('div', { class: `field check${field.wide ? ' wide' : ''}` }, input, labelElement, hintId ? h('span', { class: 'hint', id: hintId }, field.hint) : null, error)
      : h('div', { class: `field${field.wide || field.type === 'textarea' || field.type === 'lines' ? ' wide' : ''}` }, labelElement, input,
        hintId ? h('span', { class: 'hint', id: hintId }, field.hint) : null, error);
    element.append(wrapper);
  }
  const button = h('button', { type: 'submit' }, submit);
  element.append(formError, h('div', { class: 'actions' }, button));

  const clearErrors = () => {
    formError.hidden = true;
    formError.replaceChildren();
    for (const [name, error] of errors) {
      error.textContent = '';
      inputs.get(name).input.removeAttribute('aria-invalid');
    }
  };
  const fieldOf = (path) => {
    if (!path) return null;
    const base = String(path).replace(/\[\d+\]$/, '').split('.')[0];
    if (inputs.has(path)) return path;
    if (inputs.has(base)) return base;
    return null;
  };
  const showError = (error) => {
    const shown = [];
    if (error instanceof ApiError) {
      const items = [{ field: error.field, message: error.message }, ...error.violations];
      for (const item of items) {
        const name = fieldOf(item.field);
        if (name) {
          const { input } = inputs.get(name);
          input.setAttribute('aria-invalid', 'true');
          const text = errors.get(name);
          text.textContent = text.textContent ? `${text.textContent}; ${item.message}` : item.message;
          shown.push(input);
        }
      }
    }
    formError.hidden = false;
    formError.replaceChildren(describe(error));
    (shown[0] || formError).focus?.();
  };
  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    const values = {};
    for (const [name, { input, field }] of inputs) {
      if (field.type === 'checkbox') values[name] = input.checked;
      else if (field.type === 'number') values[name] = input.value === '' ? undefined : Number(input.value);
      else if (field.type === 'lines') values[name] = input.value.split('\n').map((l) => l.trim()).filter(Boolean);
      else if (field.type === 'file') values[name] = input.files?.[0] || null;
      else values[name] = input.value;
    }
    button.disabled = true;
    try {
      await onSubmit(values, element);
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
  element.showError = showError;
  return element;
}

/** A table of `rows` with `columns: [{ label, render(row) }]`. */
export function table(columns, rows, caption) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'hint' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, rows.length
        ? rows.map((row) => h('tr', {}, columns.map((c) => h('td', {}, c.render(row)))))
        : h('tr', {}, h('td', { colspan: columns.length }, 'Nothing here yet.')))));
}

/**
 * A table that loads its rows page by page: `load(offset, limit)` returns the API's `{ items, has_more }`.
 * Returns the element; `element.reload()` loads the current page again.
 */
export function pagedTable({ columns, load, limit = 25, caption }) {
  const container = h('div', { class: 'paged' });
  let offset = 0;
  let lastItems = [];
  const show = async () => {
    container.setAttribute('aria-busy', 'true');
    try {
      const page = await load(offset, limit);
      lastItems = page.items || [];
      const items = page.items || [];
      const previous = h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); show(); } }, 'Previous page');
      const next = h('button', { type: 'button', class: 'secondary', disabled: !page.has_more, onclick: () => { offset += limit; show(); } }, 'Next page');
      container.replaceChildren(
        table(columns, items, caption),
        h('div', { class: 'pager' }, previous, next,
          h('span', { class: 'hint' }, items.length ? `Items ${offset + 1}–${offset + items.length}` : '')));
    } catch (error) {
      container.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, describe(error)));
    } finally {
      container.removeAttribute('aria-busy');
    }
  };
  container.reload = show;
  // Lists read views that follow writes within moments: after a write, reload until `predicate(items)` holds.
  container.reloadUntil = async (predicate, tries = 25) => {
    for (let attempt = 0; attempt < tries; attempt++) {
      await show();
      if (predicate(lastItems)) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  show();
  return container;
}

/** A section with a heading. */
export function panel(title, ...content) {
  return h('section', { class: 'panel', 'aria-label': title }, h('h2', {}, title), ...content);
}

/** A definition list of `[term, value]` pairs. */
export function props(pairs) {
  return h('dl', { class: 'props' }, pairs.filter(Boolean).flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '—')]));
}

/** A button running `action` (with confirmation when `confirm` is given), reporting success or failure. */
export function actionButton(label, action, { confirm, danger = false, done } = {}) {
  const button = h('button', { type: 'button', class: danger ? 'danger' : 'secondary' }, label);
  button.addEventListener('click', async () => {
    if (confirm && !(await confirmAction(confirm, label))) return;
    button.disabled = true;
    try {
      await action();
      notify(done || `${label}: done.`);
    } catch (error) {
      notify(describe(error), 'error');
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** A one-time secret, shown with a warning that it will not be shown again. */
export function secretBox(label, value) {
  return h('div', { class: 'secret', role: 'alert' },
    h('p', {}, h('strong', {}, label), ' — copy it now; it is shown only this once.'),
    h('code', { class: 'mono', 'data-secret': 'true' }, value));
}

/** A state badge. */
export function badge(text) {
  return h('span', { class: `badge ${String(text).toLowerCase()}` }, text);
}

/** A link inside the console. */
export function link(href, text) {
  return h('a', { href }, text);
}

/** Short form of an id, with the full id in the title. */
export function shortId(id) {
  return h('code', { class: 'mono', title: id }, id);
}

/** Loads every item of a list endpoint up to `max`, for choosing in a select. */
export async function loadAll(fetchPage, max = 500) {
  const page = await fetchPage(0, Math.min(max, 500));
  return page.items || [];
}
