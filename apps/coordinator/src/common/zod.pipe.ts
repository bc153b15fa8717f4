import { PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { ValidationError } from './errors';

/** Validates a body/query/param against a contracts schema; unknown fields are rejected by the strict schemas. */
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(
    private readonly schema: S,
    private readonly what = 'request',
  ) {}

  transform(value: unknown): z.infer<S> {
    const result = this.schema.safeParse(value);
    if (!result.success) {
      const fields = result.error.issues.map((i) => ({
        field: i.path.join('.') || '(root)',
        message: i.code === 'unrecognized_keys' ? `unknown field(s): ${(i as { keys: string[] }).keys.join(', ')}` : i.message,
      }));
      throw new ValidationError(`Invalid ${this.what}: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, { fields });
    }
    return result.data;
  }
}
