import assert from "node:assert/strict";
import {
  checkGoals,
  formatReport,
  latencyDeltas,
  type Measurement,
  medianInterval,
} from "../../bench/report.ts";
import { histogramPercentiles, parseReport } from "../../bench/sysbench.ts";

/** The tail of a `sysbench oltp_point_select ... --histogram=on run` report (1.0.20). */
const REPORT = `Latency histogram (values are in milliseconds)
       value  ------------- distribution ------------- count
       0.200 |**********                               10
       0.300 |****************************************  40
       0.400 |*******************************          35
       1.000 |*****                                     10
       5.000 |*                                          4
      20.000 |*                                          1

SQL statistics:
    queries performed:
        read:                            100
        other:                           0
        total:                           100
    transactions:                        100    (10.00 per sec.)
    queries:                             100    (10.00 per sec.)
    ignored errors:                      0      (0.00 per sec.)
    reconnects:                          0      (0.00 per sec.)

General statistics:
    total time:                          10.0012s
    total number of events:              100

Latency (ms):
         min:                                    0.20
         avg:                                    0.60
         max:                                   20.00
         95th percentile:                        1.01
         sum:                                   60.00
`;

Deno.test("the bench reads latency percentiles from sysbench's histogram", () => {
  // 10 events up to 0.2 ms, 50 up to 0.3, 85 up to 0.4, 95 up to 1, 99 up to 5.
  assert.deepEqual(histogramPercentiles(REPORT), { p50: 0.3, p95: 1, p99: 5 });
  const report = parseReport(REPORT);
  assert.equal(report.queries, 100);
  assert.equal(report.p95Ms, 1.01);
  assert.deepEqual(report.latencyMs, { p50: 0.3, p95: 1, p99: 5 });
  assert.ok(Number.isNaN(histogramPercentiles("no histogram").p50));
});

/** One run of oltp_point_select against `target` in `round`, 3000 QPS unless `fields` say. */
function measurement(target: string, round: number, fields: Partial<Measurement>): Measurement {
  return {
    queries: 30_000,
    qps: 3000,
    p95Ms: 1,
    latencyMs: { p50: 0.3, p95: 1, p99: 2 },
    seconds: 10,
    ignoredErrors: 0,
    reconnects: 0,
    round,
    workload: "oltp_point_select",
    target,
    attempt: 1,
    cpuPer1k: { mariadb: 1, sysbench: 1 },
    otherCpuShare: 0,
    ...fields,
  };
}

Deno.test("at a fixed rate the bench reports same-round latency differences, compare against proxy included", () => {
  const at = (target: string, round: number, p50: number, p95: number) =>
    measurement(target, round, { latencyMs: { p50, p95, p99: p95 * 2 }, p95Ms: p95 });
  const measurements = [
    at("haproxy-1t", 1, 0.3, 1.0),
    at("proxy", 1, 0.31, 0.9),
    at("compare", 1, 0.33, 1.2),
    // A slow round for everyone: the differences, not the levels, are compared.
    at("haproxy-1t", 2, 0.5, 3.0),
    at("proxy", 2, 0.52, 3.1),
    at("compare", 2, 0.52, 3.2),
  ];
  const deltas = latencyDeltas(measurements, new Set(["haproxy-1t"]));
  const of = (subject: string, reference: string) =>
    deltas.find((d) => d.subject === subject && d.reference === reference)!;
  assert.deepEqual(deltas.map((d) => `${d.subject}-${d.reference}`).sort(), [
    "compare-haproxy-1t",
    "compare-proxy",
    "proxy-haproxy-1t",
  ]);
  assert.ok(Math.abs(of("compare", "proxy").p50 - 0.01) < 1e-9);
  assert.ok(Math.abs(of("compare", "proxy").p95 - 0.2) < 1e-9);
  assert.ok(Math.abs(of("proxy", "haproxy-1t").p95 - 0) < 1e-9);
});

Deno.test("the interval of a median: order statistics with at least 95% coverage, none under 6 values", () => {
  assert.equal(medianInterval([1, 2, 3, 4, 5]), undefined);
  // 6 values: the smallest and the largest, 1 - 2/64.
  assert.deepEqual(medianInterval([6, 1, 5, 2, 4, 3]), { low: 1, high: 6, level: 1 - 2 / 64 });
  // 10 values: the 2nd smallest and the 2nd largest, 1 - 2 * 11/1024.
  const ten = medianInterval([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])!;
  assert.deepEqual([ten.low, ten.high], [2, 9]);
  assert.ok(Math.abs(ten.level - (1 - 22 / 1024)) < 1e-12);
  // 20 values: the 6th from each end (P(Binomial(20, 1/2) <= 5) = 0.0207).
  const twenty = medianInterval(Array.from({ length: 20 }, (_, i) => i + 1))!;
  assert.deepEqual([twenty.low, twenty.high], [6, 15]);
  assert.ok(twenty.level >= 0.95);
});

Deno.test("a goal whose same-round ratios straddle it is reported as not decided, whatever the median says", () => {
  const run = (ratios: number[]) =>
    ratios.flatMap((ratio, round) => [
      measurement("proxy", round, { qps: 10_000 }),
      measurement("compare", round, { qps: 10_000 * ratio }),
    ]);
  // A noisy machine: rounds from 0.85 to 1.05, median 0.93.
  const noisy = run([0.85, 0.9, 0.92, 0.94, 1.0, 1.05]);
  const [check] = checkGoals(noisy).filter((c) => c.goal.subject === "compare");
  assert.equal(check.met, false);
  assert.equal(check.decided, false);
  assert.match(
    formatReport(noisy, new Set(["proxy"]), "noisy"),
    /goal: compare >= 0.95x proxy on oltp_point_select: 0\.9\d\dx, NOT met \(not decided: .* 97% interval 0\.850\.\.1\.050 holds 0\.95\)/,
  );
  // Every round below the goal: decided.
  const slow = checkGoals(run([0.85, 0.88, 0.9, 0.91, 0.92, 0.93]))
    .filter((c) => c.goal.subject === "compare")[0];
  assert.deepEqual([slow.met, slow.decided], [false, true]);
  const fast = checkGoals(run([0.96, 0.97, 0.99, 1.0, 1.01, 1.02]))
    .filter((c) => c.goal.subject === "compare")[0];
  assert.deepEqual([fast.met, fast.decided], [true, true]);
  // Too few rounds for an interval: said so.
  assert.match(
    formatReport(run([0.9, 0.92]), new Set(["proxy"]), "short"),
    /NOT met \(fewer than 6 rounds: no interval\)/,
  );
});
