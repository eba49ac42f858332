/**
 * docs/api-reference.md from the OpenAPI document: one section per tag, each
 * operation with its method, path, summary, parameters, body fields and responses.
 * Pure and deterministic, so a test can regenerate it and compare.
 */

type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

/** A table cell: one line, pipes escaped. */
const cell = (text: string): string => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
const code = (text: string): string => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);

export function typeOf(schema: Json | undefined): string {
  if (!schema) return 'any';
  if (schema.const !== undefined) return code(JSON.stringify(schema.const));
  if (Array.isArray(schema.enum)) return schema.enum.map((v: unknown) => code(JSON.stringify(v))).join(' or ');
  if (Array.isArray(schema.anyOf)) return schema.anyOf.map(typeOf).join(' or ');
  if (Array.isArray(schema.allOf)) return schema.allOf.map(typeOf).join(' and ');
  if (Array.isArray(schema.type)) return schema.type.join(' or ');
  if (schema.type === 'array') return `array of ${typeOf(schema.items)}`;
  return schema.type ?? 'any';
}

function constraintsOf(schema: Json): string[] {
  const out: string[] = [];
  const walk = (s: Json | undefined) => {
    if (!s) return;
    if (s.pattern !== undefined) out.push(`pattern ${code(s.pattern)}`);
    if (s.minLength !== undefined) out.push(`min length ${s.minLength}`);
    if (s.maxLength !== undefined) out.push(`max length ${s.maxLength}`);
    if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
    if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
    if (s.minItems !== undefined) out.push(`at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
    if (s.maxItems !== undefined) out.push(`at most ${s.maxItems} items`);
    for (const alt of s.anyOf ?? []) walk(alt);
  };
  walk(schema);
  if (schema.default !== undefined) out.push(`default ${code(JSON.stringify(schema.default))}`);
  return out;
}

function notes(schema: Json, description?: string): string {
  const text = (description ?? schema.description ?? '') as string;
  const constraints = constraintsOf(schema);
  return cell([text, constraints.length > 0 ? `(${constraints.join(', ')})` : ''].filter(Boolean).join(' '));
}

/** Object fields, flattened: nested objects as `a.b`, arrays of objects as `a[].b`. */
function fieldRows(schema: Json, prefix = ''): string[] {
  const rows: string[] = [];
  const required = new Set<string>(schema.required ?? []);
  for (const [name, field] of Object.entries<Json>(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    rows.push(`| ${code(path)} | ${cell(typeOf(field))} | ${required.has(name) ? 'yes' : 'no'} | ${notes(field)} |`);
    const inner = [field, ...(field.anyOf ?? [])];
    for (const s of inner) {
      if (s.type === 'object' && s.properties) rows.push(...fieldRows(s, `${path}.`));
      if (s.type === 'array' && s.items?.type === 'object') rows.push(...fieldRows(s.items, `${path}[].`));
    }
  }
  return rows;
}

function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

function operationSection(method: string, path: string, op: Json): string[] {
  const out: string[] = [`### ${method.toUpperCase()} ${path}`, '', `${op.summary}.`, ''];
  if (op.description) out.push(op.description, '');
  if (Array.isArray(op.security) && op.security.length === 0) out.push('No authentication needed.', '');

  const params: Json[] = op.parameters ?? [];
  for (const where of ['path', 'query']) {
    const list = params.filter((p) => p.in === where);
    if (list.length === 0) continue;
    out.push(`**${where === 'path' ? 'Path' : 'Query'} parameters**`, '', '| Name | Type | Required | Notes |', '| --- | --- | --- | --- |');
    for (const p of list) out.push(`| ${code(p.name)} | ${cell(typeOf(p.schema))} | ${p.required ? 'yes' : 'no'} | ${notes(p.schema ?? {}, p.description)} |`);
    out.push('');
  }

  const body = op.requestBody as Json | undefined;
  if (body) {
    const [type, media] = Object.entries<Json>(body.content ?? {})[0] ?? ['application/json', {}];
    const schema: Json = media.schema ?? {};
    const extra = schema.additionalProperties === false ? 'other fields are refused' : 'other fields are ignored';
    out.push(`**Request body** (${code(type)}, ${body.required ? 'required' : 'optional'}; ${extra})`, '');
    const rows = fieldRows(schema);
    if (rows.length > 0) out.push('| Field | Type | Required | Notes |', '| --- | --- | --- | --- |', ...rows);
    out.push('');
  }

  out.push('**Responses**', '', '| Status | Description |', '| --- | --- |');
  for (const [status, response] of Object.entries<Json>(op.responses ?? {})) {
    const schemas = Object.values<Json>(response.content ?? {}).map((m) => m.schema?.$ref as string | undefined);
    const ref = schemas.find(Boolean);
    const suffix = ref ? ` ([${ref.split('/').pop()}](#errors))` : '';
    out.push(`| ${status} | ${cell(response.description ?? '')}${suffix} |`);
  }
  out.push('');
  return out;
}

export function renderApiReference(doc: Json): string {
  const out: string[] = [
    `# ${doc.info.title} reference`,
    '',
    '<!-- Generated from /api/openapi.json by `npm run docs:api` (scripts/api-reference.mjs); do not edit by hand. -->',
    '',
    `OpenAPI ${doc.openapi}, API version ${doc.info.version}. The machine-readable document is served at \`GET /api/openapi.json\`.`,
    '',
    doc.info.description,
    '',
    '## Authentication',
    '',
  ];
  for (const [name, scheme] of Object.entries<Json>(doc.components?.securitySchemes ?? {})) {
    out.push(`- **${name}** (HTTP ${scheme.scheme}): ${scheme.description ?? ''}`);
  }
  out.push('', '## Errors', '', 'Every error answers with this JSON body:', '', '| Field | Type | Required | Notes |', '| --- | --- | --- | --- |');
  out.push(...fieldRows(doc.components?.schemas?.Error ?? {}), '');

  const tags: Json[] = doc.tags ?? [];
  out.push('## Contents', '');
  for (const tag of tags) out.push(`- [${tag.name}](#${anchorOf(tag.name)})`);
  out.push('');

  const operations: Array<{ method: string; path: string; op: Json }> = [];
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) if (item[method]) operations.push({ method, path, op: item[method] });
  }
  const tagNames = [...tags.map((t) => t.name as string), 'Other'];
  for (const name of tagNames) {
    const mine = operations.filter(({ op }) => (op.tags?.[0] ?? 'Other') === name);
    if (mine.length === 0) continue;
    const tag = tags.find((t) => t.name === name);
    out.push(`## ${name}`, '');
    if (tag?.description) out.push(tag.description, '');
    for (const { method, path, op } of mine) out.push(...operationSection(method, path, op));
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
