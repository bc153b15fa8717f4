-- Answers of a round counted as they arrive (one row update per answer instead of counting every answer again).
ALTER TABLE "rounds" ADD COLUMN     "answers" INTEGER NOT NULL DEFAULT 0;

-- Rounds that already have answers keep their count.
UPDATE "rounds" r SET "answers" = (SELECT count(*) FROM "updates" u WHERE u."job_id" = r."job_id" AND u."round" = r."index");
