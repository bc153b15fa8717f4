import { useEffect, useState } from 'preact/hooks';

/** The dashboard's routes live under /dashboard/; the coordinator answers every one of them with index.html. */
export const BASE = '/dashboard';

export type Route =
  | { page: 'overview' }
  | { page: 'agents' }
  | { page: 'jobs' }
  | { page: 'job'; id: string }
  | { page: 'submit' }
  | { page: 'not-found'; path: string };

/** The route of a path under {@link BASE}. */
export function routeOf(pathname: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0) return { page: 'overview' };
  if (parts.length === 1 && parts[0] === 'agents') return { page: 'agents' };
  if (parts.length === 1 && parts[0] === 'jobs') return { page: 'jobs' };
  if (parts.length === 1 && parts[0] === 'submit') return { page: 'submit' };
  if (parts.length === 2 && parts[0] === 'jobs' && /^[0-9a-f-]{36}$/.test(parts[1])) return { page: 'job', id: parts[1] };
  return { page: 'not-found', path };
}

export function hrefOf(route: Exclude<Route, { page: 'not-found' }>): string {
  switch (route.page) {
    case 'overview':
      return `${BASE}/`;
    case 'job':
      return `${BASE}/jobs/${route.id}`;
    case 'agents':
    case 'jobs':
    case 'submit':
      return `${BASE}/${route.page}`;
  }
}

export function navigate(href: string): void {
  if (href === location.pathname) return;
  history.pushState(null, '', href);
  dispatchEvent(new PopStateEvent('popstate'));
  scrollTo(0, 0);
}

/** The current route, following history navigation. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.pathname));
  useEffect(() => {
    const follow = () => setRoute(routeOf(location.pathname));
    addEventListener('popstate', follow);
    return () => removeEventListener('popstate', follow);
  }, []);
  return route;
}
