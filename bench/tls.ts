/**
 * `deno run -A bench/tls.ts`: what terminating TLS costs. sysbench oltp_point_select with TLS
 * (`--mysql-ssl=on`) directly to MariaDB, and through the proxy terminating it (`--tls-cert`),
 * plaintext to the server and TLS to the server (`--server-tls required`); the plaintext proxy
 * for reference. Interleaved rounds on one private MariaDB; prints the median QPS of each.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startMariaDB } from "../tests/helpers/mariadb.ts";
import { freePort } from "./targets.ts";
import { parseReport } from "./sysbench.ts";

const args = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    time: { type: "string", default: "10" },
    threads: { type: "string", default: "8" },
  },
});
const rounds = Number(args.values.rounds);
const time = Number(args.values.time);
const threads = Number(args.values.threads);
const MOD = new URL("../mod.ts", import.meta.url).pathname;

await using db = await startMariaDB({ tls: true });
const user = db.users.sysbench;
if (!db.tls) throw new Error("MariaDB started without TLS: is openssl installed?");
// sysbench 1.0 reads its TLS files from fixed names in its working directory.
const cwd = await Deno.makeTempDir({ prefix: "bench-tls-" });
await Deno.copyFile(db.tls.ca, `${cwd}/cacert.pem`);
// A client certificate it must present: one for client auth, signed by the test CA.
const caKey = db.tls.ca.replace(/ca\.pem$/, "ca-key.pem");
for (
  const command of [
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"],
    ["x509", "-req", "-CA", db.tls.ca, "-CAkey", caKey, "-days", "1"],
  ]
) {
  const args = command[0] === "req"
    ? [...command, "-subj", "/CN=sysbench", "-keyout", "client-key.pem", "-out", "client.csr"]
    : [...command, "-in", "client.csr", "-out", "client-cert.pem"];
  const { code, stderr } = await new Deno.Command("openssl", { args, cwd, stderr: "piped" })
    .output();
  if (code !== 0) throw new Error(`openssl failed: ${new TextDecoder().decode(stderr)}`);
}
// The proxy presents the same certificate MariaDB does, so both handshakes do the same work.
const certificate = ["--tls-cert", db.tls.cert, "--tls-key", db.tls.key];

function sysbench(port: number, ssl: boolean, command: string[]): Promise<string> {
  return new Deno.Command("sysbench", {
    args: [
      "oltp_point_select",
      "--db-driver=mysql",
      "--mysql-host=127.0.0.1",
      `--mysql-port=${port}`,
      `--mysql-user=${user.user}`,
      `--mysql-password=${user.password}`,
      "--mysql-db=sbtest",
      `--mysql-ssl=${ssl ? "on" : "off"}`,
      "--db-ps-mode=auto",
      "--tables=1",
      "--table-size=10000",
      ...command,
    ],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output().then(({ code, stdout, stderr }) => {
    const text = new TextDecoder().decode(stdout);
    if (code !== 0) throw new Error(`sysbench failed: ${new TextDecoder().decode(stderr)}${text}`);
    return text;
  });
}

await sysbench(db.port, false, ["prepare"]);

interface Target {
  name: string;
  ssl: boolean;
  proxyArgs?: string[];
}
const targets: Target[] = [
  { name: "direct, TLS", ssl: true },
  { name: "proxy --tls-cert (server plaintext)", ssl: true, proxyArgs: certificate },
  {
    name: "proxy --tls-cert --server-tls required",
    ssl: true,
    proxyArgs: [...certificate, "--server-tls", "required"],
  },
  { name: "proxy, plaintext", ssl: false, proxyArgs: [] },
];
const results = new Map<string, number[]>(targets.map((t) => [t.name, []]));

async function measure(target: Target): Promise<number> {
  let port = db.port;
  let child: Deno.ChildProcess | undefined;
  if (target.proxyArgs) {
    port = freePort();
    child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MOD,
        "proxy",
        "--quiet",
        "--listen",
        `127.0.0.1:${port}`,
        "--server",
        `127.0.0.1:${db.port}`,
        ...target.proxyArgs,
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    let seen = "";
    while (!seen.includes("Listening on")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the proxy did not start");
      seen += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    child.stdout.cancel();
  }
  try {
    const report = await sysbench(port, target.ssl, [
      `--threads=${threads}`,
      `--time=${time}`,
      "--events=0",
      "run",
    ]);
    return parseReport(report).qps;
  } finally {
    if (child) {
      child.kill("SIGKILL");
      await child.status;
    }
  }
}

for (let round = 0; round < rounds; round++) {
  const order = [
    ...targets.slice(round % targets.length),
    ...targets.slice(0, round % targets.length),
  ];
  for (const target of order) {
    const qps = await measure(target);
    results.get(target.name)!.push(qps);
    console.error(`round ${round + 1}: ${target.name}: ${qps.toFixed(0)} QPS`);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const reference = median(results.get(targets[0].name)!);
for (const [name, values] of results) {
  const m = median(values);
  console.log(
    `${name.padEnd(42)} ${m.toFixed(0).padStart(7)} QPS  ${(m / reference).toFixed(2)}x  ` +
      `(runs: ${values.map((v) => v.toFixed(0)).join(", ")})`,
  );
}
