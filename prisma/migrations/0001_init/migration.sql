-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "JobStatus" AS ENUM ('running', 'completed', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "RoundStatus" AS ENUM ('open', 'closing', 'closed');

-- CreateTable
CREATE TABLE "agents" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "datasets" TEXT[],
    "example_counts" JSONB,
    "last_heartbeat_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "jobs" (
    "id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "name" TEXT,
    "status" "JobStatus" NOT NULL DEFAULT 'running',
    "spec" JSONB NOT NULL,
    "total_rounds" INTEGER NOT NULL,
    "current_round" INTEGER NOT NULL DEFAULT 0,
    "parameter_count" INTEGER NOT NULL,
    "model_hash" TEXT NOT NULL,
    "error" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMP(3),

    CONSTRAINT "jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rounds" (
    "job_id" UUID NOT NULL,
    "index" INTEGER NOT NULL,
    "status" "RoundStatus" NOT NULL DEFAULT 'open',
    "eligible_agent_ids" UUID[],
    "input_model_hash" TEXT NOT NULL,
    "output_model_hash" TEXT,
    "opened_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deadline_at" TIMESTAMP(3) NOT NULL,
    "closed_at" TIMESTAMP(3),
    "participants" INTEGER NOT NULL DEFAULT 0,
    "weight_min" DOUBLE PRECISION,
    "weight_max" DOUBLE PRECISION,
    "metrics" JSONB,

    CONSTRAINT "rounds_pkey" PRIMARY KEY ("job_id","index")
);

-- CreateTable
CREATE TABLE "participations" (
    "job_id" UUID NOT NULL,
    "round" INTEGER NOT NULL,
    "agent_id" UUID NOT NULL,
    "participated" BOOLEAN NOT NULL,
    "weight" DOUBLE PRECISION NOT NULL,
    "update_norm" DOUBLE PRECISION,
    "example_count" INTEGER,
    "train_loss" DOUBLE PRECISION,
    "duration_ms" INTEGER,
    "absence" TEXT,

    CONSTRAINT "participations_pkey" PRIMARY KEY ("job_id","round","agent_id")
);

-- CreateTable
CREATE TABLE "updates" (
    "job_id" UUID NOT NULL,
    "round" INTEGER NOT NULL,
    "agent_id" UUID NOT NULL,
    "blob_hash" TEXT,
    "declined" BOOLEAN NOT NULL DEFAULT false,
    "update_norm" DOUBLE PRECISION,
    "example_count" INTEGER,
    "train_loss" DOUBLE PRECISION,
    "duration_ms" INTEGER,
    "received_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "updates_pkey" PRIMARY KEY ("job_id","round","agent_id")
);

-- CreateTable
CREATE TABLE "checkpoints" (
    "job_id" UUID NOT NULL,
    "round" INTEGER NOT NULL,
    "hash" TEXT NOT NULL,
    "metrics" JSONB,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "checkpoints_pkey" PRIMARY KEY ("job_id","round")
);

-- CreateTable
CREATE TABLE "client_states" (
    "job_id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "state" JSONB NOT NULL,

    CONSTRAINT "client_states_pkey" PRIMARY KEY ("job_id","agent_id")
);

-- CreateIndex
CREATE INDEX "jobs_status_idx" ON "jobs"("status");

-- CreateIndex
CREATE INDEX "participations_agent_id_idx" ON "participations"("agent_id");

-- AddForeignKey
ALTER TABLE "rounds" ADD CONSTRAINT "rounds_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "participations" ADD CONSTRAINT "participations_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "participations" ADD CONSTRAINT "participations_agent_id_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "updates" ADD CONSTRAINT "updates_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "updates" ADD CONSTRAINT "updates_agent_id_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "checkpoints" ADD CONSTRAINT "checkpoints_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "client_states" ADD CONSTRAINT "client_states_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "client_states" ADD CONSTRAINT "client_states_agent_id_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

