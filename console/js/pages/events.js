import { api, seg } from '../api.js';
import { h, render, form, panel, table, describe, link } from '../ui.js';

function hashQuery() {
  const [, query = ''] = (location.hash || '').split('?');
  return new URLSearchParams(query);
}

const toRfc3339 = (local) => (local ? new Date(local).toISOString() : '');

export async function eventsPage() {
  const initial = hashQuery();
  const results = h('div', { 'aria-live': 'polite' });
  let filters = {};
  let cursors = [];
  const show = async (cursor) => {
    results.setAttribute('aria-busy', 'true');
    try {
      const page = await api.get('/api/v1/events', { ...filters, cursor, limit: 50 });
      const older = h('button', { type: 'button', class: 'secondary', disabled: cursors.length === 0, onclick: () => { cursors.pop(); show(cursors[cursors.length - 1]); } }, 'Previous page');
      const newer = h('button', { type: 'button', class: 'secondary', disabled: !page.next_cursor, onclick: () => { cursors.push(page.next_cursor); show(page.next_cursor); } }, 'Next page');
      results.replaceChildren(table([
        { label: 'Position', render: (e) => e.position },
        { label: 'When', render: (e) => e.created_at },
        { label: 'Event', render: (e) => h('code', { class: 'mono' }, e.event_type) },
        { label: 'Resource', render: (e) => [e.aggregate_type, ' ', link(`#/events?aggregate_id=${seg(e.aggregate_id)}`, e.aggregate_id), ` #${e.sequence}`] },
        { label: 'Actor', render: (e) => link(`#/events?creator=${seg(e.creator)}`, e.creator) },
        { label: 'Payload', render: (e) => h('details', {}, h('summary', {}, 'Show payload'), h('pre', {}, JSON.stringify(e.payload, null, 2))) },
      ], page.events, 'Events in the order they were stored'), h('div', { class: 'pager' }, older, newer));
    } catch (error) {
      results.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, describe(error)));
    } finally {
      results.removeAttribute('aria-busy');
    }
  };
  const filterForm = form({
    label: 'Filter the audit trail', submit: 'Show events',
    fields: [
      { name: 'aggregate_type', label: 'Resource types', hint: 'comma-separated, e.g. user,org', value: initial.get('aggregate_type') || '' },
      { name: 'aggregate_id', label: 'Resource id', value: initial.get('aggregate_id') || '' },
      { name: 'event_type', label: 'Event types', hint: 'comma-separated, e.g. user.human.added', value: initial.get('event_type') || '' },
      { name: 'creator', label: 'Actor (user id or system)', value: initial.get('creator') || '' },
      { name: 'org_id', label: 'Organization id', value: initial.get('org_id') || '' },
      { name: 'from', label: 'From', type: 'datetime-local' },
      { name: 'to', label: 'Until', type: 'datetime-local' },
    ],
    onSubmit: async (v) => {
      filters = { ...v, from: toRfc3339(v.from), to: toRfc3339(v.to) };
      cursors = [];
      await show();
    },
  });
  for (const key of ['aggregate_type', 'aggregate_id', 'event_type', 'creator', 'org_id']) {
    if (initial.get(key)) filters[key] = initial.get(key);
  }
  render('Audit trail', panel('Filter', filterForm), results);
  show();
}
