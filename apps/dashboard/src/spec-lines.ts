/**
 * The line (1-based) of a JSON text where a field path (`model.hidden`, `agentSelector.gpu`, `runs.0.seed`) is
 * written, found by walking the keys in order: each key is searched for after the previous one. Array indices are
 * skipped (the key before them is close enough). The line of the first key found when a later one is absent (an
 * unknown or missing field is reported on its object), 1 for the root or a text without the first key.
 */
export function lineOfField(text: string, field: string): number {
  let at = 0;
  let found = -1;
  for (const key of field.split('.')) {
    if (key === '' || key === '(root)' || /^\d+$/.test(key)) continue;
    const i = text.indexOf(JSON.stringify(key) + ':', at);
    const j = i >= 0 ? i : text.indexOf(`${JSON.stringify(key)} :`, at);
    if (j < 0) break;
    found = j;
    at = j + key.length + 2;
  }
  return found < 0 ? 1 : text.slice(0, found).split('\n').length;
}
