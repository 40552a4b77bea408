import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaErrorMessage } from '../src/errors.js';
import { SCHEMA_FORMATS } from '../src/routes/schemas.js';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';

/**
 * REST validation errors name the place and the field once ("body._id: is required", not "must
 * have required property '_id' '_id'"), for every keyword: through the real server, and for the
 * keywords no route exercises, straight from Ajv.
 */

const occurrences = (text: string, word: string) => text.split(word).length - 1;

describe('validation messages from the API', () => {
  let s: TestServer;
  let h: Awaited<ReturnType<typeof makeHierarchy>>;
  beforeAll(async () => {
    s = await startTestServer();
    h = await makeHierarchy(s.admin, 'msgs');
  });
  afterAll(async () => {
    await s?.stop();
  });

  const cases: { what: string; send: () => Promise<{ status: number; body: any }>; message: string | RegExp; field: string }[] = [
    { what: 'required', send: () => s.admin.post('/groups', {}), message: 'body._id: is required', field: '_id' },
    { what: 'required, nested', send: () => s.admin.post('/projects', { label: 'x' }), message: 'body.group: is required', field: 'group' },
    { what: 'type', send: () => s.admin.put(`/projects/${h.project}`, { info: 'x' }), message: 'body.info: must be object', field: 'info' },
    {
      what: 'type in a query',
      send: () => s.admin.get('/projects?limit=many'),
      message: 'querystring.limit: must be integer',
      field: 'limit',
    },
    {
      what: 'additionalProperties',
      send: () => s.admin.put(`/projects/${h.project}`, { frobnicate: 1 }),
      message: 'body.frobnicate: is not a known property here',
      field: 'frobnicate',
    },
    {
      what: 'enum',
      send: () => s.admin.put(`/subjects/${h.subject}`, { sex: 'robot' }),
      message: 'body.sex: must be one of "male", "female", "other", "unknown", null',
      field: 'sex',
    },
    {
      what: 'format',
      send: () => s.admin.put(`/projects/${h.project}`, { label: 'a\u001b[31mb' }),
      message: /^body\.label: must not contain control characters \(ANSI escapes/,
      field: 'label',
    },
    {
      what: 'pattern',
      send: () => s.admin.get('/projects/NOT-AN-ID'),
      message: 'params.id: must match the pattern ^[0-9a-f]{24}$',
      field: '.id',
    },
    {
      what: 'minLength',
      send: () => s.admin.post('/groups', { _id: 'msgs2', label: '' }),
      message: 'body.label: must be at least 1 character long',
      field: 'label',
    },
    {
      what: 'maxLength in an array',
      send: () => s.admin.put(`/acquisitions/${h.acquisition}`, { tags: ['ok', 'x'.repeat(40)] }),
      message: 'body.tags[1]: must be at most 32 characters long',
      field: 'tags',
    },
    {
      what: 'type deep in a body',
      send: () => s.admin.post(`/acquisitions/${h.acquisition}/files/none.txt/classification`, { add: { Intent: 'Structural' } }),
      // Coercion turned the string into an array; the body check after it says what was sent.
      message: 'body.add.Intent: must be an array, not a string',
      field: 'Intent',
    },
    {
      what: 'minProperties',
      send: () => s.admin.put(`/projects/${h.project}`, {}),
      message: 'body: must have at least 1 property',
      field: 'body',
    },
  ];

  for (const c of cases) {
    it(`${c.what}: names the place and the field once`, async () => {
      const r = await c.send();
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.code).toBe('VALIDATION');
      if (typeof c.message === 'string') expect(r.body.message).toBe(c.message);
      else expect(r.body.message).toMatch(c.message);
      expect(occurrences(r.body.message, c.field), r.body.message).toBe(1);
    });
  }
});

describe('schemaErrorMessage for each Ajv keyword', () => {
  const ajv = new Ajv({ strict: false, allErrors: false, formats: { ...SCHEMA_FORMATS, 'date-time': /^\d{4}-\d\d-\d\dT/ } });
  const schema = {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    dependencies: { start: ['end'] },
    properties: {
      id: { type: 'string', pattern: '^[a-z]+$' },
      kind: { enum: ['a', 'b'] },
      when: { type: 'string', format: 'date-time' },
      fixed: { const: 3 },
      n: { type: 'integer', minimum: 1 },
      list: { type: 'array', maxItems: 1, uniqueItems: true, items: { type: ['string', 'null'] } },
      start: {},
      end: {},
      nested: { type: 'object', required: ['inner'], properties: { inner: { type: 'string' } } },
    },
  };
  const validate = ajv.compile(schema);
  const message = (value: unknown) => {
    expect(validate(value)).toBe(false);
    return schemaErrorMessage(validate.errors![0]!, 'body');
  };

  it.each([
    ['required', {}, 'body.id: is required'],
    ['required below the top', { id: 'x', nested: {} }, 'body.nested.inner: is required'],
    ['additionalProperties', { id: 'x', zzz: 1 }, 'body.zzz: is not a known property here'],
    ['type', { id: 5 }, 'body.id: must be string'],
    ['type with several types', { id: 'x', list: [5] }, 'body.list[0]: must be string or null'],
    ['enum', { id: 'x', kind: 'c' }, 'body.kind: must be one of "a", "b"'],
    ['format', { id: 'x', when: 'yesterday' }, 'body.when: must be a valid date-time'],
    ['pattern', { id: 'X1' }, 'body.id: must match the pattern ^[a-z]+$'],
    ['const', { id: 'x', fixed: 4 }, 'body.fixed: must be 3'],
    ['minimum', { id: 'x', n: 0 }, 'body.n: must be >= 1'],
    ['maxItems', { id: 'x', list: ['a', 'b'] }, 'body.list: must have at most 1 items'],
    ['dependencies', { id: 'x', start: 1 }, "body.end: is required when 'start' is given"],
  ])('%s', (_what, value, expected) => {
    expect(message(value)).toBe(expected);
  });

  it('uniqueItems names the repeated items', () => {
    const v = ajv.compile({ type: 'array', uniqueItems: true });
    expect(v(['a', 'b', 'a'])).toBe(false);
    expect(schemaErrorMessage(v.errors![0]!, 'querystring.tags')).toBe('querystring.tags: must not repeat items (items 0 and 2 are equal)');
  });
});
