// The baseline of bench/next-webhook.bench.mjs: a webhook route as tutorials write it (verify with the
// SDK, switch on the type, answer 200), with no storage, no deduplication and no ledger.
import Stripe from "stripe";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

const stripe = new Stripe(process.env.STRIPE_SECRET_KEY ?? "sk_test_unset");

export async function POST(request: Request) {
  const body = await request.text();
  const signature = request.headers.get("stripe-signature") ?? "";
  let event: Stripe.Event;
  try {
    event = stripe.webhooks.constructEvent(body, signature, process.env.STRIPE_WEBHOOK_SECRET ?? "");
  } catch (error) {
    return new Response(`Webhook Error: ${(error as Error).message}`, { status: 400 });
  }
  switch (event.type) {
    case "checkout.session.completed":
      // fulfil the order here
      break;
    case "payment_intent.succeeded":
      break;
    default:
      console.log(`Unhandled event type ${event.type}`);
  }
  return Response.json({ received: true });
}
