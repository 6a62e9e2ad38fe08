// The console's shell: sign-in, the navigation and hash routing to the pages.

import { completeSignIn, currentUser, loadConfig, resetSilent, signIn, signOut, silentTried, accessToken } from './auth.js';
import { h, render, notify, clearNotice, describe } from './ui.js';
import { orgsPage, orgPage } from './pages/orgs.js';
import { usersPage, userPage } from './pages/users.js';
import { projectsPage, projectPage, appPage } from './pages/projects.js';
import { grantsPage } from './pages/grants.js';
import { membersPage } from './pages/members.js';
import { policiesPage } from './pages/policies.js';
import { eventsPage } from './pages/events.js';
import { projectionsPage } from './pages/projections.js';
import { pluginsPage, pluginPage } from './pages/plugins.js';
import { homePage } from './pages/home.js';

const routes = [
  [/^#?\/?$/, homePage],
  [/^#\/orgs$/, orgsPage],
  [/^#\/orgs\/([^/]+)$/, orgPage],
  [/^#\/users$/, usersPage],
  [/^#\/users\/([^/]+)$/, userPage],
  [/^#\/projects$/, projectsPage],
  [/^#\/projects\/([^/]+)$/, projectPage],
  [/^#\/apps\/([^/]+)$/, appPage],
  [/^#\/grants$/, grantsPage],
  [/^#\/members$/, membersPage],
  [/^#\/policies$/, policiesPage],
  [/^#\/events$/, eventsPage],
  [/^#\/projections$/, projectionsPage],
  [/^#\/plugins$/, pluginsPage],
  [/^#\/plugins\/([^/]+)$/, pluginPage],
];

async function route() {
  if (!accessToken()) return;
  const hash = location.hash || '#/';
  const [path] = hash.split('?');
  for (const link of document.querySelectorAll('#nav a')) {
    const target = link.getAttribute('href');
    if (path === target || path.startsWith(`${target}/`)) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  for (const [pattern, page] of routes) {
    const match = pattern.exec(path);
    if (match) {
      try {
        await page(...match.slice(1).map(decodeURIComponent));
      } catch (error) {
        render('Something went wrong', h('p', { class: 'form-error', role: 'alert' }, describe(error)));
      }
      return;
    }
  }
  render('Not found', h('p', {}, 'This page does not exist. '), h('a', { href: '#/' }, 'Back to the overview'));
}

function showSignedOut(error) {
  document.getElementById('nav').hidden = true;
  document.getElementById('account').replaceChildren();
  const button = h('button', { type: 'button', id: 'sign-in' }, 'Sign in with Warden');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      resetSilent();
      await signIn();
    } catch (e) {
      button.disabled = false;
      notify(describe(e), 'error');
    }
  });
  render('Warden console',
    h('div', { class: 'signin' },
      h('p', {}, 'Manage organizations, users, projects, applications and plugins of this Warden instance.'),
      error ? h('p', { class: 'form-error', role: 'alert' }, `Sign-in failed: ${error}`) : null,
      button));
}

function showSignedIn() {
  document.getElementById('nav').hidden = false;
  const user = currentUser();
  const out = h('button', { type: 'button', id: 'sign-out' }, 'Sign out');
  out.addEventListener('click', () => signOut().catch((e) => notify(describe(e), 'error')));
  document.getElementById('account').replaceChildren(h('span', {}, user?.name || ''), out);
}

async function start() {
  try {
    const { issuer } = await loadConfig();
    const home = new URL(`${issuer}/console/`);
    if (home.origin !== location.origin) {
      // The registered redirect URIs are under the issuer: signing in from another address cannot return here.
      showSignedOut(`this console signs in under ${home.href}; open it there.`);
      return;
    }
    const result = await completeSignIn();
    if (result?.signedIn) {
      showSignedIn();
    } else if (result) {
      showSignedOut(result.error);
      return;
    } else if (!silentTried()) {
      await signIn({ silent: true });
      return;
    } else {
      showSignedOut(null);
      return;
    }
  } catch (error) {
    showSignedOut(describe(error));
    return;
  }
  window.addEventListener('hashchange', () => { clearNotice(); route(); });
  await route();
}

start();
