-- Agent labels and backend (issue #13): what an agent declares about itself (labels, matched by jobs' agentSelector)
-- and reports about its TensorFlow.js backend and device. Existing agents get no labels and no backend until they
-- rejoin.
-- AlterTable
ALTER TABLE "agents" ADD COLUMN     "backend" TEXT,
ADD COLUMN     "device" TEXT,
ADD COLUMN     "labels" JSONB NOT NULL DEFAULT '{}';
