import assert from "node:assert/strict";
import { latencyDeltas, type Measurement } from "../../bench/report.ts";
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

Deno.test("at a fixed rate the bench reports same-round latency differences, compare against proxy included", () => {
  const at = (target: string, round: number, p50: number, p95: number): Measurement => ({
    queries: 30_000,
    qps: 3000,
    p95Ms: p95,
    latencyMs: { p50, p95, p99: p95 * 2 },
    seconds: 10,
    ignoredErrors: 0,
    reconnects: 0,
    round,
    workload: "oltp_point_select",
    target,
    attempt: 1,
    cpuPer1k: { mariadb: 1, sysbench: 1 },
    otherCpuShare: 0,
  });
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
