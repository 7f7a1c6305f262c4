-- One row per request event: written as 'running' before the LLM call, then
-- finished as 'completed' (with the response) or 'failed' (with the error).
-- The unique event_id is the database's guard against running an event twice.
CREATE TABLE agent_executions (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id     text        NOT NULL,
    event_source text        NOT NULL,
    model        text        NOT NULL,
    status       text        NOT NULL DEFAULT 'running'
                             CHECK (status IN ('running', 'completed', 'failed')),
    request      jsonb       NOT NULL,
    response     jsonb,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    CONSTRAINT agent_executions_event_id_key UNIQUE (event_id),
    CONSTRAINT agent_executions_finished_has_result CHECK (
        status = 'running'
        OR (status = 'completed' AND response IS NOT NULL)
        OR (status = 'failed' AND error IS NOT NULL)
    )
);
