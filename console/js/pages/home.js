import { api } from '../api.js';
import { h, render, panel, props, describe } from '../ui.js';

export async function homePage() {
  let instance = null;
  let error = null;
  try {
    instance = await api.get('/api/v1/instance');
  } catch (e) {
    error = e;
  }
  const links = [
    ['#/orgs', 'Organizations', 'tenants and their domains, members and policies'],
    ['#/users', 'Users', 'people and machines: profiles, passwords, keys and tokens'],
    ['#/projects', 'Projects', 'roles and applications (OIDC and API clients)'],
    ['#/grants', 'User grants', 'which user has which roles of a project'],
    ['#/members', 'Memberships', 'who administers the instance'],
    ['#/policies', 'Policies', 'password, lockout and login rules'],
    ['#/events', 'Audit trail', 'every change, with its payload'],
    ['#/projections', 'Projections', 'how far each read view is, failed events'],
    ['#/plugins', 'Plugins', 'WebAssembly validators, projections and actions'],
  ];
  render('Overview',
    instance
      ? panel('Instance', props([
        ['Name', instance.name], ['Id', h('code', { class: 'mono' }, instance.instance_id)],
        ['Primary domain', instance.primary_domain], ['Default language', instance.default_language], ['State', instance.state],
      ]))
      : h('p', { class: 'hint' }, error ? `The instance is not visible to you (${describe(error)}).` : ''),
    h('nav', { 'aria-label': 'Sections' }, h('ul', {}, links.map(([href, text, what]) => h('li', {}, h('a', { href }, text), ` — ${what}`)))));
}
