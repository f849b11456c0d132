// `pnpm start`: the built app (adapter-node's build/) with a request body limit that fits Mika.
// adapter-node breaks off a request body over BODY_SIZE_LIMIT (default 512K), and Mika then answers 400
// to a genuine webhook it would accept up to config.maxBodyBytes (1 MiB): keep the limit at least that.
// A BODY_SIZE_LIMIT set in the environment wins.
process.env.BODY_SIZE_LIMIT ??= "2M";
await import("./build/index.js");
