import { Injectable } from '@nestjs/common';

/** A minimal Prometheus counter registry (text exposition format 0.0.4). */
@Injectable()
export class MetricsRegistry {
  private readonly counters = new Map<string, number>();

  inc(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  render(gauges: Record<string, { help: string; samples: { labels?: Record<string, string>; value: number }[] }>): string {
    const lines: string[] = [];
    for (const [name, value] of [...this.counters].sort()) {
      lines.push(`# TYPE ${name} counter`, `${name} ${value}`);
    }
    for (const [name, g] of Object.entries(gauges)) {
      lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`);
      for (const s of g.samples) {
        const labels = s.labels
          ? `{${Object.entries(s.labels)
              .map(([k, v]) => `${k}="${v}"`)
              .join(',')}}`
          : '';
        lines.push(`${name}${labels} ${s.value}`);
      }
    }
    return lines.join('\n') + '\n';
  }
}
