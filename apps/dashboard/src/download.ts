import { request } from './api';

/**
 * Saves what an API path returns as a file. The key travels in the Authorization header, never in a URL, so the
 * browser cannot simply follow a link: the body is fetched, then handed to an anchor as a blob: URL.
 */
export async function download(path: string, filename: string): Promise<void> {
  const blob = await (await request('GET', path)).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
