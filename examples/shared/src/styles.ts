/** The example apps' one stylesheet, inlined by each layout. */
export const styles = `
:root { font-family: system-ui, sans-serif; color: #1d1d1f; background: #fafafa; }
body { margin: 0; }
header { display: flex; gap: 1.5rem; align-items: baseline; padding: 1rem 2rem; background: #fff; border-bottom: 1px solid #e5e5e5; }
header strong { font-size: 1.2rem; }
header a { color: #3a4ed5; text-decoration: none; }
main { max-width: 56rem; margin: 2rem auto; padding: 0 2rem; }
.missing { background: #fff4e5; border: 1px solid #f0b45c; border-radius: 8px; padding: 0.75rem 1rem; margin-bottom: 1.5rem; }
.missing code { font-weight: 600; }
.products { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 1rem; }
.product { background: #fff; border: 1px solid #e5e5e5; border-radius: 12px; padding: 1.25rem; }
.product h2 { margin: 0 0 0.25rem; font-size: 1.1rem; }
.price { font-size: 1.4rem; font-weight: 600; margin: 0.5rem 0 1rem; }
button { font: inherit; padding: 0.5rem 1rem; border-radius: 8px; border: 0; background: #3a4ed5; color: #fff; cursor: pointer; margin: 0 0.5rem 0.5rem 0; }
button:disabled { background: #9aa3d9; cursor: default; }
.error { color: #b00020; }
.outcome { background: #fff; border: 1px solid #e5e5e5; border-radius: 12px; padding: 1.5rem; }
.outcome dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.4rem 1rem; }
.outcome dt { color: #666; }
.outcome dd { margin: 0; font-weight: 600; }
[data-status="paid"] [data-field="status"] { color: #137333; }
table { width: 100%; border-collapse: collapse; background: #fff; }
th, td { text-align: left; padding: 0.5rem; border-bottom: 1px solid #eee; font-size: 0.95rem; }
td code { font-size: 0.85rem; }
`;
