import { api, seg } from '../api.js';
import { h, render, form, pagedTable, panel, actionButton, notify, badge, link } from '../ui.js';
import { projectOptions, userOptions } from './common.js';

export async function grantsPage() {
  const [projects, users] = await Promise.all([projectOptions(), userOptions()]);
  const name = (options, id) => options.find(([value]) => value === id)?.[1] || id;
  const list = pagedTable({
    load: (offset, limit) => api.get('/api/v1/user-grants', { offset, limit }),
    columns: [
      { label: 'User', render: (g) => link(`#/users/${seg(g.user_id)}`, name(users, g.user_id)) },
      { label: 'Project', render: (g) => link(`#/projects/${seg(g.project_id)}`, name(projects, g.project_id)) },
      { label: 'Roles', render: (g) => g.role_keys.join(', ') || '—' },
      { label: 'State', render: (g) => badge(g.state) },
      {
        label: 'Actions',
        render: (g) => h('div', { class: 'actions' },
          g.state === 'active'
            ? actionButton('Deactivate', async () => { await api.post(`/api/v1/user-grants/${seg(g.id)}/deactivate`); await list.reloadUntil((items) => items.some((x) => x.id === g.id && x.state !== 'active')); })
            : actionButton('Reactivate', async () => { await api.post(`/api/v1/user-grants/${seg(g.id)}/reactivate`); await list.reloadUntil((items) => items.some((x) => x.id === g.id && x.state === 'active')); }),
          actionButton('Remove', async () => { await api.del(`/api/v1/user-grants/${seg(g.id)}`); await list.reloadUntil((items) => !items.some((x) => x.id === g.id)); },
            { confirm: 'Remove this grant? The user loses these roles at once.', danger: true })),
      },
    ],
  });
  const roleSelect = { name: 'role_keys', label: 'Roles (one key per line)', type: 'lines', hint: 'Keys of the project\'s roles' };
  const create = form({
    label: 'Grant roles to a user', submit: 'Grant',
    fields: [
      { name: 'user_id', label: 'User', type: 'select', options: [['', 'Choose a user'], ...users], required: true },
      { name: 'project_id', label: 'Project', type: 'select', options: [['', 'Choose a project'], ...projects], required: true },
      roleSelect,
    ],
    onSubmit: async (v, element) => {
      const created = await api.post('/api/v1/user-grants', v);
      notify('Roles granted.');
      element.reset();
      await list.reloadUntil((items) => items.some((g) => g.id === created.id));
    },
  });
  render('User grants', panel('Grant roles of a project to a user', create), list);
}
