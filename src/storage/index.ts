// Storage: the metadata database (SQLite by default, PostgreSQL by URL) and its migrations.
// Both dialects run the same migrations; module stores write portable Kysely queries.
export { NamedStatements, openDatabase, openSqlite, type Database, type Dialect, type OpenDatabaseOptions } from "./database.ts";
export type { Tables } from "./tables.ts";
export { lockDataDir, LOCK_FILE, type DataDirLock, type LockHolder } from "./instance-lock.ts";
export { campaign, FENCED_SQLSTATE, type CampaignOptions, type LeaderRecord, type Leadership } from "./leader.ts";
export { DEFAULT_TEAM_ID, BOOTSTRAP_ADMIN_ID } from "./migrations/010-teams.ts";
export { olderThan } from "./keyset.ts";
export { appendColumns, appendPoints, CHUNK_POINTS, CHUNK_SUMMARY_COLUMNS, decodeChunk, encodeChunk, summarizeChunk, type ChunkPoints, type ChunkSummary } from "./metric-chunk.ts";
