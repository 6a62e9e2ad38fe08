import { api } from '../api.js';
import { render, h, describe } from '../ui.js';
import { policyForms } from './common.js';

export async function policiesPage() {
  let policies;
  try {
    policies = await api.get('/api/v1/instance/policies');
  } catch (error) {
    render('Policies', h('p', { class: 'form-error', role: 'alert' }, describe(error)));
    return;
  }
  render('Policies',
    h('p', {}, 'The instance\'s defaults. An organization can set its own on its page.'),
    policyForms(policies, '/api/v1/instance/policies', policiesPage));
}
