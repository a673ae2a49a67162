// Configuration: one zod schema for the whole server, loaded once at start from a YAML file,
// PAVED_* variables and flags. Nothing else in Paved reads process.env.
export { configSchema, loadConfig, isLoopback, type Config, type ConfigInput } from "./config.ts";
