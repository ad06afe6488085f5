import type { Schemas } from "@/lib/api/client";

export type Role = Schemas["RoleEnum"];
export const ROLES: { value: Role; label: string; help: string }[] = [
  { value: "viewer", label: "Viewer", help: "reads everything, changes nothing" },
  { value: "member", label: "Member", help: "also runs agents, rules and workflows" },
  { value: "admin", label: "Admin", help: "also configures connections, integrations, agents and invitations" },
  { value: "owner", label: "Owner", help: "also manages people and the workspace" },
];

export const PAGE_SIZE = 25;

export function roleLabel(role: string): string {
  return ROLES.find((r) => r.value === role)?.label ?? role;
}

export function fullName(person: { first_name?: string; last_name?: string; email?: string }): string {
  return [person.first_name, person.last_name].filter(Boolean).join(" ") || person.email || "";
}
