import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { TeamRecord } from '../../auth/access-store.js';
import { conflict, notFound } from './api-error.js';
import { audit, requireServerAdmin, type ApiContext } from './context.js';
import { doc } from './openapi.js';

const teamName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'team names are 1-63 characters: a-z, 0-9, ".", "_", "-"');

const createTeamBody = z.object({ name: teamName }).strict();

const teamView = (t: TeamRecord) => ({ name: t.name, members: t.members, created_at: new Date(t.createdAt).toISOString() });

/** /api/v2/teams: teams and their members, managed by server administrators. */
export function registerTeamRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { store, authenticator } = ctx.access;

  const team = async (name: string) => {
    const t = await store.getTeam(name);
    if (!t) throw notFound(`team ${name}`);
    return t;
  };

  api.get('/teams', doc({ summary: 'List teams', tags: ['Teams'], responses: { '200': '`{teams}`.', '403': 'Not a server administrator.' } }), async (req) => {
    await requireServerAdmin(ctx, req);
    return { teams: (await store.listTeams()).map(teamView) };
  });

  api.post('/teams', doc({ summary: 'Create a team', tags: ['Teams'], body: createTeamBody, responses: { '201': '`{team}`.', '403': 'Not a server administrator.', '409': 'The name is taken.' } }), async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const { name } = createTeamBody.parse(req.body);
    if (await store.getTeam(name)) throw conflict(`team ${name} already exists`);
    const created = await store.createTeam(name);
    await audit(ctx, req, admin, { action: 'team.create', outcome: 'success', resource: name });
    reply.code(201).send({ team: teamView(created) });
  });

  api.get('/teams/:team', doc({ summary: 'Get a team', tags: ['Teams'], responses: { '200': '`{team}`.', '403': 'Not a server administrator.', '404': 'No such team.' } }), async (req) => {
    await requireServerAdmin(ctx, req);
    return { team: teamView(await team((req.params as { team: string }).team)) };
  });

  api.delete('/teams/:team', doc({ summary: 'Delete a team', tags: ['Teams'], responses: { '204': 'Deleted.', '403': 'Not a server administrator.', '404': 'No such team.' } }), async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const t = await team((req.params as { team: string }).team);
    await store.deleteTeam(t.id);
    authenticator.forget();
    await audit(ctx, req, admin, { action: 'team.delete', outcome: 'success', resource: t.name });
    reply.code(204).send();
  });

  api.put('/teams/:team/members/:username', doc({ summary: 'Add a member', tags: ['Teams'], responses: { '204': 'Added.', '403': 'Not a server administrator.', '404': 'No such team or user.' } }), async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const params = req.params as { team: string; username: string };
    const t = await team(params.team);
    const user = await store.getUser(params.username);
    if (!user) throw notFound(`user ${params.username}`);
    await store.addTeamMember(t.id, user.id);
    await audit(ctx, req, admin, { action: 'team.member.add', outcome: 'success', resource: `${t.name}/${user.username}` });
    reply.code(204).send();
  });

  api.delete('/teams/:team/members/:username', doc({ summary: 'Remove a member', tags: ['Teams'], responses: { '204': 'Removed.', '403': 'Not a server administrator.', '404': 'No such team or member.' } }), async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const params = req.params as { team: string; username: string };
    const t = await team(params.team);
    const user = await store.getUser(params.username);
    if (!user || !(await store.removeTeamMember(t.id, user.id))) throw notFound(`member ${params.username} of team ${t.name}`);
    await audit(ctx, req, admin, { action: 'team.member.remove', outcome: 'success', resource: `${t.name}/${user.username}` });
    reply.code(204).send();
  });
}
