// The management console in a real browser: headless Chromium (Debian's `chromium`) driven by
// playwright-core against the debug `warden` binary on a fresh data directory.
//
// It signs in through Warden's own OpenID Connect provider and login page, creates an organization, a user,
// a project with a role, an application and a grant; uploads the example validator plugin, binds it, sees a
// user creation refused with the plugin's message and test-runs the plugin; reads the audit trail of it all;
// and signs out. The main pages are saved as screenshots under target/console-screenshots/ and checked with
// axe-core (no serious or critical violations). A Content-Security-Policy violation fails the test.
//
// Environment: WARDEN_BIN (default <CARGO_TARGET_DIR or target>/debug/warden), CHROMIUM (default
// /usr/bin/chromium), WARDEN_PLUGIN_WASM (default: the built email-domains example).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const wardenBin = process.env.WARDEN_BIN || join(targetDir, 'debug', 'warden');
const chromiumBin = process.env.CHROMIUM || '/usr/bin/chromium';
const screenshots = join(repo, 'target', 'console-screenshots');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function pluginPath() {
  const candidates = [
    process.env.WARDEN_PLUGIN_WASM,
    join(repo, 'examples', 'plugins', 'dist', 'email-domains.wasm'),
    join(repo, 'examples', 'plugins', 'target', 'wasm32-wasip2', 'release', 'email_domains.wasm'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  assert.ok(found, `the email-domains example plugin is not built (looked at ${candidates.join(', ')}); run examples/plugins/build.sh`);
  return found;
}

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

async function waitUntilReady(base, child) {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (child.exitCode !== null) throw new Error(`warden exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${base}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('warden did not become ready');
}

async function startWarden() {
  assert.ok(existsSync(wardenBin), `${wardenBin} is missing: build it with cargo build -p warden`);
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-console-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(wardenBin, ['start', '--data-dir', join(dataDir, 'data'), '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, WARDEN_LOG_FORMAT: 'human' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => log.push(d.toString()));
  child.stderr.on('data', (d) => log.push(d.toString()));
  await waitUntilReady(base, child);
  const read = (name) => readFileSync(join(dataDir, 'data', name), 'utf8').trim();
  return {
    base, dataDir, child, log,
    token: read('admin.pat'),
    password: read('admin.password'),
    stop() {
      child.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs axe-core on the page and fails on serious or critical violations. */
async function checkAccessibility(page, name) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `accessibility violations on ${name}: ${JSON.stringify(serious, null, 2)}`);
  return result.length;
}

async function shot(page, name) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** The heading of the page once it shows `text`. */
async function heading(page, text) {
  await page.locator('h1', { hasText: text }).waitFor();
}

/**
 * Signs in through the provider's login page: login name, password, and a password change when the
 * login flow asks for one (the administrator's one-time password must be changed at the first login).
 */
async function signInThroughLoginPage(page, loginName, password, newPassword) {
  const loginField = page.locator('input[name="login_name"], input[name="loginName"], input[name="username"]').first();
  await loginField.waitFor();
  await loginField.fill(loginName);
  const passwordOnSamePage = await page.locator('input[type="password"]').count();
  if (!passwordOnSamePage) {
    await page.locator('button[type="submit"], input[type="submit"]').first().click();
  }
  const passwordField = page.locator('input[type="password"]').first();
  await passwordField.waitFor();
  await passwordField.fill(password);
  await page.locator('button[type="submit"], input[type="submit"]').first().click();
  // Either back in the console, or a password change step first.
  await page.waitForFunction(() => location.pathname.startsWith('/console/') || document.querySelectorAll('input[type="password"]').length >= 2);
  if (!page.url().includes('/console/')) {
    const fields = page.locator('input[type="password"]');
    const count = await fields.count();
    // Old, new, confirmation — or new and confirmation.
    if (count >= 3) {
      await fields.nth(0).fill(password);
      await fields.nth(1).fill(newPassword);
      await fields.nth(2).fill(newPassword);
    } else {
      await fields.nth(0).fill(newPassword);
      await fields.nth(1).fill(newPassword);
    }
    await shot(page, '00-login-password-change');
    await page.locator('button[type="submit"], input[type="submit"]').first().click();
  }
  await page.waitForURL((url) => url.pathname.startsWith('/console/') && !url.pathname.startsWith('/console/callback'));
}

async function main() {
  mkdirSync(screenshots, { recursive: true });
  const warden = await startWarden();
  const browser = await chromium.launch({
    executablePath: chromiumBin,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const cspViolations = [];
  const pageErrors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/.test(message.text())) cspViolations.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    const { base } = warden;

    // The console's own answers: strict CSP, correct types, the client id.
    const index = await fetch(`${base}/console/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type'), /^text\/html/);
    assert.match(index.headers.get('content-security-policy'), /default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'/);
    const script = await fetch(`${base}/console/js/app.js`);
    assert.match(script.headers.get('content-type'), /^text\/javascript/);
    assert.equal(script.headers.get('cache-control'), 'no-cache');
    const config = await (await fetch(`${base}/console/config.json`)).json();
    assert.equal(config.issuer, base);
    assert.ok(config.client_id, 'the console is registered at first start');
    const discovery = await fetch(`${base}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200, 'the OpenID provider answers discovery');

    // Signed out: a silent sign-in finds no session and the sign-in page shows.
    await page.goto(`${base}/console/`);
    await page.locator('#sign-in').waitFor();
    await shot(page, '01-signed-out');
    await checkAccessibility(page, 'the sign-in page');

    await page.click('#sign-in');
    await signInThroughLoginPage(page, 'admin', warden.password, 'Console-Admin-Passw0rd!');
    await heading(page, 'Overview');
    assert.equal(await page.evaluate(() => Object.keys(localStorage).length), 0, 'nothing in localStorage');
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }));
    assert.doesNotMatch(stored, /eyJ|wdn_|access_token|code_verifier|verifier/, `no token or verifier left in sessionStorage: ${stored}`);
    await shot(page, '02-overview');
    await checkAccessibility(page, 'the overview');

    // An organization.
    await page.click('nav a[href="#/orgs"]');
    await heading(page, 'Organizations');
    await page.getByLabel('Name (required)').fill('Acme');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await heading(page, 'Organization Acme');
    await shot(page, '03-organization');
    await checkAccessibility(page, 'an organization');

    // A human user in it.
    await page.click('nav a[href="#/users"]');
    await heading(page, 'Users');
    const human = page.getByRole('form', { name: 'Create a human user' });
    await human.getByLabel('Organization (required)').selectOption({ label: 'Acme (active)' });
    await human.getByLabel('Login name (required)').fill('ada');
    await human.getByLabel('Given name (required)').fill('Ada');
    await human.getByLabel('Family name (required)').fill('Lovelace');
    await human.getByLabel('Email (required)').fill('ada@example.com');
    await human.getByRole('button', { name: 'Create human user' }).click();
    await heading(page, 'User ada');
    await shot(page, '04-user');
    await checkAccessibility(page, 'a user');

    // Field errors from the API: a taken login name is shown at its field.
    await page.click('nav a[href="#/users"]');
    await heading(page, 'Users');
    const again = page.getByRole('form', { name: 'Create a human user' });
    await again.getByLabel('Organization (required)').selectOption({ label: 'Acme (active)' });
    await again.getByLabel('Login name (required)').fill('ada');
    await again.getByLabel('Given name (required)').fill('Ada');
    await again.getByLabel('Family name (required)').fill('Again');
    await again.getByLabel('Email (required)').fill('ada2@example.com');
    await again.getByRole('button', { name: 'Create human user' }).click();
    await again.locator('input[name="login_name"][aria-invalid="true"]').waitFor();
    await shot(page, '05-field-error');
    await checkAccessibility(page, 'the users page with a field error');

    // A project with a role and an application.
    await page.click('nav a[href="#/projects"]');
    await heading(page, 'Projects');
    await page.getByLabel('Organization (required)').selectOption({ label: 'Acme (active)' });
    await page.getByLabel('Name (required)').fill('Shop');
    await page.getByRole('button', { name: 'Create project' }).click();
    await heading(page, 'Project Shop');
    const role = page.getByRole('form', { name: 'Add a role' });
    await role.getByLabel('Key (required)').fill('reader');
    await role.getByLabel('Display name (required)').fill('Reader');
    await role.getByRole('button', { name: 'Add role' }).click();
    await page.locator('td code', { hasText: 'reader' }).waitFor();
    const oidc = page.getByRole('form', { name: 'Create an OIDC application' });
    await oidc.getByLabel('Name (required)').fill('Shop web');
    await oidc.getByLabel(/Redirect URIs \(one per line/).fill('https://shop.example/callback');
    await oidc.getByRole('button', { name: 'Create OIDC application' }).click();
    const secret = page.locator('[data-secret]');
    await secret.waitFor();
    assert.ok((await secret.textContent()).length >= 32, 'the client secret is shown once');
    await page.locator('td a', { hasText: 'Shop web' }).waitFor();
    await shot(page, '06-project');
    await checkAccessibility(page, 'a project');

    // A grant of the role to the user.
    await page.click('nav a[href="#/grants"]');
    await heading(page, 'User grants');
    await page.getByLabel('User (required)').selectOption({ label: 'ada (human)' });
    await page.getByLabel('Project (required)').selectOption({ label: 'Shop' });
    await page.getByLabel(/Roles/).fill('reader');
    await page.getByRole('button', { name: 'Grant' }).click();
    await page.locator('td', { hasText: 'reader' }).first().waitFor();
    await shot(page, '07-grants');
    await checkAccessibility(page, 'the user grants');

    // The example validator plugin: upload, bind, refuse a user, test-run.
    await page.click('nav a[href="#/plugins"]');
    await heading(page, 'Plugins');
    await page.locator('input[type="file"]').setInputFiles(pluginPath());
    await page.getByLabel('Name (required)').fill('email-domains');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await heading(page, 'Plugin email-domains');
    const bind = page.getByRole('form', { name: 'Bind the plugin' });
    await bind.getByLabel(/Configuration/).fill('allowed_domains=example.com');
    await bind.getByRole('button', { name: 'Bind' }).click();
    await page.locator('td', { hasText: 'validator of user.human.add' }).waitFor();
    await shot(page, '08-plugin');
    await checkAccessibility(page, 'a plugin');

    await page.click('nav a[href="#/users"]');
    await heading(page, 'Users');
    const eve = page.getByRole('form', { name: 'Create a human user' });
    await eve.getByLabel('Organization (required)').selectOption({ label: 'Acme (active)' });
    await eve.getByLabel('Login name (required)').fill('eve');
    await eve.getByLabel('Given name (required)').fill('Eve');
    await eve.getByLabel('Family name (required)').fill('Intruder');
    await eve.getByLabel('Email (required)').fill('eve@evil.test');
    await eve.getByRole('button', { name: 'Create human user' }).click();
    const refusal = eve.locator('input[name="email"][aria-invalid="true"]');
    await refusal.waitFor();
    const message = await eve.locator('.field-error').filter({ hasText: 'evil.test' }).textContent();
    assert.match(message, /email addresses at evil\.test are not allowed/, 'the plugin\'s message at the email field');
    await shot(page, '09-refused-by-plugin');

    await page.goBack();
    await heading(page, 'Plugin email-domains');
    await page.getByRole('button', { name: 'Run test' }).click();
    const result = page.locator('[data-test-result]');
    await result.waitFor();
    assert.match(await result.textContent(), /email\.domain-not-allowed/);
    await page.locator('#test-output td', { hasText: 'email domain refused' }).waitFor();
    await shot(page, '10-plugin-test-run');
    await checkAccessibility(page, 'a plugin test run');

    // The audit trail of all of it.
    await page.click('nav a[href="#/events"]');
    await heading(page, 'Audit trail');
    const filter = page.getByRole('form', { name: 'Filter the audit trail' });
    await filter.getByLabel('Event types').fill('session.password.checked,org.added,user.human.added,project.added,project.role.added,application.oidc.added,user_grant.added,plugin.added,plugin.binding.added');
    await filter.getByRole('button', { name: 'Show events' }).click();
    // The sign-in itself is in the trail (a step of the login session), then every change made.
    for (const type of ['session.password.checked', 'org.added', 'user.human.added', 'project.added', 'project.role.added', 'application.oidc.added', 'user_grant.added', 'plugin.added', 'plugin.binding.added']) {
      await page.locator('td code', { hasText: new RegExp(`^${type.replace(/\./g, '\\.')}$`) }).first().waitFor();
    }
    const events = await page.locator('tbody tr').count();
    assert.ok(events >= 7, `the audit trail lists the changes (${events} rows)`);
    await page.locator('details summary').first().click();
    await shot(page, '11-audit-trail');
    await checkAccessibility(page, 'the audit trail');

    await page.click('nav a[href="#/projections"]');
    await heading(page, 'Projections');
    await page.locator('td', { hasText: 'users' }).first().waitFor();
    await shot(page, '12-projections');
    await checkAccessibility(page, 'the projections');

    // A reload keeps nothing but signs in again silently (the session is still there).
    await page.reload();
    await heading(page, 'Projections');

    // A phone-sized screen: the layout reflows, nothing but the tables scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('nav a[href="#/users"]');
    await heading(page, 'Users');
    await page.locator('td a', { hasText: 'ada' }).first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page fits a narrow screen (overflows by ${overflow}px)`);
    await shot(page, '14-narrow-users');
    await checkAccessibility(page, 'the users page on a narrow screen');
    await page.setViewportSize({ width: 1280, height: 900 });

    // Sign out ends the session.
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor();
    await shot(page, '13-signed-out-again');

    // An organization owner signs in and sees their organization only; pages outside their reach show the
    // API's refusal instead of breaking.
    const call = async (method, path, body) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { Authorization: `Bearer ${warden.token}`, 'Content-Type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
      return response.json();
    };
    const acme = (await call('GET', '/api/v1/orgs?name_prefix=Acme')).items[0].id;
    const owner = await call('POST', '/api/v1/users/human', {
      org_id: acme, login_name: 'olivia', given_name: 'Olivia', family_name: 'Owner', email: 'olivia@example.com',
      email_verified: true, password: 'Owner-Passw0rd!', password_change_required: false,
    });
    await call('POST', `/api/v1/orgs/${acme}/members`, { user_id: owner.id, roles: ['ORG_OWNER'] });
    const ownerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const ownerPage = await ownerContext.newPage();
    ownerPage.on('pageerror', (error) => pageErrors.push(String(error)));
    await ownerPage.goto(`${base}/console/`);
    await ownerPage.click('#sign-in');
    await signInThroughLoginPage(ownerPage, 'olivia', 'Owner-Passw0rd!', 'Owner-Passw0rd-2!');
    await heading(ownerPage, 'Overview');
    await ownerPage.click('nav a[href="#/orgs"]');
    await heading(ownerPage, 'Organizations');
    await shot(ownerPage, '15-org-owner-orgs');
    await ownerPage.locator('td a', { hasText: 'Acme' }).waitFor();
    const orgNames = await ownerPage.locator('tbody td:first-child').allTextContents();
    assert.deepEqual(orgNames, ['Acme'], 'an organization owner sees their organization only');
    await ownerPage.click('nav a[href="#/members"]');
    await heading(ownerPage, 'Memberships');
    await ownerPage.locator('.form-error', { hasText: /not allowed|Not allowed|permission/i }).waitFor();
    await shot(ownerPage, '15-org-owner-refused');
    await ownerContext.close();

    assert.deepEqual(cspViolations, [], 'no Content-Security-Policy violations');
    assert.deepEqual(pageErrors, [], 'no script errors');
    console.log(`console test passed; screenshots in ${screenshots}`);
  } catch (error) {
    console.error(warden.log.join('').split('\n').slice(-40).join('\n'));
    throw error;
  } finally {
    await browser.close();
    warden.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
