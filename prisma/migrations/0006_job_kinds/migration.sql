-- One owner of job state (issue #10): the jobs row keeps what every kind has (status, spec, progress, result);
-- a federated job's model moves to federated_jobs. Progress keeps its values: rounds closed / total rounds for
-- federated jobs, iterations for bilevel jobs, stages for NAS jobs (what current_round / total_rounds held).

-- CreateTable
CREATE TABLE "federated_jobs" (
    "job_id" UUID NOT NULL,
    "parameter_count" INTEGER NOT NULL,
    "model_hash" TEXT NOT NULL,

    CONSTRAINT "federated_jobs_pkey" PRIMARY KEY ("job_id")
);

-- AddForeignKey
ALTER TABLE "federated_jobs" ADD CONSTRAINT "federated_jobs_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing federated jobs keep their model.
INSERT INTO "federated_jobs" ("job_id", "parameter_count", "model_hash")
SELECT "id", "parameter_count", "model_hash" FROM "jobs" WHERE "kind" = 'federated';

-- Generic progress (renamed, so existing rows keep their values).
ALTER TABLE "jobs" RENAME COLUMN "current_round" TO "progress_done";
ALTER TABLE "jobs" RENAME COLUMN "total_rounds" TO "progress_total";

-- The model columns were federated names that NAS and bilevel jobs reused with other meanings.
ALTER TABLE "jobs" DROP COLUMN "parameter_count",
DROP COLUMN "model_hash";
