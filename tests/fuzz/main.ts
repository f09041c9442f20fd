/**
 * `deno task fuzz`: the fuzz targets for as long as asked, with any seed.
 *
 *     deno task fuzz                                  # every target, 20 000 iterations, random seed
 *     deno task fuzz --target codec --iterations 1e6 --seed 42
 *     deno task fuzz --target replay --iterations 2000
 *
 * In-process targets (codec, framer, session, tap) run one input per iteration; network targets
 * (replay: garbage clients against replay of the demo recording; proxy: garbage clients through
 * the proxy to that replay; server: a garbage server behind the proxy) run one session per
 * iteration, 16 at a time, and end with a real query that must still be answered. A progress line
 * goes to stderr; a failure prints the seed that replays it alone, and the exit status is 1.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createSessionTap, replay, startProxy } from "../../mod.ts";
import { TARGETS } from "./targets.ts";
import { queryDemo } from "../hardening/cli.ts";
import { FuzzFailure, Random, runTarget } from "./random.ts";
import {
  captureLogger,
  garbageClient,
  type GarbageOutcome,
  garbageServer,
  politeClient,
  sessions,
} from "./net.ts";

const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;
const NETWORK = ["replay", "proxy", "server"] as const;

async function demoAnswers(port: number): Promise<void> {
  if ((await queryDemo(port)) !== 4) throw new Error("the demo query lost its rows");
}

/** Runs a network target; throws a FuzzFailure naming the seed of a session that hung. */
async function runNetwork(
  name: typeof NETWORK[number],
  seed: number,
  iterations: number,
  progress: (done: number) => void,
): Promise<void> {
  const log = captureLogger();
  await using upstream = await replay(DEMO, { listen: "127.0.0.1:0", logger: log.logger });
  const fake = name === "server" ? garbageServer(new Random(seed)) : undefined;
  const proxyLog = captureLogger();
  const proxy = name === "replay" ? undefined : await startProxy({
    listen: "127.0.0.1:0",
    server: `127.0.0.1:${fake ? fake.port : upstream.port}`,
    logger: proxyLog.logger,
    tap: () => createSessionTap({ onPacket: () => {}, maxPacketLength: 64 * 1024 }),
  });
  const port = proxy?.port ?? upstream.port;
  let done = 0;
  try {
    const outcomes = await sessions(iterations, 16, async (i): Promise<GarbageOutcome> => {
      const random = new Random(seed + i);
      const outcome = name === "server"
        ? await politeClient(random, port)
        : await garbageClient(random, port);
      if (++done % 100 === 0) progress(done);
      return outcome;
    });
    const hung = outcomes.findIndex((o) => !o.closed);
    if (hung >= 0) {
      throw new FuzzFailure(name, seed + hung, new Error(`session ${outcomes[hung].kind} hung`));
    }
    const logs = [...log.records, ...proxyLog.records];
    const errors = logs.filter((r) => r.level === "error");
    if (errors.length > 0) {
      throw new FuzzFailure(name, seed, new Error(`logged an error: ${errors[0].message}`));
    }
    if (fake) fake.passthrough = { hostname: "127.0.0.1", port: upstream.port };
    await demoAnswers(port);
  } finally {
    await proxy?.close();
    await fake?.close();
  }
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: "string", multiple: true },
      iterations: { type: "string", default: "20000" },
      seed: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const all = [...Object.keys(TARGETS), ...NETWORK];
  if (values.help) {
    console.log(
      `Usage: deno task fuzz [--target NAME ...] [--iterations N] [--seed N]\nTargets: ${
        all.join(", ")
      } (default: all; network targets run iterations / 20 sessions)`,
    );
    return 0;
  }
  const targets = values.target ?? all;
  const unknown = targets.filter((t) => !all.includes(t));
  if (unknown.length > 0) {
    console.error(`Unknown target ${unknown.join(", ")}; targets: ${all.join(", ")}`);
    return 2;
  }
  const iterations = Number(values.iterations);
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  if (!Number.isSafeInteger(iterations) || iterations <= 0 || !Number.isSafeInteger(seed)) {
    console.error("--iterations and --seed need integers");
    return 2;
  }
  console.error(`fuzz: seed ${seed}, ${iterations} iterations per target`);
  for (const target of targets) {
    const started = performance.now();
    const network = (NETWORK as readonly string[]).includes(target);
    const count = network && values.target === undefined
      ? Math.max(1, Math.floor(iterations / 20))
      : iterations;
    const progress = (done: number) => {
      const rate = done / ((performance.now() - started) / 1000);
      Deno.stderr.writeSync(
        new TextEncoder().encode(`\r${target}: ${done}/${count} (${Math.round(rate)}/s)   `),
      );
    };
    try {
      if (network) {
        await runNetwork(target as typeof NETWORK[number], seed, count, progress);
      } else {
        runTarget(target, TARGETS[target], { seed, iterations: count, onProgress: progress });
      }
    } catch (error) {
      console.error(`\n${error instanceof FuzzFailure ? error.message : error}`);
      if (error instanceof FuzzFailure && error.cause instanceof Error) {
        console.error(error.cause.stack);
      }
      return 1;
    }
    const seconds = (performance.now() - started) / 1000;
    console.error(`\r${target}: ${count} iterations ok in ${seconds.toFixed(1)} s            `);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
