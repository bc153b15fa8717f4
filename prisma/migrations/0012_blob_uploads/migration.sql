-- Blobs agents upload for their tasks: what counts against each agent's blob quota while the task is open.
-- CreateTable
CREATE TABLE "blob_uploads" (
    "task_id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "hash" TEXT NOT NULL,
    "bytes" INTEGER NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "blob_uploads_pkey" PRIMARY KEY ("task_id","agent_id","hash")
);

-- CreateIndex
CREATE INDEX "blob_uploads_agent_id_idx" ON "blob_uploads"("agent_id");
