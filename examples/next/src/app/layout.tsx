import { config, styles } from "@mika/example-shared";
import type { Metadata } from "next";
import type { ReactNode } from "react";
import { Mount } from "./mount";

// Every page reads the environment or the ledger at request time: nothing is prerendered at build.
export const dynamic = "force-dynamic";

export const metadata: Metadata = { title: "Mika shop (Next.js)" };

export default function RootLayout({ children }: { children: ReactNode }) {
  const { missing } = config();
  return (
    <html lang="en">
      <head>
        {/* biome-ignore lint/security/noDangerouslySetInnerHtml: a constant stylesheet */}
        <style dangerouslySetInnerHTML={{ __html: styles }} />
      </head>
      <body>
        <header>
          <strong>Mika shop · Next.js</strong>
          <a href="/">Products</a>
          <a href="/orders">Orders</a>
        </header>
        <main>
          {missing.length > 0 && (
            <section className="missing" role="status">
              <p>This shop is missing configuration (set these environment variables and restart):</p>
              <ul>
                {missing.map((key) => (
                  <li key={key.name} data-missing-key={key.name}>
                    <code>{key.name}</code>: {key.effect}
                  </li>
                ))}
              </ul>
            </section>
          )}
          {children}
        </main>
        <Mount />
      </body>
    </html>
  );
}
