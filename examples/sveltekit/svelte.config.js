import adapter from "@sveltejs/adapter-node";

/** @type {import('@sveltejs/kit').Config} */
const config = {
  kit: {
    // kit.csrf stays at its default: it only refuses cross-site form posts, and providers send
    // webhooks as application/json.
    adapter: adapter(),
  },
};

export default config;
