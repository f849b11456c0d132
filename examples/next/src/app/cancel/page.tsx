import { Outcome } from "../outcome";

export default function CancelPage() {
  return <Outcome kind="cancel" title="Checkout canceled" />;
}
