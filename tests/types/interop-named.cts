// A CommonJS module (.cts) with esModuleInterop: named and namespace imports compile (and work
// on every Node, with or without require(esm)).
import * as kc from "key-carousel";
import { Pool } from "key-carousel";
import { fileStore } from "key-carousel/file";

export const a = new kc.Pool({ profiles: [{ provider: "openai", apiKey: "sk-aaaaaaaaaaaaaaaa" }] });
export const b = new Pool({ profiles: [{ provider: "openai", apiKey: "sk-bbbbbbbbbbbbbbbb" }], storage: fileStore("state.json") });
// `__esModule` is `true` in the CommonJS bundle, absent where `require` loads the ES module
// build (Node 20.19+, 22.12+): its type says both (this fails to compile if it said `true`).
export const marked: undefined extends typeof kc.__esModule ? "both" : "true only" = "both";
