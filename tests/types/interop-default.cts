// A CommonJS module (.cts) importing the package's default export, with esModuleInterop: no
// such export exists at run time (index.cjs is marked __esModule), so this must not compile.
import kc from "key-carousel";

export const pool = new kc.Pool({ profiles: [{ provider: "openai", apiKey: "sk-aaaaaaaaaaaaaaaa" }] });
