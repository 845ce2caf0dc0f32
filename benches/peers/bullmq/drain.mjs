// BullMQ's no-op drain, measured the way `bench --drain-only` measures ours:
// fill a backlog first (addBulk, 1,000 per call), then start one Worker and
// stop the clock when every job has completed. Prints one JSON line.
//
//   node drain.mjs --backlog 50000 [--concurrency 50] [--redis redis://127.0.0.1:6379]
//
// BullMQ's defaults otherwise (completed jobs kept, as ours keeps succeeded
// jobs for retention). The queue name is fresh per run and obliterated after.
import { Queue, Worker } from "bullmq";
import { createClient } from "./redis-info.mjs";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const backlog = Number.parseInt(arg("backlog", "50000"), 10);
const concurrency = Number.parseInt(arg("concurrency", "50"), 10);
const url = new URL(arg("redis", process.env.REDIS_URL ?? "redis://127.0.0.1:6379"));
if (!Number.isInteger(backlog) || backlog <= 0 || !Number.isInteger(concurrency) || concurrency <= 0) {
  console.error("--backlog and --concurrency must be positive integers");
  process.exit(2);
}
const connection = { host: url.hostname, port: Number(url.port || 6379) };
const name = `peer-bullmq-${Date.now().toString(36)}-${process.pid}`;

const queue = new Queue(name, { connection });
for (let left = backlog; left > 0; ) {
  const k = Math.min(left, 1000);
  await queue.addBulk(Array.from({ length: k }, () => ({ name: "noop", data: { kind: "noop" } })));
  left -= k;
}

const info = await createClient(connection);
const cpu0 = await info.cpuSeconds();
let done = 0;
let finish;
const finished = new Promise((resolve) => (finish = resolve));
const t0 = process.hrtime.bigint();
const worker = new Worker(name, async () => {}, { connection, concurrency });
worker.on("completed", () => {
  done += 1;
  if (done === backlog) finish();
});
await finished;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu1 = await info.cpuSeconds();
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
await info.close();

const { version } = JSON.parse(
  await (await import("node:fs/promises")).readFile(new URL("./node_modules/bullmq/package.json", import.meta.url)),
);
console.log(
  JSON.stringify({
    bench: "drain_noop",
    system: `bullmq ${version}`,
    backlog,
    seconds,
    jobs_per_sec: Math.round(backlog / seconds),
    concurrency,
    redis_cpu_us_per_job: Math.round(((cpu1 - cpu0) * 1e7) / backlog) / 10,
    process_peak_rss_mib: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
  }),
);
