import { sql, type RawBuilder, type SqlBool } from "kysely";
import type { NewestFirstPosition } from "../core/index.ts";

/**
 * The keyset condition of a newest-first page after `before` (a page's last row): rows created
 * earlier, or at the same time with a smaller id; the query orders by the same two columns,
 * descending. `time` defaults to `created_at`.
 */
export function olderThan(before: NewestFirstPosition, columns: { id: string; time?: string }): RawBuilder<SqlBool> {
  const time = sql.ref(columns.time ?? "created_at");
  return sql<SqlBool>`(${time} < ${before.createdAt} or (${time} = ${before.createdAt} and ${sql.ref(columns.id)} < ${before.id}))`;
}
