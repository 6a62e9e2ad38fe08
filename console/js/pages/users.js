import { api, seg } from '../api.js';
import { h, render, form, pagedTable, panel, props, actionButton, notify, badge, link, table, describe, secretBox } from '../ui.js';
import { orgOptions, keysPanel } from './common.js';

function hashQuery() {
  const [, query = ''] = (location.hash || '').split('?');
  return new URLSearchParams(query);
}

export async function usersPage() {
  const query = hashQuery();
  const orgs = await orgOptions();
  const filters = { org_id: query.get('org_id') || '', type: '', login_name_prefix: '' };
  const list = pagedTable({
    load: (offset, limit) => api.get('/api/v1/users', { offset, limit, ...filters }),
    columns: [
      { label: 'Login name', render: (u) => link(`#/users/${seg(u.id)}`, u.login_name) },
      { label: 'Name', render: (u) => u.display_name },
      { label: 'Type', render: (u) => u.type },
      { label: 'Organization', render: (u) => orgs.find(([id]) => id === u.org_id)?.[1] || u.org_id },
      { label: 'State', render: (u) => [badge(u.state), u.locked ? [' ', badge('locked')] : null] },
    ],
  });
  const filterForm = form({
    label: 'Filter users', submit: 'Filter',
    fields: [
      { name: 'org_id', label: 'Organization', type: 'select', options: [['', 'All I can see'], ...orgs], value: filters.org_id },
      { name: 'type', label: 'Type', type: 'select', options: [['', 'Humans and machines'], ['human', 'Humans'], ['machine', 'Machines']] },
      { name: 'login_name_prefix', label: 'Login name starts with' },
    ],
    onSubmit: async (v) => { Object.assign(filters, v); await list.reload(); },
  });
  const human = form({
    label: 'Create a human user', submit: 'Create human user',
    fields: [
      { name: 'org_id', label: 'Organization', type: 'select', options: [['', 'Choose an organization'], ...orgs], value: filters.org_id, required: true },
      { name: 'login_name', label: 'Login name', required: true },
      { name: 'given_name', label: 'Given name', required: true },
      { name: 'family_name', label: 'Family name', required: true },
      { name: 'email', label: 'Email', type: 'email', required: true },
      { name: 'email_verified', label: 'Email is verified', type: 'checkbox' },
      { name: 'password', label: 'Initial password', type: 'password', hint: 'Optional; checked against the password policy' },
      { name: 'password_change_required', label: 'Must change the password at first login', type: 'checkbox', value: true },
    ],
    onSubmit: async (v, element) => {
      const body = { ...v, password: v.password || null };
      const created = await api.post('/api/v1/users/human', body);
      notify(`User ${v.login_name} created.`);
      element.reset();
      location.hash = `#/users/${seg(created.id)}`;
    },
  });
  const machine = form({
    label: 'Create a machine user', submit: 'Create machine user',
    fields: [
      { name: 'org_id', label: 'Organization', type: 'select', options: [['', 'Choose an organization'], ...orgs], value: filters.org_id, required: true },
      { name: 'login_name', label: 'Login name', required: true },
      { name: 'name', label: 'Name', required: true },
      { name: 'description', label: 'Description', wide: true },
      { name: 'access_token_type', label: 'Access tokens', type: 'select', options: [['jwt', 'JWT'], ['opaque', 'Opaque']] },
    ],
    onSubmit: async (v, element) => {
      const created = await api.post('/api/v1/users/machine', v);
      notify(`Machine user ${v.login_name} created.`);
      element.reset();
      location.hash = `#/users/${seg(created.id)}`;
    },
  });
  render('Users', panel('Find users', filterForm), list,
    panel('Create a human user', human), panel('Create a machine user', machine));
}

export async function userPage(id) {
  const base = `/api/v1/users/${seg(id)}`;
  let user;
  try {
    user = await api.get(base);
  } catch (error) {
    render('User', h('p', { class: 'form-error', role: 'alert' }, describe(error)), link('#/users', 'All users'));
    return;
  }
  const reload = () => userPage(id);
  const sections = [];
  const lifecycle = h('div', { class: 'actions' },
    user.locked
      ? actionButton('Unlock', async () => { await api.post(`${base}/unlock`); reload(); }, { done: 'User unlocked.' })
      : actionButton('Lock', async () => { await api.post(`${base}/lock`); reload(); }, { confirm: `Lock ${user.login_name}? They cannot log in until unlocked.`, danger: true, done: 'User locked.' }),
    user.state === 'active'
      ? actionButton('Deactivate', async () => { await api.post(`${base}/deactivate`); reload(); }, { confirm: `Deactivate ${user.login_name}?`, danger: true })
      : actionButton('Reactivate', async () => { await api.post(`${base}/reactivate`); reload(); }),
    actionButton('Remove user', async () => { await api.del(base); location.hash = '#/users'; },
      { confirm: `Remove ${user.login_name}? This cannot be undone.`, danger: true }),
    link(`#/events?aggregate_id=${seg(user.id)}`, 'Audit trail of this user'));
  sections.push(panel('Details', props([
    ['Id', h('code', { class: 'mono' }, user.id)], ['Login name', user.login_name], ['Type', user.type],
    ['Organization', link(`#/orgs/${seg(user.org_id)}`, user.org_id)], ['State', badge(user.state)], ['Locked', user.locked ? 'yes' : 'no'],
    user.human && ['Email', `${user.human.email}${user.human.email_verified ? ' (verified)' : ''}`],
    user.human && ['Phone', user.human.phone],
    user.human && ['Password', user.human.password_set ? (user.human.password_change_required ? 'set, must be changed at next login' : 'set') : 'not set'],
    user.machine && ['Description', user.machine.description],
    user.machine && ['Access tokens', user.machine.access_token_type === 'opaque' ? 'Opaque' : 'JWT'],
    ['Created', user.created_at], ['Changed', user.changed_at],
  ]), lifecycle));
  if (user.human) {
    sections.push(panel('Profile', form({
      label: 'Profile', submit: 'Save profile',
      fields: [
        { name: 'given_name', label: 'Given name', value: user.human.given_name, required: true },
        { name: 'family_name', label: 'Family name', value: user.human.family_name, required: true },
        { name: 'display_name', label: 'Display name', value: user.display_name },
        { name: 'preferred_language', label: 'Preferred language', value: user.human.preferred_language },
      ],
      onSubmit: async (v) => { await api.put(`${base}/profile`, { ...v, display_name: v.display_name || null, preferred_language: v.preferred_language || null }); notify('Profile saved.'); reload(); },
    }), form({
      label: 'Email', submit: 'Change email',
      fields: [{ name: 'email', label: 'Email', type: 'email', value: user.human.email, required: true }],
      onSubmit: async (v) => { await api.put(`${base}/email`, v); notify('Email changed.'); reload(); },
    })));
    sections.push(panel('Email and second factor', h('div', { class: 'actions' },
      actionButton('Email a password reset link', async () => { await api.post(`${base}/password/reset`); }, { done: 'A password reset link was mailed to the user.' }),
      user.human.email_verified ? null : actionButton('Email a verification code', async () => { await api.post(`${base}/email/verify-code`); }, { done: 'A verification code was mailed to the user.' }),
      actionButton('Mark the email verified', async () => { await api.post(`${base}/email/verify`); reload(); }),
      actionButton('Remove the second factor', async () => { await api.del(`${base}/otp`); }, { confirm: `Remove ${user.login_name}'s authenticator app? They log in with the password alone until they enrol again.`, danger: true, done: 'Second factor removed.' }))));
    sections.push(panel('Set a new password', form({
      label: 'Reset the password', submit: 'Set password',
      fields: [
        { name: 'password', label: 'New password', type: 'password', required: true },
        { name: 'change_required', label: 'Must be changed at the next login', type: 'checkbox', value: true },
      ],
      onSubmit: async (v, element) => { await api.put(`${base}/password`, v); element.reset(); notify('Password set.'); },
    })));
  }
  if (user.machine) {
    sections.push(panel('Machine', form({
      label: 'Machine user', submit: 'Save',
      fields: [
        { name: 'name', label: 'Name', value: user.display_name, required: true },
        { name: 'description', label: 'Description', value: user.machine.description, wide: true },
        { name: 'access_token_type', label: 'Access tokens', type: 'select', options: [['jwt', 'JWT'], ['opaque', 'Opaque']], value: user.machine.access_token_type },
      ],
      onSubmit: async (v) => { await api.put(`${base}/machine`, v); notify('Saved.'); reload(); },
    })));
    sections.push(await keysPanel(base));
    sections.push(await patsPanel(base));
    const secretOut = h('div');
    sections.push(panel('Client secret', h('p', {}, user.machine.has_secret ? 'A client secret is set.' : 'No client secret is set.'),
      h('div', { class: 'actions' },
        actionButton(user.machine.has_secret ? 'Generate a new secret' : 'Generate a secret', async () => {
          const created = await api.put(`${base}/secret`);
          secretOut.replaceChildren(secretBox('Client secret', created.client_secret));
        }, { confirm: user.machine.has_secret ? 'Replace the client secret? The old one stops working at once.' : undefined }),
        user.machine.has_secret ? actionButton('Remove the secret', async () => { await api.del(`${base}/secret`); reload(); }, { confirm: 'Remove the client secret?', danger: true }) : null),
      secretOut));
  }
  sections.push(await metadataPanel(base));
  sections.push(panel('Memberships', pagedTable({
    load: (offset, limit) => api.get(`${base}/memberships`, { offset, limit }),
    columns: [
      { label: 'Scope', render: (m) => m.scope },
      { label: 'Scope id', render: (m) => h('code', { class: 'mono' }, m.scope_id) },
      { label: 'Roles', render: (m) => m.roles.join(', ') },
    ],
  })));
  render(`User ${user.login_name}`, sections);
}

async function patsPanel(base) {
  const holder = h('div');
  const secret = h('div');
  const load = async () => {
    try {
      const { items } = await api.get(`${base}/pats`);
      holder.replaceChildren(table([
        { label: 'Token id', render: (t) => h('code', { class: 'mono' }, t.token_id) },
        { label: 'Expires', render: (t) => t.expires_at },
        { label: 'Created', render: (t) => t.created_at },
        { label: 'Actions', render: (t) => actionButton('Revoke', async () => { await api.del(`${base}/pats/${seg(t.token_id)}`); load(); }, { confirm: 'Revoke this token? It stops working at once.', danger: true }) },
      ], items));
    } catch (error) {
      holder.replaceChildren(h('p', { class: 'form-error' }, describe(error)));
    }
  };
  load();
  return panel('Personal access tokens', holder, secret, form({
    label: 'Issue a personal access token', submit: 'Issue token',
    fields: [{ name: 'expires_at', label: 'Expires at (RFC 3339, optional)' }],
    onSubmit: async (v, element) => {
      const created = await api.post(`${base}/pats`, { expires_at: v.expires_at || null });
      secret.replaceChildren(secretBox('Personal access token', created.token));
      element.reset();
      load();
    },
  }));
}

async function metadataPanel(base) {
  const holder = h('div');
  const load = async () => {
    try {
      const { items } = await api.get(`${base}/metadata`);
      holder.replaceChildren(table([
        { label: 'Key', render: (m) => m.key },
        { label: 'Value', render: (m) => h('code', { class: 'mono' }, m.value) },
        { label: 'Actions', render: (m) => actionButton('Remove', async () => { await api.del(`${base}/metadata/${m.key.split('/').map(seg).join('/')}`); load(); }, { confirm: `Remove the metadata ${m.key}?`, danger: true }) },
      ], items));
    } catch (error) {
      holder.replaceChildren(h('p', { class: 'form-error' }, describe(error)));
    }
  };
  load();
  return panel('Metadata', holder, form({
    label: 'Set metadata', submit: 'Set',
    fields: [{ name: 'key', label: 'Key', required: true }, { name: 'value', label: 'Value', required: true }],
    onSubmit: async (v, element) => {
      await api.put(`${base}/metadata/${v.key.split('/').map(seg).join('/')}`, { value: v.value });
      element.reset();
      load();
    },
  }));
}
