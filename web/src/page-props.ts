/** What every page gets from the router: the path's parameters (`:id` and so on), decoded. */
export interface PageProps {
  params: Record<string, string>;
}
