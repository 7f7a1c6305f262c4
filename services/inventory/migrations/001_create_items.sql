-- Stock on hand per SKU. The CHECK is the last guard against a negative
-- count if application code ever forgets to lock.
CREATE TABLE items (
    sku        text        PRIMARY KEY CHECK (sku ~ '^[A-Z0-9-]{1,32}$'),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    quantity   integer     NOT NULL CHECK (quantity >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
