/**
 * The name an object was reached by (`idFromName`): a per-tenant object's tenant. The runtime
 * tells it on requests; it is stored the first time, so an alarm that is not told still knows.
 */
export function knownName(ctx: DurableObjectState): string | null {
  const sql = ctx.storage.sql;
  sql.exec("CREATE TABLE IF NOT EXISTS object_name (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), name TEXT NOT NULL)");
  const named = ctx.id.name;
  if (named !== undefined) {
    sql.exec("INSERT INTO object_name (singleton, name) VALUES (1, ?) ON CONFLICT (singleton) DO NOTHING", named);
    return named;
  }
  return sql.exec<{ name: string }>("SELECT name FROM object_name WHERE singleton = 1").toArray()[0]?.name ?? null;
}
