// Must NOT compile: the type check of v1-program.ts can fail.
import { LlmKeyPool } from "key-carousel";
const pool = new LlmKeyPool({ profiles: [{ provider: "openai", apiKey: "k" }] });
void pool.markFailure("profile-0", "rate-limit");
