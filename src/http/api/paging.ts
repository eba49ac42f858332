import { z } from 'zod';

/** Most items one page may hold, as DigitalOcean allows. */
export const MAX_PER_PAGE = 200;
export const DEFAULT_PER_PAGE = 20;

/**
 * DigitalOcean's paging parameters: `page` from 1, `per_page` from 1 to 200.
 * Anything else fails zod, which the API error mapper answers with 422.
 * Extend it for endpoints with more query parameters (`pageQuery.extend({...})`).
 */
export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1).describe('The page, from 1.'),
  per_page: z.coerce.number().int().min(1).max(MAX_PER_PAGE).default(DEFAULT_PER_PAGE).describe('Items per page.'),
});
export type PageQuery = z.infer<typeof pageQuery>;

export interface PageLinks {
  pages: { first?: string; prev?: string; next?: string; last?: string };
}

/**
 * `links.pages` as DigitalOcean writes them: `first` and `prev` after page 1,
 * `next` and `last` before the last page. A page beyond the last is empty, and
 * its `prev` (and `last`) point at the last page that has items.
 * `extra(page)` adds query parameters to a link (filters, cursors).
 */
export function pageLinks(path: string, q: PageQuery, total: number, extra: (page: number) => Record<string, string> = () => ({})): PageLinks {
  const last = Math.max(1, Math.ceil(total / q.per_page));
  const at = (page: number) => `${path}?${new URLSearchParams({ ...extra(page), page: String(page), per_page: String(q.per_page) })}`;
  const pages: PageLinks['pages'] = {};
  if (q.page > 1) {
    pages.first = at(1);
    pages.prev = at(Math.min(q.page - 1, last));
  }
  if (q.page < last) pages.next = at(q.page + 1);
  if (q.page !== last) pages.last = at(last);
  return { pages };
}

export interface Paged<T> {
  items: T[];
  links: PageLinks;
  meta: { total: number };
}

/** One page of a list already in memory, with its links and total. */
export function paginate<T>(all: T[], q: PageQuery, path: string, extra?: (page: number) => Record<string, string>): Paged<T> {
  const start = (q.page - 1) * q.per_page;
  return { items: all.slice(start, start + q.per_page), links: pageLinks(path, q, all.length, extra), meta: { total: all.length } };
}
