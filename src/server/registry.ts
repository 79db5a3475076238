import type { AnyToolDefinition } from "../tools/definition.js";

export interface RegistryFilter {
  readOnly: boolean;
}

/**
 * Filters act on the flat list before anything is registered: a filtered tool never
 * appears in tools/list and cannot be called.
 */
export function selectTools(all: readonly AnyToolDefinition[], filter: RegistryFilter): AnyToolDefinition[] {
  return all.filter((tool) => !filter.readOnly || tool.annotations.readOnlyHint);
}
