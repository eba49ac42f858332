import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { TeamRecord } from '../../auth/access-store.js';
import { conflict, notFound } from './api-error.js';
import { audit, requireServerAdmin, type ApiContext } from './context.js';

const teamName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'team names are 1-63 characters: a-z, 0-9, ".", "_", "-"');

const teamView = (t: TeamRecord) => ({ name: t.name, members: t.members, created_at: new Date(t.createdAt).toISOString() });

/** /api/v2/teams: teams and their members, managed by server administrators. */
export function registerTeamRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const { store, authenticator } = ctx.access;

  const team = async (name: string) => {
    const t = await store.getTeam(name);
    if (!t) throw notFound(`team ${name}`);
    return t;
  };

  api.get('/teams', async (req) => {
    await requireServerAdmin(ctx, req);
    return { teams: (await store.listTeams()).map(teamView) };
  });

  api.post('/teams', async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const { name } = z.object({ name: teamName }).strict().parse(req.body);
    if (await store.getTeam(name)) throw conflict(`team ${name} already exists`);
    const created = await store.createTeam(name);
    await audit(ctx, req, admin, { action: 'team.create', outcome: 'success', resource: name });
    reply.code(201).send({ team: teamView(created) });
  });

  api.get('/teams/:team', async (req) => {
    await requireServerAdmin(ctx, req);
    return { team: teamView(await team((req.params as { team: string }).team)) };
  });

  api.delete('/teams/:team', async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const t = await team((req.params as { team: string }).team);
    await store.deleteTeam(t.id);
    authenticator.forget();
    await audit(ctx, req, admin, { action: 'team.delete', outcome: 'success', resource: t.name });
    reply.code(204).send();
  });

  api.put('/teams/:team/members/:username', async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const params = req.params as { team: string; username: string };
    const t = await team(params.team);
    const user = await store.getUser(params.username);
    if (!user) throw notFound(`user ${params.username}`);
    await store.addTeamMember(t.id, user.id);
    await audit(ctx, req, admin, { action: 'team.member.add', outcome: 'success', resource: `${t.name}/${user.username}` });
    reply.code(204).send();
  });

  api.delete('/teams/:team/members/:username', async (req, reply) => {
    const admin = await requireServerAdmin(ctx, req);
    const params = req.params as { team: string; username: string };
    const t = await team(params.team);
    const user = await store.getUser(params.username);
    if (!user || !(await store.removeTeamMember(t.id, user.id))) throw notFound(`member ${params.username} of team ${t.name}`);
    await audit(ctx, req, admin, { action: 'team.member.remove', outcome: 'success', resource: `${t.name}/${user.username}` });
    reply.code(204).send();
  });
}
