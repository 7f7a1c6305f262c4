-- Operators ask "what is stuck in running / what failed lately": serve that
-- without a sequential scan of the whole ledger.
CREATE INDEX agent_executions_status_created_at_idx
    ON agent_executions (status, created_at DESC);
