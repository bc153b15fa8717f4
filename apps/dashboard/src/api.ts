import type { ErrorBody } from '@flotilla/contracts';
import { forgetToken, storedToken } from './session';

/** One field's complaint, as the coordinator's validation pipe reports it (`details.fields`). */
export interface FieldError {
  field: string;
  message: string;
}

/** A refused call: the API's status, code and message, and the field errors of a 400. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

/** A page of a list the API pages (X-Total-Count). */
export interface Paged<T> {
  items: T[];
  total: number;
}

/** Called when the API refuses the key (401): the app signs out. */
let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(f: () => void): void {
  onUnauthorized = f;
}

function fieldsOf(details: unknown): FieldError[] {
  const fields = (details as { fields?: unknown } | null | undefined)?.fields;
  if (!Array.isArray(fields)) return [];
  return fields.filter(
    (f): f is FieldError => typeof (f as FieldError)?.field === 'string' && typeof (f as FieldError)?.message === 'string',
  );
}

/**
 * A call to /api/v1 with the stored key. `cache: 'no-cache'` makes the browser revalidate with If-None-Match: an
 * unchanged list costs the coordinator a 304 and the page a cached body.
 */
export async function request(method: string, path: string, body?: unknown, token = storedToken()): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-cache',
    credentials: 'omit',
  });
  if (res.ok) return res;
  let error: Partial<ErrorBody> = {};
  try {
    error = (await res.json()) as ErrorBody;
  } catch {
    // not JSON: the status says enough
  }
  if (res.status === 401 && token === storedToken()) {
    forgetToken();
    onUnauthorized();
  }
  throw new ApiError(res.status, error.code ?? `http_${res.status}`, error.message ?? res.statusText, fieldsOf(error.details));
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await request(method, path, body)).json() as Promise<T>;
}

export async function apiPage<T>(path: string): Promise<Paged<T>> {
  const res = await request('GET', path);
  return { items: (await res.json()) as T[], total: Number(res.headers.get('x-total-count') ?? 0) };
}

/** Every item of a paged list, page by page. */
export async function apiAll<T>(path: string, pageSize: number): Promise<T[]> {
  const all: T[] = [];
  const sep = path.includes('?') ? '&' : '?';
  for (;;) {
    const page = await apiPage<T>(`${path}${sep}limit=${pageSize}&offset=${all.length}`);
    all.push(...page.items);
    if (page.items.length === 0 || all.length >= page.total) return all;
  }
}
