-- Revoked agents (DELETE /api/v1/agents/:id): their credentials stop working; their participation history stays.
ALTER TABLE "agents" ADD COLUMN     "revoked_at" TIMESTAMP(3);
