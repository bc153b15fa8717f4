-- Task-driven jobs (NAS, bilevel): tasks dispatched to agents, bilevel runs and their curves, job results,
-- and the sha256 of each dataset file an agent holds. Task payloads/results and bilevel states are JSON text, not
-- jsonb: Prisma's Json path rounds computed float64 values by up to 1 ulp, and these must round-trip exactly.
CREATE TYPE "TaskStatus" AS ENUM ('pending', 'running', 'done', 'failed');

ALTER TABLE "agents" ADD COLUMN "dataset_hashes" JSONB;
ALTER TABLE "jobs" ADD COLUMN "result" JSONB;

CREATE TABLE "tasks" (
    "id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "status" "TaskStatus" NOT NULL DEFAULT 'pending',
    "agent_id" UUID,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "failed_agent_ids" UUID[],
    "dataset" TEXT,
    "data_hash" TEXT,
    "result" TEXT,
    "error" TEXT,
    "deadline_at" TIMESTAMP(3),
    "timeout_ms" INTEGER NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "assigned_at" TIMESTAMP(3),
    "finished_at" TIMESTAMP(3),
    "duration_ms" INTEGER,

    CONSTRAINT "tasks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "bilevel_runs" (
    "job_id" UUID NOT NULL,
    "run" INTEGER NOT NULL,
    "config" JSONB NOT NULL,
    "state" TEXT NOT NULL,
    "iteration" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'running',
    "stop_reason" TEXT,
    "result" JSONB,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "bilevel_runs_pkey" PRIMARY KEY ("job_id","run")
);

-- CreateTable
CREATE TABLE "bilevel_points" (
    "job_id" UUID NOT NULL,
    "run" INTEGER NOT NULL,
    "iteration" INTEGER NOT NULL,
    "lambda" DOUBLE PRECISION NOT NULL,
    "grad_x_norm" DOUBLE PRECISION NOT NULL,
    "stationarity" DOUBLE PRECISION NOT NULL,
    "upper_objective" DOUBLE PRECISION,
    "test_accuracy" DOUBLE PRECISION,
    "oracle_calls" INTEGER NOT NULL,

    CONSTRAINT "bilevel_points_pkey" PRIMARY KEY ("job_id","run","iteration")
);

-- CreateIndex
CREATE INDEX "tasks_status_idx" ON "tasks"("status");

-- CreateIndex
CREATE UNIQUE INDEX "tasks_job_id_key_key" ON "tasks"("job_id", "key");


-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_agent_id_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bilevel_runs" ADD CONSTRAINT "bilevel_runs_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bilevel_points" ADD CONSTRAINT "bilevel_points_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
