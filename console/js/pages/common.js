// Pieces several pages share: organization and project choices, membership lists.

import { api, seg } from '../api.js';
import { h, form, pagedTable, panel, actionButton, notify, shortId, link, table, describe } from '../ui.js';

/** `[id, name]` options of the organizations the caller sees. */
export async function orgOptions() {
  try {
    const page = await api.get('/api/v1/orgs', { limit: 500 });
    return page.items.map((o) => [o.id, `${o.name} (${o.state})`]);
  } catch {
    return [];
  }
}

/** `[id, name]` options of the projects the caller sees. */
export async function projectOptions() {
  try {
    const page = await api.get('/api/v1/projects', { limit: 500 });
    return page.items.map((p) => [p.id, p.name]);
  } catch {
    return [];
  }
}

/** `[id, login name]` options of the users the caller sees. */
export async function userOptions(query = {}) {
  try {
    const page = await api.get('/api/v1/users', { limit: 500, ...query });
    return page.items.map((u) => [u.id, `${u.login_name} (${u.type})`]);
  } catch {
    return [];
  }
}

export const INSTANCE_ROLES = ['IAM_OWNER', 'IAM_OWNER_VIEWER', 'IAM_ORG_MANAGER', 'IAM_USER_MANAGER'];
export const ORG_ROLES = ['ORG_OWNER', 'ORG_OWNER_VIEWER', 'ORG_USER_MANAGER', 'ORG_PROJECT_CREATOR'];
export const PROJECT_ROLES = ['PROJECT_OWNER', 'PROJECT_OWNER_VIEWER'];

/** The members of a scope (`base` is e.g. `/api/v1/orgs/{id}/members`), with add, change and remove. */
export async function membersPanel(title, base, roles) {
  const users = await userOptions();
  const list = pagedTable({
    load: (offset, limit) => api.get(base, { offset, limit }),
    columns: [
      { label: 'User', render: (m) => link(`#/users/${seg(m.user_id)}`, users.find(([id]) => id === m.user_id)?.[1] || m.user_id) },
      { label: 'Roles', render: (m) => m.roles.join(', ') },
      { label: 'Since', render: (m) => m.created_at },
      {
        label: 'Actions',
        render: (m) => actionButton('Remove', async () => {
          await api.del(`${base}/${seg(m.user_id)}`);
          await list.reloadUntil((items) => !items.some((x) => x.user_id === m.user_id));
        }, { confirm: `Remove this member (${m.user_id})? Their roles here end at once.`, danger: true }),
      },
    ],
  });
  const add = form({
    label: `Add a member (${title})`,
    submit: 'Add member',
    fields: [
      { name: 'user_id', label: 'User', type: 'select', options: [['', 'Choose a user'], ...users], required: true },
      { name: 'roles', label: 'Roles', type: 'select', options: roles.map((r) => [r, r]), required: true },
    ],
    onSubmit: async (values) => {
      await api.post(base, { user_id: values.user_id, roles: [values.roles] });
      notify('Member added.');
      await list.reloadUntil((items) => items.some((m) => m.user_id === values.user_id));
    },
  });
  return panel(title, list, h('h3', {}, 'Add a member'), add);
}

/** A form changing a policy; `current` its values, `path` where to PUT. */
export function policyForms(policies, base, onDone) {
  const pc = policies.password_complexity.policy;
  const lockout = policies.lockout.policy;
  const login = policies.login.policy;
  const inherited = (p) => (p.inherited ? ' (inherited from the instance)' : '');
  return [
    panel(`Password complexity${inherited(policies.password_complexity)}`, form({
      label: 'Password complexity',
      fields: [
        { name: 'min_length', label: 'Minimum length', type: 'number', value: pc.min_length, min: 8, max: 128, required: true },
        { name: 'has_uppercase', label: 'Needs an upper-case letter', type: 'checkbox', value: pc.has_uppercase },
        { name: 'has_lowercase', label: 'Needs a lower-case letter', type: 'checkbox', value: pc.has_lowercase },
        { name: 'has_number', label: 'Needs a digit', type: 'checkbox', value: pc.has_number },
        { name: 'has_symbol', label: 'Needs a symbol', type: 'checkbox', value: pc.has_symbol },
      ],
      onSubmit: async (v) => { await api.put(`${base}/password-complexity`, v); notify('Password complexity policy saved.'); onDone?.(); },
    })),
    panel(`Lockout${inherited(policies.lockout)}`, form({
      label: 'Lockout',
      fields: [
        { name: 'max_password_attempts', label: 'Failed password attempts before lockout (0: never)', type: 'number', value: lockout.max_password_attempts, min: 0, required: true },
        { name: 'show_lockout_failures', label: 'Tell users they are locked out', type: 'checkbox', value: lockout.show_lockout_failures },
      ],
      onSubmit: async (v) => { await api.put(`${base}/lockout`, v); notify('Lockout policy saved.'); onDone?.(); },
    })),
    panel(`Login${inherited(policies.login)}`, form({
      label: 'Login',
      fields: [
        { name: 'allow_username_password', label: 'Login name and password', type: 'checkbox', value: login.allow_username_password },
        { name: 'allow_register', label: 'Self-registration', type: 'checkbox', value: login.allow_register },
        { name: 'allow_external_idp', label: 'External identity providers', type: 'checkbox', value: login.allow_external_idp },
        { name: 'force_mfa', label: 'Second factor required', type: 'checkbox', value: login.force_mfa },
        { name: 'hide_password_reset', label: 'Hide password reset', type: 'checkbox', value: login.hide_password_reset },
        { name: 'ignore_unknown_usernames', label: 'Do not reveal unknown login names', type: 'checkbox', value: login.ignore_unknown_usernames },
        { name: 'default_redirect_uri', label: 'Default redirect URI', type: 'url', value: login.default_redirect_uri || '', wide: true },
      ],
      onSubmit: async (v) => {
        await api.put(`${base}/login`, { ...v, default_redirect_uri: v.default_redirect_uri || null });
        notify('Login policy saved.');
        onDone?.();
      },
    })),
  ];
}

export { shortId };

/** The public keys of a machine user or an application (`base` is its API path), to list, add and remove. */
export async function keysPanel(base) {
  const holder = h('div');
  const load = async () => {
    try {
      const { items } = await api.get(`${base}/keys`);
      holder.replaceChildren(table([
        { label: 'Key id', render: (k) => h('code', { class: 'mono' }, k.key_id) },
        { label: 'Format', render: (k) => k.format },
        { label: 'Expires', render: (k) => k.expires_at },
        { label: 'Actions', render: (k) => actionButton('Remove', async () => { await api.del(`${base}/keys/${seg(k.key_id)}`); load(); }, { confirm: 'Remove this key? JWTs signed with it are refused from now on.', danger: true }) },
      ], items));
    } catch (error) {
      holder.replaceChildren(h('p', { class: 'form-error' }, describe(error)));
    }
  };
  load();
  return panel('Keys', holder, form({
    label: 'Add a public key', submit: 'Add key',
    fields: [
      { name: 'public_key', label: 'Public key', type: 'textarea', required: true, hint: 'A PEM PUBLIC KEY block, or a JWK' },
      { name: 'format', label: 'Format', type: 'select', options: [['pem', 'PEM'], ['jwk', 'JWK']] },
      { name: 'expires_at', label: 'Expires at (RFC 3339, optional)' },
    ],
    onSubmit: async (v, element) => { await api.post(`${base}/keys`, { ...v, expires_at: v.expires_at || null }); element.reset(); notify('Key added.'); load(); },
  }));
}
