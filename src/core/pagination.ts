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

/** Rows examined for one filtered page before it is returned short (with a `next` link so the client goes on). */
const MAX_SCANNED_PER_PAGE = 20_000;

/**
 * Like fetchPage, keeping only items `visible` accepts: it reads on until the
 * page is full, the listing ends, or the scan budget is spent.
 */
export async function fetchFilteredPage(
  page: PageRequest,
  list: (limit: number, last?: string) => Promise<string[]>,
  visible: (item: string) => Promise<boolean>,
): Promise<Page> {
  if (page.limit === 0) return { items: [] };
  const items: string[] = [];
  let last = page.last;
  let scanned = 0;
  const batch = Math.max(page.limit + 1, 100);
  for (;;) {
    const rows = await list(batch, last);
    for (const row of rows) {
      scanned++;
      last = row;
      if (!(await visible(row))) continue;
      if (items.length === page.limit) return { items, next: items[items.length - 1] };
      items.push(row);
    }
    if (rows.length < batch) return { items };
    if (scanned >= MAX_SCANNED_PER_PAGE) return { items, next: last };
  }
}
