import type { Mika } from "@mika/example-shared";

declare global {
  namespace App {
    interface Locals {
      mika: Mika;
    }
  }
}
