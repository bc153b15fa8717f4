-- Coordinator replicas (issue #15): every replica consumes control jobs; a lease per job keeps one job's steps one at a
-- time across all of them (taken for CONTROL_LOCK_MS, renewed while a step runs, taken over when it expires).
-- CreateTable
CREATE TABLE "job_leases" (
    "job_id" UUID NOT NULL,
    "holder" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "job_leases_pkey" PRIMARY KEY ("job_id")
);

