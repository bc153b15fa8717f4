/**
 * The key the operator signed in with. It lives in this tab's sessionStorage only: never localStorage (it would
 * outlive the tab), never a cookie (the API reads bearer tokens only), never a URL (it would reach logs and history).
 */
const KEY = 'flotilla-api-key';

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
