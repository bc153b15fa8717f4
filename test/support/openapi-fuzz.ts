import * as fc from 'fast-check';

/**
 * Generators of requests from the coordinator's OpenAPI document, for the fuzz test: bodies that follow each route's
 * JSON schema (so they reach past validation into the services) with any value now and then replaced by one from
 * {@link EDGE_VALUES}, arbitrary JSON, malformed and oversized bodies, and path and query values from the same mix.
 */

/** A JSON schema as the document carries it (zod's `toJSONSchema` output). */
export type Schema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  propertyNames?: Schema;
  items?: Schema;
  prefixItems?: Schema[];
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
};

/** One operation of the document. */
export interface Operation {
  method: string;
  /** `/api/v1/jobs/{id}` */
  template: string;
  pathParams: string[];
  queryParams: string[];
  /** application/json, application/octet-stream, or none. */
  body: { type: 'json'; schema: Schema } | { type: 'binary' } | null;
  /** Who the document says may call it: a person (`x-required-role`), an agent (bearer, no role) or anyone. */
  audience: 'person' | 'agent' | 'public';
}

interface DocOperation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  security?: unknown[];
  'x-required-role'?: unknown;
}

export function operations(doc: { paths: Record<string, Record<string, DocOperation>> }): Operation[] {
  return Object.entries(doc.paths).flatMap(([template, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const content = op.requestBody?.content ?? {};
      const json = content['application/json'];
      return {
        method: method.toUpperCase(),
        template,
        pathParams: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        body: json
          ? { type: 'json' as const, schema: json.schema }
          : content['application/octet-stream']
            ? { type: 'binary' as const }
            : null,
        audience: op['x-required-role'] ? 'person' : op.security?.length ? 'agent' : 'public',
      };
    }),
  );
}

/** Numbers that break careless code: int4, safe-integer and float edges. */
const EDGE_NUMBERS = [-1, 0, 0.5, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 3_000_000_000, 99_999_999_999, 2 ** 53 + 2, 1e308, -1e308];
/** Strings that break careless code: NUL (PostgreSQL text cannot hold it), lone surrogates, empty, long. */
const EDGE_STRINGS = ['a\u0000b', '\u0000', '\ud800', 'x\udfff', '\udc00\ud800', '', 'x'.repeat(5000)];
/** Values of the wrong type. */
const EDGE_OTHERS: unknown[] = [null, true, [], {}, [[[[]]]], { '\u0000': 1 }, { '\ud800': 'x' }];
/** All of them. */
export const EDGE_VALUES: unknown[] = [...EDGE_NUMBERS, ...EDGE_STRINGS, ...EDGE_OTHERS];

/** An edge value for the place of `current`: mostly one of its own type (a string for a string), else any. */
function edgeFor(current: unknown, pick: number): unknown {
  const own = typeof current === 'number' ? EDGE_NUMBERS : typeof current === 'string' ? EDGE_STRINGS : EDGE_OTHERS;
  return pick % 4 === 3 ? EDGE_VALUES[pick % EDGE_VALUES.length] : own[pick % own.length];
}

/** Strings that name real things of the test's coordinator (so requests get past "not found"), by the test. */
export interface Known {
  ids: string[];
  strings: string[];
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

/**
 * A value for `schema`: one that follows it (`edges` false: everywhere, so that it passes validation and reaches the
 * service), or (`edges` true) with any value one time in nine an edge value instead.
 */
export function valueFor(schema: Schema, known: Known, edges: boolean, depth = 0): fc.Arbitrary<unknown> {
  const own = following(schema, known, edges, depth);
  return edges ? fc.oneof({ arbitrary: own, weight: 8 }, { arbitrary: fc.constantFrom(...EDGE_VALUES), weight: 1 }) : own;
}

/**
 * A value that follows `schema` but for one place: a leaf value replaced by an edge value of its type (mostly), or an
 * object key by an edge string. One defect alone, so that it is the one validation must catch (or the service meets).
 */
export function oneDefect(schema: Schema, known: Known): fc.Arbitrary<unknown> {
  return fc.tuple(valueFor(schema, known, false), fc.nat(), fc.nat(), fc.nat(4)).map(([value, where, what, how]) => {
    const copy = JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
    const leaves: { parent: Record<string, unknown> | unknown[] | null; key: string | number; value: unknown }[] = [];
    const walk = (v: unknown, parent: Record<string, unknown> | unknown[] | null, key: string | number): void => {
      const entries = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : v !== null && typeof v === 'object' ? Object.entries(v) : null;
      if (!entries?.length) leaves.push({ parent, key, value: v });
      for (const [k, x] of entries ?? []) walk(x, v as Record<string, unknown>, k);
    };
    walk(copy, null, '');
    const { parent, key, value: current } = leaves[where % leaves.length];
    if (parent === null) return edgeFor(current, what);
    if (how === 0 && typeof key === 'string' && !Array.isArray(parent)) {
      // The key, not the value (a map keyed by dataset name, a field name).
      delete parent[key];
      parent[EDGE_STRINGS[what % EDGE_STRINGS.length]] = current;
    } else (parent as Record<string | number, unknown>)[key] = edgeFor(current, what);
    return copy;
  });
}

function following(s: Schema, known: Known, edges: boolean, depth: number): fc.Arbitrary<unknown> {
  if (depth > 6) return fc.constant(null);
  if ('const' in s) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alternatives = s.oneOf ?? s.anyOf;
  if (alternatives) return fc.oneof(...alternatives.map((a) => valueFor(a, known, edges, depth + 1)));
  switch (s.type) {
    case 'object':
      return objectFor(s, known, edges, depth);
    case 'array': {
      if (s.prefixItems) return fc.tuple(...s.prefixItems.map((i) => valueFor(i, known, edges, depth + 1)));
      const min = s.minItems ?? 0;
      return fc.array(s.items ? valueFor(s.items, known, edges, depth + 1) : fc.jsonValue({ maxDepth: 1 }), {
        minLength: min,
        maxLength: Math.max(min, Math.min(s.maxItems ?? 4, 4)),
      });
    }
    case 'string':
      return stringFor(s, known, edges);
    case 'integer':
      return fc.integer({ min: Math.max(s.minimum ?? -1e6, INT32.min), max: Math.min(s.maximum ?? 1e6, INT32.max) });
    case 'number': {
      const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1e-9 : -1e6);
      const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1e-9 : 1e6);
      return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
    }
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case undefined:
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectFor(s: Schema, known: Known, edges: boolean, depth: number): fc.Arbitrary<unknown> {
  const required = new Set(s.required ?? []);
  // An optional property is left out half of the time, a required one (with edges) one time in twenty.
  const props = Object.entries(s.properties ?? {}).map(([k, ps]) => {
    const value = valueFor(ps, known, edges, depth + 1);
    if (required.has(k) && !edges) return value.map((v) => [k, v] as const);
    return fc.option(value, { nil: undefined, freq: required.has(k) ? 20 : 2 }).map((v) => [k, v] as const);
  });
  const record =
    typeof s.additionalProperties === 'object'
      ? fc.dictionary(
          s.propertyNames ? stringFor(s.propertyNames, known, edges) : fc.string({ maxLength: 8 }),
          valueFor(s.additionalProperties, known, edges, depth + 1),
          {
            maxKeys: 3,
          },
        )
      : fc.constant({});
  // Now and then (with edges) a property the schema does not know.
  const extra = edges
    ? fc.option(fc.tuple(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 })), { nil: undefined, freq: 10 })
    : fc.constant(undefined);
  return fc.tuple(fc.tuple(...props), record, extra).map(([entries, rec, x]) => {
    const out: Record<string, unknown> = { ...(rec as Record<string, unknown>) };
    for (const [k, v] of entries) if (v !== undefined) out[k] = v;
    if (x && x[0] !== '__proto__') out[x[0]] = x[1];
    return out;
  });
}

function stringFor(s: Schema, known: Known, edges: boolean): fc.Arbitrary<string> {
  const max = Math.min(s.maxLength ?? 40, 40);
  const size = { minLength: Math.min(s.minLength ?? 0, max), maxLength: max };
  // `binary` strings may hold NUL and lone surrogates: only with edges.
  const any = edges
    ? fc.oneof(fc.string({ ...size, unit: 'grapheme' }), fc.string({ ...size, unit: 'binary' }))
    : fc.string({ ...size, unit: 'grapheme' });
  if (s.format === 'uuid') return fc.oneof(fc.uuid(), fc.constantFrom(...known.ids));
  if (s.format === 'date-time')
    return fc.date({ min: new Date(0), max: new Date(Date.UTC(2200, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString());
  if (s.pattern?.includes('{64}')) return fc.oneof(fc.constantFrom('ab'.repeat(32), '0'.repeat(64)), fc.stringMatching(/^[0-9a-f]{64}$/));
  if (s.pattern) {
    const matching = fc.oneof(
      fc.stringMatching(new RegExp(s.pattern)),
      fc.constantFrom(...known.strings).filter((v) => new RegExp(s.pattern!).test(v)),
    );
    return edges ? fc.oneof(matching, any) : matching;
  }
  return fc.oneof({ arbitrary: any, weight: 4 }, { arbitrary: fc.constantFrom(...known.strings), weight: 1 });
}

/** Numbers as a path or query carries them, at every int4 and float edge. */
const NUMBERS = ['-1', '2147483647', '2147483648', '3000000000', '99999999999', '1e309', '0.5', 'NaN', '0x10', '', '%201'];
/** Raw escapes: NUL, a lone surrogate in CESU-8, an overlong NUL, broken escapes, a traversal. */
const ESCAPES = ['%00', '%ED%A0%80', '%C0%80', '%', '%zz', '..', '%2e%2e%2f', '%20'];

/** A path or query value such as the parameter `name` holds (an id of `known`, a small number, a hash, a status). */
export function typicalParam(name: string, known: Known): fc.Arbitrary<string> {
  if (/id$/i.test(name)) return fc.oneof(fc.constantFrom(...known.ids), fc.uuid());
  if (name === 'hash') return fc.constantFrom('ab'.repeat(32), '0'.repeat(64));
  if (name === 'status') return fc.constantFrom('running', 'completed', 'pending', 'done', 'failed');
  if (name === 'waitMs') return fc.constant('0');
  if (name === 'trainLoss') return fc.constantFrom('0.5', '2.25');
  return fc.constantFrom('0', '1', '5', '50');
}

/** A value that is not what a parameter holds: an edge number, a raw escape, any string. */
export function badParam(): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...NUMBERS), weight: 3 },
    { arbitrary: fc.constantFrom(...ESCAPES), weight: 2 },
    { arbitrary: fc.string({ maxLength: 30, unit: 'grapheme' }).map(encodeUtf8), weight: 1 },
  );
}

/** Percent-encodes every byte outside the unreserved set (lone surrogates become U+FFFD, as UTF-8 must). */
export function encodeUtf8(s: string): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

/** Bodies that are not what the schema wants: malformed, deep, wrong type, NUL and lone surrogates in raw JSON. */
export const MALFORMED_JSON = [
  '{',
  '[',
  '{"a":',
  'null',
  '5',
  '"\\u0000"',
  '{"name":"\\ud800"}',
  '{"\\u0000":1}',
  '{"a":"\\udc00\\ud800"}',
  `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
  '   ',
  '\ufeff{}',
];
