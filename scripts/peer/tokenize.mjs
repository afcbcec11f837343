// Tokenizes strings with llama.cpp (node-llama-cpp) and prints JSON: [{text, tokens}] (no BOS).
// usage: node tokenize.mjs MODEL.gguf TEXT...   (run from $PEER_HOME so node-llama-cpp resolves)
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const llama = await getLlama({gpu: false, build: "never", skipDownload: true, logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: process.argv[2], gpuLayers: 0});
const out = process.argv.slice(3).map((text) => ({text, tokens: Array.from(model.tokenize(text, false))}));
console.log(JSON.stringify(out));
await llama.dispose();
