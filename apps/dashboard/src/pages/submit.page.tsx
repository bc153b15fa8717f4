import type { JobView } from '@flotilla/contracts';
import { useMemo, useState } from 'preact/hooks';
import { api, ApiError, type FieldError } from '../api';
import { navigate, hrefOf } from '../router';
import { lineOfField } from '../spec-lines';

/** Starting points, one per kind; the README describes every field. */
const TEMPLATES: Record<string, unknown> = {
  federated: {
    kind: 'federated',
    name: 'digits-softmax',
    dataset: 'uci-digits',
    model: { arch: 'softmax' },
    rounds: 20,
    minAgents: 2,
    roundDeadlineMs: 60_000,
  },
  nas: { kind: 'nas', name: 'digits-nas', dataset: 'uci-digits' },
  bilevel: { kind: 'bilevel', name: 'bilevel-T1', problem: { kind: 'test-case', name: 'T1' } },
};

/** Each line of the spec with the errors the API reported for fields written on it. */
function annotate(text: string, errors: FieldError[]): { line: string; errors: FieldError[] }[] {
  const lines = text.split('\n').map((line) => ({ line, errors: [] as FieldError[] }));
  for (const e of errors) lines[Math.min(lines.length, lineOfField(text, e.field)) - 1].errors.push(e);
  return lines;
}

export function SubmitPage() {
  const [text, setText] = useState(() => JSON.stringify(TEMPLATES.federated, null, 2));
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const lines = useMemo(() => annotate(text, errors), [text, errors]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setErrors([]);
    setMessage(null);
    let spec: unknown;
    try {
      spec = JSON.parse(text);
    } catch (err) {
      setMessage(`Not JSON: ${(err as Error).message}`);
      return;
    }
    setBusy(true);
    try {
      const job = await api<JobView>('POST', '/jobs', spec);
      navigate(hrefOf({ page: 'job', id: job.id }));
    } catch (err) {
      setMessage((err as Error).message);
      if (err instanceof ApiError) setErrors(err.fields);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="page" id="submit-page">
      <h1>Submit a job</h1>
      <p class="muted">
        A job spec as JSON (POST /api/v1/jobs). The coordinator validates it; each error is shown beside the line of its field.
      </p>
      <form id="submit-form" onSubmit={(e) => void submit(e)}>
        <div class="filters">
          <label>
            start from{' '}
            <select
              id="template"
              onChange={(e) => {
                setText(JSON.stringify(TEMPLATES[e.currentTarget.value], null, 2));
                setErrors([]);
                setMessage(null);
              }}
            >
              {Object.keys(TEMPLATES).map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" id="submit" disabled={busy}>
            Submit
          </button>
        </div>
        <div class="editor">
          <textarea
            id="spec"
            spellcheck={false}
            rows={Math.max(16, lines.length + 2)}
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
          <ol class="gutter" id="spec-errors" aria-label="errors by line">
            {lines.map((l, i) => (
              <li key={i} class={l.errors.length ? 'has-error' : ''} data-line={i + 1}>
                {l.errors.map((e) => (
                  <span class="field-error" data-field={e.field} key={e.field}>
                    {e.field}: {e.message}
                  </span>
                ))}
              </li>
            ))}
          </ol>
        </div>
        {message && (
          <p class="error" id="submit-error">
            {message}
          </p>
        )}
      </form>
    </div>
  );
}
