import type { Principal, Role } from '@flotilla/contracts';
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

const RANK: Record<Role, number> = { viewer: 0, submitter: 1, admin: 2 };

/** Who is signed in; pages hide what the key's role may not do rather than let the API refuse it. */
export const PrincipalContext = createContext<Principal>({ role: 'viewer', label: '', keyId: null });

export function useCan(): (role: Role) => boolean {
  const principal = useContext(PrincipalContext);
  return (role) => RANK[principal.role] >= RANK[role];
}
