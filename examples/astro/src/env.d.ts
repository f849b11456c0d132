/// <reference types="astro/client" />

declare namespace App {
  interface Locals {
    mika: import("@mika/example-shared").Mika;
  }
}
