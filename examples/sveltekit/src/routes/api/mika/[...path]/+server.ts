import { getMika } from "@mika/example-shared";
import { createMikaHandlers } from "@mika/sveltekit";

// Webhooks, checkout start / status / cancel: every Mika route.
export const { GET, POST, fallback } = createMikaHandlers(getMika);
