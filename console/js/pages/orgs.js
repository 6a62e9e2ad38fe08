import { api, seg } from '../api.js';
import { h, render, form, pagedTable, panel, props, actionButton, notify, badge, link, table, describe } from '../ui.js';
import { membersPanel, ORG_ROLES, policyForms } from './common.js';

export async function orgsPage() {
  const filter = h('input', { id: 'org-filter', type: 'search', placeholder: 'Name starts with…' });
  const list = pagedTable({
    load: (offset, limit) => api.get('/api/v1/orgs', { offset, limit, name_prefix: filter.value }),
    columns: [
      { label: 'Name', render: (o) => link(`#/orgs/${seg(o.id)}`, o.name) },
      { label: 'State', render: (o) => badge(o.state) },
      { label: 'Primary domain', render: (o) => o.primary_domain || '—' },
      { label: 'Created', render: (o) => o.created_at },
    ],
  });
  filter.addEventListener('change', () => list.reload());
  const create = form({
    label: 'Create an organization',
    submit: 'Create organization',
    fields: [{ name: 'name', label: 'Name', required: true }],
    onSubmit: async (values, element) => {
      const created = await api.post('/api/v1/orgs', values);
      notify(`Organization “${values.name}” created.`);
      element.reset();
      location.hash = `#/orgs/${seg(created.id)}`;
    },
  });
  render('Organizations',
    panel('Create an organization', create),
    h('div', { class: 'field' }, h('label', { for: 'org-filter' }, 'Filter by name'), filter),
    list);
}

export async function orgPage(id) {
  const base = `/api/v1/orgs/${seg(id)}`;
  let org;
  try {
    org = await api.get(base);
  } catch (error) {
    render('Organization', h('p', { class: 'form-error', role: 'alert' }, describe(error)), link('#/orgs', 'All organizations'));
    return;
  }
  const reload = () => orgPage(id);
  const domains = h('div');
  const loadDomains = async () => {
    try {
      const { items } = await api.get(`${base}/domains`);
      domains.replaceChildren(table([
        { label: 'Domain', render: (d) => d.domain },
        { label: 'Verified', render: (d) => (d.verified ? 'yes' : 'no') },
        { label: 'Primary', render: (d) => (d.is_primary ? 'yes' : 'no') },
        {
          label: 'Actions',
          render: (d) => h('div', { class: 'actions' },
            d.verified ? null : actionButton('Mark verified', async () => { await api.post(`${base}/domains/${seg(d.domain)}/verify`); loadDomains(); }),
            d.is_primary ? null : actionButton('Make primary', async () => { await api.post(`${base}/domains/${seg(d.domain)}/primary`); loadDomains(); }),
            actionButton('Remove', async () => { await api.del(`${base}/domains/${seg(d.domain)}`); loadDomains(); },
              { confirm: `Remove the domain ${d.domain}?`, danger: true })),
        },
      ], items));
    } catch (error) {
      domains.replaceChildren(h('p', { class: 'form-error' }, describe(error)));
    }
  };
  loadDomains();
  let policies = null;
  try {
    policies = await api.get(`${base}/policies`);
  } catch {
    policies = null;
  }
  const policyBase = `${base}/policies`;
  render(`Organization ${org.name}`,
    panel('Details', props([
      ['Id', h('code', { class: 'mono' }, org.id)], ['State', badge(org.state)], ['Primary domain', org.primary_domain],
      ['Created', org.created_at], ['Changed', org.changed_at],
    ]),
    h('div', { class: 'actions' },
      org.state === 'active'
        ? actionButton('Deactivate', async () => { await api.post(`${base}/deactivate`); reload(); }, { confirm: `Deactivate ${org.name}? Its users cannot log in while it is inactive.`, danger: true })
        : actionButton('Reactivate', async () => { await api.post(`${base}/reactivate`); reload(); }),
      actionButton('Remove organization', async () => { await api.del(base); location.hash = '#/orgs'; },
        { confirm: `Remove ${org.name} with its users, projects, applications and grants? This cannot be undone.`, danger: true }),
      link(`#/users?org_id=${seg(org.id)}`, 'Its users'), link(`#/events?org_id=${seg(org.id)}`, 'Its audit trail'))),
    panel('Rename', form({
      label: 'Rename the organization', submit: 'Rename',
      fields: [{ name: 'name', label: 'Name', value: org.name, required: true }],
      onSubmit: async (v) => { await api.put(base, v); notify('Organization renamed.'); reload(); },
    })),
    panel('Domains', domains, form({
      label: 'Add a domain', submit: 'Add domain',
      fields: [{ name: 'domain', label: 'Domain', required: true, hint: 'e.g. acme.example' }],
      onSubmit: async (v, element) => { await api.post(`${base}/domains`, v); element.reset(); notify('Domain added.'); loadDomains(); },
    })),
    await membersPanel('Members', `${base}/members`, ORG_ROLES),
    policies ? h('h2', {}, 'Policies of this organization') : null,
    policies ? policyForms(policies, policyBase, reload) : null,
    policies ? h('div', { class: 'actions' },
      ['password-complexity', 'lockout', 'login'].map((p) => actionButton(`Use the instance's ${p} policy`, async () => { await api.del(`${policyBase}/${p}`); reload(); },
        { confirm: `Remove this organization's own ${p} policy and use the instance's?` }))) : null);
}
