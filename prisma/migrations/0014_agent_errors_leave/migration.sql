-- Agents that fail loudly (issue #14): the last error an agent reported (a round it could not train, a task it could
-- not compute) with its time, and when it said it was leaving (offline until it rejoins).
-- AlterTable
ALTER TABLE "agents" ADD COLUMN     "last_error" TEXT,
ADD COLUMN     "last_error_at" TIMESTAMP(3),
ADD COLUMN     "left_at" TIMESTAMP(3);
