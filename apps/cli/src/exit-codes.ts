/**
 * What `flotilla` exits with (README, "The flotilla CLI"): scripts branch on these, so they never change meaning.
 */
export const ExitCode = {
  Ok: 0,
  /** The coordinator refused the request (4xx other than 401/403, or a 5xx other than 503), or an input is invalid. */
  Refused: 1,
  /** The command line or the configuration is wrong (unknown command or option, a config file others may read). */
  Usage: 2,
  /** The coordinator refused the API key (401) or its role (403). */
  AuthRefused: 3,
  /** The coordinator could not be reached, or answered 503 (PostgreSQL or Redis down). */
  Unreachable: 4,
  /** A watched job ended failed or cancelled. */
  JobFailed: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A field the API named in a 400 (`details.fields`). */
export interface FieldError {
  field: string;
  message: string;
}

/** Ends a command with `code`; `message` goes to stderr (and, with --json, into `{error}` on stdout). */
export class CliError extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
    readonly api?: { status: number; code?: string; requestId?: string; fields?: FieldError[] },
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(ExitCode.Usage, message);
