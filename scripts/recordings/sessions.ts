/**
 * Which clients make each recording of `specs.ts`, in order.
 *
 * @module
 */

import type { Session, SessionContext } from "./context.ts";
import { changeUser, demoMysql2, largePackets, multiResults, types } from "./sessions_mysql2.ts";
import {
  capi,
  connector,
  demoCli,
  ed25519Cli,
  ed25519Connector,
  localInfile,
  sysbench,
} from "./sessions_other.ts";

function all(...sessions: Session[]): Session {
  return async (context: SessionContext) => {
    for (const session of sessions) await session(context);
  };
}

/** The session of each recording, by name. */
export const SESSIONS: Readonly<Record<string, Session>> = {
  "demo": all(demoCli, demoMysql2),
  "mysql2-types": types,
  "mysql2-multi-results": multiResults,
  "cli-local-infile": localInfile,
  "large-packets": largePackets,
  "auth": all(ed25519Cli, changeUser, ed25519Connector),
  "mariadb-connector": connector,
  "libmariadb-capi": capi,
  "sysbench": sysbench,
};
