// Entry of the subpath `key-carousel/file` (Node, Deno, Bun): the file store alone. It does
// not load the WebAssembly module; the pool it is given to does the merging.
import { fileStore } from "../file.js";
import { named } from "../names.js";

named({ fileStore });

export { fileStore };
