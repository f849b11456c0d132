/**
 * Test-only preload for the example apps (`node --import`): `@lemonsqueezy/lemonsqueezy.js` has no
 * base-URL option, so when `MIKA_TEST_LEMONSQUEEZY_API_URL` is set, the SDK's calls to
 * api.lemonsqueezy.com go to that loopback sandbox instead. Nothing else changes; apps never import it.
 */
import { routeLemonSqueezyFetch } from "@mika/testing";

const target = process.env.MIKA_TEST_LEMONSQUEEZY_API_URL;
if (target) routeLemonSqueezyFetch(target);
