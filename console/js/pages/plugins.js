import { api, seg, ApiError } from '../api.js';
import { h, render, form, panel, props, actionButton, notify, badge, link, table, describe } from '../ui.js';
import { orgOptions } from './common.js';

const formatBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

export async function pluginsPage() {
  const holder = h('div');
  const load = async () => {
    try {
      const { plugins } = await api.get('/api/v1/plugins');
      holder.replaceChildren(table([
        { label: 'Name', render: (p) => link(`#/plugins/${seg(p.id)}`, p.name) },
        { label: 'World', render: (p) => p.world || '—' },
        { label: 'State', render: (p) => badge(p.load_state) },
        { label: 'Versions', render: (p) => p.versions.length },
        { label: 'Bindings', render: (p) => p.bindings.length },
        { label: 'Calls', render: (p) => `${p.metrics?.calls ?? 0} (${p.metrics?.failures ?? 0} failed)` },
      ], plugins));
    } catch (error) {
      holder.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, describe(error)));
    }
  };
  render('Plugins',
    h('p', {}, 'WebAssembly components that validate commands, keep their own views, or act in the login flow. Each runs sandboxed, with a deadline and a memory cap.'),
    panel('Upload a plugin', uploadForm(async (created) => {
      await load();
      location.hash = `#/plugins/${seg(created.id)}`;
    })),
    holder);
  await load();
}

/** A drop zone and file picker for a `.wasm` component, with a name and description. */
function uploadForm(onUploaded, pluginId) {
  let file = null;
  const chosen = h('p', { class: 'hint', 'aria-live': 'polite' }, 'No file chosen.');
  const picker = h('input', { type: 'file', id: `wasm-file-${pluginId || 'new'}`, accept: '.wasm,application/wasm' });
  const choose = (f) => {
    file = f || null;
    chosen.textContent = file ? `${file.name}, ${formatBytes(file.size)}` : 'No file chosen.';
  };
  picker.addEventListener('change', () => choose(picker.files[0]));
  const zone = h('div', { class: 'dropzone' },
    h('p', {}, 'Drop a .wasm component here, or '),
    h('label', { for: picker.id }, 'choose a file'), ' ', picker, chosen);
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    choose(e.dataTransfer.files[0]);
  });
  const fields = pluginId
    ? [{ name: 'activate', label: 'Activate the new version at once', type: 'checkbox', value: true }]
    : [{ name: 'name', label: 'Name', required: true }, { name: 'description', label: 'Description', wide: true }];
  const element = form({
    label: pluginId ? 'Upload a new version' : 'Upload a plugin',
    submit: pluginId ? 'Upload version' : 'Upload',
    fields,
    onSubmit: async (v) => {
      if (!file) throw new Error('Choose a .wasm file first.');
      const bytes = new Uint8Array(await file.arrayBuffer());
      const path = pluginId
        ? `/api/v1/plugins/${seg(pluginId)}/versions?activate=${v.activate}`
        : `/api/v1/plugins?${new URLSearchParams({ name: v.name, description: v.description || '' })}`;
      const created = await api.upload(path, bytes);
      notify(pluginId ? 'Version uploaded.' : `Plugin ${v.name} uploaded.`);
      await onUploaded(created);
    },
  });
  element.prepend(h('div', { class: 'wide' }, zone));
  return element;
}

function targetText(target) {
  if (target.kind === 'validator') return `validator of ${target.command_types.join(', ')}`;
  if (target.kind === 'action') return `action at ${target.hook} (order ${target.order})`;
  return 'projection';
}

const SAMPLES = {
  validator: {
    input: {
      command: {
        command_type: 'user.human.add', instance_id: 'instance', org_id: 'org', aggregate_type: 'user', aggregate_id: 'user-1',
        actor: { user_id: 'admin' },
        payload: { add_human_user: { username: 'ada', email: 'ada@example.org' } },
      },
      state: null,
      events: [],
    },
  },
  projection: {
    events: [{ instance_id: 'instance', org_id: 'org', aggregate_type: 'user', aggregate_id: 'user-1', event_type: 'user.human.added', created_at: 1700000000000000, payload: {} }],
  },
  action: { hook: 'pre_authentication', context: {} },
};

export async function pluginPage(id) {
  const base = `/api/v1/plugins/${seg(id)}`;
  let plugin;
  try {
    plugin = await api.get(base);
  } catch (error) {
    render('Plugin', h('p', { class: 'form-error', role: 'alert' }, describe(error)), link('#/plugins', 'All plugins'));
    return;
  }
  const reload = () => pluginPage(id);
  const orgs = await orgOptions();
  const world = plugin.world || 'validator';

  const versions = table([
    { label: 'Digest (SHA-256)', render: (v) => h('code', { class: 'mono' }, v.digest) },
    { label: 'Size', render: (v) => formatBytes(v.size) },
    {
      label: 'Active',
      render: (v) => (v.digest === plugin.active_digest ? 'active'
        : actionButton('Activate', async () => { await api.put(`${base}/active-version`, { digest: v.digest }); reload(); })),
    },
  ], plugin.versions);

  const bindings = table([
    { label: 'Binding', render: (b) => h('code', { class: 'mono' }, b.id) },
    { label: 'Target', render: (b) => targetText(b.target) },
    { label: 'Organization', render: (b) => b.org_id || 'whole instance' },
    { label: 'Failure policy', render: (b) => b.failure_policy },
    { label: 'Limits', render: (b) => `${b.limits.deadline_ms} ms, ${b.limits.memory_mib} MiB` },
    { label: 'Configuration', render: (b) => h('code', { class: 'mono' }, JSON.stringify(b.config)) },
    {
      label: 'Actions',
      render: (b) => actionButton('Unbind', async () => { await api.del(`${base}/bindings/${seg(b.id)}`); reload(); },
        { confirm: 'Remove this binding? The plugin stops running there at once.', danger: true }),
    },
  ], plugin.bindings);

  const bindFields = [];
  if (world === 'validator') {
    bindFields.push({ name: 'command_types', label: 'Command types (one per line)', type: 'lines', value: ['user.human.add'], required: true, hint: 'e.g. user.human.add, or user.* or *' });
  } else if (world === 'action') {
    bindFields.push(
      { name: 'hook', label: 'Hook', type: 'select', options: ['pre_authentication', 'post_authentication', 'pre_registration', 'post_creation', 'pre_token', 'pre_userinfo'].map((x) => [x, x]) },
      { name: 'order', label: 'Order', type: 'number', value: 0 });
  }
  if (world !== 'projection') {
    bindFields.push({ name: 'org_id', label: 'Organization', type: 'select', options: [['', 'Whole instance'], ...orgs] });
  }
  bindFields.push(
    { name: 'failure_policy', label: 'When the plugin fails', type: 'select', options: [['fail_closed', 'Refuse (fail closed)'], ['allow_failure', 'Go on (allowed to fail)']] },
    { name: 'deadline_ms', label: 'Deadline (ms)', type: 'number', value: 50, min: 1, max: 1000 },
    { name: 'memory_mib', label: 'Memory (MiB)', type: 'number', value: 64, min: 1, max: 256 },
    { name: 'config', label: 'Configuration (one key=value per line)', type: 'lines', hint: 'e.g. allowed_domains=example.com' });
  const bind = form({
    label: 'Bind the plugin', submit: 'Bind',
    fields: bindFields,
    onSubmit: async (v) => {
      const target = world === 'validator' ? { kind: 'validator', command_types: v.command_types }
        : world === 'action' ? { kind: 'action', hook: v.hook, order: v.order ?? 0 } : { kind: 'projection' };
      const config = {};
      for (const line of v.config) {
        const at = line.indexOf('=');
        if (at < 1) throw new ApiError(400, { code: 'invalid_config', message: `“${line}” is not key=value`, field: 'config' });
        config[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      const limits = {};
      if (v.deadline_ms !== undefined) limits.deadline_ms = v.deadline_ms;
      if (v.memory_mib !== undefined) limits.memory_mib = v.memory_mib;
      await api.post(`${base}/bindings`, { target, org_id: v.org_id || undefined, failure_policy: v.failure_policy, limits, config });
      notify('Plugin bound.');
      reload();
    },
  });

  const output = h('div', { 'aria-live': 'polite', id: 'test-output' });
  const test = form({
    label: 'Test-run the plugin', submit: 'Run test',
    fields: [
      { name: 'binding_id', label: 'Use the configuration of', type: 'select', options: [['', 'No binding (the sample\'s own)'], ...plugin.bindings.map((b) => [b.id, `${targetText(b.target)} (${b.id})`])], value: plugin.bindings[0]?.id || '' },
      { name: 'sample', label: 'Sample input (JSON)', type: 'textarea', rows: 14, value: JSON.stringify(SAMPLES[world], null, 2), required: true },
    ],
    onSubmit: async (v) => {
      let sample;
      try {
        sample = JSON.parse(v.sample);
      } catch (error) {
        throw new ApiError(400, { code: 'invalid_json', message: `the sample is not JSON: ${error.message}`, field: 'sample' });
      }
      const run = await api.post(`${base}/test`, { binding_id: v.binding_id || undefined, sample });
      output.replaceChildren(
        props([
          ['Outcome', run.ok ? 'the call succeeded' : 'the call failed'],
          ['Time', `${Math.round(run.duration)} µs`],
          ['Version', h('code', { class: 'mono' }, run.digest)],
        ]),
        h('h3', {}, 'Result'), h('pre', { 'data-test-result': 'true' }, JSON.stringify(run.result, null, 2)),
        h('h3', {}, 'Log lines'), logTable(run.logs));
    },
  });

  const m = plugin.metrics || {};
  render(`Plugin ${plugin.name}`,
    panel('Details', props([
      ['Id', h('code', { class: 'mono' }, plugin.id)], ['World', plugin.world], ['Description', plugin.description || '—'],
      ['State on this node', [badge(plugin.load_state), plugin.load_error ? ` ${plugin.load_error}` : '']],
      ['Active version', h('code', { class: 'mono' }, plugin.active_digest || 'none')],
      ['Size', formatBytes(plugin.versions.find((v) => v.digest === plugin.active_digest)?.size || 0)],
    ]), h('div', { class: 'actions' },
      actionButton('Delete plugin', async () => { await api.del(base); location.hash = '#/plugins'; },
        { confirm: `Delete ${plugin.name} and all its bindings?`, danger: true }),
      actionButton('Refresh', reload))),
    panel('Versions', versions, h('h3', {}, 'Upload a new version'), uploadForm(reload, id)),
    panel('Bindings', bindings, h('h3', {}, 'Add a binding'), bind),
    panel('Test run', h('p', { class: 'hint' }, 'Runs the active version once against the sample. Nothing is stored; a projection writes to views in memory only.'), test, output),
    panel('Metrics on this node', props([
      ['Calls', m.calls ?? 0], ['Failures', m.failures ?? 0], ['Timeouts', m.timeouts ?? 0],
      ['Out of memory', m.memory_exhausted ?? 0], ['Traps', m.traps ?? 0], ['Mean time', `${Math.round(m.mean_latency_us ?? 0)} µs`],
    ])),
    panel('Recent log lines', logTable((plugin.recent_logs || []).slice().reverse())));
}

function logTable(lines) {
  return table([
    { label: 'Time', render: (l) => new Date(l.at_unix_ms).toISOString() },
    { label: 'Level', render: (l) => l.level },
    { label: 'Message', render: (l) => l.message },
    { label: 'Fields', render: (l) => h('code', { class: 'mono' }, l.fields.map(([k, v]) => `${k}=${v}`).join(' ')) },
  ], lines);
}
