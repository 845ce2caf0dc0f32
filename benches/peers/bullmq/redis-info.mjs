// redis-server's CPU time (INFO cpu, user + system) through ioredis, which
// BullMQ already depends on: the same figure `bench` reads for ours.
import IORedis from "ioredis";

export async function createClient(connection) {
  const client = new IORedis({ ...connection, maxRetriesPerRequest: null });
  return {
    async cpuSeconds() {
      const info = await client.info("cpu");
      const field = (n) => Number.parseFloat((info.match(new RegExp(`^${n}:([0-9.]+)`, "m")) ?? [])[1]);
      return field("used_cpu_user") + field("used_cpu_sys");
    },
    close: () => client.quit(),
  };
}
