/** The package version, inlined at build time (tsup `define`). */
declare const __MIKA_CLI_VERSION__: string | undefined;

/** The version of `@mika/cli`. */
export const VERSION: string = typeof __MIKA_CLI_VERSION__ === "string" ? __MIKA_CLI_VERSION__ : "0.0.0-dev";
