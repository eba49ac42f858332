import type { ApiError } from '../api/client';

/**
 * The API answers invalid input with 422 and a message naming the field first
 * (`url: …`, `rules.0.selection.countNumber: …`). These helpers find that field,
 * so a form can show the message beside it as well as above its buttons.
 */
export interface Problem {
  /** The field's path as the API names it (`rules.0.rulePriority`), when it names one. */
  path: string | undefined;
  message: string;
}

export function problemOf(error: ApiError | undefined): Problem | undefined {
  if (!error || (error.status !== 422 && error.status !== 400)) return undefined;
  const match = /^([A-Za-z_][\w]*(?:\.[\w]+)*): (.+)$/s.exec(error.message);
  if (!match) return { path: undefined, message: error.message };
  // The client capitalised the first letter of the message, and so of the path.
  const path = match[1]!.charAt(0).toLowerCase() + match[1]!.slice(1);
  const rest = match[2]!;
  return { path, message: rest.charAt(0).toUpperCase() + rest.slice(1) };
}

/** The message for `field` (or for anything below it, with `prefix`), when the error names it. */
export function fieldError(error: ApiError | undefined, field: string, options: { prefix?: boolean } = {}): string | undefined {
  const problem = problemOf(error);
  if (!problem) return undefined;
  // Some checks name their field in the sentence instead: "repository_pattern must name …".
  if (!problem.path) return problem.message.toLowerCase().startsWith(`${field.toLowerCase()} `) ? problem.message : undefined;
  if (problem.path === field || (options.prefix && problem.path.startsWith(`${field}.`))) return problem.message;
  return undefined;
}
