import { config, formatMoney, products } from "@mika/example-shared";

export default function ProductsPage() {
  const { wired } = config();
  return (
    <>
      <h1>Products</h1>
      <p data-mika-error className="error" role="alert" />
      <div className="products">
        {products.map((product) => (
          <article className="product" key={product.id}>
            <h2>{product.name}</h2>
            <p>{product.description}</p>
            <p className="price">{formatMoney(product.amount, product.currency)}</p>
            {wired.map((provider) => (
              <button
                key={provider.name}
                type="button"
                id={`buy-${provider.name}-${product.id}`}
                data-mika-buy
                data-provider={provider.name}
                data-product={product.id}
                disabled={!provider.checkout[product.id]}
              >
                Buy with {provider.label}
              </button>
            ))}
            {wired.length === 0 && <p>No payment provider is configured.</p>}
          </article>
        ))}
      </div>
    </>
  );
}
