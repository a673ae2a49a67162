/**
 * Every page of a paged listing, in order: `page` answers one page for a token (none for the
 * first); `between` runs after each page but the last (to add or change rows between pages).
 */
export async function walkPages<T>(page: (token: string | undefined) => Promise<{ items: T[]; nextPageToken?: string | undefined }>, between: (pages: number) => Promise<void> = async () => {}): Promise<T[][]> {
  const pages: T[][] = [];
  let token: string | undefined;
  do {
    const answer = await page(token);
    pages.push(answer.items);
    token = answer.nextPageToken;
    if (pages.length >= 1000) throw new Error(`a listing still had a next page after ${pages.length} pages: does its token move on?`);
    if (token) await between(pages.length);
  } while (token);
  return pages;
}
