/**
 * Provider sandboxes: stateful loopback servers that speak one provider's wire format for its official
 * SDK and Mika's adapter, with a fake hosted checkout page that delivers signed webhooks.
 */
export type { Sandbox, SandboxDelivery, SandboxOptions, SandboxRequest, SdkConstructor } from "./core.js";
export {
  LEMON_SQUEEZY_API_ORIGIN,
  type LemonSqueezySandbox,
  type LemonSqueezySandboxOptions,
  type LemonSqueezySandboxResource,
  type LemonSqueezySandboxVariant,
  routeLemonSqueezyFetch,
  startLemonSqueezySandbox,
} from "./lemonsqueezy.js";
export {
  type PaddleSandbox,
  type PaddleSandboxEntity,
  type PaddleSandboxOptions,
  type PaddleSandboxPrice,
  startPaddleSandbox,
} from "./paddle.js";
export {
  type StripeSandbox,
  type StripeSandboxClient,
  type StripeSandboxObject,
  type StripeSandboxOptions,
  type StripeSandboxPrice,
  startStripeSandbox,
} from "./stripe.js";
