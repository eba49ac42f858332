import { RegistryError } from '../oci/errors.js';

/** Page size when the client sends no `n`, and the most one page may hold. */
export const DEFAULT_PAGE_SIZE = 1000;
export const MAX_PAGE_SIZE = 10_000;

export interface PageRequest {
  limit: number;
  last?: string;
}

/** Parses the spec's `n` and `last` query parameters; `n` beyond the maximum is capped. */
export function parsePageRequest(n: string | undefined, last: string | undefined): PageRequest {
  let limit = DEFAULT_PAGE_SIZE;
  if (n !== undefined && n !== '') {
    if (!/^\d+$/.test(n)) {
      throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be a non-negative integer, got ${n.slice(0, 20)}`);
    }
    limit = n.length > 9 ? MAX_PAGE_SIZE : Math.min(Number(n), MAX_PAGE_SIZE);
  }
  return { limit, last: last === '' ? undefined : last };
}

export interface Page {
  items: string[];
  /** The last item of this page when another page may follow. */
  next?: string;
}

/** Runs a lexical listing for one page, fetching one extra row to know whether more follow. */
export async function fetchPage(page: PageRequest, list: (limit: number, last?: string) => Promise<string[]>): Promise<Page> {
  if (page.limit === 0) return { items: [] };
  const rows = await list(page.limit + 1, page.last);
  if (rows.length <= page.limit) return { items: rows };
  const items = rows.slice(0, page.limit);
  return { items, next: items[items.length - 1] };
}
