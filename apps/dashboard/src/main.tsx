import type { Principal } from '@flotilla/contracts';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, request, whenUnauthorized } from './api';
import { Link } from './components/link';
import { AgentsPage } from './pages/agents.page';
import { JobPage } from './pages/job.page';
import { JobsPage } from './pages/jobs.page';
import { OverviewPage } from './pages/overview.page';
import { SubmitPage } from './pages/submit.page';
import { hrefOf, useRoute, type Route } from './router';
import { forgetToken, storedToken, storeToken } from './session';
import { PrincipalContext } from './session.context';
import './styles.css';

function SignIn({ onSignedIn, notice }: { onSignedIn: (p: Principal) => void; notice: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(notice);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const principal = (await (await request('GET', '/auth/me', undefined, token.trim())).json()) as Principal;
      storeToken(token.trim());
      onSignedIn(principal);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <main class="signin">
      <form id="signin" onSubmit={(e) => void submit(e)}>
        <h1>Flotilla</h1>
        <p class="muted">Sign in with an API key or the coordinator's ADMIN_TOKEN. It is kept in this browser tab only.</p>
        <input
          id="token"
          type="password"
          autocomplete="off"
          placeholder="API key"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit">Sign in</button>
        {error && (
          <p class="error" id="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

const NAV: { route: Exclude<Route, { page: 'not-found' | 'job' }>; label: string }[] = [
  { route: { page: 'overview' }, label: 'Overview' },
  { route: { page: 'agents' }, label: 'Agents' },
  { route: { page: 'jobs' }, label: 'Jobs' },
];

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return <OverviewPage />;
    case 'agents':
      return <AgentsPage />;
    case 'jobs':
      return <JobsPage />;
    case 'job':
      return <JobPage key={route.id} id={route.id} />;
    case 'submit':
      return <SubmitPage />;
    case 'not-found':
      return <p class="error">No page at {route.path}</p>;
  }
}

function Shell({ principal, onSignOut }: { principal: Principal; onSignOut: () => void }) {
  const route = useRoute();
  const current = route.page === 'job' ? 'jobs' : route.page;
  const nav = principal.role === 'viewer' ? NAV : [...NAV, { route: { page: 'submit' } as const, label: 'Submit' }];
  return (
    <PrincipalContext.Provider value={principal}>
      <header class="topbar">
        <span class="brand">Flotilla</span>
        <nav>
          {nav.map((n) => (
            <Link key={n.label} href={hrefOf(n.route)} class={n.route.page === current ? 'active' : ''} id={`nav-${n.route.page}`}>
              {n.label}
            </Link>
          ))}
        </nav>
        <span class="whoami" id="whoami">
          {principal.label} · {principal.role}
        </span>
        <button type="button" id="signout" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main class="content">
        <Page route={route} />
      </main>
    </PrincipalContext.Provider>
  );
}

function App() {
  const [principal, setPrincipal] = useState<Principal | null>(null);
  const [checking, setChecking] = useState(() => storedToken() !== null);
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => {
    whenUnauthorized(() => {
      setPrincipal(null);
      setNotice('The key was refused; sign in again.');
    });
    if (!storedToken()) return;
    api<Principal>('GET', '/auth/me')
      .then(setPrincipal, () => forgetToken())
      .finally(() => setChecking(false));
  }, []);
  if (checking) return null;
  if (!principal) return <SignIn onSignedIn={setPrincipal} notice={notice} />;
  return (
    <Shell
      principal={principal}
      onSignOut={() => {
        forgetToken();
        setPrincipal(null);
        setNotice(null);
      }}
    />
  );
}

render(<App />, document.getElementById('app')!);
