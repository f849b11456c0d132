import { getMika } from "@mika/example-shared";
import { mikaHandle } from "@mika/sveltekit";

// event.locals.mika in every load function and endpoint (built on the first request).
export const handle = mikaHandle(getMika);
