// SPDX-License-Identifier: Apache-2.0
// Times llama.cpp (through node-llama-cpp's prebuilt CPU binaries) the way llama-bench
// does: pp = one batch of N random tokens into an empty context, tg = N single-token
// decodes from an empty context (greedy). Prints one JSON line per repetition.
//
//   node llama_bench.mjs MODEL.gguf [-t 2] [-p 512] [-n 64] [-r 1] [--no-mmap]
import {getLlama} from "node-llama-cpp";

const args = process.argv.slice(2);
const opt = {t: 2, p: 512, n: 64, r: 1, mmap: true, model: null};
for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--no-mmap") opt.mmap = false;
    else if (["-t", "-p", "-n", "-r"].includes(a)) opt[a[1]] = Number(args[++i]);
    else opt.model = a;
}
if (!opt.model) {
    console.error("usage: node llama_bench.mjs MODEL.gguf [-t N] [-p N] [-n N] [-r N] [--no-mmap]");
    process.exit(2);
}

const llama = await getLlama({gpu: false, build: "never", maxThreads: opt.t, logLevel: "error"});
const model = await llama.loadModel({modelPath: opt.model, gpuLayers: 0, useMmap: opt.mmap});
const context = await model.createContext({
    contextSize: Math.max(opt.p, opt.n) + 256, batchSize: Math.max(opt.p, 1), threads: opt.t, sequences: 1,
});
const seq = context.getSequence();
let seed = 12345;
const randomToken = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 250000 + 1000;

async function prefill(n) {
    await seq.clearHistory();
    const tokens = Array.from({length: n}, randomToken);
    const t0 = process.hrtime.bigint();
    await seq.evaluateWithoutGeneratingNewTokens(tokens);
    return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function decode(n) {
    await seq.clearHistory();
    let count = 0;
    const t0 = process.hrtime.bigint();
    for await (const _ of seq.evaluate([randomToken()], {temperature: 0})) {
        if (++count >= n) break;
    }
    return Number(process.hrtime.bigint() - t0) / 1e9;
}

await prefill(Math.min(opt.p, 32)); // warm up: page the weights in
for (let rep = 0; rep < opt.r; rep++) {
    const out = {engine: "llama.cpp", model: opt.model, threads: opt.t, mmap: opt.mmap};
    if (opt.p > 0) out.prefill_tok_s = opt.p / await prefill(opt.p);
    if (opt.n > 0) out.decode_tok_s = opt.n / await decode(opt.n);
    console.log(JSON.stringify(out));
}
await context.dispose();
await model.dispose();
