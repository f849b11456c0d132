import { Outcome } from "../outcome";

export default function SuccessPage() {
  return <Outcome kind="success" title="Thank you" />;
}
