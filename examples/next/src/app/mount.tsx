"use client";

import { mountBuyButtons, mountOutcome } from "@mika/example-shared/browser";
import { usePathname } from "next/navigation";
import { useEffect } from "react";

/** Wires the shared browser helpers to whatever the current page rendered. */
export function Mount() {
  const pathname = usePathname();
  useEffect(() => {
    void pathname;
    mountBuyButtons();
    void mountOutcome();
  }, [pathname]);
  return null;
}
