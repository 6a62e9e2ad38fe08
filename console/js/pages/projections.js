import { api } from '../api.js';
import { h, render, table, describe, panel, actionButton } from '../ui.js';

export async function projectionsPage() {
  const holder = h('div');
  const load = async () => {
    try {
      const { projections } = await api.get('/api/v1/projections');
      const failed = projections.flatMap((p) => p.failed_events.map((e) => ({ ...e, projection: p.name })));
      holder.replaceChildren(
        table([
          { label: 'Projection', render: (p) => p.name },
          { label: 'Position', render: (p) => p.position },
          { label: 'Head', render: (p) => p.head_position },
          { label: 'Lag', render: (p) => `${p.lag_events} events, ${p.lag_ms} ms` },
          { label: 'Holder', render: (p) => (p.holder ? `${p.holder}${p.held_here ? ' (this node)' : ''}` : 'none (lease lapsed)') },
          { label: 'Updated', render: (p) => p.updated_at },
          { label: 'Failed', render: (p) => `${p.retrying_events} retrying, ${p.skipped_events} skipped` },
          { label: 'Rebuilds', render: (p) => p.rebuilds },
          {
            label: 'Actions',
            render: (p) => actionButton(p.skipped_events || p.retrying_events ? 'Retry failed events (rebuild)' : 'Rebuild', async () => {
              await api.post(`/api/v1/projections/${encodeURIComponent(p.name)}/rebuild`);
              await load();
            }, { confirm: `Rebuild ${p.name}? Its view is emptied and every event replayed; failed events are tried again.`, done: `Rebuilding ${p.name}.` }),
          },
        ], projections),
        panel('Failed events', table([
          { label: 'Projection', render: (e) => e.projection },
          { label: 'Position', render: (e) => e.position },
          { label: 'Event', render: (e) => `${e.event_type} (${e.aggregate_type} ${e.aggregate_id} #${e.sequence})` },
          { label: 'Error', render: (e) => h('code', { class: 'mono' }, e.error) },
          { label: 'Attempts', render: (e) => e.attempts },
          { label: 'Status', render: (e) => (e.skipped ? 'skipped' : 'retrying') },
          { label: 'Last failure', render: (e) => e.last_failed_at },
        ], failed)));
    } catch (error) {
      holder.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, describe(error)));
    }
  };
  render('Projections',
    h('p', {}, 'Each read view is kept by one projection, which reads the events in order. Failed events are retried, then skipped with the failure kept here; rebuilding a projection replays every event and tries them again.'),
    h('div', { class: 'actions' }, actionButton('Refresh', load, { done: 'Refreshed.' })),
    holder);
  await load();
}
