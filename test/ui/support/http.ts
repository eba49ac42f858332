/** The body of an answer that must have `status`; otherwise an error naming the request and quoting the answer. */
export async function expectStatus(res: Response, status: number, what: string): Promise<string> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`${what} answered ${res.status} (expected ${status}): ${text.slice(0, 1500)}`);
  return text;
}
