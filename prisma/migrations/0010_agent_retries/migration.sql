-- An agent may choose its own secret, so that a registration repeated after a lost answer finds its agent by the
-- secret's hash: one agent per hash.
CREATE UNIQUE INDEX "agents_secret_hash_key" ON "agents"("secret_hash");

-- The agent's HTTP client counters as it last reported them (calls retried, calls failed after retrying).
ALTER TABLE "agents" ADD COLUMN     "net_failures" INTEGER,
ADD COLUMN     "net_reported_at" TIMESTAMP(3),
ADD COLUMN     "net_retries" INTEGER;
