/**
 * Starting and stopping one private `mariadbd`: finding the binaries, `mariadb-install-db`, test
 * certificates, the detached watchdog that outlives no `deno test` process, readiness, test users.
 * Sharing between test modules and test registration live in `mariadb.ts`.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";

/** A user name and its password. */
export interface Credential {
  user: string;
  password: string;
}

/** Paths of the PEM files for a TLS-enabled server. */
export interface MariaDBTls {
  /** The test CA certificate that signed `cert`; give it to clients as their trust root. */
  ca: string;
  cert: string;
  key: string;
}

/** Where a running test server lives and how to log in. */
export interface MariaDB {
  hostname: "127.0.0.1";
  port: number;
  socket: string;
  /** `SELECT VERSION()`, e.g. `10.11.19-MariaDB-0+deb12u1`. */
  version: string;
  datadir: string;
  /** The directory holding datadir, socket, logs and certificates; deleted when the server stops. */
  dir: string;
  /** Process id of `mariadbd`. */
  pid: number;
  /** True when the auth_ed25519 plugin loaded and `users.ed25519` exists. */
  ed25519: boolean;
  /** Set when the server was started with TLS (absent when `openssl` was not found). */
  tls?: MariaDBTls;
  /** True for the instance from `sharedMariaDB()`, whose `stop()` does nothing. */
  shared: boolean;
  users: { root: Credential; native: Credential; ed25519?: Credential; sysbench: Credential };
  /** Paths of the binaries the harness found. */
  bin: { mariadbd: string; mariadb: string; installDb: string };
  /** Runs SQL as root over the unix socket (`--batch --skip-column-names`) and returns stdout. */
  sql(statement: string, options?: { database?: string }): Promise<string>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const SEARCH_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"] as const;
/** How long mariadbd may take to accept connections. */
export const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 5;
/** Unix socket paths are limited to 108 bytes on Linux (104 on macOS). */
const MAX_SOCKET_PATH = 100;

const USERS = {
  root: { user: "root", password: "" },
  native: { user: "proxy_native", password: "native-pw-1" },
  ed25519: { user: "proxy_ed25519", password: "ed25519-pw-1" },
  sysbench: { user: "sysbench", password: "sysbench-pw" },
} as const;

const SERVER_OPTIONS = [
  "--max-allowed-packet=256M",
  // Debian's packaged config makes utf8mb4 the default; --no-defaults would leave latin1.
  "--character-set-server=utf8mb4",
  "--collation-server=utf8mb4_general_ci",
  "--local-infile=1",
  "--skip-name-resolve",
  "--bind-address=127.0.0.1",
  "--innodb-buffer-pool-size=128M",
  "--innodb-log-file-size=48M",
  "--skip-log-bin",
  "--max-connections=2000",
] as const;

type Binaries = MariaDB["bin"];
/** What `state.json` stores: everything about a server except its functions. */
export type ServerInfo = Omit<MariaDB, "sql" | "stop" | typeof Symbol.asyncDispose | "shared"> & {
  /** The watchdog shell; SIGTERM makes it stop the server and delete `dir`. */
  watchdogPid: number;
};

/** The first executable `name` on PATH or in the usual sbin directories. */
export function findBinary(name: string): string | undefined {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "");
  for (const dir of [...path, ...SEARCH_DIRS]) {
    try {
      const info = Deno.statSync(join(dir, name));
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

function findBinaries(): { bin?: Binaries; reason: string } {
  if (Deno.env.get("MYSQL_PROXY_TEST_MARIADB") === "off") {
    return { reason: "MYSQL_PROXY_TEST_MARIADB=off" };
  }
  const found = {
    mariadbd: findBinary("mariadbd"),
    mariadb: findBinary("mariadb"),
    installDb: findBinary("mariadb-install-db"),
  };
  const names = { mariadbd: "mariadbd", mariadb: "mariadb", installDb: "mariadb-install-db" };
  const missing = (Object.keys(found) as (keyof Binaries)[]).filter((key) => !found[key]);
  if (missing.length > 0) {
    const list = missing.map((key) => names[key]).join(", ");
    return { reason: `${list} not found on PATH or ${SEARCH_DIRS.join(", ")}` };
  }
  return { bin: found as Binaries, reason: "" };
}

/** The binaries, or why live tests cannot run; decided once when this module loads. */
export const FOUND: { bin?: Binaries; reason: string } = (() => {
  try {
    return findBinaries();
  } catch (error) {
    return { bin: undefined, reason: `cannot look for mariadbd: ${(error as Error).message}` };
  }
})();

const HAS_PROC = (() => {
  try {
    Deno.statSync("/proc/self/stat");
    return true;
  } catch {
    return false;
  }
})();

/** False for zombies too: on machines whose init never reaps orphans, `kill -0` succeeds on them. */
function isAlive(pid: number): boolean {
  if (!HAS_PROC) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as { code?: string }).code === "EPERM";
    }
  }
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Whether `path` exists, without following a final symlink. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function run(
  command: string,
  args: string[],
  options: { stdin?: string; what: string },
): Promise<string> {
  const child = new Deno.Command(command, {
    args,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    const detail = new TextDecoder().decode(stderr).trim() || `exit code ${code}`;
    throw new Error(`Cannot run ${options.what}: ${detail}`);
  }
  return new TextDecoder().decode(stdout);
}

/** A function that runs SQL as root through the `mariadb` CLI over `socket`. */
export function rootSql(bin: Binaries, socket: string) {
  return (statement: string, options: { database?: string } = {}): Promise<string> => {
    const args = [
      "--no-defaults",
      `--socket=${socket}`,
      "--user=root",
      "--batch",
      "--skip-column-names",
      "--connect-timeout=5",
    ];
    if (options.database !== undefined) args.push(`--database=${options.database}`);
    return run(bin.mariadb, args, { stdin: statement, what: "SQL as root" });
  };
}

async function pluginDir(bin: Binaries): Promise<string> {
  const help = await run(bin.mariadbd, ["--no-defaults", "--verbose", "--help"], {
    what: "mariadbd --help",
  });
  return help.match(/^plugin-dir\s+(\S+)/m)?.[1] ?? "/usr/lib/mysql/plugin";
}

/** The CA gets CA:TRUE and the server cert a SAN, because rustls and Node reject certs without. */
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
`;

/** P-256 keys: generating two RSA-2048 keys took ~0.5 s here, P-256 ~0.05 s. */
async function makeCertificates(openssl: string, dir: string): Promise<MariaDBTls> {
  await Deno.mkdir(dir);
  const file = (name: string) => join(dir, name);
  await Deno.writeTextFile(file("openssl.cnf"), OPENSSL_CONFIG);
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"];
  const common = ["-config", file("openssl.cnf"), ...key];
  const what = "openssl";
  const days = ["-days", "3650"];
  await run(openssl, [
    ...["req", "-x509", ...common, "-extensions", "ca_ext", "-subj", "/CN=mysql-proxy test CA"],
    ...["-keyout", file("ca-key.pem"), "-out", file("ca.pem"), ...days],
  ], { what });
  await run(openssl, [
    ...["req", "-new", ...common, "-subj", "/CN=localhost"],
    ...["-keyout", file("server-key.pem"), "-out", file("server.csr")],
  ], { what });
  const serial = `0x${crypto.getRandomValues(new Uint8Array(8)).toHex()}`;
  await run(openssl, [
    ...["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem")],
    ...["-CAkey", file("ca-key.pem"), "-set_serial", serial, ...days],
    ...["-extfile", file("openssl.cnf"), "-extensions", "server_ext", "-out", file("server.pem")],
  ], { what });
  return { ca: file("ca.pem"), cert: file("server.pem"), key: file("server-key.pem") };
}

/**
 * POSIX sh, run in its own session: starts mariadbd, then waits until SIGTERM or until the owner
 * (the `deno test` process) is gone; then stops mariadbd (SIGKILL after 10 s), deletes `$dir`,
 * and on owner exit also `$cleanup`. Liveness reads /proc because zombies pass `kill -0`.
 */
const WATCHDOG = `exec </dev/null >/dev/null 2>&1
owner=$1 dir=$2 cleanup=$3
shift 3
alive() {
  [ -r "/proc/$1/stat" ] || { kill -0 "$1" 2>/dev/null; return; }
  read -r stat <"/proc/$1/stat" || return 1
  case \${stat##*") "} in Z* | X*) return 1 ;; esac
}
stopping=
trap 'stopping=1' TERM
"$@" >>"$dir/mariadbd.out" 2>&1 &
server=$!
echo "$server $$" >"$dir/pids.tmp" && mv "$dir/pids.tmp" "$dir/pids"
while [ -z "$stopping" ] && alive "$owner"; do sleep 0.5 & wait $!; done
trap '' TERM
kill -TERM "$server" 2>/dev/null
(i=0; while [ $i -lt 100 ] && alive "$server"; do sleep 0.1; i=$((i + 1)); done
 kill -KILL "$server" 2>/dev/null) &
wait "$server"
rm -rf "$dir"
[ -n "$stopping" ] || rm -rf "$cleanup"
`;

class PortInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PortInUseError";
  }
}

async function launch(dir: string, argv: string[], cleanup: string): Promise<number[]> {
  const setsid = findBinary("setsid");
  const watchdogArgs = ["watchdog", String(Deno.pid), dir, cleanup, ...argv];
  // setsid keeps a terminal's Ctrl-C away from the server; without it, sh still detaches.
  const [command, args] = setsid
    ? [setsid, ["-f", "sh", "-c", WATCHDOG, ...watchdogArgs]]
    : ["sh", ["-c", `(${WATCHDOG}) &`, ...watchdogArgs]];
  await run(command, args, { what: "the mariadbd watchdog" });
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await delay(20)) {
    try {
      return (await Deno.readTextFile(join(dir, "pids"))).trim().split(" ").map(Number);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  throw new Error(`Cannot start mariadbd: the watchdog wrote no pids file in ${dir}`);
}

async function logTail(dir: string): Promise<string> {
  const parts = await Promise.all(
    ["error.log", "mariadbd.out"].map((name) => Deno.readTextFile(join(dir, name)).catch(() => "")),
  );
  return parts.join("").trim().split("\n").slice(-25).join("\n");
}

/** Asks the watchdog to stop the server and waits until it has deleted the server's `dir`. */
export async function stopServer(info: { dir: string; watchdogPid: number }): Promise<void> {
  if (!(await exists(info.dir))) return;
  if (isAlive(info.watchdogPid)) process.kill(info.watchdogPid, "SIGTERM");
  for (const deadline = Date.now() + STOP_TIMEOUT_MS; Date.now() < deadline; await delay(50)) {
    if (!(await exists(info.dir))) return;
  }
  throw new Error(`Cannot stop mariadbd: ${info.dir} still exists after ${STOP_TIMEOUT_MS} ms`);
}

async function waitUntilReady(dir: string, pid: number, bin: Binaries): Promise<string> {
  const sql = rootSql(bin, join(dir, "mariadbd.sock"));
  let lastError = "";
  for (const deadline = Date.now() + READY_TIMEOUT_MS; Date.now() < deadline; await delay(50)) {
    if (!isAlive(pid)) {
      const tail = await logTail(dir);
      const message = `Cannot start mariadbd: it exited during startup; log tail:\n${tail}`;
      if (/Bind on TCP\/IP port|Address already in use/.test(tail)) {
        throw new PortInUseError(message);
      }
      throw new Error(message);
    }
    try {
      return (await sql("SELECT VERSION()")).trim();
    } catch (error) {
      lastError = (error as Error).message;
    }
  }
  const tail = await logTail(dir);
  throw new Error(
    `Cannot start mariadbd: not ready after ${READY_TIMEOUT_MS} ms (${lastError}); log tail:\n${tail}`,
  );
}

function setupSql(ed25519: boolean): string {
  const { native, sysbench } = USERS;
  const lines = [
    "CREATE DATABASE proxytest;",
    "CREATE DATABASE sbtest;",
    `CREATE USER '${native.user}'@'%' IDENTIFIED VIA mysql_native_password` +
    ` USING PASSWORD('${native.password}');`,
    `GRANT ALL PRIVILEGES ON *.* TO '${native.user}'@'%';`,
    `GRANT FILE ON *.* TO '${native.user}'@'%';`,
    `CREATE USER '${sysbench.user}'@'%' IDENTIFIED VIA mysql_native_password` +
    ` USING PASSWORD('${sysbench.password}');`,
    `GRANT ALL PRIVILEGES ON sbtest.* TO '${sysbench.user}'@'%';`,
  ];
  if (ed25519) {
    const { user, password } = USERS.ed25519;
    lines.push(
      `CREATE USER '${user}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('${password}');`,
      `GRANT ALL PRIVILEGES ON *.* TO '${user}'@'%';`,
    );
  }
  return lines.join("\n");
}

/** One attempt in a fresh `dir`; a PortInUseError means the caller may retry elsewhere. */
async function startIn(dir: string, cleanup: string, tls: boolean): Promise<ServerInfo> {
  const bin = FOUND.bin!;
  const socket = join(dir, "mariadbd.sock");
  if (socket.length > MAX_SOCKET_PATH) {
    throw new Error(`Cannot start mariadbd: socket path too long, set TMPDIR shorter: ${socket}`);
  }
  const datadir = join(dir, "data");
  const asRoot = Deno.uid() === 0 ? ["--user=root"] : [];
  const openssl = tls ? findBinary("openssl") : undefined;
  const [plugins, certificates] = await Promise.all([
    pluginDir(bin),
    openssl ? makeCertificates(openssl, join(dir, "tls")) : undefined,
    run(bin.installDb, [
      ...["--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db"],
      ...[`--datadir=${datadir}`, "--skip-name-resolve", ...asRoot],
      ...["--innodb-buffer-pool-size=128M", "--innodb-log-file-size=48M"],
    ], { what: "mariadb-install-db" }),
    Deno.mkdir(join(dir, "tmp")),
  ]);
  const hasEd25519 = await exists(join(plugins, "auth_ed25519.so"));
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const argv = [
    bin.mariadbd,
    "--no-defaults",
    ...asRoot,
    `--datadir=${datadir}`,
    `--port=${port}`,
    `--socket=${socket}`,
    `--pid-file=${join(dir, "mariadbd.pid")}`,
    `--log-error=${join(dir, "error.log")}`,
    `--tmpdir=${join(dir, "tmp")}`,
    ...SERVER_OPTIONS,
    ...(hasEd25519 ? ["--plugin-load-add=auth_ed25519"] : []),
    ...(certificates
      ? [
        `--ssl-ca=${certificates.ca}`,
        `--ssl-cert=${certificates.cert}`,
        `--ssl-key=${certificates.key}`,
      ]
      : []),
  ];
  const [pid, watchdogPid] = await launch(dir, argv, cleanup);
  try {
    const version = await waitUntilReady(dir, pid, bin);
    const sql = rootSql(bin, socket);
    const ed25519 = hasEd25519 &&
      (await sql(
          "SELECT COUNT(*) FROM information_schema.PLUGINS" +
            " WHERE PLUGIN_NAME = 'ed25519' AND PLUGIN_STATUS = 'ACTIVE'",
        )).trim() === "1";
    await sql(setupSql(ed25519));
    if (certificates && (await sql("SELECT @@have_ssl")).trim() !== "YES") {
      throw new Error(`Cannot enable TLS in mariadbd; log tail:\n${await logTail(dir)}`);
    }
    return {
      hostname: "127.0.0.1",
      port,
      socket,
      version,
      datadir,
      dir,
      pid,
      watchdogPid,
      ed25519,
      ...(certificates ? { tls: certificates } : {}),
      users: { ...USERS, ed25519: ed25519 ? USERS.ed25519 : undefined },
      bin,
    };
  } catch (error) {
    await stopServer({ dir, watchdogPid });
    throw error;
  }
}

/**
 * Starts a server in a directory from `makeDir`, trying a new directory and port when the port
 * was taken between choosing it and mariadbd binding it. The watchdog deletes the directory when
 * stopped; when the `deno test` process exits it also deletes `cleanup(dir)`.
 */
export async function startServer(
  makeDir: () => Promise<string>,
  cleanup: (dir: string) => string,
  tls: boolean,
): Promise<ServerInfo> {
  if (!FOUND.bin) throw new Error(`Cannot start MariaDB: ${FOUND.reason}`);
  for (let attempt = 1;; attempt++) {
    const dir = await makeDir();
    try {
      return await startIn(dir, cleanup(dir), tls);
    } catch (error) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      if (!(error instanceof PortInUseError) || attempt === PORT_ATTEMPTS) throw error;
    }
  }
}
