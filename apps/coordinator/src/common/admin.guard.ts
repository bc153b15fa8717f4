// The admin guard is gone (auth/role.guard.ts: RequireRole); agents/agent.guard.ts still imports the bearer helpers
// from here. Delete this file once it imports ./bearer instead (agents/ is being rewritten on main).
export { bearerToken, safeEqual } from './bearer';
