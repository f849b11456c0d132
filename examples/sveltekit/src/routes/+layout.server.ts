import { config } from "@mika/example-shared";
import type { LayoutServerLoad } from "./$types";

export const load: LayoutServerLoad = () => ({ missing: config().missing });
