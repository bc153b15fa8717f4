-- NAS jobs (issue #4, spec gm-nas.md §3.7, §9): the supernet tree (one row per sub-supernet) and the candidates of
-- the final selection (stand-alone training with successive halving).
-- CreateTable
CREATE TABLE "nas_nodes" (
    "job_id" UUID NOT NULL,
    "node_id" TEXT NOT NULL,
    "parent_id" TEXT,
    "depth" INTEGER NOT NULL,
    "mask" JSONB NOT NULL,
    "init" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'training',
    "data_hash" TEXT,
    "weights_hash" TEXT,
    "velocity_hash" TEXT,
    "step" INTEGER,
    "score_parts" INTEGER,
    "split_edge" INTEGER,
    "split" JSONB,
    "edge_scores" JSONB,
    "candidate" JSONB,
    "metrics" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "nas_nodes_pkey" PRIMARY KEY ("job_id","node_id")
);

-- CreateTable
CREATE TABLE "nas_candidates" (
    "job_id" UUID NOT NULL,
    "index" INTEGER NOT NULL,
    "node_id" TEXT NOT NULL,
    "architecture" JSONB NOT NULL,
    "estimate" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "slots" INTEGER NOT NULL,
    "rungs" JSONB NOT NULL,
    "rung" INTEGER NOT NULL DEFAULT 0,
    "weights_hash" TEXT,
    "velocity_hash" TEXT,
    "step" INTEGER NOT NULL DEFAULT 0,
    "history" JSONB NOT NULL DEFAULT '[]',
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "nas_candidates_pkey" PRIMARY KEY ("job_id","index")
);

-- AddForeignKey
ALTER TABLE "nas_nodes" ADD CONSTRAINT "nas_nodes_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "nas_candidates" ADD CONSTRAINT "nas_candidates_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
