/**
 * The browser side every example app shares, framework-neutral: the Buy button (start a checkout through
 * Mika's API with an Idempotency-Key per purchase attempt, keep its id and token in sessionStorage, go to
 * the provider), and the success and cancel pages, which ask Mika for the checkout's status instead of
 * trusting the URL.
 *
 * Markup contract: `button[data-mika-buy][data-provider][data-product]`, an optional
 * `[data-mika-error]` next to them, and `[data-mika-outcome="success" | "cancel"]` elements whose
 * `[data-field]` children are filled in (`status`, `paid`, `amount`, `checkout`, `message`).
 */
import { formatMoney } from "./money";

export { styles } from "./styles";

/** Where Mika is mounted. */
export const API_BASE = "/api/mika";
const STORAGE_KEY = "mika.example.checkout";

/** What the Buy button keeps for the success and cancel pages. */
export interface StoredCheckout {
  checkoutId: string;
  token: string;
  provider: string;
}

/** The part of Mika's checkout status the pages show. */
export interface StatusView {
  checkoutId: string;
  status: string;
  paid: boolean;
  amount: number | null;
  currency: string | null;
}

type Envelope<T> = { ok: true; data: T } | { ok: false; error: { code: string; message: string } };

/** Mika's envelope and the HTTP status it came with (`null`: no answer at all, a network error). */
interface Answer<T> {
  status: number | null;
  result: Envelope<T>;
}

async function request<T>(path: string, init?: RequestInit): Promise<Answer<T>> {
  let response: Response;
  try {
    response = await fetch(`${API_BASE}${path}`, init);
  } catch (error) {
    const message = `Could not reach the shop: ${String(error)}`;
    return { status: null, result: { ok: false, error: { code: "NETWORK", message } } };
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (isEnvelope<T>(body)) return { status: response.status, result: body };
  const message = `The shop answered ${response.status} without Mika's JSON envelope.`;
  return { status: response.status, result: { ok: false, error: { code: "BAD_RESPONSE", message } } };
}

function isEnvelope<T>(body: unknown): body is Envelope<T> {
  if (typeof body !== "object" || body === null) return false;
  const { ok, error } = body as { ok?: unknown; error?: unknown };
  return ok === true || (ok === false && typeof error === "object" && error !== null);
}

async function call<T>(path: string, init?: RequestInit): Promise<Envelope<T>> {
  return (await request<T>(path, init)).result;
}

const KEY_PREFIX = "mika.example.idempotency-key";

/**
 * Whether an answer to `POST /checkout` is final for its Idempotency-Key. A success is, and so is a
 * 4xx (the request itself was refused: a new attempt is a new request). A network error, a 5xx or an
 * unreadable answer is not: the server may have started the checkout and the answer got lost. Nor is
 * 409 `CONFLICT`: the first request with the key is still running on the server.
 */
function keyIsSettled(answer: Answer<unknown>): boolean {
  if (answer.result.ok) return true;
  const { status } = answer;
  if (status === null || status < 400 || status >= 500) return false;
  return !(status === 409 && answer.result.error.code === "CONFLICT");
}

/**
 * The Idempotency-Key for buying `productId` from `provider`: the one of the last attempt if its outcome
 * is unknown (kept in sessionStorage, so a reload retries with it too), otherwise a fresh one. Sending
 * the same key again makes Mika answer with the checkout it may already have started, instead of
 * starting a second one at the provider.
 */
function attemptKey(storageName: string): string {
  try {
    const kept = sessionStorage.getItem(storageName);
    if (kept) return kept;
  } catch {
    // no sessionStorage (privacy settings): every attempt gets a fresh key
  }
  return crypto.randomUUID();
}

function keepKey(storageName: string, key: string | null): void {
  try {
    if (key) sessionStorage.setItem(storageName, key);
    else sessionStorage.removeItem(storageName);
  } catch {
    // see attemptKey
  }
}

/** Starts a checkout and sends the browser to the provider's page; resolves with an error message otherwise. */
export async function startCheckout(input: { provider: string; productId: string }): Promise<string> {
  const origin = window.location.origin;
  const storageName = `${KEY_PREFIX}:${input.provider}:${input.productId}`;
  const key = attemptKey(storageName);
  const answer = await request<{ checkoutId: string; token: string; url: string }>("/checkout", {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({
      provider: input.provider,
      lines: [{ sellableId: input.productId, quantity: 1 }],
      successUrl: `${origin}/success`,
      cancelUrl: `${origin}/cancel`,
    }),
  });
  keepKey(storageName, keyIsSettled(answer) ? null : key);
  const result = answer.result;
  if (!result.ok) return `${result.error.message} (${result.error.code})`;
  const stored: StoredCheckout = {
    checkoutId: result.data.checkoutId,
    token: result.data.token,
    provider: input.provider,
  };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(stored));
  window.location.assign(result.data.url);
  return "";
}

/** The checkout this tab started last, if any. */
export function storedCheckout(): StoredCheckout | null {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null") as StoredCheckout | null;
    return value?.checkoutId && value.token ? value : null;
  } catch {
    return null;
  }
}

/** Mika's view of a checkout (`GET /api/mika/checkout/:id?token=`). */
export function checkoutStatus(ref: StoredCheckout): Promise<Envelope<StatusView>> {
  return call<StatusView>(
    `/checkout/${encodeURIComponent(ref.checkoutId)}?token=${encodeURIComponent(ref.token)}`,
  );
}

/** Cancels the checkout (`POST /api/mika/checkout/:id/cancel`). */
export function cancelCheckout(ref: StoredCheckout): Promise<Envelope<StatusView>> {
  return call<StatusView>(`/checkout/${encodeURIComponent(ref.checkoutId)}/cancel`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: ref.token }),
  });
}

function fill(root: HTMLElement, view: Partial<StatusView> & { message: string }) {
  const set = (field: string, value: string) => {
    for (const el of root.querySelectorAll<HTMLElement>(`[data-field="${field}"]`)) el.textContent = value;
  };
  if (view.status) root.dataset.status = view.status;
  set("status", view.status ?? "unknown");
  set("paid", view.paid === undefined ? "—" : view.paid ? "yes" : "no");
  set("amount", formatMoney(view.amount ?? null, view.currency ?? null));
  set("checkout", view.checkoutId ?? "—");
  set("message", view.message);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const UNSETTLED = new Set(["pending", "awaiting_payment"]);

/**
 * Fills a success page from Mika's status, polling for up to `waitMs` while the checkout is still
 * unsettled (the provider's webhook may land a moment after the redirect).
 */
export async function showSuccess(root: HTMLElement, waitMs = 15_000): Promise<void> {
  const ref = storedCheckout();
  if (!ref) {
    fill(root, { message: "No checkout was started in this browser tab." });
    return;
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    const result = await checkoutStatus(ref);
    if (!result.ok) {
      fill(root, { checkoutId: ref.checkoutId, message: result.error.message });
      return;
    }
    const settled = !UNSETTLED.has(result.data.status);
    fill(root, {
      ...result.data,
      message: result.data.paid
        ? "Payment received. Thank you!"
        : settled
          ? "This checkout did not complete."
          : "Waiting for the payment provider to confirm…",
    });
    if (settled || Date.now() > deadline) return;
    await sleep(500);
  }
}

/** Cancels the stored checkout and fills a cancel page with the outcome. */
export async function showCancel(root: HTMLElement): Promise<void> {
  const ref = storedCheckout();
  if (!ref) {
    fill(root, { message: "No checkout was started in this browser tab." });
    return;
  }
  const result = await cancelCheckout(ref);
  if (result.ok) {
    fill(root, { ...result.data, message: "Your checkout was canceled; nothing was charged." });
    return;
  }
  const status = await checkoutStatus(ref);
  fill(root, {
    ...(status.ok ? status.data : { checkoutId: ref.checkoutId }),
    message: result.error.message,
  });
}

/** Wires every Buy button under `root` (once per button). */
export function mountBuyButtons(root: ParentNode = document): void {
  for (const button of root.querySelectorAll<HTMLButtonElement>("button[data-mika-buy]")) {
    if (button.dataset.mikaMounted) continue;
    button.dataset.mikaMounted = "1";
    button.addEventListener("click", async () => {
      const error = root.querySelector<HTMLElement>("[data-mika-error]");
      button.disabled = true;
      const message = await startCheckout({
        provider: button.dataset.provider ?? "",
        productId: button.dataset.product ?? "",
      });
      if (message) {
        button.disabled = false;
        if (error) error.textContent = message;
      }
    });
  }
}

/** Fills every `[data-mika-outcome]` element under `root` (success or cancel). */
export function mountOutcome(root: ParentNode = document): Promise<void> {
  const jobs: Promise<void>[] = [];
  for (const el of root.querySelectorAll<HTMLElement>("[data-mika-outcome]")) {
    if (el.dataset.mikaMounted) continue;
    el.dataset.mikaMounted = "1";
    jobs.push(el.dataset.mikaOutcome === "cancel" ? showCancel(el) : showSuccess(el));
  }
  return Promise.all(jobs).then(() => undefined);
}
