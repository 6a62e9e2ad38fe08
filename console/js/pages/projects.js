import { api, seg } from '../api.js';
import { h, render, form, pagedTable, panel, props, actionButton, notify, badge, link, describe, secretBox } from '../ui.js';
import { orgOptions, membersPanel, keysPanel, PROJECT_ROLES } from './common.js';

export async function projectsPage() {
  const orgs = await orgOptions();
  const list = pagedTable({
    load: (offset, limit) => api.get('/api/v1/projects', { offset, limit }),
    columns: [
      { label: 'Name', render: (p) => link(`#/projects/${seg(p.id)}`, p.name) },
      { label: 'Organization', render: (p) => orgs.find(([id]) => id === p.org_id)?.[1] || p.org_id },
      { label: 'State', render: (p) => badge(p.state) },
      { label: 'Created', render: (p) => p.created_at },
    ],
  });
  const create = form({
    label: 'Create a project', submit: 'Create project',
    fields: [
      { name: 'org_id', label: 'Organization', type: 'select', options: [['', 'Choose an organization'], ...orgs], required: true },
      { name: 'name', label: 'Name', required: true },
    ],
    onSubmit: async (v) => {
      const created = await api.post('/api/v1/projects', v);
      notify(`Project ${v.name} created.`);
      location.hash = `#/projects/${seg(created.id)}`;
    },
  });
  render('Projects', panel('Create a project', create), list);
}

/** The signing algorithm choices of an OIDC application; the empty value keeps the provider's default. */
const ID_TOKEN_ALGS = [['', 'RS256 (default)'], ['ES256', 'ES256'], ['EdDSA', 'EdDSA (Ed25519)']];
const ACCESS_TOKEN_ALGS = [['', 'ES256 (default)'], ['RS256', 'RS256'], ['EdDSA', 'EdDSA (Ed25519)']];
const ALG_FIELDS = ['id_token_signed_response_alg', 'access_token_signed_response_alg'];

/** `config` without algorithm fields left at the default (the API takes their absence as the default). */
function withoutDefaultAlgs(config) {
  const out = { ...config };
  for (const name of ALG_FIELDS) if (!out[name]) delete out[name];
  return out;
}

export async function projectPage(id) {
  const base = `/api/v1/projects/${seg(id)}`;
  let project;
  try {
    project = await api.get(base);
  } catch (error) {
    render('Project', h('p', { class: 'form-error', role: 'alert' }, describe(error)), link('#/projects', 'All projects'));
    return;
  }
  const reload = () => projectPage(id);
  const roles = pagedTable({
    load: (offset, limit) => api.get(`${base}/roles`, { offset, limit }),
    columns: [
      { label: 'Key', render: (r) => h('code', { class: 'mono' }, r.key) },
      { label: 'Display name', render: (r) => r.display_name },
      { label: 'Group', render: (r) => r.group || '—' },
      { label: 'Actions', render: (r) => actionButton('Remove', async () => { await api.del(`${base}/roles/${seg(r.key)}`); await roles.reloadUntil((items) => !items.some((x) => x.key === r.key)); }, { confirm: `Remove the role ${r.key}? It is taken from every grant that has it.`, danger: true }) },
    ],
  });
  const apps = pagedTable({
    load: (offset, limit) => api.get(`${base}/apps`, { offset, limit }),
    columns: [
      { label: 'Name', render: (a) => link(`#/apps/${seg(a.id)}`, a.name) },
      { label: 'Type', render: (a) => (a.oidc ? `OIDC, ${a.oidc.app_type}` : a.type) },
      { label: 'Client id', render: (a) => h('code', { class: 'mono' }, a.client_id) },
      { label: 'State', render: (a) => badge(a.state) },
    ],
  });
  const secretOut = h('div');
  const oidc = form({
    label: 'Create an OIDC application', submit: 'Create OIDC application',
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'app_type', label: 'Application type', type: 'select', options: [['web', 'Web (server side)'], ['user_agent', 'Single-page app (browser)'], ['native', 'Native (mobile or desktop)']] },
      { name: 'auth_method', label: 'Client authentication', type: 'select', options: [['basic', 'client_secret_basic'], ['post', 'client_secret_post'], ['none', 'none (public client, PKCE)'], ['private_key_jwt', 'private_key_jwt']] },
      { name: 'access_token_type', label: 'Access tokens', type: 'select', options: [['jwt', 'JWT'], ['opaque', 'Opaque']] },
      { name: 'id_token_signed_response_alg', label: 'ID token signing algorithm', type: 'select', options: ID_TOKEN_ALGS },
      { name: 'access_token_signed_response_alg', label: 'JWT access token signing algorithm', type: 'select', options: ACCESS_TOKEN_ALGS },
      { name: 'redirect_uris', label: 'Redirect URIs (one per line, matched exactly)', type: 'lines', required: true },
      { name: 'post_logout_redirect_uris', label: 'Post-logout redirect URIs (one per line)', type: 'lines' },
      { name: 'require_pkce', label: 'Require PKCE', type: 'checkbox', value: true },
      { name: 'refresh', label: 'Issue refresh tokens', type: 'checkbox', value: true },
      { name: 'dev_mode', label: 'Development mode (allows http redirect URIs)', type: 'checkbox' },
    ],
    onSubmit: async (v, element) => {
      const { refresh, ...rest } = v;
      const created = await api.post(`${base}/apps/oidc`, {
        ...withoutDefaultAlgs(rest),
        response_types: ['code'],
        grant_types: refresh ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
      });
      secretOut.replaceChildren(
        h('p', {}, 'Application created. Client id: ', h('code', { class: 'mono', 'data-client-id': 'true' }, created.client_id)),
        created.client_secret ? secretBox('Client secret', created.client_secret) : null);
      element.reset();
      await apps.reloadUntil((items) => items.some((a) => a.id === created.id));
    },
  });
  const apiApp = form({
    label: 'Create an API application', submit: 'Create API application',
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'auth_method', label: 'Authentication at introspection', type: 'select', options: [['basic', 'client_secret_basic'], ['private_key_jwt', 'private_key_jwt']] },
      { name: 'access_token_type', label: 'Its own access tokens', type: 'select', options: [['jwt', 'JWT'], ['opaque', 'Opaque']] },
    ],
    onSubmit: async (v, element) => {
      const created = await api.post(`${base}/apps/api`, v);
      secretOut.replaceChildren(
        h('p', {}, 'Application created. Client id: ', h('code', { class: 'mono' }, created.client_id)),
        created.client_secret ? secretBox('Client secret', created.client_secret) : null);
      element.reset();
      await apps.reloadUntil((items) => items.some((a) => a.id === created.id));
    },
  });
  render(`Project ${project.name}`,
    panel('Details', props([
      ['Id', h('code', { class: 'mono' }, project.id)], ['Organization', link(`#/orgs/${seg(project.org_id)}`, project.org_id)],
      ['State', badge(project.state)], ['Created', project.created_at],
    ]), h('div', { class: 'actions' },
      project.state === 'active'
        ? actionButton('Deactivate', async () => { await api.post(`${base}/deactivate`); reload(); }, { confirm: `Deactivate ${project.name}?`, danger: true })
        : actionButton('Reactivate', async () => { await api.post(`${base}/reactivate`); reload(); }),
      actionButton('Remove project', async () => { await api.del(base); location.hash = '#/projects'; },
        { confirm: `Remove ${project.name} with its roles, applications and grants?`, danger: true })),
    form({
      label: 'Rename the project', submit: 'Rename',
      fields: [{ name: 'name', label: 'Name', value: project.name, required: true }],
      onSubmit: async (v) => { await api.put(base, v); notify('Project renamed.'); reload(); },
    })),
    panel('Roles', roles, h('h3', {}, 'Add a role'), form({
      label: 'Add a role', submit: 'Add role',
      fields: [
        { name: 'key', label: 'Key', required: true, hint: 'e.g. reader' },
        { name: 'display_name', label: 'Display name', required: true },
        { name: 'group', label: 'Group' },
      ],
      onSubmit: async (v, element) => { await api.post(`${base}/roles`, v); element.reset(); notify(`Role ${v.key} added.`); await roles.reloadUntil((items) => items.some((r) => r.key === v.key)); },
    })),
    panel('Applications', apps, secretOut, h('h3', {}, 'Create an OIDC application'), oidc, h('h3', {}, 'Create an API application'), apiApp),
    await membersPanel('Members', `${base}/members`, PROJECT_ROLES));
}

export async function appPage(id) {
  const base = `/api/v1/apps/${seg(id)}`;
  let app;
  try {
    app = await api.get(base);
  } catch (error) {
    render('Application', h('p', { class: 'form-error', role: 'alert' }, describe(error)));
    return;
  }
  const reload = () => appPage(id);
  const secretOut = h('div');
  const config = app.oidc || app.api || {};
  const sections = [
    panel('Details', props([
      ['Id', h('code', { class: 'mono' }, app.id)], ['Client id', h('code', { class: 'mono' }, app.client_id)],
      ['Project', link(`#/projects/${seg(app.project_id)}`, app.project_id)], ['Type', app.type], ['State', badge(app.state)],
      ['Client secret', app.has_secret ? 'set' : 'none'],
    ]), h('pre', {}, JSON.stringify(config, null, 2)), h('div', { class: 'actions' },
      app.has_secret ? actionButton('Generate a new client secret', async () => {
        const created = await api.post(`${base}/secret`);
        secretOut.replaceChildren(secretBox('Client secret', created.client_secret));
      }, { confirm: 'Replace the client secret? The old one stops working at once.' }) : null,
      app.state === 'active'
        ? actionButton('Deactivate', async () => { await api.post(`${base}/deactivate`); reload(); }, { confirm: `Deactivate ${app.name}? Its tokens stop working.`, danger: true })
        : actionButton('Reactivate', async () => { await api.post(`${base}/reactivate`); reload(); }),
      actionButton('Remove application', async () => { await api.del(base); location.hash = `#/projects/${seg(app.project_id)}`; },
        { confirm: `Remove ${app.name}?`, danger: true })), secretOut),
  ];
  if (app.oidc) {
    sections.push(panel('Redirect URIs', form({
      label: 'OIDC configuration', submit: 'Save configuration',
      fields: [
        { name: 'redirect_uris', label: 'Redirect URIs (one per line, matched exactly)', type: 'lines', value: config.redirect_uris || [], required: true },
        { name: 'post_logout_redirect_uris', label: 'Post-logout redirect URIs', type: 'lines', value: config.post_logout_redirect_uris || [] },
        { name: 'dev_mode', label: 'Development mode (allows http redirect URIs)', type: 'checkbox', value: config.dev_mode },
        { name: 'id_token_signed_response_alg', label: 'ID token signing algorithm', type: 'select', options: ID_TOKEN_ALGS, value: config.id_token_signed_response_alg || '' },
        { name: 'access_token_signed_response_alg', label: 'JWT access token signing algorithm', type: 'select', options: ACCESS_TOKEN_ALGS, value: config.access_token_signed_response_alg || '' },
      ],
      onSubmit: async (v) => {
        const created = await api.put(`${base}/oidc-config`, withoutDefaultAlgs({ ...config, ...v }));
        if (created?.client_secret) secretOut.replaceChildren(secretBox('Client secret', created.client_secret));
        notify('Configuration saved.');
      },
    })));
  }
  // Keys for private_key_jwt; they can be registered before the auth method is switched.
  sections.push(await keysPanel(base));
  render(`Application ${app.name}`, sections);
}
