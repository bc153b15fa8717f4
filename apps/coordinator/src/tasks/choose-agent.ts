import type { Agent } from '@prisma/client';

/**
 * Which of `candidates` (online agents that may run the task, in a stable order) gets it, in order of preference:
 * 1. agents that have not failed this task (those that did are used only when no other agent is online, so a
 *    single-agent deployment still makes progress after a crash);
 * 2. agents not suspect: a task timed out on a suspect agent and it has not heartbeated since, so it may have died
 *    (otherwise a dead agent would be handed task after task, each lost for a timeout, until it counts as offline);
 * 3. the least busy (fewest running tasks, `load`);
 * 4. the earlier in `candidates`.
 */
export function chooseAgent(
  candidates: readonly Agent[],
  failed: ReadonlySet<string>,
  load: ReadonlyMap<string, number>,
): Agent | undefined {
  const suspect = (a: Agent): boolean =>
    a.lastTaskTimeoutAt !== null && (a.lastHeartbeatAt === null || a.lastHeartbeatAt.getTime() <= a.lastTaskTimeoutAt.getTime());
  const key = (a: Agent, order: number): number[] => [failed.has(a.id) ? 1 : 0, suspect(a) ? 1 : 0, load.get(a.id) ?? 0, order];
  const before = (x: number[], y: number[]): boolean => {
    const i = x.findIndex((v, j) => v !== y[j]);
    return i >= 0 && x[i] < y[i];
  };
  let best: { a: Agent; k: number[] } | undefined;
  candidates.forEach((a, order) => {
    const k = key(a, order);
    if (!best || before(k, best.k)) best = { a, k };
  });
  return best?.a;
}
