/**
 * Where a command's output goes: with --json, machine output (JSON, one value per line) on stdout and nothing else
 * there; without, lines for people on stdout. Diagnostics (warnings, errors) always go to stderr.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** A line for people (dropped with --json). */
  line(text: string): void {
    if (!this.json) this.stdout.write(`${text}\n`);
  }

  /** A machine value, one JSON document per line (dropped without --json). */
  data(value: unknown): void {
    if (this.json) this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** A diagnostic: stderr in both modes. */
  warn(text: string): void {
    this.stderr.write(`${text}\n`);
  }
}
