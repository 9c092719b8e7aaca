// Build the console into the Python package: src/acphost/server/console/{index.html, assets/}.
// Deterministic (fixed names, content hashes only in the ?v= query), so CI can rebuild and diff.
// `node build.mjs --watch` rebuilds on change.
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "acphost", "server", "console");
const assets = join(out, "assets");

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: { app: join(here, "src", "main.tsx") },
  outdir: assets,
  bundle: true,
  minify: !process.env.NOMINIFY,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  charset: "utf8",
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
};

async function writeIndex() {
  const version = async (name) =>
    createHash("sha256")
      .update(await readFile(join(assets, name)))
      .digest("hex")
      .slice(0, 12);
  const template = await readFile(join(here, "index.html"), "utf8");
  const html = template
    .replace("{{css}}", `/assets/app.css?v=${await version("app.css")}`)
    .replace("{{js}}", `/assets/app.js?v=${await version("app.js")}`);
  await writeFile(join(out, "index.html"), html);
}

if (process.argv.includes("--watch")) {
  const context = await esbuild.context({
    ...options,
    plugins: [{ name: "index", setup: (b) => b.onEnd(() => writeIndex()) }],
  });
  await context.watch();
  console.log(`watching; writing to ${out}`);
} else {
  await rm(assets, { recursive: true, force: true });
  await mkdir(assets, { recursive: true });
  const result = await esbuild.build(options);
  await writeIndex();
  for (const [file, info] of Object.entries(result.metafile.outputs)) {
    console.log(`${file.replace(/^.*\/src\//, "src/")}: ${(info.bytes / 1024).toFixed(1)} KiB`);
  }
}
