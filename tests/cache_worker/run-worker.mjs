// Serves a Worker script under Miniflare (Cloudflare's workerd) on a loopback port:
//   node run-worker.mjs <worker.js> <origin url> <purge-from address>
// prints the Worker's URL on its first line, and stops when its standard input closes.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Miniflare } from "miniflare";

const [script, origin, purgeFrom] = process.argv.slice(2);
const miniflare = new Miniflare({
  modules: true,
  script: readFileSync(script, "utf8"),
  scriptPath: resolve(script),
  modulesRoot: dirname(resolve(script)),
  compatibilityDate: "2025-01-01",
  bindings: { ORIGIN: origin, PURGE_FROM: purgeFrom },
  host: "127.0.0.1",
  port: 0,
});
const url = await miniflare.ready;
process.stdout.write(`${url.href}\n`);
process.stdin.resume();
process.stdin.on("end", async () => {
  await miniflare.dispose();
  process.exit(0);
});
