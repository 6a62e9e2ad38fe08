import { render, h } from '../ui.js';
import { membersPanel, INSTANCE_ROLES } from './common.js';

export async function membersPage() {
  render('Memberships',
    h('p', {}, 'Who administers the whole instance. Members of an organization or a project are managed on its page.'),
    await membersPanel('Instance members', '/api/v1/instance/members', INSTANCE_ROLES));
}
