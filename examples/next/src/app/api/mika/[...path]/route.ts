import { getMika } from "@mika/example-shared";
import { createMikaHandler } from "@mika/next";

// Webhooks, checkout start / status / cancel: every Mika route, on Node, never cached.
export const runtime = "nodejs";
export const dynamic = "force-dynamic";
export const { GET, POST } = createMikaHandler(getMika);
