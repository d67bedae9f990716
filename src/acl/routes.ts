/**
 * The access-control API: tokens (the secret is in the creation answer and nowhere else, ever),
 * policies, and `whoami`. Holding `acl` permissions is holding every permission: a token that may
 * create tokens may create a management one (as with Consul's `acl = "write"`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ZkgError } from '../errors.js';
import { actorOf } from './actor.js';
import type { Need } from './access.js';
import { PERMISSION_KEY } from './permissions.js';
import { BUILT_IN_POLICIES, PERMISSIONS, type Policy, type PolicyRules } from './policy.js';
import { tokenView, type AclService } from './store.js';
import type { TokenRecord } from './tokens.js';

export interface AclRoutesOptions {
  readonly acl: AclService;
}

const problem = { $ref: 'Problem#' } as const;
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 409: problem, 503: problem };

const POLICY_NAME = '^[a-z0-9][a-z0-9._-]{0,63}$';
// Namespace and service names and their prefixes: what a rule can match.
const PREFIX = '^[A-Za-z0-9._/:-]{0,1100}$';

const grant = {
  anyOf: [
    { type: 'string', const: 'deny' },
    { type: 'array', items: { type: 'string', enum: PERMISSIONS }, uniqueItems: true, maxItems: 5 },
  ],
  description: 'Some of create, read, write, delete, admin; or "deny" for none',
} as const;

const byPrefix = {
  type: 'object',
  maxProperties: 1000,
  propertyNames: { pattern: PREFIX },
  additionalProperties: grant,
  description: 'Name prefix ("" for every name) -> grant; the longest matching prefix decides',
} as const;

const PolicyRulesSchema = {
  $id: 'AclPolicyRules',
  type: 'object',
  additionalProperties: false,
  properties: { config: byPrefix, service: byPrefix, operator: grant, acl: grant },
  example: { config: { 'team-a/': ['read', 'write'], 'team-a/secrets/': 'deny' }, service: { '': ['read'] } },
} as const;

const PolicySchema = {
  $id: 'AclPolicy',
  type: 'object',
  required: ['name', 'rules', 'builtIn'],
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    rules: { $ref: 'AclPolicyRules#' },
    builtIn: { type: 'boolean' },
  },
} as const;

const TokenSchema = {
  $id: 'AclToken',
  type: 'object',
  required: ['accessor', 'description', 'policies', 'createdBy', 'createdAt'],
  properties: {
    accessor: { type: 'string', description: 'The public id of the token (audit records name it)' },
    description: { type: 'string' },
    policies: { type: 'array', items: { type: 'string' } },
    expiresAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string', description: 'Accessor of the token that created this one' },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

const NewTokenSchema = {
  $id: 'AclNewToken',
  type: 'object',
  required: ['accessor', 'secret', 'description', 'policies', 'createdBy', 'createdAt'],
  properties: {
    ...TokenSchema.properties,
    secret: { type: 'string', description: 'Shown once: only its digest is stored' },
  },
} as const;

export const aclSchemas = [PolicyRulesSchema, PolicySchema, TokenSchema, NewTokenSchema] as const;

const accessorParams = {
  type: 'object',
  required: ['accessor'],
  properties: { accessor: { type: 'string', format: 'uuid' } },
} as const;

const policyParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: POLICY_NAME } },
} as const;

function showToken(token: TokenRecord) {
  const { expiresAt, createdAt, ...rest } = tokenView(token);
  return {
    ...rest,
    createdAt: new Date(createdAt).toISOString(),
    ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }),
  };
}

function showPolicy(policy: Policy) {
  return { ...policy, builtIn: BUILT_IN_POLICIES.has(policy.name) };
}

export async function aclRoutes(app: FastifyInstance, options: AclRoutesOptions): Promise<void> {
  const { acl } = options;

  app.get(
    '/v1/acl/whoami',
    {
      schema: {
        summary: 'The token of this request: its accessor, policies and their rules',
        tags: ['acl'],
        [PERMISSION_KEY]: 'authenticated',
        response: {
          200: {
            type: 'object',
            required: ['accessor', 'description', 'policies'],
            properties: {
              accessor: { type: 'string' },
              description: { type: 'string' },
              expiresAt: { type: 'string', format: 'date-time' },
              policies: { type: 'array', items: { $ref: 'AclPolicy#' } },
            },
          },
          401: problem,
        },
      },
    },
    async (request) => {
      const { accessor, description, token } = request.identity;
      const names = token ? token.policies : accessor === 'anonymous' ? ['anonymous'] : ['management'];
      const policies = names.flatMap((name) => {
        const policy = acl.cache.policy(name);
        return policy ? [showPolicy(policy)] : [];
      });
      const expiresAt = token?.expiresAt;
      return {
        accessor,
        description,
        policies,
        ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }),
      };
    },
  );

  app.post(
    '/v1/acl/tokens',
    {
      schema: {
        summary: 'Create a token; its secret is in this answer and nowhere else',
        tags: ['acl'],
        [PERMISSION_KEY]: 'acl:create',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['description', 'policies'],
          properties: {
            description: { type: 'string', minLength: 1, maxLength: 256 },
            policies: {
              type: 'array',
              items: { type: 'string', pattern: POLICY_NAME },
              minItems: 1,
              maxItems: 32,
            },
            expiresAt: { type: 'string', format: 'date-time' },
          },
        },
        response: { 201: { $ref: 'AclNewToken#' }, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body as { description: string; policies: string[]; expiresAt?: string };
      const { token, secret } = await acl.createToken(actorOf(request), {
        description: body.description,
        policies: body.policies,
        ...(body.expiresAt === undefined ? {} : { expiresAt: Date.parse(body.expiresAt) }),
      });
      return reply.code(201).send({ ...showToken(token), secret });
    },
  );

  app.get(
    '/v1/acl/tokens',
    {
      schema: {
        summary: 'Every token (never a secret)',
        tags: ['acl'],
        [PERMISSION_KEY]: 'acl:read',
        response: { 200: { type: 'array', items: { $ref: 'AclToken#' } }, ...errors },
      },
    },
    async () =>
      acl.cache
        .tokens()
        .sort((a, b) => a.createdAt - b.createdAt)
        .map(showToken),
  );

  app.get(
    '/v1/acl/tokens/:accessor',
    {
      schema: {
        summary: 'One token (never its secret)',
        tags: ['acl'],
        [PERMISSION_KEY]: 'acl:read',
        params: accessorParams,
        response: { 200: { $ref: 'AclToken#' }, ...errors },
      },
    },
    async (request) => {
      const { accessor } = request.params as { accessor: string };
      const token = acl.cache.token(accessor);
      if (!token) throw new ZkgError('ZKG_TOKEN_NOT_FOUND', `no token ${accessor}`);
      return showToken(token);
    },
  );

  app.delete(
    '/v1/acl/tokens/:accessor',
    {
      schema: {
        summary: 'Revoke a token: every replica refuses it and closes its watch streams within a second',
        tags: ['acl'],
        [PERMISSION_KEY]: 'acl:delete',
        params: accessorParams,
        response: { 200: { $ref: 'AclToken#' }, ...errors },
      },
    },
    async (request) => {
      const { accessor } = request.params as { accessor: string };
      return showToken(await acl.deleteToken(actorOf(request), accessor));
    },
  );

  app.get(
    '/v1/acl/policies',
    {
      schema: {
        summary: 'Every policy, built-in ones included',
        tags: ['acl'],
        [PERMISSION_KEY]: 'acl:read',
        response: { 200: { type: 'array', items: { $ref: 'AclPolicy#' } }, ...errors },
      },
    },
    async () =>
      [...BUILT_IN_POLICIES.values(), ...acl.cache.policies().sort((a, b) => (a.name < b.name ? -1 : 1))].map(
        showPolicy,
      ),
  );

  app.get(
    '/v1/acl/policies/:name',
    {
      schema: {
        summary: 'One policy',
        tags: ['acl'],
        [PERMISSION_KEY]: 'acl:read',
        params: policyParams,
        response: { 200: { $ref: 'AclPolicy#' }, ...errors },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const policy = acl.cache.policy(name);
      if (!policy) throw new ZkgError('ZKG_POLICY_NOT_FOUND', `no policy ${name}`);
      return showPolicy(policy);
    },
  );

  // A new policy is created, an existing one written.
  const policyNeeds = (request: FastifyRequest): Need[] => [
    {
      resource: { kind: 'acl' },
      permission: acl.cache.policy((request.params as { name: string }).name) ? 'write' : 'create',
    },
  ];

  app.put(
    '/v1/acl/policies/:name',
    {
      config: { access: policyNeeds },
      schema: {
        summary: 'Create or replace a policy (`anonymous` applies to requests without a token)',
        tags: ['acl'],
        [PERMISSION_KEY]: 'acl:create|write',
        params: policyParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['rules'],
          properties: {
            description: { type: 'string', maxLength: 256 },
            rules: { $ref: 'AclPolicyRules#' },
          },
        },
        response: { 200: { $ref: 'AclPolicy#' }, 201: { $ref: 'AclPolicy#' }, ...errors },
      },
    },
    async (request, reply) => {
      const { name } = request.params as { name: string };
      const body = request.body as { description?: string; rules: PolicyRules };
      const policy: Policy = {
        name,
        rules: body.rules,
        ...(body.description === undefined ? {} : { description: body.description }),
      };
      const created = await acl.putPolicy(actorOf(request), policy);
      return reply.code(created ? 201 : 200).send(showPolicy(policy));
    },
  );

  app.delete(
    '/v1/acl/policies/:name',
    {
      schema: {
        summary: 'Delete a policy; tokens naming it lose its rules at once',
        tags: ['acl'],
        [PERMISSION_KEY]: 'acl:delete',
        params: policyParams,
        response: { 200: { $ref: 'AclPolicy#' }, ...errors },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      return showPolicy(await acl.deletePolicy(actorOf(request), name));
    },
  );
}
