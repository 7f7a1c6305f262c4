-- A hold on stock for one order. (sku, order_id) is unique so that a client
-- retrying the same order gets its first reservation back instead of a second.
CREATE TABLE reservations (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku        text        NOT NULL REFERENCES items (sku) ON DELETE CASCADE,
    order_id   text        NOT NULL CHECK (length(order_id) BETWEEN 1 AND 64),
    quantity   integer     NOT NULL CHECK (quantity > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservations_sku_order_key UNIQUE (sku, order_id)
);

CREATE INDEX reservations_sku_idx ON reservations (sku);
