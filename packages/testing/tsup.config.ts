import { packageBuild } from "../../tsup.shared.js";

export default packageBuild({ shims: true, external: ["vitest"] });
