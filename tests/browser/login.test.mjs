// The login pages in a real browser: Debian's chromium driven by playwright-core, against the `warden` binary
// (WARDEN_BIN, default target/debug/warden under CARGO_TARGET_DIR or ./target) on a fresh SQLite data directory.
// Screenshots go to <target>/browser-screenshots/.
//
// Scenarios: a login; a TOTP enrolment forced by the login policy, then a login with the second factor; a
// password reset with the code from the mail, as received by a real SMTP server on loopback (Python's aiosmtpd,
// storing what it receives in a maildir).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, connect } from 'node:net';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const repo = resolve(import.meta.dirname, '..', '..');
const target = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const bin = process.env.WARDEN_BIN || join(target, 'debug', 'warden');
const shots = join(target, 'browser-screenshots');
const PASSWORD = 'Correct-Horse-7';

let server;
let base;
let dataDir;
let token;
let browser;
let smtp;
let maildir;

// A free loopback port.
function freePort() {
  return new Promise((resolvePromise) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolvePromise(port));
    });
  });
}

// aiosmtpd on a loopback port; resolves once it accepts connections.
async function startSmtp() {
  const port = await freePort();
  maildir = mkdtempSync(join(tmpdir(), 'warden-maildir-'));
  const child = spawn(
    'python3',
    ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', join(maildir, 'box')],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((r) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        r(true);
      });
      socket.on('error', () => r(false));
    });
    if (up) return { child, port };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('aiosmtpd did not start (pip install aiosmtpd==1.4.6)');
}

async function api(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

function startWarden() {
  dataDir = mkdtempSync(join(tmpdir(), 'warden-browser-'));
  const env = {
    ...process.env,
    WARDEN_LOG_LEVEL: 'info',
    WARDEN_SMTP_HOST: '127.0.0.1',
    WARDEN_SMTP_PORT: String(smtp.port),
    WARDEN_SMTP_FROM: 'Warden <noreply@example.com>',
    WARDEN_SMTP_TLS: 'none',
  };
  delete env.WARDEN_DATABASE_URL;
  delete env.WARDEN_EXTERNAL_URL;
  const child = spawn(bin, ['start', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolvePromise, reject) => {
    let log = '';
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = /addr=(\S+)/.exec(log);
      if (match && !base) {
        base = `http://${match[1]}`;
        resolvePromise(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`warden exited (${code}):\n${log}`)));
  });
}

// RFC 4648 base32 without padding.
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for time step `step`.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

const step = () => Math.floor(Date.now() / 30_000);

async function userWith(orgId, loginName) {
  const user = await api('POST', '/api/v1/users/human', {
    org_id: orgId,
    login_name: loginName,
    given_name: 'Ada',
    family_name: loginName,
    email: `${loginName}@example.com`,
    email_verified: true,
    password: PASSWORD,
  });
  // The login page finds users in the users view: wait until it has this one.
  for (let i = 0; i < 100; i++) {
    const found = await fetch(`${base}/api/v1/users/${user.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (found.ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return user.id;
}

async function signIn(page, loginName, password) {
  await page.goto(`${base}/login`);
  await page.fill('#login_name', loginName);
  await page.click('button[type=submit]');
  await page.fill('#password', password);
  await page.click('button[type=submit]');
}

before(async () => {
  assert.ok(existsSync(bin), `${bin} is missing: build it with \`cargo build -p warden\``);
  mkdirSync(shots, { recursive: true });
  smtp = await startSmtp();
  server = await startWarden();
  token = readFileSync(join(dataDir, 'admin.pat'), 'utf8').trim();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  smtp?.child.kill('SIGTERM');
});

test('a user signs in', async () => {
  const org = await api('POST', '/api/v1/orgs', { name: 'Browser Org' });
  await userWith(org.id, 'alice');
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.screenshot({ path: join(shots, 'login-name.png') });
  await signIn(page, 'alice', PASSWORD);
  await page.waitForSelector('#signed-in-as');
  assert.match(await page.textContent('#signed-in-as'), /signed in as Ada alice/);
  await page.screenshot({ path: join(shots, 'signed-in.png') });
  // A wrong password shows the one refusal text.
  const other = await browser.newPage();
  await signIn(other, 'alice', 'Wrong-Password-1');
  assert.match(await other.textContent('.error'), /login name or the password is wrong/);
  await other.screenshot({ path: join(shots, 'wrong-password.png') });
  await context.close();
  await other.close();
});

test('a second factor forced by policy: TOTP enrolment, then a login with the code', async () => {
  const org = await api('POST', '/api/v1/orgs', { name: 'MFA Org' });
  await api('PUT', `/api/v1/orgs/${org.id}/policies/login`, {
    allow_username_password: true,
    allow_register: false,
    allow_external_idp: false,
    force_mfa: true,
    hide_password_reset: false,
    ignore_unknown_usernames: false,
  });
  await userWith(org.id, 'trudy');
  const page = await browser.newPage();
  await signIn(page, 'trudy', PASSWORD);
  await page.waitForSelector('svg.qr');
  await page.screenshot({ path: join(shots, 'totp-enrolment.png') });
  const secret = (await page.textContent('#totp-secret')).trim();
  const enrolledAt = step();
  await page.fill('#code', totp(secret, enrolledAt));
  await page.click('button[type=submit]');
  await page.waitForSelector('#signed-in-as');
  await page.close();

  // A new browser asks for the code; a code is used once, so wait for the next time step.
  while (step() === enrolledAt) await new Promise((r) => setTimeout(r, 500));
  const again = await browser.newPage();
  await signIn(again, 'trudy', PASSWORD);
  await again.waitForSelector('#code');
  assert.equal(await again.$('svg.qr'), null, 'no enrolment the second time');
  await again.screenshot({ path: join(shots, 'totp-code.png') });
  await again.fill('#code', totp(secret, step()));
  await again.click('button[type=submit]');
  await again.waitForSelector('#signed-in-as');
  await again.close();
});

test('a password reset with the mailed code', async () => {
  const org = await api('POST', '/api/v1/orgs', { name: 'Reset Org' });
  await userWith(org.id, 'victor');
  const page = await browser.newPage();
  await page.goto(`${base}/login/reset`);
  await page.fill('#login_name', 'victor');
  await page.click('button[type=submit]');
  await page.waitForSelector('#code');
  // The mail arrives at the SMTP server's maildir.
  const inbox = join(maildir, 'box', 'new');
  let code;
  for (let i = 0; i < 200 && !code; i++) {
    if (existsSync(inbox)) {
      for (const file of readdirSync(inbox)) {
        const mail = readFileSync(join(inbox, file), 'utf8');
        if (mail.includes('victor@example.com')) {
          code = /[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}/.exec(mail)?.[0];
        }
      }
    }
    if (!code) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(code, 'a reset mail with a code');
  await page.fill('#code', code);
  await page.fill('#password', 'New-Secret-42');
  await page.click('button[type=submit]');
  await page.waitForSelector('#password');
  assert.match(await page.textContent('[role=status]'), /password was changed/);
  await page.screenshot({ path: join(shots, 'password-reset.png') });
  await page.fill('#password', 'New-Secret-42');
  await page.click('button[type=submit]');
  await page.waitForSelector('#signed-in-as');
  await page.close();
});
